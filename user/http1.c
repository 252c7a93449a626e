// SPDX-License-Identifier: MIT
/*
 * HTTP/1.x message parsing, one state machine per direction (RFC 9112).
 * A header block is collected whole (it is small and bounded), then
 * parsed; bodies are never collected here, their bytes go straight
 * through the content decoder into the exchange.
 *
 * Exchanges wait in a FIFO: the request side appends, the response
 * side answers the oldest unanswered entry, and entries leave from the
 * front once both halves are done, so the sink sees them in order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "decode.h"
#include "http1.h"

/* A chunk-size line or one trailer line (RFC 9112 section 7.1). */
#define H1_LINE_MAX 4096

/* Bytes of such a line kept: a chunk size and the start of its
 * extensions. The rest is only counted, extensions being ignored. */
#define H1_LINE_KEEP 64

/* Hex digits of a chunk size: 16 fill a uint64_t. */
#define H1_HEX_MAX 16

/* Decimal digits of a Content-Length that fit a uint64_t safely. */
#define H1_DEC_MAX 18

/* Longest method we accept before its space is seen. */
#define H1_METHOD_MAX 24

#define H1_GAP_NOTE "bytes lost in capture"

/* "HTTP/1.x", the version of both start lines. */
#define H1_VERSION_LEN 8

enum h1_state {
	H1_HEAD,	/* collecting a header block */
	H1_BODY_LEN,	/* Content-Length body, left bytes to go */
	H1_BODY_EOF,	/* body delimited by the connection close */
	H1_CHUNK_SIZE,	/* chunk-size line */
	H1_CHUNK_DATA,	/* chunk data, left bytes to go */
	H1_CHUNK_END,	/* the CRLF after chunk data */
	H1_TRAILER,	/* trailer section after the last chunk */
	H1_SYNC,	/* lost bytes: waiting for a start line */
};

enum h1_framing {
	H1_NO_BODY,
	H1_LENGTH,
	H1_CHUNKED,
	H1_UNTIL_CLOSE,
};

struct h1_entry {
	struct h1_entry *next;	/* FIFO order */
	struct http_exchange *ex;
	bool req_done;
	bool resp_seen;	/* a final response head was paired */
	bool resp_done;
};

struct h1_side {
	enum ev_dir dir;
	enum h1_state state;
	char *head;	/* the header block so far, NUL-terminated */
	size_t head_len;
	size_t head_cap;
	struct ev_task head_task;	/* the feed the message began in */
	char line[H1_LINE_KEEP];
	size_t line_len;	/* bytes of the line so far, kept or not */
	bool line_cr;	/* the last of them was a CR */
	size_t trailer_len;
	uint64_t left;
	struct h1_entry *entry;	/* the exchange whose body is parsed */
	struct decoder *dec;	/* NULL for identity */
	bool raw;	/* decoding failed at once: keep wire bytes */
	uint64_t ts;	/* when the bytes being parsed arrived */
};

struct h1_conn {
	struct exchange_sink sink;
	struct ev_conn_id id;
	struct h1_side req;
	struct h1_side resp;
	struct h1_entry *qhead;	/* oldest pending exchange */
	struct h1_entry *qtail;
	size_t qlen;
	bool failed;
	bool closed;
	bool switched;	/* 101 or CONNECT: no longer HTTP/1 */
};

/* ---- the FIFO of exchanges ---- */

/* NULL when the FIFO is full or memory ran out; ex is not taken. */
static struct h1_entry *h1_q_push(struct h1_conn *c,
				  struct http_exchange *ex)
{
	struct h1_entry *e;

	if (c->qlen == H1_PENDING_MAX)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->ex = ex;
	if (c->qtail)
		c->qtail->next = e;
	else
		c->qhead = e;
	c->qtail = e;
	c->qlen++;
	return e;
}

/* Unlinks the oldest entry; the caller owns its exchange. */
static struct http_exchange *h1_q_pop(struct h1_conn *c)
{
	struct h1_entry *e = c->qhead;
	struct http_exchange *ex = e->ex;

	c->qhead = e->next;
	if (!c->qhead)
		c->qtail = NULL;
	c->qlen--;
	free(e);
	return ex;
}

static void h1_emit(struct h1_conn *c, struct http_exchange *ex)
{
	if (c->sink.on_exchange)
		c->sink.on_exchange(c->sink.ctx, ex);
	exchange_free(ex);
}

static void h1_q_pop_emit(struct h1_conn *c)
{
	h1_emit(c, h1_q_pop(c));
}

/* Emits every finished exchange at the front, keeping the order. */
static void h1_flush(struct h1_conn *c)
{
	while (c->qhead && c->qhead->req_done && c->qhead->resp_done)
		h1_q_pop_emit(c);
}

static struct h1_entry *h1_q_unanswered(struct h1_conn *c)
{
	struct h1_entry *e = c->qhead;

	while (e && e->resp_seen)
		e = e->next;
	return e;
}

static void h1_mark_incomplete(struct http_exchange *ex, const char *why)
{
	ex->incomplete = true;
	if (ex->note[0] == '\0')
		snprintf(ex->note, sizeof(ex->note), "%s", why);
}

/* ---- per-direction state ---- */

static struct h1_side *h1_side_of(struct h1_conn *c, enum ev_dir dir)
{
	return dir == EV_DIR_WRITE ? &c->req : &c->resp;
}

static struct body *h1_body_of(struct h1_side *s)
{
	struct http_exchange *ex = s->entry->ex;

	return s->dir == EV_DIR_WRITE ? &ex->req_body : &ex->resp_body;
}

/* Forgets the message in progress; its exchange stays in the FIFO. */
static void h1_side_reset(struct h1_side *s, enum h1_state state)
{
	decoder_free(s->dec);
	s->dec = NULL;
	s->raw = false;
	s->entry = NULL;
	s->head_len = 0;
	s->line_len = 0;
	s->line_cr = false;
	s->left = 0;
	s->state = state;
}

/* ---- bodies ---- */

static int h1_body_out(void *ctx, const uint8_t *data, size_t len)
{
	struct h1_side *s = ctx;

	return body_append(h1_body_of(s), data, len, s->ts);
}

/* A coding that cannot be undone: the body says so. If nothing was
 * decoded yet the wire bytes are kept, which beats an empty body. */
static int h1_decode_failed(struct h1_side *s, int rc, const uint8_t *p,
			    size_t n)
{
	struct body *b = h1_body_of(s);

	if (rc == -ENOMEM)
		return rc;
	if (rc == -EFBIG) {
		b->truncated = true;
		return 0;
	}
	b->decode_error = true;
	if (b->len > 0)
		return 0;
	s->raw = true;
	return body_append(b, p, n, s->ts);
}

/* wire_len counts payload bytes: chunk framing is not part of it. */
static int h1_body_bytes(struct h1_side *s, const uint8_t *p, size_t n)
{
	struct body *b = h1_body_of(s);
	int rc;

	b->wire_len += n;
	if (!s->dec || s->raw)
		return body_append(b, p, n, s->ts);
	if (b->decode_error)
		return 0;

	rc = decoder_feed(s->dec, p, n, h1_body_out, s);
	return rc ? h1_decode_failed(s, rc, p, n) : 0;
}

static void h1_body_finish(struct h1_side *s)
{
	struct body *b = h1_body_of(s);
	int rc;

	if (!s->dec || s->raw)
		return;
	rc = decoder_finish(s->dec, h1_body_out, s);
	if (rc == -EFBIG)
		b->truncated = true;
	else if (rc)
		b->decode_error = true;
}

/* The message in direction s ended with the bytes that arrived at
 * s->ts; the exchange leaves once its other half is done too. */
static void h1_msg_done(struct h1_conn *c, struct h1_side *s)
{
	struct h1_entry *e = s->entry;

	h1_body_finish(s);
	if (s->dir == EV_DIR_WRITE) {
		e->ex->ts_req_end = s->ts;
		e->req_done = true;
	} else {
		e->ex->ts_resp_end = s->ts;
		e->resp_done = true;
	}
	h1_side_reset(s, H1_HEAD);
	h1_flush(c);
}

/* ---- header blocks ---- */

static bool h1_is_tchar(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') ||
	       (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch));
}

static bool h1_is_token(const char *p, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!h1_is_tchar(p[i]))
			return false;
	}
	return true;
}

/* Next line of a header block, without its CRLF or bare LF. */
static bool h1_next_line(const char **pos, const char *end,
			 const char **line, size_t *len)
{
	const char *p = *pos;
	const char *nl;

	if (p >= end)
		return false;
	nl = memchr(p, '\n', end - p);
	if (!nl)
		nl = end;
	*line = p;
	*len = nl - p;
	if (*len > 0 && p[*len - 1] == '\r')
		(*len)--;
	*pos = nl < end ? nl + 1 : end;
	return true;
}

static int h1_version(const char *p, size_t n)
{
	if (n != H1_VERSION_LEN || memcmp(p, "HTTP/1.", 7) != 0)
		return -EPROTO;
	if (p[7] == '1')
		return 11;
	return p[7] == '0' ? 10 : -EPROTO;
}

/* Joins an obs-fold continuation to the field before it with one
 * space, as RFC 9112 section 5.2 lets a recipient do. */
static int h1_fold(struct hdr_list *l, const char *p, size_t n)
{
	struct hdr *h;
	size_t old;
	char *v;
	int err;

	if (l->n == 0)
		return -EPROTO;
	h = &l->v[l->n - 1];
	while (n > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	old = strlen(h->value);
	v = malloc(old + n + 2);
	if (!v)
		return -ENOMEM;
	memcpy(v, h->value, old);
	v[old] = ' ';
	memcpy(v + old + 1, p, n);
	err = hdr_set_value(h, v, old + n + 1);
	free(v);
	return err;
}

static int h1_field(struct hdr_list *l, const char *p, size_t n)
{
	const char *colon = memchr(p, ':', n);
	const char *v, *end = p + n;

	if (*p == ' ' || *p == '\t')
		return h1_fold(l, p, n);
	/* No space before the colon (RFC 9112 section 5.1). */
	if (!colon || !h1_is_token(p, colon - p))
		return -EPROTO;

	v = colon + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	return hdr_list_add(l, p, colon - p, v, end - v);
}

static int h1_fields(const char *pos, const char *end, struct hdr_list *l)
{
	const char *line;
	size_t len;
	int rc;

	while (h1_next_line(&pos, end, &line, &len) && len > 0) {
		rc = h1_field(l, line, len);
		if (rc)
			return rc;
	}
	return 0;
}

/* "GET /path HTTP/1.1" */
static int h1_request_line(const char *p, size_t n,
			   struct http_exchange *ex)
{
	const char *end = p + n;
	const char *sp1 = memchr(p, ' ', n);
	const char *sp2;
	int version;

	if (!sp1 || !h1_is_token(p, sp1 - p))
		return -EPROTO;
	sp2 = memchr(sp1 + 1, ' ', end - sp1 - 1);
	if (!sp2 || sp2 == sp1 + 1)
		return -EPROTO;
	version = h1_version(sp2 + 1, end - sp2 - 1);
	if (version < 0)
		return version;

	ex->http_version = version;
	ex->method = strndup(p, sp1 - p);
	ex->path = strndup(sp1 + 1, sp2 - sp1 - 1);
	return ex->method && ex->path ? 0 : -ENOMEM;
}

/* "HTTP/1.1 200 OK"; the reason phrase may be empty or absent. */
static int h1_status_line(const char *p, size_t n, int *version,
			  int *status)
{
	const char *s = p + H1_VERSION_LEN + 1;

	if (n < H1_VERSION_LEN + 4 || p[H1_VERSION_LEN] != ' ')
		return -EPROTO;
	*version = h1_version(p, H1_VERSION_LEN);
	if (*version < 0)
		return *version;
	if (s[0] < '1' || s[0] > '5' || s[1] < '0' || s[1] > '9' ||
	    s[2] < '0' || s[2] > '9' || (n > H1_VERSION_LEN + 4 && s[3] != ' '))
		return -EPROTO;
	*status = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	return 0;
}

/* The last value of a field that may be repeated. */
static const char *h1_hdr_last(const struct hdr_list *l, const char *name)
{
	const char *v = NULL;

	for (size_t i = 0; i < l->n; i++) {
		if (strcasecmp(l->v[i].name, name) == 0)
			v = l->v[i].value;
	}
	return v;
}

/* Whether chunked is the final transfer coding (RFC 9112 6.3). */
static bool h1_chunked_last(const char *te)
{
	const char *comma = strrchr(te, ',');
	const char *p = comma ? comma + 1 : te;
	size_t n;

	while (*p == ' ' || *p == '\t')
		p++;
	n = strlen(p);
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	return n == 7 && strncasecmp(p, "chunked", 7) == 0;
}

/* Content-Length: digits, or a list of the same digits (RFC 9110
 * section 8.6); anything else is an error. */
static int h1_content_length(const char *v, uint64_t *out)
{
	uint64_t first = 0, cur;
	bool have = false;
	size_t digits;

	for (;;) {
		while (*v == ' ' || *v == '\t')
			v++;
		for (cur = 0, digits = 0; *v >= '0' && *v <= '9'; v++) {
			if (++digits > H1_DEC_MAX)
				return -EPROTO;
			cur = cur * 10 + (uint64_t)(*v - '0');
		}
		while (*v == ' ' || *v == '\t')
			v++;
		if (digits == 0 || (have && cur != first))
			return -EPROTO;
		first = cur;
		have = true;
		if (*v == '\0')
			break;
		if (*v++ != ',')
			return -EPROTO;
	}
	*out = first;
	return 0;
}

static int h1_framing_of(const struct hdr_list *l, bool is_request,
			 enum h1_framing *f, uint64_t *len)
{
	const char *te = h1_hdr_last(l, "transfer-encoding");
	const char *cl = hdr_list_get(l, "content-length");
	int rc;

	if (te && h1_chunked_last(te)) {
		*f = H1_CHUNKED;
		return 0;
	}
	/* A request can only end by its framing (RFC 9112 6.3 item 4). */
	if (te) {
		*f = H1_UNTIL_CLOSE;
		return is_request ? -EPROTO : 0;
	}
	if (cl) {
		rc = h1_content_length(cl, len);
		*f = *len ? H1_LENGTH : H1_NO_BODY;
		return rc;
	}
	*f = is_request ? H1_NO_BODY : H1_UNTIL_CLOSE;
	return 0;
}

/* Sets up the body of s->entry's message; no body ends it at once. */
static int h1_body_start(struct h1_conn *c, struct h1_side *s,
			 enum h1_framing f, uint64_t len,
			 const struct hdr_list *l)
{
	const char *ce = h1_hdr_last(l, "content-encoding");
	static const enum h1_state states[] = {
		[H1_LENGTH] = H1_BODY_LEN,
		[H1_CHUNKED] = H1_CHUNK_SIZE,
		[H1_UNTIL_CLOSE] = H1_BODY_EOF,
	};

	if (f == H1_NO_BODY) {
		h1_msg_done(c, s);
		return 0;
	}
	if (ce) {
		s->dec = decoder_new(ce);
		if (!s->dec)
			return -ENOMEM;
	}
	if (s->dec && decoder_is_identity(s->dec)) {
		decoder_free(s->dec);
		s->dec = NULL;
	}
	s->state = states[f];
	s->left = len;
	return 0;
}

static int h1_request_head(struct h1_conn *c, struct h1_side *s)
{
	struct http_exchange *ex = exchange_new();
	const char *pos = s->head, *end = s->head + s->head_len;
	const char *line, *host;
	enum h1_framing f;
	uint64_t len = 0;
	size_t n;
	int rc;

	if (!ex)
		return -ENOMEM;
	h1_next_line(&pos, end, &line, &n);
	rc = h1_request_line(line, n, ex);
	if (!rc)
		rc = h1_fields(pos, end, &ex->req_headers);
	if (!rc)
		rc = h1_framing_of(&ex->req_headers, true, &f, &len);
	host = rc ? NULL : hdr_list_get(&ex->req_headers, "host");
	if (host) {
		ex->authority = strdup(host);
		rc = ex->authority ? 0 : -ENOMEM;
	}
	s->entry = rc ? NULL : h1_q_push(c, ex);
	if (!rc && !s->entry)
		rc = -ENOBUFS;
	if (rc) {
		exchange_free(ex);
		return rc;
	}

	ex->task = s->head_task;
	ex->conn = c->id;
	ex->ts_req_start = s->head_task.ts_ns;
	return h1_body_start(c, s, f, len, &ex->req_headers);
}

/* An exchange whose request we did not see (whole): capture began
 * after it, or its bytes were lost. */
static struct h1_entry *h1_orphan(struct h1_conn *c, struct h1_side *s,
				  int version, const char *why)
{
	struct http_exchange *ex = exchange_new();
	struct h1_entry *e;

	if (!ex)
		return NULL;
	e = h1_q_push(c, ex);
	if (!e) {
		exchange_free(ex);
		return NULL;
	}
	ex->task = s->head_task;
	ex->conn = c->id;
	ex->http_version = version;
	h1_mark_incomplete(ex, why);
	e->req_done = true;
	return e;
}

/* RFC 9112 section 6.3: HEAD, 204 and 304 responses have no body; a
 * 2xx to CONNECT and a 101 turn the connection into something else. */
static int h1_response_framing(struct h1_conn *c, struct http_exchange *ex,
			       enum h1_framing *f, uint64_t *len)
{
	const char *m = ex->method ? ex->method : "";
	int st = ex->status;

	if (st == 101 || (strcmp(m, "CONNECT") == 0 && st / 100 == 2))
		c->switched = true;
	if (c->switched || strcmp(m, "HEAD") == 0 || st == 204 || st == 304) {
		*f = H1_NO_BODY;
		return 0;
	}
	return h1_framing_of(&ex->resp_headers, false, f, len);
}

static int h1_response_head(struct h1_conn *c, struct h1_side *s)
{
	const char *pos = s->head, *end = s->head + s->head_len;
	struct http_exchange *ex;
	int rc, version, status;
	enum h1_framing f;
	uint64_t len = 0;
	const char *line;
	size_t n;

	h1_next_line(&pos, end, &line, &n);
	rc = h1_status_line(line, n, &version, &status);
	if (rc)
		return rc;
	/* Interim responses (RFC 9110 15.2), e.g. 100 Continue: the
	 * final one follows and is the one that counts. */
	if (status < 200 && status != 101) {
		s->head_len = 0;
		return 0;
	}

	s->entry = h1_q_unanswered(c);
	if (!s->entry)
		s->entry = h1_orphan(c, s, version,
				     "response without a request");
	if (!s->entry)
		return -ENOBUFS;
	s->entry->resp_seen = true;
	ex = s->entry->ex;
	ex->status = status;
	ex->ts_resp_start = s->head_task.ts_ns;

	rc = h1_fields(pos, end, &ex->resp_headers);
	if (!rc)
		rc = h1_response_framing(c, ex, &f, &len);
	return rc ? rc : h1_body_start(c, s, f, len, &ex->resp_headers);
}

static int h1_head_append(struct h1_side *s, const uint8_t *p, size_t n)
{
	size_t need = s->head_len + n + 1;
	size_t cap = s->head_cap ? s->head_cap : 1024;
	char *nh;

	if (s->head_len + n > H1_HEAD_MAX)
		return -E2BIG;
	if (need > s->head_cap) {
		while (cap < need)
			cap *= 2;
		nh = realloc(s->head, cap);
		if (!nh)
			return -ENOMEM;
		s->head = nh;
		s->head_cap = cap;
	}
	memcpy(s->head + s->head_len, p, n);
	s->head_len += n;
	s->head[s->head_len] = '\0';
	return 0;
}

/* The block ends with an empty line: LF LF or LF CR LF. */
static bool h1_head_ended(const struct h1_side *s)
{
	const char *h = s->head;
	size_t n = s->head_len;

	return (n >= 2 && h[n - 2] == '\n') ||
	       (n >= 3 && h[n - 2] == '\r' && h[n - 3] == '\n');
}

/* Rejects at once what cannot become a start line, so that a binary
 * stream fails here instead of filling the header buffer first. */
static bool h1_start_plausible(const struct h1_side *s)
{
	const char *h = s->head;
	size_t n = s->head_len;

	if (s->dir == EV_DIR_READ)
		return memcmp(h, "HTTP/1.", n < 7 ? n : 7) == 0;
	for (size_t i = 0; i < n && i <= H1_METHOD_MAX; i++) {
		if (h[i] == ' ')
			return i > 0;
		if (!h1_is_tchar(h[i]))
			return false;
	}
	return n <= H1_METHOD_MAX;
}

static ssize_t h1_head_step(struct h1_conn *c, struct h1_side *s,
			    const uint8_t *p, size_t len,
			    const struct ev_task *task)
{
	const uint8_t *nl;
	size_t i = 0, n;
	int rc;

	/* Empty lines before a start line are skipped (RFC 9112 2.2). */
	if (s->head_len == 0) {
		while (i < len && (p[i] == '\r' || p[i] == '\n'))
			i++;
		if (i == len)
			return i;
		s->head_task = *task;
	}

	do {
		nl = memchr(p + i, '\n', len - i);
		n = nl ? (size_t)(nl - (p + i)) + 1 : len - i;
		rc = h1_head_append(s, p + i, n);
		if (rc)
			return rc;
		i += n;
	} while (nl && !h1_head_ended(s) && i < len);

	if (!h1_start_plausible(s))
		return -EPROTO;
	if (!nl || !h1_head_ended(s))
		return i;
	rc = s->dir == EV_DIR_WRITE ? h1_request_head(c, s) :
				      h1_response_head(c, s);
	s->head_len = 0;
	return rc ? rc : (ssize_t)i;
}

/* ---- chunked bodies (RFC 9112 section 7.1) ---- */

/* Collects one line into s->line; *done once its LF was consumed. */
static ssize_t h1_line_step(struct h1_side *s, const uint8_t *p,
			    size_t len, bool *done)
{
	const uint8_t *nl = memchr(p, '\n', len);
	size_t n = nl ? (size_t)(nl - p) : len;

	size_t keep = 0;

	if (s->line_len + n >= H1_LINE_MAX)
		return -E2BIG;
	if (s->line_len < H1_LINE_KEEP)
		keep = n < H1_LINE_KEEP - s->line_len ?
			       n : H1_LINE_KEEP - s->line_len;
	if (keep)	/* past H1_LINE_KEEP, line + line_len is out of bounds */
		memcpy(s->line + s->line_len, p, keep);
	if (n > 0)
		s->line_cr = p[n - 1] == '\r';
	s->line_len += n;

	*done = nl != NULL;
	if (*done && s->line_cr)
		s->line_len--;
	return nl ? (ssize_t)n + 1 : (ssize_t)n;
}

static int h1_hex(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* chunk-size [ BWS ; chunk-ext ]: extensions are ignored. */
static int h1_chunk_size(const char *l, size_t n, uint64_t *size)
{
	uint64_t v = 0;
	size_t i = 0;

	for (; i < n && h1_hex(l[i]) >= 0; i++) {
		if (i == H1_HEX_MAX)
			return -EPROTO;
		v = v * 16 + (uint64_t)h1_hex(l[i]);
	}
	if (i == 0)
		return -EPROTO;
	while (i < n && (l[i] == ' ' || l[i] == '\t'))
		i++;
	if (i < n && l[i] != ';')
		return -EPROTO;
	*size = v;
	return 0;
}

static int h1_chunk_line(struct h1_conn *c, struct h1_side *s)
{
	size_t n = s->line_len;
	size_t kept = n < H1_LINE_KEEP ? n : H1_LINE_KEEP;
	int rc = 0;

	s->line_len = 0;
	s->line_cr = false;
	switch (s->state) {
	case H1_CHUNK_SIZE:
		rc = h1_chunk_size(s->line, kept, &s->left);
		s->trailer_len = 0;
		s->state = s->left ? H1_CHUNK_DATA : H1_TRAILER;
		return rc;
	case H1_CHUNK_END:
		s->state = H1_CHUNK_SIZE;
		return n == 0 ? 0 : -EPROTO;
	default:
		/* Trailer fields are counted, not kept. */
		s->trailer_len += n;
		if (s->trailer_len > H1_HEAD_MAX)
			return -E2BIG;
		if (n == 0)
			h1_msg_done(c, s);
		return 0;
	}
}

/* ---- the step loop ---- */

static ssize_t h1_body_step(struct h1_conn *c, struct h1_side *s,
			    const uint8_t *p, size_t len)
{
	size_t n = len;
	int rc;

	if (s->state != H1_BODY_EOF && s->left < n)
		n = s->left;
	rc = h1_body_bytes(s, p, n);
	if (rc)
		return rc;
	if (s->state == H1_BODY_EOF)
		return n;

	s->left -= n;
	if (s->left == 0 && s->state == H1_CHUNK_DATA)
		s->state = H1_CHUNK_END;
	else if (s->left == 0)
		h1_msg_done(c, s);
	return n;
}

/* Consumes at least one byte of p, or fails. */
static ssize_t h1_step(struct h1_conn *c, struct h1_side *s,
		       const uint8_t *p, size_t len,
		       const struct ev_task *task)
{
	bool done = false;
	ssize_t n;
	int rc;

	switch (s->state) {
	case H1_HEAD:
		return h1_head_step(c, s, p, len, task);
	case H1_BODY_LEN:
	case H1_BODY_EOF:
	case H1_CHUNK_DATA:
		return h1_body_step(c, s, p, len);
	case H1_SYNC:
		return len;
	default:
		n = h1_line_step(s, p, len, &done);
		if (n < 0 || !done)
			return n;
		rc = h1_chunk_line(c, s);
		return rc ? rc : n;
	}
}

/* Whether a feed after lost bytes starts like a start line. */
static bool h1_starts_message(enum ev_dir dir, const uint8_t *p,
			      size_t len)
{
	size_t i = 0;

	/* Empty lines may come before a start line (RFC 9112 2.2). */
	while (len > 0 && (*p == '\r' || *p == '\n')) {
		p++;
		len--;
	}
	if (dir == EV_DIR_READ)
		return len >= 7 && memcmp(p, "HTTP/1.", 7) == 0;
	while (i < len && i < H1_METHOD_MAX && p[i] >= 'A' && p[i] <= 'Z')
		i++;
	return i > 0 && i < len && p[i] == ' ';
}

/* Every pending exchange leaves, in order, marked incomplete. */
static void h1_abort_all(struct h1_conn *c, const char *why)
{
	h1_side_reset(&c->req, H1_HEAD);
	h1_side_reset(&c->resp, H1_HEAD);
	while (c->qhead) {
		h1_mark_incomplete(c->qhead->ex, why);
		h1_q_pop_emit(c);
	}
}

static const char *h1_fail_note(int rc)
{
	switch (rc) {
	case -E2BIG:
		return "HTTP/1.1 header block too large";
	case -ENOBUFS:
		return "too many HTTP/1.1 requests pending";
	case -ENOMEM:
		return "out of memory";
	default:
		return "HTTP/1.1 parse error";
	}
}

int h1_conn_feed(struct h1_conn *c, enum ev_dir dir, const uint8_t *data,
		 size_t len, const struct ev_task *task)
{
	struct h1_side *s = h1_side_of(c, dir);
	size_t off = 0;
	ssize_t n;

	if (c->failed)
		return -EPROTO;
	if (c->closed || c->switched)
		return 0;

	s->ts = task->ts_ns;
	if (s->state == H1_SYNC && h1_starts_message(dir, data, len))
		s->state = H1_HEAD;

	while (off < len && !c->switched) {
		n = h1_step(c, s, data + off, len - off, task);
		if (n < 0) {
			c->failed = true;
			h1_abort_all(c, h1_fail_note((int)n));
			return (int)n;
		}
		off += n;
	}
	return 0;
}

/* ---- gaps, close, lifetime ---- */

/* A head cut short still had an exchange behind it; a placeholder
 * keeps later responses paired with the right requests. */
static struct h1_entry *h1_gap_entry(struct h1_conn *c, struct h1_side *s)
{
	if (s->entry || s->head_len == 0)
		return s->entry;
	if (s->dir == EV_DIR_READ) {
		s->entry = h1_q_unanswered(c);
		if (s->entry)
			s->entry->resp_seen = true;
		return s->entry;
	}
	s->entry = h1_orphan(c, s, 11, H1_GAP_NOTE);
	return s->entry;
}

void h1_conn_gap(struct h1_conn *c, enum ev_dir dir)
{
	struct h1_side *s = h1_side_of(c, dir);
	struct h1_entry *e;

	if (c->failed || c->closed || c->switched)
		return;

	e = h1_gap_entry(c, s);
	if (e) {
		e->ex->capture_gap = true;
		h1_mark_incomplete(e->ex, H1_GAP_NOTE);
		if (dir == EV_DIR_WRITE)
			e->req_done = true;
		else
			e->resp_done = true;
	}
	h1_side_reset(s, H1_SYNC);
	h1_flush(c);
}

void h1_conn_close(struct h1_conn *c, uint64_t ts_ns, const char *why)
{
	struct h1_side *s = &c->resp;

	if (c->closed)
		return;
	/* The close is what ends a body without a length. */
	if (!c->failed && s->state == H1_BODY_EOF && s->entry)
		h1_msg_done(c, s);
	h1_abort_all(c, why ? why : "connection closed");
	c->closed = true;
}

struct h1_conn *h1_conn_new(const struct exchange_sink *sink,
			    const struct ev_conn_id *conn)
{
	struct h1_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (sink)
		c->sink = *sink;
	c->id = *conn;
	c->req.dir = EV_DIR_WRITE;
	c->resp.dir = EV_DIR_READ;
	return c;
}

void h1_conn_free(struct h1_conn *c)
{
	if (!c)
		return;
	while (c->qhead)
		exchange_free(h1_q_pop(c));
	decoder_free(c->req.dec);
	decoder_free(c->resp.dec);
	free(c->req.head);
	free(c->resp.head);
	free(c);
}
