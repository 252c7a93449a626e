// SPDX-License-Identifier: MIT
/*
 * The Anthropic Messages API. Streamed, message_start carries the
 * model and the input usage, and each message_delta carries usage
 * counts that are cumulative: later values replace earlier ones.
 */
#include <string.h>

#include "provider.h"

static void ant_request(struct llm_call *c, const struct jview *v,
			int req)
{
	int meta = jv_get(v, req, "metadata");

	prov_set_jstr(&c->model, v, req, "model");
	c->stream = jv_is_true(v, jv_get(v, req, "stream"));
	prov_set_jstr(&c->user_id, v, meta, "user_id");
}

static void ant_message(struct llm_call *c, const struct jview *v, int msg,
			bool merge)
{
	prov_set_jstr(&c->response_model, v, msg, "model");
	prov_set_jonce(&c->body_id, v, msg, "id");
	prov_take_usage(c, v, jv_get(v, msg, "usage"), merge);
}

static void ant_response(struct llm_call *c, const struct jview *v,
			 int resp)
{
	if (jv_is_object(v, jv_get(v, resp, "usage")))
		ant_message(c, v, resp, false);
}

/* Text, thinking, or the JSON of a tool call being written. */
static bool ant_delta_has_content(const struct jview *v, int data)
{
	int d = jv_get(v, data, "delta");

	return jv_nonempty(v, jv_get(v, d, "text")) ||
	       jv_nonempty(v, jv_get(v, d, "partial_json")) ||
	       jv_nonempty(v, jv_get(v, d, "thinking"));
}

static bool ant_block_is_tool(const struct jview *v, int data)
{
	int t = jv_get(v, jv_get(v, data, "content_block"), "type");

	return jv_str_eq(v, t, "tool_use") ||
	       jv_str_eq(v, t, "server_tool_use");
}

static void ant_event(struct llm_call *c, const struct sse_event *ev,
		      const struct jview *v, int data)
{
	int type = jv_get(v, data, "type");

	if (jv_str_eq(v, type, "message_start"))
		ant_message(c, v, jv_get(v, data, "message"), true);
	else if (jv_str_eq(v, type, "message_delta"))
		prov_take_usage(c, v, jv_get(v, data, "usage"), true);
	else if (jv_str_eq(v, type, "content_block_delta") &&
		 ant_delta_has_content(v, data))
		prov_mark_content(c, ev->ts_ns);
	else if (jv_str_eq(v, type, "content_block_start") &&
		 ant_block_is_tool(v, data))
		prov_mark_content(c, ev->ts_ns);
}

/* Text deltas after the first: only usage or an error would matter,
 * and those have their own events. */
static bool ant_idle(const struct llm_call *c, const struct sse_event *ev)
{
	static const char *const words[] = {
		"\"usage\"", "\"error\"", "\"message_start\"",
		"\"message_delta\"",
	};

	return c->has_ttft && strcmp(ev->type, "content_block_delta") == 0 &&
	       !prov_event_mentions(ev, words, 4);
}

/* Anthropic counts cache reads and writes apart from input_tokens;
 * the normalised input includes them. */
static void ant_usage(const struct prov_counts *u, struct llm_usage *out)
{
	uint64_t in = prov_count(u, "input_tokens");
	uint64_t rd = prov_count(u, "cache_read_input_tokens");
	uint64_t wr = prov_count(u, "cache_creation_input_tokens");

	out->input_tokens = in + rd + wr;
	out->cached_input_tokens = rd;
	out->cache_write_tokens = wr;
	out->cache_write_1h_tokens =
		prov_count(u, "cache_creation.ephemeral_1h_input_tokens");
	if (out->cache_write_1h_tokens > wr)
		out->cache_write_1h_tokens = wr;
	out->output_tokens = prov_count(u, "output_tokens");
}

const struct prov_ops prov_anthropic_ops = {
	.request = ant_request,
	.response = ant_response,
	.event = ant_event,
	.idle = ant_idle,
	.usage = ant_usage,
};
