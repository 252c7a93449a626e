/* SPDX-License-Identifier: MIT */
/*
 * The provider stage: tells whether an HTTP exchange is an LLM API
 * call, which provider and dialect it speaks, and reads the model,
 * token usage, timing, identifiers and errors out of its bodies.
 *
 * Usage is normalised across dialects (see struct llm_usage) so that
 * pricing and every output can treat all providers alike.
 */
#ifndef LLMTAP_PROVIDER_H
#define LLMTAP_PROVIDER_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "exchange.h"
#include "sse.h"

enum prov_dialect {
	PROV_NONE = 0,
	PROV_OPENAI,	/* OpenAI and every server copying its API */
	PROV_ANTHROPIC,
	PROV_GEMINI,
	PROV_OLLAMA,	/* Ollama's native /api/chat, /api/generate */
};

/*
 * input_tokens counts every input token, cache reads and writes
 * included; cached_input_tokens and cache_write_tokens are parts of
 * it. output_tokens includes reasoning; reasoning_tokens is part of
 * it. total_tokens = input_tokens + output_tokens.
 */
struct llm_usage {
	uint64_t input_tokens;
	uint64_t output_tokens;
	uint64_t cached_input_tokens;
	uint64_t cache_write_tokens;
	uint64_t cache_write_1h_tokens;	/* part of cache_write_tokens */
	uint64_t reasoning_tokens;
	uint64_t total_tokens;
};

struct llm_call {
	enum prov_dialect dialect;
	const char *provider;	/* "openai", "azure", ... (static) */
	const char *operation;	/* "chat", "messages", ... (static) */
	char *model;	/* requested, NULL if unknown */
	char *response_model;
	char *user_id;	/* from the request body */
	char *request_id;	/* response header, else the body's id */
	char *err_type;	/* NULL when the call did not fail */
	char *err_message;
	const char *parse_error;	/* why a body was not understood */
	bool stream;
	bool has_usage;
	bool has_ttft;
	struct llm_usage usage;
	uint64_t ttft_ns;	/* first content event - request start */
	uint64_t duration_ns;
	uint64_t events;	/* stream events seen */

	/* Working state of the parsers. */
	char *body_id;
	json_t *raw_usage;	/* the dialect's usage object, merged */
	uint64_t ts_start;
	/* The request body parsed, NULL if it is not JSON: kept so
	 * session inference need not parse it again. */
	json_t *request;
};

/* Fills call from ex. Returns 0, -ENOENT when ex is not an LLM API
 * call, or -ENOMEM. The call is cleared first; free it with
 * llm_call_clear even on error. */
int provider_analyze(const struct http_exchange *ex, struct llm_call *call);
void llm_call_clear(struct llm_call *call);

/* Just the recognition step: the dialect (PROV_NONE if none) and the
 * provider and operation names. */
enum prov_dialect provider_classify(const struct http_exchange *ex,
				    const char **provider,
				    const char **operation);

/*
 * Shared by the per-dialect files (prov_*.c) only.
 */
struct prov_ops {
	/* The request body, parsed. */
	void (*request)(struct llm_call *c, json_t *req);
	/* A whole JSON response, or each element of a JSON array. */
	void (*response)(struct llm_call *c, json_t *resp);
	/* One stream event; data is NULL when it is not JSON. */
	void (*event)(struct llm_call *c, const struct sse_event *ev,
		      json_t *data);
	/* raw_usage to the normalised form. */
	void (*usage)(const json_t *raw, struct llm_usage *u);
	/* The dialect streams newline-delimited JSON: each line of a
	 * JSON body goes to event, as an event of type "ndjson". */
	bool ndjson;
};

extern const struct prov_ops prov_openai_ops;
extern const struct prov_ops prov_anthropic_ops;
extern const struct prov_ops prov_gemini_ops;
extern const struct prov_ops prov_ollama_ops;

/* Small helpers over jansson that tolerate missing or odd fields. */
const char *prov_jstr(const json_t *obj, const char *key);
uint64_t prov_juint(const json_t *obj, const char *key);
void prov_set_str(char **dst, const char *s);
void prov_set_once(char **dst, const char *s);
/* Takes an error object ({"type","message"} and the like). */
void prov_set_error(struct llm_call *c, const json_t *err);
/* Replaces the raw usage, or merges into it when merge is set. */
void prov_take_usage(struct llm_call *c, json_t *usage, bool merge);
/* A content-carrying event arrived at ts_ns: the first sets ttft. */
void prov_mark_content(struct llm_call *c, uint64_t ts_ns);

#endif /* LLMTAP_PROVIDER_H */
