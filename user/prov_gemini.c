// SPDX-License-Identifier: MIT
/*
 * The Gemini API (generativelanguage and Vertex AI): the model is in
 * the URL; a stream (streamGenerateContent?alt=sse) is a series of
 * GenerateContentResponse objects whose usageMetadata is a running
 * total, so the last one wins.
 */
#include "provider.h"

static void gem_chunk(struct llm_call *c, const struct jview *v, int resp)
{
	prov_set_jstr(&c->response_model, v, resp, "modelVersion");
	prov_set_jonce(&c->body_id, v, resp, "responseId");
	prov_take_usage(c, v, jv_get(v, resp, "usageMetadata"), false);
}

static bool gem_has_content(const struct jview *v, int resp)
{
	int cand = jv_at(v, jv_get(v, resp, "candidates"), 0);
	int parts = jv_get(v, jv_get(v, cand, "content"), "parts");
	int p = jv_first(v, parts);

	for (int k = 0; k < jv_size(v, parts) && p != JV_NONE; k++) {
		if (jv_nonempty(v, jv_get(v, p, "text")) ||
		    jv_get(v, p, "functionCall") != JV_NONE)
			return true;
		p = jv_skip(v, p);
	}
	return false;
}

static void gem_event(struct llm_call *c, const struct sse_event *ev,
		      const struct jview *v, int data)
{
	if (!jv_is_object(v, data))
		return;
	gem_chunk(c, v, data);
	if (gem_has_content(v, data))
		prov_mark_content(c, ev->ts_ns);
}

/*
 * promptTokenCount includes cached tokens; thoughtsTokenCount is
 * reported apart from candidatesTokenCount and toolUsePromptTokenCount
 * apart from the prompt, both billed: they are added.
 */
static void gem_usage(const struct prov_counts *u, struct llm_usage *out)
{
	uint64_t thoughts = prov_count(u, "thoughtsTokenCount");

	out->input_tokens = prov_count(u, "promptTokenCount") +
			    prov_count(u, "toolUsePromptTokenCount");
	out->cached_input_tokens = prov_count(u, "cachedContentTokenCount");
	out->output_tokens = prov_count(u, "candidatesTokenCount") + thoughts;
	out->reasoning_tokens = thoughts;
}

const struct prov_ops prov_gemini_ops = {
	.request = NULL,
	.response = gem_chunk,
	.event = gem_event,
	.usage = gem_usage,
};
