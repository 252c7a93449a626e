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

#include "exchange.h"
#include "jview.h"
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

/* Room for a dialect's usage counts, nested ones flattened ("a.b"). */
#define PROV_COUNTS_MAX 32
#define PROV_COUNT_KEY_LEN 64

/* The integer members of a usage object as the dialect names them:
 * kept apart from the event they came in, as streams spread usage
 * over several events. A member that is not an integer counts 0. */
struct prov_counts {
	size_t n;
	struct {
		char key[PROV_COUNT_KEY_LEN];
		uint64_t value;
	} kv[PROV_COUNTS_MAX];
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
	bool has_counts;
	struct prov_counts counts;	/* the dialect's usage, merged */
	uint64_t ts_start;
	/* The request body read, if it is JSON (else request_ok is
	 * false): kept so session inference need not read it again. It
	 * points into the exchange's body. */
	struct jview request;
	bool request_ok;
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
	/* The request body: object req of v. */
	void (*request)(struct llm_call *c, const struct jview *v, int req);
	/* A whole JSON response, or each element of a JSON array. */
	void (*response)(struct llm_call *c, const struct jview *v,
			 int resp);
	/* One stream event; data is JV_NONE when it is not JSON. */
	void (*event)(struct llm_call *c, const struct sse_event *ev,
		      const struct jview *v, int data);
	/* An event that can change nothing more (text after the first,
	 * with the model and id known): counted, not read. May be NULL. */
	bool (*idle)(const struct llm_call *c, const struct sse_event *ev);
	/* The counts to the normalised form. */
	void (*usage)(const struct prov_counts *raw, struct llm_usage *u);
	/* The dialect streams newline-delimited JSON: each line of a
	 * JSON body goes to event, as an event of type "ndjson". */
	bool ndjson;
};

extern const struct prov_ops prov_openai_ops;
extern const struct prov_ops prov_anthropic_ops;
extern const struct prov_ops prov_gemini_ops;
extern const struct prov_ops prov_ollama_ops;

/* Member key of object obj as a positive integer, else 0. */
uint64_t prov_juint(const struct jview *v, int obj, const char *key);
void prov_set_str(char **dst, const char *s);
void prov_set_once(char **dst, const char *s);
/* The string member key of obj into *dst (kept if there is none). */
void prov_set_jstr(char **dst, const struct jview *v, int obj,
		   const char *key);
void prov_set_jonce(char **dst, const struct jview *v, int obj,
		    const char *key);
/* Takes an error value ({"type","message"} and the like, or a
 * string); the first error of a call is kept. */
void prov_set_error(struct llm_call *c, const struct jview *v, int err);
void prov_set_error_strs(struct llm_call *c, const char *type,
			 const char *message);
/* Replaces the counts with the usage object u, or merges u into them
 * when merge is set (later members replace earlier ones). */
void prov_take_usage(struct llm_call *c, const struct jview *v, int u,
		     bool merge);
/* Sets one count, as an Ollama reply spreads them over its object. */
void prov_set_count(struct llm_call *c, const char *key, uint64_t value);
/* A count by the dialect's name ("a.b" for nested), 0 if absent. */
uint64_t prov_count(const struct prov_counts *raw, const char *key);
bool prov_has_count(const struct prov_counts *raw, const char *key);
/* Whether an event's data mentions any of the quoted words (e.g.
 * "\"usage\""): a cheap test before reading it. */
bool prov_event_mentions(const struct sse_event *ev,
			 const char *const *words, size_t n);
/* A content-carrying event arrived at ts_ns: the first sets ttft. */
void prov_mark_content(struct llm_call *c, uint64_t ts_ns);

#endif /* LLMTAP_PROVIDER_H */
