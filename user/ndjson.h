/* SPDX-License-Identifier: MIT */
/*
 * Incremental splitter for newline-delimited JSON (NDJSON, JSON Lines),
 * the stream format of Ollama's native API: one JSON value per line.
 * Bytes go in as they arrived; each complete line comes out through a
 * callback with the time of the arrival that held its newline.
 *
 * The splitter does not parse JSON: it only finds lines. A line ends
 * in LF; a CR before it is dropped. Lines holding only blanks are
 * skipped. Memory is bounded: a line longer than NDJSON_LINE_MAX is
 * cut to that length and flagged oversize.
 */
#ifndef LLMTAP_NDJSON_H
#define LLMTAP_NDJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes kept per line: a response body is kept up to 8 MiB
 * (EXCHANGE_BODY_LIMIT), so a longer line could not be whole anyway. */
#define NDJSON_LINE_MAX (8u << 20)

struct ndjson_line {
	const char *data;	/* not NUL-terminated; never NULL */
	size_t len;	/* without the line end */
	uint64_t ts_ns;	/* arrival that completed the line */
	bool oversize;	/* cut at NDJSON_LINE_MAX */
	bool unterminated;	/* flushed by ndjson_parser_finish */
};

/* Returns 0 to go on, a negative errno to stop the feed. */
typedef int (*ndjson_line_cb)(void *ctx, const struct ndjson_line *l);

struct ndjson_parser;

struct ndjson_parser *ndjson_parser_new(ndjson_line_cb cb, void *ctx);
void ndjson_parser_free(struct ndjson_parser *p);

/* Consumes all len bytes; a partial line is kept for the next call.
 * Returns 0, -ENOMEM, or what the callback returned to stop. */
int ndjson_parser_feed(struct ndjson_parser *p, const char *buf,
		       size_t len, uint64_t ts_ns);

/* End of input: a last line without its newline is delivered flagged
 * unterminated (a stream cut mid-line, or a body with no final LF). */
int ndjson_parser_finish(struct ndjson_parser *p, uint64_t ts_ns);

/* Lines delivered so far. */
uint64_t ndjson_parser_lines(const struct ndjson_parser *p);

#endif /* LLMTAP_NDJSON_H */
