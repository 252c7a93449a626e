// SPDX-License-Identifier: MIT
/* Reading a recording back into capture events (see record.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "log.h"
#include "record.h"

/* Past this many, bad lines are counted but no longer logged. */
#define REPLAY_WARN_MAX 10

struct reader {
	FILE *in;
	char *buf;
	size_t len;
	size_t cap;
	bool overlong;	/* the current line went past RECORD_LINE_MAX */
};

static int get_u64(json_t *o, const char *key, uint64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -EINVAL;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int get_u32(json_t *o, const char *key, uint32_t *out)
{
	uint64_t v;

	if (get_u64(o, key, &v) || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static void get_str(json_t *o, const char *key, char *out, size_t len)
{
	const char *s = json_string_value(json_object_get(o, key));

	snprintf(out, len, "%s", s ? s : "");
}

static int parse_task(json_t *o, struct ev_task *t)
{
	if (get_u64(o, "ts", &t->ts_ns) || get_u32(o, "pid", &t->pid))
		return -EINVAL;
	/* tid and uid are informative; older tools may leave them out. */
	get_u32(o, "tid", &t->tid);
	get_u32(o, "uid", &t->uid);
	get_str(o, "comm", t->comm, sizeof(t->comm));
	return 0;
}

static int parse_conn_id(json_t *o, struct ev_conn_id *id)
{
	const char *s = json_string_value(json_object_get(o, "conn"));
	char *end;

	if (!s)
		return -EINVAL;
	id->pid = (uint32_t)strtoul(s, &end, 10);
	if (*end != ':')
		return -EINVAL;
	id->ssl = strtoull(end + 1, &end, 16);
	return *end ? -EINVAL : 0;
}

/* Decoded bytes in *out (caller frees), or a negative errno. */
static int base64_decode(const char *s, uint8_t **out, size_t *len)
{
	size_t slen = strlen(s), pad = 0;
	uint8_t *buf;
	int n;

	if (slen % 4)
		return -EINVAL;
	buf = malloc(slen / 4 * 3 + 1);
	if (!buf)
		return -ENOMEM;
	n = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)slen);
	if (n < 0) {
		free(buf);
		return -EINVAL;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	while (pad < 2 && slen > pad && s[slen - 1 - pad] == '=')
		pad++;
	*out = buf;
	*len = (size_t)n - pad;
	return 0;
}

static int replay_data(json_t *o, const struct ev_sink *sink)
{
	struct ev_data ev = { 0 };
	const char *dir = json_string_value(json_object_get(o, "dir"));
	const char *b64 = json_string_value(json_object_get(o, "data"));
	uint8_t *bytes = NULL;
	int err;

	if (parse_task(o, &ev.task) || parse_conn_id(o, &ev.conn) || !dir ||
	    !b64 || get_u64(o, "len", &ev.call_len) ||
	    get_u64(o, "offset", &ev.offset))
		return -EINVAL;
	if (strcmp(dir, "read") && strcmp(dir, "write"))
		return -EINVAL;
	ev.dir = strcmp(dir, "read") == 0 ? EV_DIR_READ : EV_DIR_WRITE;
	ev.truncated = json_is_true(json_object_get(o, "truncated"));
	err = base64_decode(b64, &bytes, &ev.len);
	if (err)
		return err;
	ev.data = bytes;
	if (sink->on_data)
		sink->on_data(sink->ctx, &ev);
	free(bytes);
	return 0;
}

static int replay_conn(json_t *o, const struct ev_sink *sink)
{
	struct ev_conn ev = { .fd = -1 };
	const char *op = json_string_value(json_object_get(o, "op"));
	json_t *fd = json_object_get(o, "fd");

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
	if (json_is_integer(fd))
		ev.fd = (int)json_integer_value(fd);
	get_str(o, "host", ev.host, sizeof(ev.host));
	get_str(o, "peer", ev.peer, sizeof(ev.peer));
	if (sink->on_conn)
		sink->on_conn(sink->ctx, &ev);
	return 0;
}

static int replay_proc(json_t *o, const struct ev_sink *sink)
{
	struct ev_proc ev = { 0 };
	const char *op = json_string_value(json_object_get(o, "op"));
	json_t *code = json_object_get(o, "exit_code");

	if (parse_task(o, &ev.task) || !op)
		return -EINVAL;
	if (strcmp(op, "exec") == 0)
		ev.op = EV_PROC_EXEC;
	else if (strcmp(op, "exit") == 0)
		ev.op = EV_PROC_EXIT;
	else
		return -EINVAL;
	get_u32(o, "ppid", &ev.ppid);
	if (json_is_integer(code))
		ev.exit_code = (int)json_integer_value(code);
	get_str(o, "exe", ev.exe, sizeof(ev.exe));
	if (sink->on_proc)
		sink->on_proc(sink->ctx, &ev);
	return 0;
}

static int replay_loss(json_t *o, const struct ev_sink *sink)
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

static int replay_object(json_t *o, const struct ev_sink *sink)
{
	const char *type = json_string_value(json_object_get(o, "type"));

	if (!type)
		return -EINVAL;
	if (strcmp(type, "data") == 0)
		return replay_data(o, sink);
	if (strcmp(type, "conn") == 0)
		return replay_conn(o, sink);
	if (strcmp(type, "proc") == 0)
		return replay_proc(o, sink);
	if (strcmp(type, "loss") == 0)
		return replay_loss(o, sink);
	/* The header line and types from newer versions. */
	return 1;
}

/* Reads one line into r->buf without ever holding more than
 * RECORD_LINE_MAX of it. Returns 1 for a line, 0 at the end. */
static int read_line(struct reader *r)
{
	int ch;

	r->len = 0;
	r->overlong = false;
	while ((ch = getc(r->in)) != EOF && ch != '\n') {
		if (r->len >= RECORD_LINE_MAX) {
			r->overlong = true;
			continue;
		}
		if (r->len + 1 >= r->cap) {
			size_t ncap = r->cap ? r->cap * 2 : 4096;
			char *nb = realloc(r->buf, ncap);

			if (!nb)
				return -ENOMEM;
			r->buf = nb;
			r->cap = ncap;
		}
		r->buf[r->len++] = (char)ch;
	}
	if (ch == EOF && r->len == 0 && !r->overlong)
		return 0;
	return 1;
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
	json_error_t jerr;
	json_t *o;
	int res;

	if (r->overlong) {
		warn_bad(st, path, "line longer than the 64 MiB limit");
		return;
	}
	if (r->len == 0)
		return;
	o = json_loadb(r->buf, r->len, 0, &jerr);
	if (!o) {
		warn_bad(st, path, "not JSON");
		return;
	}
	res = replay_object(o, sink);
	if (res < 0)
		warn_bad(st, path, "not a valid llmtap record");
	else if (res == 0)
		st->events++;
	json_decref(o);
}

int replay_file(const char *path, const struct ev_sink *sink,
		struct replay_stats *st)
{
	struct reader r = { 0 };
	int res;

	memset(st, 0, sizeof(*st));
	r.in = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
	if (!r.in) {
		res = -errno;
		log_err("open %s: %s", path, strerror(-res));
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
	if (r.in != stdin)
		fclose(r.in);
	return res < 0 ? res : 0;
}
