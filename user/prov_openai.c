// SPDX-License-Identifier: MIT
/*
 * The OpenAI dialect, spoken by OpenAI, Azure OpenAI and most
 * OpenAI-compatible servers: chat completions, legacy completions,
 * embeddings (usage in the body or, streamed with
 * stream_options.include_usage, in the last chunk before [DONE]) and
 * the Responses API (usage in response.completed).
 */
#include <string.h>

#include "provider.h"

static void oai_request(struct llm_call *c, json_t *req)
{
	const char *user = prov_jstr(req, "user");

	prov_set_str(&c->model, prov_jstr(req, "model"));
	c->stream = json_is_true(json_object_get(req, "stream"));
	/* safety_identifier is the documented successor of "user". */
	if (!user)
		user = prov_jstr(req, "safety_identifier");
	prov_set_str(&c->user_id, user);
}

static void oai_response(struct llm_call *c, json_t *resp)
{
	prov_set_str(&c->response_model, prov_jstr(resp, "model"));
	prov_set_once(&c->body_id, prov_jstr(resp, "id"));
	prov_take_usage(c, json_object_get(resp, "usage"), false);
}

static bool oai_nonempty(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	if (json_is_string(v))
		return json_string_length(v) > 0;
	return json_is_array(v) && json_array_size(v) > 0;
}

/* Content is text, a tool call, a refusal or reasoning text
 * (reasoning_content is how DeepSeek and others stream thinking). */
static bool oai_chunk_has_content(const json_t *chunk)
{
	const json_t *ch = json_array_get(json_object_get(chunk, "choices"),
					  0);
	const json_t *d = json_object_get(ch, "delta");

	return oai_nonempty(ch, "text") || oai_nonempty(d, "content") ||
	       oai_nonempty(d, "tool_calls") || oai_nonempty(d, "refusal") ||
	       oai_nonempty(d, "reasoning_content") ||
	       oai_nonempty(d, "reasoning") ||
	       oai_nonempty(d, "function_call");
}

static void oai_chunk(struct llm_call *c, const struct sse_event *ev,
		      json_t *chunk)
{
	prov_set_once(&c->response_model, prov_jstr(chunk, "model"));
	prov_set_once(&c->body_id, prov_jstr(chunk, "id"));
	prov_take_usage(c, json_object_get(chunk, "usage"), false);
	if (oai_chunk_has_content(chunk))
		prov_mark_content(c, ev->ts_ns);
}

/* "error" events of the Responses API carry code and message at the
 * top level. */
static void oai_resp_error_event(struct llm_call *c, json_t *data)
{
	json_t *e = json_pack("{s:s?, s:s?}", "type",
			      prov_jstr(data, "code"), "message",
			      prov_jstr(data, "message"));

	if (!prov_jstr(e, "type"))
		json_object_set_new(e, "type", json_string("error"));
	prov_set_error(c, e);
	json_decref(e);
}

static void oai_resp_event(struct llm_call *c, const struct sse_event *ev,
			   json_t *data, const char *type)
{
	json_t *resp = json_object_get(data, "response");
	size_t tl = strlen(type);

	if (strcmp(type, "error") == 0) {
		oai_resp_error_event(c, data);
		return;
	}
	if (json_is_object(resp)) {
		oai_response(c, resp);
		if (json_is_object(json_object_get(resp, "error")))
			prov_set_error(c, json_object_get(resp, "error"));
	}
	/* response.output_text.delta, ...function_call_arguments.delta */
	if (tl > 6 && strcmp(type + tl - 6, ".delta") == 0 &&
	    oai_nonempty(data, "delta"))
		prov_mark_content(c, ev->ts_ns);
}

static void oai_event(struct llm_call *c, const struct sse_event *ev,
		      json_t *data)
{
	const char *type = prov_jstr(data, "type");

	if (!json_is_object(data))
		return;	/* "[DONE]" and keep-alives */
	if (type && (strncmp(type, "response.", 9) == 0 ||
		     strcmp(type, "error") == 0))
		oai_resp_event(c, ev, data, type);
	else
		oai_chunk(c, ev, data);
}

static uint64_t oai_sub(const json_t *u, const char *obj, const char *key)
{
	return prov_juint(json_object_get(u, obj), key);
}

/* Cached and reasoning tokens are reported inside the totals. */
static void oai_usage(const json_t *u, struct llm_usage *out)
{
	if (json_object_get(u, "prompt_tokens")) {
		out->input_tokens = prov_juint(u, "prompt_tokens");
		out->output_tokens = prov_juint(u, "completion_tokens");
		out->cached_input_tokens =
			oai_sub(u, "prompt_tokens_details", "cached_tokens");
		out->reasoning_tokens = oai_sub(
			u, "completion_tokens_details", "reasoning_tokens");
		/* DeepSeek reports its cache hits this way instead. */
		if (!out->cached_input_tokens)
			out->cached_input_tokens =
				prov_juint(u, "prompt_cache_hit_tokens");
		return;
	}
	out->input_tokens = prov_juint(u, "input_tokens");
	out->output_tokens = prov_juint(u, "output_tokens");
	out->cached_input_tokens =
		oai_sub(u, "input_tokens_details", "cached_tokens");
	out->reasoning_tokens =
		oai_sub(u, "output_tokens_details", "reasoning_tokens");
}

const struct prov_ops prov_openai_ops = {
	.request = oai_request,
	.response = oai_response,
	.event = oai_event,
	.usage = oai_usage,
};
