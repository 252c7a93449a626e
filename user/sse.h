/* SPDX-License-Identifier: MIT */
/*
 * Incremental parser for server-sent events (the WHATWG HTML
 * "event stream" format) as LLM APIs stream them. Bytes go in as they
 * arrived; each complete event comes out through a callback with the
 * time of the arrival in which its closing blank line was seen.
 *
 * Memory is bounded: data beyond SSE_EVENT_MAX bytes in one event is
 * dropped and the event is flagged oversize instead.
 */
#ifndef LLMTAP_SSE_H
#define LLMTAP_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Data bytes kept per event; LLM stream chunks are a few KiB. */
#define SSE_EVENT_MAX (1u << 20)
/* Event type names longer than this are cut. */
#define SSE_TYPE_MAX 64

struct sse_event {
	const char *type;	/* "message" when no event: field came */
	const char *data;	/* data: lines joined by \n, NUL-terminated */
	size_t len;
	uint64_t ts_ns;	/* arrival that completed the event */
	bool oversize;	/* data or a line was cut at SSE_EVENT_MAX */
	bool unterminated;	/* flushed by sse_parser_finish */
};

/* Returns 0 to go on, a negative errno to stop the feed. */
typedef int (*sse_event_cb)(void *ctx, const struct sse_event *ev);

struct sse_parser;

struct sse_parser *sse_parser_new(sse_event_cb cb, void *ctx);
void sse_parser_free(struct sse_parser *p);

/* Consumes all len bytes (partial lines are kept for the next call).
 * Returns 0, -ENOMEM, or what the callback returned to stop. */
int sse_parser_feed(struct sse_parser *p, const char *buf, size_t len,
		    uint64_t ts_ns);

/* End of stream: a last event without its blank line is delivered
 * flagged unterminated, as the spec would drop what we want to see. */
int sse_parser_finish(struct sse_parser *p, uint64_t ts_ns);

/* Events delivered so far. */
uint64_t sse_parser_events(const struct sse_parser *p);

#endif /* LLMTAP_SSE_H */
