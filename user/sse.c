// SPDX-License-Identifier: MIT
/*
 * Server-sent events, per the WHATWG HTML standard section 9.2.6
 * "Interpreting an event stream": lines end in CRLF, LF or CR; a blank
 * line dispatches; ":" starts a comment; "field: value" drops one space
 * after the colon; data lines are joined with \n. id and retry are
 * parsed and ignored, as nothing downstream reconnects.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"

/* A line holds at most one event's worth of data plus its field name. */
#define SSE_LINE_MAX (SSE_EVENT_MAX + 16)

struct sse_buf {
	char *v;
	size_t len;
	size_t cap;
};

struct sse_parser {
	sse_event_cb cb;
	void *ctx;
	struct sse_buf line;
	bool line_over;	/* the current line was cut */
	bool after_cr;	/* a CR ended the last line: skip a LF next */
	struct sse_buf data;
	bool has_data;	/* a data: field came, even an empty one */
	bool ev_over;
	char type[SSE_TYPE_MAX];
	uint64_t events;
};

struct sse_parser *sse_parser_new(sse_event_cb cb, void *ctx)
{
	struct sse_parser *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->cb = cb;
	p->ctx = ctx;
	return p;
}

void sse_parser_free(struct sse_parser *p)
{
	if (!p)
		return;
	free(p->line.v);
	free(p->data.v);
	free(p);
}

uint64_t sse_parser_events(const struct sse_parser *p)
{
	return p ? p->events : 0;
}

/* Appends up to max bytes in all; returns 1 if some were dropped. */
static int sse_buf_add(struct sse_buf *b, const char *s, size_t n,
		       size_t max)
{
	size_t take = n;
	size_t ncap;
	char *nv;

	if (b->len + take > max)
		take = max - b->len;
	if (b->len + take + 1 > b->cap) {
		ncap = b->cap ? b->cap : 256;
		while (ncap < b->len + take + 1)
			ncap *= 2;
		nv = realloc(b->v, ncap);
		if (!nv)
			return -ENOMEM;
		b->v = nv;
		b->cap = ncap;
	}
	memcpy(b->v + b->len, s, take);
	b->len += take;
	b->v[b->len] = '\0';
	return take < n;
}

static void sse_reset_event(struct sse_parser *p)
{
	p->data.len = 0;
	p->has_data = false;
	p->ev_over = false;
	p->type[0] = '\0';
}

static int sse_dispatch(struct sse_parser *p, uint64_t ts_ns,
			bool unterminated)
{
	struct sse_event ev;
	int err;

	/* No data field: the spec resets the type and sends nothing. */
	if (!p->has_data) {
		sse_reset_event(p);
		return 0;
	}
	if (p->data.len && p->data.v[p->data.len - 1] == '\n')
		p->data.len--;
	ev = (struct sse_event){
		.type = p->type[0] ? p->type : "message",
		.data = p->data.len ? p->data.v : "",
		.len = p->data.len,
		.ts_ns = ts_ns,
		.oversize = p->ev_over,
		.unterminated = unterminated,
	};
	if (p->data.len)
		p->data.v[p->data.len] = '\0';
	p->events++;
	err = p->cb ? p->cb(p->ctx, &ev) : 0;
	sse_reset_event(p);
	return err;
}

static int sse_field_data(struct sse_parser *p, const char *val, size_t n)
{
	int r = sse_buf_add(&p->data, val, n, SSE_EVENT_MAX);

	if (r == 0)
		r = sse_buf_add(&p->data, "\n", 1, SSE_EVENT_MAX);
	if (r < 0)
		return r;
	if (r > 0)
		p->ev_over = true;
	p->has_data = true;
	return 0;
}

static void sse_field_event(struct sse_parser *p, const char *val, size_t n)
{
	if (n >= SSE_TYPE_MAX)
		n = SSE_TYPE_MAX - 1;
	memcpy(p->type, val, n);
	p->type[n] = '\0';
}

/* One complete line, without its terminator. */
static int sse_line(struct sse_parser *p, uint64_t ts_ns)
{
	const char *s = p->line.len ? p->line.v : "";
	size_t n = p->line.len;
	const char *colon = memchr(s, ':', n);
	size_t flen = colon ? (size_t)(colon - s) : n;
	const char *val = colon ? colon + 1 : s + n;
	size_t vlen = n - (size_t)(val - s);

	if (p->line_over)
		p->ev_over = true;
	p->line.len = 0;
	p->line_over = false;
	if (n == 0)
		return sse_dispatch(p, ts_ns, false);
	if (flen == 0)
		return 0;	/* comment */
	if (vlen && val[0] == ' ') {
		val++;
		vlen--;
	}
	if (flen == 4 && memcmp(s, "data", 4) == 0)
		return sse_field_data(p, val, vlen);
	if (flen == 5 && memcmp(s, "event", 5) == 0)
		sse_field_event(p, val, vlen);
	return 0;
}

/* Where the line ends: the first LF or CR (memchr is vectorised; a
 * byte loop was a fifth of the parser's time). */
static size_t sse_find_eol(const char *buf, size_t len)
{
	const char *lf = memchr(buf, '\n', len);
	size_t n = lf ? (size_t)(lf - buf) : len;
	const char *cr = memchr(buf, '\r', n);

	return cr ? (size_t)(cr - buf) : n;
}

int sse_parser_feed(struct sse_parser *p, const char *buf, size_t len,
		    uint64_t ts_ns)
{
	size_t i = 0;

	while (i < len) {
		size_t n;
		int r;

		/* CRLF split across two arrivals is still one line end. */
		if (p->after_cr) {
			p->after_cr = false;
			if (buf[i] == '\n') {
				i++;
				continue;
			}
		}
		n = sse_find_eol(buf + i, len - i);
		r = sse_buf_add(&p->line, buf + i, n, SSE_LINE_MAX);
		if (r < 0)
			return r;
		if (r > 0)
			p->line_over = true;
		i += n;
		if (i == len)
			break;
		p->after_cr = buf[i] == '\r';
		i++;
		r = sse_line(p, ts_ns);
		if (r < 0)
			return r;
	}
	return 0;
}

int sse_parser_finish(struct sse_parser *p, uint64_t ts_ns)
{
	int r;

	if (p->line.len || p->line_over) {
		r = sse_line(p, ts_ns);
		if (r < 0)
			return r;
	}
	p->after_cr = false;
	return sse_dispatch(p, ts_ns, true);
}
