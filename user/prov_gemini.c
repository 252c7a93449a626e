// SPDX-License-Identifier: MIT
/*
 * The Gemini API (generativelanguage and Vertex AI): the model is in
 * the URL; a stream (streamGenerateContent?alt=sse) is a series of
 * GenerateContentResponse objects whose usageMetadata is a running
 * total, so the last one wins.
 */
#include "provider.h"

static void gem_chunk(struct llm_call *c, json_t *resp)
{
	prov_set_str(&c->response_model, prov_jstr(resp, "modelVersion"));
	prov_set_once(&c->body_id, prov_jstr(resp, "responseId"));
	prov_take_usage(c, json_object_get(resp, "usageMetadata"), false);
}

static bool gem_has_content(const json_t *resp)
{
	const json_t *cand = json_array_get(
		json_object_get(resp, "candidates"), 0);
	const json_t *parts = json_object_get(
		json_object_get(cand, "content"), "parts");
	const json_t *p;
	const char *text;
	size_t i;

	json_array_foreach(parts, i, p) {
		text = prov_jstr(p, "text");
		if ((text && text[0]) || json_object_get(p, "functionCall"))
			return true;
	}
	return false;
}

static void gem_event(struct llm_call *c, const struct sse_event *ev,
		      json_t *data)
{
	if (!json_is_object(data))
		return;
	gem_chunk(c, data);
	if (gem_has_content(data))
		prov_mark_content(c, ev->ts_ns);
}

/*
 * promptTokenCount includes cached tokens; thoughtsTokenCount is
 * reported apart from candidatesTokenCount and toolUsePromptTokenCount
 * apart from the prompt, both billed: they are added.
 */
static void gem_usage(const json_t *u, struct llm_usage *out)
{
	uint64_t thoughts = prov_juint(u, "thoughtsTokenCount");

	out->input_tokens = prov_juint(u, "promptTokenCount") +
			    prov_juint(u, "toolUsePromptTokenCount");
	out->cached_input_tokens = prov_juint(u, "cachedContentTokenCount");
	out->output_tokens = prov_juint(u, "candidatesTokenCount") + thoughts;
	out->reasoning_tokens = thoughts;
}

const struct prov_ops prov_gemini_ops = {
	.request = NULL,
	.response = gem_chunk,
	.event = gem_event,
	.usage = gem_usage,
};
