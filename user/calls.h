/* SPDX-License-Identifier: MIT */
/*
 * The last stage: an exchange_sink that turns each LLM API exchange
 * into one "llm_call" JSON record (provider, model, usage, cost,
 * timing, attribution, error) and writes it as one line. Exchanges
 * that are not LLM calls are only counted.
 */
#ifndef LLMTAP_CALLS_H
#define LLMTAP_CALLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "exchange.h"

/* Body bytes kept per body with bodies on, when body_limit is 0. */
#define CALLS_BODY_LIMIT_DEFAULT (64u << 10)

struct calls_opts {
	const char *out_path;	/* NULL or "-" = stdout */
	size_t rotate_bytes;	/* 0 = never rotate */
	int rotate_keep;	/* old files kept: FILE.1 ... FILE.N */
	const char *pricing_path;	/* NULL = the shipped table only */
	/* Lines gathered per write (output_hold); 0: a write a line, as
	 * a live daemon wants. */
	size_t out_hold;
	bool bodies;	/* add request_body, response_body, headers */
	size_t body_limit;	/* 0 = CALLS_BODY_LIMIT_DEFAULT */
	/* Called with each record before it is written, e.g. for
	 * metrics or alerts; the record is only borrowed. May be NULL. */
	void (*on_record)(void *ctx, json_t *rec);
	void *on_record_ctx;
	/* Called with each other line written (alerts, enforcements),
	 * with on_record_ctx; may be NULL. */
	void (*on_event)(void *ctx, const json_t *ev);
};

struct calls_stats {
	uint64_t exchanges;	/* every exchange seen */
	uint64_t llm_calls;	/* records written */
	uint64_t not_llm;	/* exchanges that were not LLM calls */
	uint64_t failed;	/* calls with an error */
	uint64_t incomplete;
	uint64_t unpriced;	/* calls with usage but no known price */
	uint64_t write_errors;
};

struct calls;

/* NULL, after logging why, on error (e.g. a bad pricing file). */
struct calls *calls_new(const struct calls_opts *o);
void calls_free(struct calls *c);

struct exchange_sink calls_sink(struct calls *c);
/* Writes obj as one line of the calls output (e.g. an alert). */
void calls_write_json(struct calls *c, const json_t *obj);
void calls_stats(const struct calls *c, struct calls_stats *out);

/* The record for ex, or NULL when it is not an LLM call (or memory
 * ran out). The caller owns it. Counts nothing, writes nothing. */
json_t *calls_record(struct calls *c, const struct http_exchange *ex);

#endif /* LLMTAP_CALLS_H */
