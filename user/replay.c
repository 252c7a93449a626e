// SPDX-License-Identifier: MIT
/* Reading a recording back into capture events (see record.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "log.h"
#include "recline.h"
#include "record.h"

/* Past this many, bad lines are counted but no longer logged. */
#define REPLAY_WARN_MAX 10

/* Bytes read from the file at a time; lines are cut out with memchr
 * rather than a getc per byte. */
#define REPLAY_BLOCK (64u << 10)

struct reader {
	FILE *in;
	char *buf;
	size_t len;
	size_t cap;
	bool overlong;	/* the current line went past RECORD_LINE_MAX */
	char *line;	/* the current line: in blk, or in buf if it was
			 * cut by a block's end (the parser edits it) */
	size_t line_len;
	char *blk;	/* REPLAY_BLOCK bytes of the file */
	size_t blk_pos;
	size_t blk_len;
	uint8_t *data;	/* the current data line's bytes, decoded */
	size_t data_cap;
};

static int get_u64(const struct recline *o, const char *key, uint64_t *out)
{
	int64_t v;

	if (!recline_int(o, key, &v) || v < 0)
		return -EINVAL;
	*out = (uint64_t)v;
	return 0;
}

static int get_u32(const struct recline *o, const char *key, uint32_t *out)
{
	uint64_t v;

	if (get_u64(o, key, &v) || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static void get_str(const struct recline *o, const char *key, char *out,
		    size_t len)
{
	const char *s = recline_str(o, key);
	size_t n = s ? strnlen(s, len - 1) : 0;

	memcpy(out, s ? s : "", n);
	out[n] = '\0';
}

static int parse_task(const struct recline *o, struct ev_task *t)
{
	if (get_u64(o, "ts", &t->ts_ns) || get_u32(o, "pid", &t->pid))
		return -EINVAL;
	/* tid and uid are informative; older tools may leave them out. */
	get_u32(o, "tid", &t->tid);
	get_u32(o, "uid", &t->uid);
	get_str(o, "comm", t->comm, sizeof(t->comm));
	return 0;
}

static int parse_conn_id(const struct recline *o, struct ev_conn_id *id)
{
	const char *s = recline_str(o, "conn");
	char *end;

	if (!s)
		return -EINVAL;
	id->pid = (uint32_t)strtoul(s, &end, 10);
	if (*end != ':')
		return -EINVAL;
	id->ssl = strtoull(end + 1, &end, 16);
	return *end ? -EINVAL : 0;
}

/* RFC 4648 section 4's alphabet: each byte's 6-bit value, or
 * B64_BAD, whose high bit marks any quad that holds one. */
#define B64_BAD 0x80
static uint8_t b64_val[256];

static void b64_init(void)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789+/";

	memset(b64_val, B64_BAD, sizeof(b64_val));
	for (size_t i = 0; i < sizeof(abc) - 1; i++)
		b64_val[(unsigned char)abc[i]] = (uint8_t)i;
}

/* One quad into 3 bytes; false if a byte is outside the alphabet. */
static bool b64_quad(const unsigned char *s, uint8_t *out)
{
	uint32_t a = b64_val[s[0]], b = b64_val[s[1]];
	uint32_t c = b64_val[s[2]], d = b64_val[s[3]];
	uint32_t v = a << 18 | b << 12 | c << 6 | d;

	if ((a | b | c | d) & B64_BAD)
		return false;
	out[0] = (uint8_t)(v >> 16);
	out[1] = (uint8_t)(v >> 8);
	out[2] = (uint8_t)v;
	return true;
}

/* Plain base64 (what record writes) by table; false for anything
 * else, which EVP_DecodeBlock then judges as before. The padding of
 * the last quad reads as zero bits, as EVP_DecodeBlock reads it. */
static bool b64_plain(const char *s, size_t slen, uint8_t *buf)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned char last[4];
	size_t i;

	if (slen == 0)
		return true;
	for (i = 0; i + 4 < slen; i += 4) {
		if (!b64_quad(u + i, buf + i / 4 * 3))
			return false;
	}
	memcpy(last, u + i, 4);
	if (last[3] == '=') {
		last[3] = 'A';
		if (last[2] == '=')
			last[2] = 'A';
	}
	return b64_quad(last, buf + i / 4 * 3);
}

/* Room for n bytes in the reader's buffer for decoded data, which is
 * kept from line to line. */
static uint8_t *data_room(struct reader *r, size_t n)
{
	uint8_t *b;

	if (n <= r->data_cap)
		return r->data;
	b = realloc(r->data, n);
	if (!b)
		return NULL;
	r->data = b;
	r->data_cap = n;
	return b;
}

/* Decodes s into the reader's data buffer: *len bytes at *out, valid
 * until the next line. 0 or a negative errno. */
static int base64_decode(struct reader *r, const char *s, uint8_t **out,
			 size_t *len)
{
	size_t slen = strlen(s), pad = 0;
	uint8_t *buf;
	int n;

	if (slen % 4)
		return -EINVAL;
	buf = data_room(r, slen / 4 * 3 + 1);
	if (!buf)
		return -ENOMEM;
	n = b64_plain(s, slen, buf) ? (int)(slen / 4 * 3) :
		EVP_DecodeBlock(buf, (const unsigned char *)s, (int)slen);
	if (n < 0)
		return -EINVAL;
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	while (pad < 2 && slen > pad && s[slen - 1 - pad] == '=')
		pad++;
	*out = buf;
	*len = (size_t)n - pad;
	return 0;
}

static int replay_data(struct reader *r, const struct recline *o,
		       const struct ev_sink *sink)
{
	struct ev_data ev = { 0 };
	const char *dir = recline_str(o, "dir");
	const char *b64 = recline_str(o, "data");
	uint8_t *bytes = NULL;
	int err;

	if (parse_task(o, &ev.task) || parse_conn_id(o, &ev.conn) || !dir ||
	    !b64 || get_u64(o, "len", &ev.call_len) ||
	    get_u64(o, "offset", &ev.offset))
		return -EINVAL;
	if (strcmp(dir, "read") && strcmp(dir, "write"))
		return -EINVAL;
	ev.dir = strcmp(dir, "read") == 0 ? EV_DIR_READ : EV_DIR_WRITE;
	ev.truncated = recline_true(o, "truncated");
	err = base64_decode(r, b64, &bytes, &ev.len);
	if (err)
		return err;
	ev.data = bytes;
	if (sink->on_data)
		sink->on_data(sink->ctx, &ev);
	return 0;
}

static int replay_conn(const struct recline *o, const struct ev_sink *sink)
{
	struct ev_conn ev = { .fd = -1 };
	const char *op = recline_str(o, "op");
	int64_t fd;

	if (parse_task(o, &ev.task) || parse_conn_id(o, &ev.conn) || !op)
		return -EINVAL;
	if (strcmp(op, "sni") == 0)
		ev.op = EV_CONN_SNI;
	else if (strcmp(op, "fd") == 0)
		ev.op = EV_CONN_FD;
	else if (strcmp(op, "close") == 0)
		ev.op = EV_CONN_CLOSE;
	else
		return -EINVAL;
	if (recline_int(o, "fd", &fd))
		ev.fd = (int)fd;
	get_str(o, "host", ev.host, sizeof(ev.host));
	get_str(o, "peer", ev.peer, sizeof(ev.peer));
	if (sink->on_conn)
		sink->on_conn(sink->ctx, &ev);
	return 0;
}

static int replay_proc(const struct recline *o, const struct ev_sink *sink)
{
	struct ev_proc ev = { 0 };
	const char *op = recline_str(o, "op");
	int64_t code;

	if (parse_task(o, &ev.task) || !op)
		return -EINVAL;
	if (strcmp(op, "exec") == 0)
		ev.op = EV_PROC_EXEC;
	else if (strcmp(op, "exit") == 0)
		ev.op = EV_PROC_EXIT;
	else
		return -EINVAL;
	get_u32(o, "ppid", &ev.ppid);
	if (recline_int(o, "exit_code", &code))
		ev.exit_code = (int)code;
	get_str(o, "exe", ev.exe, sizeof(ev.exe));
	if (sink->on_proc)
		sink->on_proc(sink->ctx, &ev);
	return 0;
}

static int replay_loss(const struct recline *o, const struct ev_sink *sink)
{
	struct ev_loss ev = { 0 };

	if (get_u64(o, "ts", &ev.ts_ns))
		return -EINVAL;
	get_u64(o, "ringbuf_drops", &ev.rb_drops);
	get_u64(o, "ringbuf_drop_bytes", &ev.rb_drop_bytes);
	get_u64(o, "truncated_calls", &ev.trunc_calls);
	get_u64(o, "truncated_bytes", &ev.trunc_bytes);
	get_u64(o, "read_failures", &ev.read_fails);
	if (sink->on_loss)
		sink->on_loss(sink->ctx, &ev);
	return 0;
}

static int replay_object(struct reader *r, const struct recline *o,
			 const struct ev_sink *sink)
{
	const char *type = recline_str(o, "type");

	if (!type)
		return -EINVAL;
	if (strcmp(type, "data") == 0)
		return replay_data(r, o, sink);
	if (strcmp(type, "conn") == 0)
		return replay_conn(o, sink);
	if (strcmp(type, "proc") == 0)
		return replay_proc(o, sink);
	if (strcmp(type, "loss") == 0)
		return replay_loss(o, sink);
	/* The header line and types from newer versions. */
	return 1;
}

/* Adds n bytes to the line, past RECORD_LINE_MAX only marking it. */
static int line_append(struct reader *r, const char *s, size_t n)
{
	size_t room = RECORD_LINE_MAX - r->len, ncap = r->cap;
	char *nb;

	if (n > room) {
		r->overlong = true;
		n = room;
	}
	if (n == 0)
		return 0;
	while (r->len + n + 1 > ncap)
		ncap = ncap ? ncap * 2 : 4096;
	if (ncap != r->cap) {
		nb = realloc(r->buf, ncap);
		if (!nb)
			return -ENOMEM;
		r->buf = nb;
		r->cap = ncap;
	}
	memcpy(r->buf + r->len, s, n);
	r->len += n;
	return 0;
}

/* Reads one line into r->line (in the block, or gathered in r->buf)
 * without ever holding more than RECORD_LINE_MAX of it. Returns 1 for
 * a line, 0 at the end. */
static int read_line(struct reader *r)
{
	const char *s, *nl;
	size_t n;
	int err;

	r->len = 0;
	r->overlong = false;
	for (;;) {
		if (r->blk_pos == r->blk_len) {
			r->blk_pos = 0;
			r->blk_len = fread(r->blk, 1, REPLAY_BLOCK, r->in);
		}
		if (r->blk_len == 0) {
			r->line = r->buf;
			r->line_len = r->len;
			return r->len == 0 && !r->overlong ? 0 : 1;
		}
		s = r->blk + r->blk_pos;
		nl = memchr(s, '\n', r->blk_len - r->blk_pos);
		n = nl ? (size_t)(nl - s) : r->blk_len - r->blk_pos;
		/* Whole in the block: read where it lies, no copy. */
		if (nl && r->len == 0 && !r->overlong) {
			r->line = r->blk + r->blk_pos;
			r->line_len = n;
			r->blk_pos += n + 1;
			return 1;
		}
		err = line_append(r, s, n);
		if (err)
			return err;
		r->blk_pos += n + (nl != NULL);
		r->line = r->buf;
		r->line_len = r->len;
		if (nl)
			return 1;
	}
}

static void warn_bad(struct replay_stats *st, const char *path,
		     const char *why)
{
	st->bad_lines++;
	if (st->bad_lines <= REPLAY_WARN_MAX)
		log_warn("%s:%" PRIu64 ": %s, line skipped", path, st->lines,
			 why);
}

static void replay_line(struct reader *r, const char *path,
			const struct ev_sink *sink, struct replay_stats *st)
{
	struct recline o;
	int res;

	if (r->overlong) {
		warn_bad(st, path, "line longer than the 64 MiB limit");
		return;
	}
	if (r->line_len == 0)
		return;
	if (recline_parse(&o, r->line, r->line_len)) {
		warn_bad(st, path, "not JSON");
		return;
	}
	res = replay_object(r, &o, sink);
	if (res < 0)
		warn_bad(st, path, "not a valid llmtap record");
	else if (res == 0)
		st->events++;
	recline_free(&o);
}

int replay_file(const char *path, const struct ev_sink *sink,
		struct replay_stats *st)
{
	struct reader r = { 0 };
	int res;

	memset(st, 0, sizeof(*st));
	b64_init();
	r.blk = malloc(REPLAY_BLOCK);
	if (!r.blk)
		return -ENOMEM;
	r.in = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
	if (!r.in) {
		res = -errno;
		log_err("open %s: %s", path, strerror(-res));
		free(r.blk);
		return res;
	}
	while ((res = read_line(&r)) > 0) {
		st->lines++;
		replay_line(&r, path, sink, st);
	}
	if (res == 0 && ferror(r.in))
		res = -EIO;
	if (res < 0)
		log_err("read %s: %s", path, strerror(-res));
	if (st->bad_lines > REPLAY_WARN_MAX)
		log_warn("%s: %" PRIu64 " bad lines in all", path,
			 st->bad_lines);
	free(r.buf);
	free(r.blk);
	free(r.data);
	if (r.in != stdin)
		fclose(r.in);
	return res < 0 ? res : 0;
}
