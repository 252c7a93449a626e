/* SPDX-License-Identifier: MIT */
/*
 * Model prices and the cost of a call. The shipped table (built in,
 * and the same text as tools/pricing.json) lists list prices in USD per
 * million tokens:
 *
 *   {"updated": "YYYY-MM-DD", "models": [{"provider": "openai",
 *    "match": "gpt-4o-mini", "input": 0.15, "cached_input": 0.075,
 *    "output": 0.60}, ...]}
 *
 * Optional per model: cached_input (defaults to input), cache_write
 * (defaults to input), cache_write_1h (defaults to cache_write),
 * reasoning (defaults to output), and "long_context": {"threshold": N,
 * "input": ..., "output": ..., ...} whose prices apply to the whole call
 * when its input tokens exceed N. A match ending in '*' is a prefix.
 */
#ifndef LLMTAP_PRICING_H
#define LLMTAP_PRICING_H

#include <stdbool.h>
#include <stdint.h>

#include "provider.h"

/* Provider and model names longer than this never match. */
#define PRICING_NAME_MAX 128

struct price_tier {
	double input;
	double cached_input;
	double cache_write;
	double cache_write_1h;
	double output;
	double reasoning;
};

struct price {
	char provider[PRICING_NAME_MAX];
	char match[PRICING_NAME_MAX];	/* without the '*' of a prefix */
	bool prefix;
	struct price_tier base;
	bool has_long;
	uint64_t long_threshold;
	struct price_tier lng;
};

struct pricing;

/* The shipped table, text identical to tools/pricing.json. */
extern const char pricing_shipped_json[];

/* The shipped table, with the entries of path (may be NULL) ahead of
 * it so that they take precedence. NULL after logging why on error. */
struct pricing *pricing_load(const char *path);
/* A table from JSON text alone; origin names it in error messages. */
struct pricing *pricing_parse(const char *text, size_t len,
			      const char *origin);
void pricing_free(struct pricing *p);

/* The "updated" date of the table read last ("" if none). */
const char *pricing_updated(const struct pricing *p);
size_t pricing_count(const struct pricing *p);

/*
 * The price of a model, NULL if unknown. A name also matches with a
 * date or version suffix stripped (-2024-07-18, -20241022, @20241022,
 * -0613, -002) or -latest; an exact match of the full name wins over
 * one of the stripped name, which wins over a prefix ('*') entry, the
 * longest prefix first. Azure is priced as openai, Vertex AI as gemini,
 * and OpenRouter's "vendor/model" as the vendor's model.
 */
const struct price *pricing_lookup(const struct pricing *p,
				   const char *provider, const char *model);

/* Cost in USD of usage at price pr. */
double pricing_cost(const struct price *pr, const struct llm_usage *u);

#endif /* LLMTAP_PRICING_H */
