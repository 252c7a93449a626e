// SPDX-License-Identifier: MIT
/*
 * The OpenAI dialect, spoken by OpenAI, Azure OpenAI and most
 * OpenAI-compatible servers: chat completions, legacy completions,
 * embeddings (usage in the body or, streamed with
 * stream_options.include_usage, in the last chunk before [DONE]) and
 * the Responses API (usage in response.completed).
 */
#include <stdlib.h>
#include <string.h>

#include "provider.h"

static void oai_request(struct llm_call *c, const struct jview *v,
			int req)
{
	prov_set_jstr(&c->model, v, req, "model");
	c->stream = jv_is_true(v, jv_get(v, req, "stream"));
	/* safety_identifier is the documented successor of "user". */
	prov_set_jstr(&c->user_id, v, req, "safety_identifier");
	prov_set_jstr(&c->user_id, v, req, "user");
}

static void oai_response(struct llm_call *c, const struct jview *v,
			 int resp)
{
	prov_set_jstr(&c->response_model, v, resp, "model");
	prov_set_jonce(&c->body_id, v, resp, "id");
	prov_take_usage(c, v, jv_get(v, resp, "usage"), false);
}

static bool oai_nonempty(const struct jview *v, int obj, const char *key)
{
	return jv_nonempty(v, jv_get(v, obj, key));
}

/* Content is text, a tool call, a refusal or reasoning text
 * (reasoning_content is how DeepSeek and others stream thinking). */
static bool oai_chunk_has_content(const struct jview *v, int chunk)
{
	int ch = jv_at(v, jv_get(v, chunk, "choices"), 0);
	int d = jv_get(v, ch, "delta");

	return oai_nonempty(v, ch, "text") || oai_nonempty(v, d, "content") ||
	       oai_nonempty(v, d, "tool_calls") ||
	       oai_nonempty(v, d, "refusal") ||
	       oai_nonempty(v, d, "reasoning_content") ||
	       oai_nonempty(v, d, "reasoning") ||
	       oai_nonempty(v, d, "function_call");
}

static void oai_chunk(struct llm_call *c, const struct sse_event *ev,
		      const struct jview *v, int chunk)
{
	prov_set_jonce(&c->response_model, v, chunk, "model");
	prov_set_jonce(&c->body_id, v, chunk, "id");
	prov_take_usage(c, v, jv_get(v, chunk, "usage"), false);
	if (oai_chunk_has_content(v, chunk))
		prov_mark_content(c, ev->ts_ns);
}

/* "error" events of the Responses API carry code and message at the
 * top level. */
static void oai_resp_error_event(struct llm_call *c, const struct jview *v,
				 int data)
{
	char *code = jv_strdup(v, jv_get(v, data, "code"));
	char *message = jv_strdup(v, jv_get(v, data, "message"));

	prov_set_error_strs(c, code ? code : "error", message);
	free(code);
	free(message);
}

static void oai_resp_event(struct llm_call *c, const struct sse_event *ev,
			   const struct jview *v, int data)
{
	int resp = jv_get(v, data, "response");
	int type = jv_get(v, data, "type");
	size_t tl;
	const char *t = jv_raw(v, type, &tl);

	if (jv_str_eq(v, type, "error")) {
		oai_resp_error_event(c, v, data);
		return;
	}
	if (jv_is_object(v, resp)) {
		oai_response(c, v, resp);
		if (jv_is_object(v, jv_get(v, resp, "error")))
			prov_set_error(c, v, jv_get(v, resp, "error"));
	}
	/* response.output_text.delta, ...function_call_arguments.delta */
	if (tl > 6 && memcmp(t + tl - 6, ".delta", 6) == 0 &&
	    oai_nonempty(v, data, "delta"))
		prov_mark_content(c, ev->ts_ns);
}

/* A Responses API event: its type starts "response." (or is
 * "error"). */
static bool oai_is_resp_event(const struct jview *v, int type)
{
	size_t n;
	const char *t = jv_raw(v, type, &n);

	return jv_is_string(v, type) &&
	       ((n >= 9 && memcmp(t, "response.", 9) == 0) ||
		jv_str_eq(v, type, "error"));
}

static void oai_event(struct llm_call *c, const struct sse_event *ev,
		      const struct jview *v, int data)
{
	if (!jv_is_object(v, data))
		return;	/* "[DONE]" and keep-alives */
	if (oai_is_resp_event(v, jv_get(v, data, "type")))
		oai_resp_event(c, ev, v, data);
	else
		oai_chunk(c, ev, v, data);
}

/* A chat chunk after the first content, with the model and id known,
 * matters only for usage or an error; a Responses API event (it has a
 * "type") is always read. */
static bool oai_idle(const struct llm_call *c, const struct sse_event *ev)
{
	static const char *const words[] = {
		"\"usage\"", "\"error\"", "\"type\"",
	};

	return c->has_ttft && c->response_model && c->body_id &&
	       !prov_event_mentions(ev, words, 3);
}

/* Cached and reasoning tokens are reported inside the totals. */
static void oai_usage(const struct prov_counts *u, struct llm_usage *out)
{
	if (prov_has_count(u, "prompt_tokens")) {
		out->input_tokens = prov_count(u, "prompt_tokens");
		out->output_tokens = prov_count(u, "completion_tokens");
		out->cached_input_tokens =
			prov_count(u, "prompt_tokens_details.cached_tokens");
		out->reasoning_tokens = prov_count(
			u, "completion_tokens_details.reasoning_tokens");
		/* DeepSeek reports its cache hits this way instead. */
		if (!out->cached_input_tokens)
			out->cached_input_tokens =
				prov_count(u, "prompt_cache_hit_tokens");
		return;
	}
	out->input_tokens = prov_count(u, "input_tokens");
	out->output_tokens = prov_count(u, "output_tokens");
	out->cached_input_tokens =
		prov_count(u, "input_tokens_details.cached_tokens");
	out->reasoning_tokens =
		prov_count(u, "output_tokens_details.reasoning_tokens");
}

const struct prov_ops prov_openai_ops = {
	.request = oai_request,
	.response = oai_response,
	.event = oai_event,
	.idle = oai_idle,
	.usage = oai_usage,
};
