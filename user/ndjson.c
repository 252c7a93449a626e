// SPDX-License-Identifier: MIT
/*
 * NDJSON lines (https://github.com/ndjson/ndjson-spec): each line is
 * one JSON text and ends in LF, CRLF being accepted. A line that
 * arrives whole within one feed is handed out in place; only a line
 * split across arrivals is copied, into a buffer that grows to at
 * most NDJSON_LINE_MAX bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ndjson.h"

/* First allocation for a split line; it doubles from there. */
#define NDJSON_BUF_MIN 256

struct ndjson_parser {
	ndjson_line_cb cb;
	void *ctx;
	char *buf;	/* the start of a line split across arrivals */
	size_t len;
	size_t cap;
	bool over;	/* the buffered line was cut */
	uint64_t lines;
};

struct ndjson_parser *ndjson_parser_new(ndjson_line_cb cb, void *ctx)
{
	struct ndjson_parser *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->cb = cb;
	p->ctx = ctx;
	return p;
}

void ndjson_parser_free(struct ndjson_parser *p)
{
	if (!p)
		return;
	free(p->buf);
	free(p);
}

uint64_t ndjson_parser_lines(const struct ndjson_parser *p)
{
	return p ? p->lines : 0;
}

/* Keeps up to NDJSON_LINE_MAX bytes of the current line. */
static int ndjson_keep(struct ndjson_parser *p, const char *s, size_t n)
{
	size_t ncap;
	char *nv;

	if (n > NDJSON_LINE_MAX - p->len) {
		n = NDJSON_LINE_MAX - p->len;
		p->over = true;
	}
	if (p->len + n > p->cap) {
		ncap = p->cap ? p->cap : NDJSON_BUF_MIN;
		while (ncap < p->len + n)
			ncap *= 2;
		if (ncap > NDJSON_LINE_MAX)
			ncap = NDJSON_LINE_MAX;
		nv = realloc(p->buf, ncap);
		if (!nv)
			return -ENOMEM;
		p->buf = nv;
		p->cap = ncap;
	}
	if (n)
		memcpy(p->buf + p->len, s, n);
	p->len += n;
	return 0;
}

static bool ndjson_blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	}
	return true;
}

static int ndjson_emit(struct ndjson_parser *p, const char *s, size_t n,
		       bool over, uint64_t ts_ns, bool unterminated)
{
	struct ndjson_line l;

	if (n && s[n - 1] == '\r')
		n--;
	if (!over && ndjson_blank(s, n))
		return 0;
	l = (struct ndjson_line){
		.data = n ? s : "",
		.len = n,
		.ts_ns = ts_ns,
		.oversize = over,
		.unterminated = unterminated,
	};
	p->lines++;
	return p->cb ? p->cb(p->ctx, &l) : 0;
}

/* Hands out the buffered line and empties the buffer. */
static int ndjson_flush(struct ndjson_parser *p, uint64_t ts_ns,
			bool unterminated)
{
	bool over = p->over;
	size_t n = p->len;

	p->len = 0;
	p->over = false;
	return ndjson_emit(p, p->buf, n, over, ts_ns, unterminated);
}

/* One line end at buf[n]: the line is buf[0..n) after what is kept. */
static int ndjson_line_end(struct ndjson_parser *p, const char *buf,
			   size_t n, uint64_t ts_ns)
{
	int err;

	if (!p->len && !p->over) {
		if (n > NDJSON_LINE_MAX)
			return ndjson_emit(p, buf, NDJSON_LINE_MAX, true,
					   ts_ns, false);
		return ndjson_emit(p, buf, n, false, ts_ns, false);
	}
	err = ndjson_keep(p, buf, n);
	if (err)
		return err;
	return ndjson_flush(p, ts_ns, false);
}

int ndjson_parser_feed(struct ndjson_parser *p, const char *buf,
		       size_t len, uint64_t ts_ns)
{
	size_t i = 0;

	while (i < len) {
		const char *lf = memchr(buf + i, '\n', len - i);
		size_t n = lf ? (size_t)(lf - (buf + i)) : len - i;
		int err;

		if (!lf)
			return ndjson_keep(p, buf + i, n);
		err = ndjson_line_end(p, buf + i, n, ts_ns);
		if (err)
			return err;
		i += n + 1;
	}
	return 0;
}

int ndjson_parser_finish(struct ndjson_parser *p, uint64_t ts_ns)
{
	if (!p->len && !p->over)
		return 0;
	return ndjson_flush(p, ts_ns, true);
}
