// SPDX-License-Identifier: MIT
/*
 * Ollama's native API (docs/api.md in the ollama repository).
 * /api/chat and /api/generate stream unless the request says
 * "stream": false, as application/x-ndjson: one JSON object a line,
 * with the text in message.content (chat) or response (generate); the
 * last line has "done": true and the counts, prompt_eval_count (input
 * tokens) and eval_count (output tokens). Not streamed, that last
 * object is the whole body. /api/embed reports prompt_eval_count in
 * its one object; the older /api/embeddings reports no count. Errors
 * are {"error": "text"}, which the generic code reads.
 */
#include <string.h>

#include "provider.h"

static void oll_request(struct llm_call *c, const struct jview *v,
			int req)
{
	prov_set_jstr(&c->model, v, req, "model");
	/* Absent means streamed: only false turns it off. Embeddings
	 * never stream. */
	c->stream = strcmp(c->operation, "embeddings") != 0 &&
		    !jv_is_false(v, jv_get(v, req, "stream"));
}

/* Counts come only with the end: "done": true, or an embedding reply,
 * which has no "done" at all. A stream cut before its last line has
 * no usage, as its counts were never reported. */
static void oll_counts(struct llm_call *c, const struct jview *v, int obj)
{
	int done = jv_get(v, obj, "done");

	if (done != JV_NONE ? !jv_is_true(v, done) :
			      jv_get(v, obj, "prompt_eval_count") == JV_NONE)
		return;
	c->counts.n = 0;
	prov_set_count(c, "prompt_eval_count",
		       prov_juint(v, obj, "prompt_eval_count"));
	prov_set_count(c, "eval_count", prov_juint(v, obj, "eval_count"));
}

static void oll_response(struct llm_call *c, const struct jview *v,
			 int resp)
{
	prov_set_jonce(&c->response_model, v, resp, "model");
	oll_counts(c, v, resp);
}

/* Text, thinking (models run with "think") or a tool call. */
static bool oll_has_content(const struct jview *v, int obj)
{
	int m = jv_get(v, obj, "message");

	return jv_nonempty(v, jv_get(v, obj, "response")) ||
	       jv_nonempty(v, jv_get(v, obj, "thinking")) ||
	       jv_nonempty(v, jv_get(v, m, "content")) ||
	       jv_nonempty(v, jv_get(v, m, "thinking")) ||
	       jv_nonempty(v, jv_get(v, m, "tool_calls"));
}

/* One NDJSON line; data is JV_NONE when it is not JSON. */
static void oll_event(struct llm_call *c, const struct sse_event *ev,
		      const struct jview *v, int data)
{
	if (!jv_is_object(v, data))
		return;
	oll_response(c, v, data);
	if (oll_has_content(v, data))
		prov_mark_content(c, ev->ts_ns);
}

static void oll_usage(const struct prov_counts *u, struct llm_usage *out)
{
	out->input_tokens = prov_count(u, "prompt_eval_count");
	out->output_tokens = prov_count(u, "eval_count");
}

const struct prov_ops prov_ollama_ops = {
	.request = oll_request,
	.response = oll_response,
	.event = oll_event,
	.usage = oll_usage,
	.ndjson = true,
};
