// SPDX-License-Identifier: MIT
/*
 * The Anthropic Messages API. Streamed, message_start carries the
 * model and the input usage, and each message_delta carries usage
 * counts that are cumulative: later values replace earlier ones.
 */
#include <string.h>

#include "provider.h"

static void ant_request(struct llm_call *c, json_t *req)
{
	json_t *meta = json_object_get(req, "metadata");

	prov_set_str(&c->model, prov_jstr(req, "model"));
	c->stream = json_is_true(json_object_get(req, "stream"));
	prov_set_str(&c->user_id, prov_jstr(meta, "user_id"));
}

static void ant_message(struct llm_call *c, json_t *msg, bool merge)
{
	prov_set_str(&c->response_model, prov_jstr(msg, "model"));
	prov_set_once(&c->body_id, prov_jstr(msg, "id"));
	prov_take_usage(c, json_object_get(msg, "usage"), merge);
}

static void ant_response(struct llm_call *c, json_t *resp)
{
	if (json_is_object(json_object_get(resp, "usage")))
		ant_message(c, resp, false);
}

static bool ant_has_text(const json_t *obj, const char *key)
{
	const char *s = prov_jstr(obj, key);

	return s && s[0];
}

/* Text, thinking, or the JSON of a tool call being written. */
static bool ant_delta_has_content(const json_t *data)
{
	const json_t *d = json_object_get(data, "delta");

	return ant_has_text(d, "text") || ant_has_text(d, "partial_json") ||
	       ant_has_text(d, "thinking");
}

static bool ant_block_is_tool(const json_t *data)
{
	const char *t = prov_jstr(json_object_get(data, "content_block"),
				  "type");

	return t && (strcmp(t, "tool_use") == 0 ||
		     strcmp(t, "server_tool_use") == 0);
}

static void ant_event(struct llm_call *c, const struct sse_event *ev,
		      json_t *data)
{
	const char *type = prov_jstr(data, "type");

	if (!type)
		return;
	if (strcmp(type, "message_start") == 0)
		ant_message(c, json_object_get(data, "message"), true);
	else if (strcmp(type, "message_delta") == 0)
		prov_take_usage(c, json_object_get(data, "usage"), true);
	else if (strcmp(type, "content_block_delta") == 0 &&
		 ant_delta_has_content(data))
		prov_mark_content(c, ev->ts_ns);
	else if (strcmp(type, "content_block_start") == 0 &&
		 ant_block_is_tool(data))
		prov_mark_content(c, ev->ts_ns);
}

/* Anthropic counts cache reads and writes apart from input_tokens;
 * the normalised input includes them. */
static void ant_usage(const json_t *u, struct llm_usage *out)
{
	uint64_t in = prov_juint(u, "input_tokens");
	uint64_t rd = prov_juint(u, "cache_read_input_tokens");
	uint64_t wr = prov_juint(u, "cache_creation_input_tokens");
	const json_t *cc = json_object_get(u, "cache_creation");

	out->input_tokens = in + rd + wr;
	out->cached_input_tokens = rd;
	out->cache_write_tokens = wr;
	out->cache_write_1h_tokens =
		prov_juint(cc, "ephemeral_1h_input_tokens");
	if (out->cache_write_1h_tokens > wr)
		out->cache_write_1h_tokens = wr;
	out->output_tokens = prov_juint(u, "output_tokens");
}

const struct prov_ops prov_anthropic_ops = {
	.request = ant_request,
	.response = ant_response,
	.event = ant_event,
	.usage = ant_usage,
};
