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

static void oll_request(struct llm_call *c, json_t *req)
{
	const json_t *stream = json_object_get(req, "stream");

	prov_set_str(&c->model, prov_jstr(req, "model"));
	/* Absent means streamed: only false turns it off. Embeddings
	 * never stream. */
	c->stream = strcmp(c->operation, "embeddings") != 0 &&
		    !json_is_false(stream);
}

/* Counts come only with the end: "done": true, or an embedding reply,
 * which has no "done" at all. A stream cut before its last line has
 * no usage, as its counts were never reported. */
static void oll_counts(struct llm_call *c, json_t *obj)
{
	const json_t *done = json_object_get(obj, "done");
	json_t *u;

	if (done ? !json_is_true(done) :
		   !json_object_get(obj, "prompt_eval_count"))
		return;
	u = json_pack("{s:I, s:I}", "prompt_eval_count",
		      (json_int_t)prov_juint(obj, "prompt_eval_count"),
		      "eval_count", (json_int_t)prov_juint(obj, "eval_count"));
	prov_take_usage(c, u, false);
	json_decref(u);
}

static void oll_response(struct llm_call *c, json_t *resp)
{
	prov_set_once(&c->response_model, prov_jstr(resp, "model"));
	oll_counts(c, resp);
}

static bool oll_nonempty(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	if (json_is_string(v))
		return json_string_length(v) > 0;
	return json_is_array(v) && json_array_size(v) > 0;
}

/* Text, thinking (models run with "think") or a tool call. */
static bool oll_has_content(const json_t *obj)
{
	const json_t *m = json_object_get(obj, "message");

	return oll_nonempty(obj, "response") ||
	       oll_nonempty(obj, "thinking") ||
	       oll_nonempty(m, "content") || oll_nonempty(m, "thinking") ||
	       oll_nonempty(m, "tool_calls");
}

/* One NDJSON line; data is NULL when it is not JSON. */
static void oll_event(struct llm_call *c, const struct sse_event *ev,
		      json_t *data)
{
	if (!json_is_object(data))
		return;
	oll_response(c, data);
	if (oll_has_content(data))
		prov_mark_content(c, ev->ts_ns);
}

static void oll_usage(const json_t *u, struct llm_usage *out)
{
	out->input_tokens = prov_juint(u, "prompt_eval_count");
	out->output_tokens = prov_juint(u, "eval_count");
}

const struct prov_ops prov_ollama_ops = {
	.request = oll_request,
	.response = oll_response,
	.event = oll_event,
	.usage = oll_usage,
	.ndjson = true,
};
