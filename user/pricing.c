// SPDX-License-Identifier: MIT
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "log.h"
#include "pricing.h"

#define PRICING_DATE_MAX 16
/* Prices are per million tokens. */
#define PRICING_PER_TOKENS 1e6

struct pricing {
	struct price *v;
	size_t n;
	size_t cap;
	char updated[PRICING_DATE_MAX];
};

/* --- reading a table ------------------------------------------------ */

static int pricing_num(const json_t *obj, const char *key, double dflt,
		       double *out)
{
	const json_t *v = json_object_get(obj, key);

	if (!v) {
		*out = dflt;
		return 0;
	}
	if (!json_is_number(v) || json_number_value(v) < 0)
		return -EINVAL;
	*out = json_number_value(v);
	return 0;
}

/* Fills a tier; returns the key that was wrong, or NULL. */
static const char *pricing_tier(const json_t *obj, struct price_tier *t)
{
	if (!json_is_number(json_object_get(obj, "input")) ||
	    pricing_num(obj, "input", 0, &t->input))
		return "input";
	if (!json_is_number(json_object_get(obj, "output")) ||
	    pricing_num(obj, "output", 0, &t->output))
		return "output";
	if (pricing_num(obj, "cached_input", t->input, &t->cached_input))
		return "cached_input";
	if (pricing_num(obj, "cache_write", t->input, &t->cache_write))
		return "cache_write";
	if (pricing_num(obj, "cache_write_1h", t->cache_write,
			&t->cache_write_1h))
		return "cache_write_1h";
	if (pricing_num(obj, "reasoning", t->output, &t->reasoning))
		return "reasoning";
	return NULL;
}

static const char *pricing_long(const json_t *obj, struct price *pr)
{
	const json_t *lc = json_object_get(obj, "long_context");
	json_int_t thr;
	const char *bad;

	if (!lc)
		return NULL;
	thr = json_integer_value(json_object_get(lc, "threshold"));
	if (!json_is_object(lc) || thr <= 0)
		return "long_context.threshold";
	bad = pricing_tier(lc, &pr->lng);
	if (bad)
		return "long_context";
	pr->has_long = true;
	pr->long_threshold = (uint64_t)thr;
	return NULL;
}

static const char *pricing_names(const json_t *obj, struct price *pr)
{
	const char *prov = json_string_value(json_object_get(obj, "provider"));
	const char *match = json_string_value(json_object_get(obj, "match"));
	size_t ml;

	if (!prov || !prov[0] || strlen(prov) >= PRICING_NAME_MAX)
		return "provider";
	if (!match || !match[0] || strlen(match) >= PRICING_NAME_MAX)
		return "match";
	strcpy(pr->provider, prov);
	strcpy(pr->match, match);
	ml = strlen(match);
	if (pr->match[ml - 1] == '*') {
		pr->prefix = true;
		pr->match[ml - 1] = '\0';
	}
	return NULL;
}

static int pricing_entry(const json_t *obj, struct price *pr,
			 const char *origin, size_t i)
{
	const char *bad;

	memset(pr, 0, sizeof(*pr));
	if (!json_is_object(obj)) {
		log_err("pricing %s: models[%zu] is not an object", origin, i);
		return -EINVAL;
	}
	bad = pricing_names(obj, pr);
	if (!bad)
		bad = pricing_tier(obj, &pr->base);
	if (!bad)
		bad = pricing_long(obj, pr);
	if (!bad)
		return 0;
	log_err("pricing %s: models[%zu]: bad or missing \"%s\" "
		"(want provider and match strings, prices as numbers >= 0)",
		origin, i, bad);
	return -EINVAL;
}

static int pricing_add(struct pricing *p, const struct price *pr)
{
	size_t ncap;
	struct price *nv;

	if (p->n == p->cap) {
		ncap = p->cap ? p->cap * 2 : 64;
		nv = realloc(p->v, ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		p->v = nv;
		p->cap = ncap;
	}
	p->v[p->n++] = *pr;
	return 0;
}

static int pricing_take(struct pricing *p, const json_t *root,
			const char *origin)
{
	const json_t *models = json_object_get(root, "models");
	const char *upd = json_string_value(json_object_get(root, "updated"));
	const json_t *m;
	struct price pr;
	size_t i;

	if (!json_is_array(models)) {
		log_err("pricing %s: no \"models\" array", origin);
		return -EINVAL;
	}
	json_array_foreach(models, i, m) {
		if (pricing_entry(m, &pr, origin, i))
			return -EINVAL;
		if (pricing_add(p, &pr))
			return -ENOMEM;
	}
	if (upd && !p->updated[0])
		snprintf(p->updated, sizeof(p->updated), "%s", upd);
	return 0;
}

static json_t *pricing_json_error(json_t *root, const json_error_t *e,
				  const char *origin)
{
	if (root)
		return root;
	if (e->line < 1)	/* could not open or read it */
		log_err("pricing %s: %s", origin, e->text);
	else
		log_err("pricing %s:%d:%d: %s", origin, e->line, e->column,
			e->text);
	return NULL;
}

static int pricing_take_text(struct pricing *p, const char *text,
			     size_t len, const char *origin)
{
	json_error_t jerr;
	json_t *root = json_loadb(text, len, 0, &jerr);
	int err;

	if (!pricing_json_error(root, &jerr, origin))
		return -EINVAL;
	err = pricing_take(p, root, origin);
	json_decref(root);
	return err;
}

struct pricing *pricing_parse(const char *text, size_t len,
			      const char *origin)
{
	struct pricing *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	if (pricing_take_text(p, text, len, origin)) {
		pricing_free(p);
		return NULL;
	}
	return p;
}

struct pricing *pricing_load(const char *path)
{
	struct pricing *p = calloc(1, sizeof(*p));
	json_error_t jerr;
	json_t *root;
	int err = 0;

	if (!p)
		return NULL;
	/* The user's entries first: lookups take the first match. */
	if (path) {
		root = json_load_file(path, 0, &jerr);
		err = pricing_json_error(root, &jerr, path) ?
		      pricing_take(p, root, path) : -EINVAL;
		json_decref(root);
	}
	if (!err)
		err = pricing_take_text(p, pricing_shipped_json,
					strlen(pricing_shipped_json),
					"shipped table");
	if (err) {
		pricing_free(p);
		return NULL;
	}
	return p;
}

void pricing_free(struct pricing *p)
{
	if (!p)
		return;
	free(p->v);
	free(p);
}

const char *pricing_updated(const struct pricing *p)
{
	return p ? p->updated : "";
}

size_t pricing_count(const struct pricing *p)
{
	return p ? p->n : 0;
}

/* --- looking a model up --------------------------------------------- */

static bool pricing_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}

/* "-D{n}" or "@D{n}" at the end of m[0..len). */
static bool pricing_num_suffix(const char *m, size_t len, size_t n,
			       bool at_ok)
{
	char sep;

	if (len < n + 2)
		return false;
	sep = m[len - n - 1];
	return (sep == '-' || (at_ok && sep == '@')) &&
	       pricing_digits(m + len - n, n);
}

static bool pricing_iso_date(const char *m, size_t len)
{
	const char *d = m + len - 10;

	return len > 11 && d[-1] == '-' && pricing_digits(d, 4) &&
	       d[4] == '-' && pricing_digits(d + 5, 2) && d[7] == '-' &&
	       pricing_digits(d + 8, 2);
}

/* Length of m without one date, version or -latest suffix. */
static size_t pricing_strip(const char *m, size_t len)
{
	if (len > 7 && strcmp(m + len - 7, "-latest") == 0)
		return len - 7;
	if (pricing_iso_date(m, len))
		return len - 11;
	if (pricing_num_suffix(m, len, 8, true))
		return len - 9;
	if (pricing_num_suffix(m, len, 4, false))
		return len - 5;
	if (pricing_num_suffix(m, len, 3, false))
		return len - 4;
	return len;
}

static const struct price *pricing_exact(const struct pricing *p,
					 const char *prov, const char *m,
					 size_t len)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct price *pr = &p->v[i];

		if (!pr->prefix && strcasecmp(pr->provider, prov) == 0 &&
		    strlen(pr->match) == len &&
		    strncasecmp(pr->match, m, len) == 0)
			return pr;
	}
	return NULL;
}

static const struct price *pricing_prefix(const struct pricing *p,
					  const char *prov, const char *m)
{
	const struct price *best = NULL;
	size_t blen = 0;

	for (size_t i = 0; i < p->n; i++) {
		const struct price *pr = &p->v[i];
		size_t l = strlen(pr->match);

		if (pr->prefix && strcasecmp(pr->provider, prov) == 0 &&
		    strncasecmp(pr->match, m, l) == 0 && (!best || l > blen)) {
			best = pr;
			blen = l;
		}
	}
	return best;
}

struct pricing_vendor {
	const char *vendor;
	const char *provider;
};

/* OpenRouter's model namespaces and who sets their prices. */
static const struct pricing_vendor pricing_vendors[] = {
	{ "openai", "openai" },	    { "anthropic", "anthropic" },
	{ "google", "gemini" },	    { "mistralai", "mistral" },
	{ "deepseek", "deepseek" }, { "x-ai", "xai" },
};

static const char *pricing_alias(const char *provider, const char **model)
{
	const char *slash = strchr(*model, '/');
	size_t i, vl;

	if (strcmp(provider, "azure") == 0)
		return "openai";
	if (strcmp(provider, "vertex_ai") == 0)
		return "gemini";
	if (strcmp(provider, "openrouter") || !slash)
		return provider;
	vl = (size_t)(slash - *model);
	for (i = 0; i < sizeof(pricing_vendors) / sizeof(pricing_vendors[0]);
	     i++) {
		if (strlen(pricing_vendors[i].vendor) == vl &&
		    strncmp(pricing_vendors[i].vendor, *model, vl) == 0) {
			*model = slash + 1;
			return pricing_vendors[i].provider;
		}
	}
	return provider;
}

const struct price *pricing_lookup(const struct pricing *p,
				   const char *provider, const char *model)
{
	const struct price *pr;
	size_t len, slen;

	if (!p || !provider || !model)
		return NULL;
	provider = pricing_alias(provider, &model);
	/* Gemini names models "models/NAME" in some places. */
	if (strncmp(model, "models/", 7) == 0)
		model += 7;
	len = strlen(model);
	if (!len || len >= PRICING_NAME_MAX)
		return NULL;
	pr = pricing_exact(p, provider, model, len);
	slen = pricing_strip(model, len);
	if (!pr && slen < len)
		pr = pricing_exact(p, provider, model, slen);
	if (!pr)
		pr = pricing_prefix(p, provider, model);
	return pr;
}

/* --- cost ----------------------------------------------------------- */

static uint64_t pricing_sub(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

double pricing_cost(const struct price *pr, const struct llm_usage *u)
{
	const struct price_tier *t = &pr->base;
	uint64_t cw_1h = u->cache_write_1h_tokens;
	uint64_t cw_5m = pricing_sub(u->cache_write_tokens, cw_1h);
	uint64_t plain_in = pricing_sub(u->input_tokens,
					u->cached_input_tokens +
					u->cache_write_tokens);
	uint64_t plain_out = pricing_sub(u->output_tokens,
					 u->reasoning_tokens);
	double sum;

	if (pr->has_long && u->input_tokens > pr->long_threshold)
		t = &pr->lng;
	sum = (double)plain_in * t->input +
	      (double)u->cached_input_tokens * t->cached_input +
	      (double)cw_5m * t->cache_write +
	      (double)cw_1h * t->cache_write_1h +
	      (double)plain_out * t->output +
	      (double)u->reasoning_tokens * t->reasoning;
	return sum / PRICING_PER_TOKENS;
}
