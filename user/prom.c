// SPDX-License-Identifier: MIT
/*
 * Prometheus counters per label set, and their text rendering
 * (https://prometheus.io/docs/instrumenting/exposition_formats/,
 * "Text-based format", version 0.0.4).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prom.h"

enum p_token {
	P_TOK_INPUT,
	P_TOK_OUTPUT,
	P_TOK_CACHED,
	P_TOK_REASONING,
	P_TOK_CACHE_WRITE,
	P_NTOKENS,
};

static const struct {
	const char *usage_key;	/* in the record (README.md, 'Output') */
	const char *label;	/* the type label */
} p_tokens[P_NTOKENS] = {
	{ "input_tokens", "input" },
	{ "output_tokens", "output" },
	{ "cached_input_tokens", "cached" },
	{ "reasoning_tokens", "reasoning" },
	{ "cache_write_tokens", "cache_write" },
};

/* Bucket bounds in seconds. LLM calls run from tens of milliseconds
 * (a cached embedding) to minutes (long reasoning); first tokens come
 * sooner. */
static const double p_dur_bounds[] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
	5,     10,   20,    30,   60,  120,  300,
};
static const double p_ttft_bounds[] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30,
};
#define P_NDUR (sizeof(p_dur_bounds) / sizeof(p_dur_bounds[0]))
#define P_NTTFT (sizeof(p_ttft_bounds) / sizeof(p_ttft_bounds[0]))
#define P_MAX_BUCKETS P_NDUR

struct p_hist {
	uint64_t buckets[P_MAX_BUCKETS];	/* not cumulative */
	uint64_t count;
	double sum;
};

#define P_MAX_SETS (PROM_MAX_LABEL_SETS + PROM_FOLD_RESERVE + 1)

struct p_set {
	char *provider, *model, *process;
	uint64_t requests, errors, incomplete;
	uint64_t tokens[P_NTOKENS];
	double cost;
	struct p_hist duration, ttft;
};

struct prom {
	pthread_mutex_t lock;
	struct p_set sets[P_MAX_SETS];
	size_t nsets;
	struct prom_totals totals;
};

struct prom *prom_new(void)
{
	struct prom *p = calloc(1, sizeof(*p));

	if (p)
		pthread_mutex_init(&p->lock, NULL);
	return p;
}

void prom_free(struct prom *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->nsets; i++) {
		free(p->sets[i].provider);
		free(p->sets[i].model);
		free(p->sets[i].process);
	}
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* ---- counting ---- */

static const char *p_str(const json_t *v)
{
	const char *s = json_string_value(v);

	return s ? s : "";
}

static double p_num(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

static struct p_set *p_find(struct prom *p, const char *prov,
			    const char *model, const char *proc)
{
	size_t i;

	for (i = 0; i < p->nsets; i++) {
		struct p_set *s = &p->sets[i];

		if (!strcmp(s->provider, prov) && !strcmp(s->model, model) &&
		    !strcmp(s->process, proc))
			return s;
	}
	return NULL;
}

static struct p_set *p_make(struct prom *p, const char *prov,
			    const char *model, const char *proc)
{
	struct p_set *s = &p->sets[p->nsets];

	s->provider = strdup(prov);
	s->model = strdup(model);
	s->process = strdup(proc);
	if (!s->provider || !s->model || !s->process) {
		free(s->provider);
		free(s->model);
		free(s->process);
		memset(s, 0, sizeof(*s));
		return NULL;
	}
	p->nsets++;
	return s;
}

/* The set a call counts in: its own, else its provider's folded one,
 * else the one folded entirely (always room: P_MAX_SETS counts it). */
static struct p_set *p_set_for(struct prom *p, const char *prov,
			       const char *model, const char *proc)
{
	struct p_set *s = p_find(p, prov, model, proc);

	if (s)
		return s;
	if (p->nsets < PROM_MAX_LABEL_SETS)
		return p_make(p, prov, model, proc);
	p->totals.folded++;
	s = p_find(p, prov, PROM_OTHER, PROM_OTHER);
	if (s)
		return s;
	if (p->nsets < P_MAX_SETS - 1)
		return p_make(p, prov, PROM_OTHER, PROM_OTHER);
	s = p_find(p, PROM_OTHER, PROM_OTHER, PROM_OTHER);
	return s ? s : p_make(p, PROM_OTHER, PROM_OTHER, PROM_OTHER);
}

static void p_observe(struct p_hist *h, const double *bounds, size_t n,
		      double v)
{
	size_t i;

	if (isnan(v) || v < 0)
		return;
	for (i = 0; i < n && v > bounds[i]; i++)
		;
	if (i < n)	/* past the last bound: only +Inf, from count */
		h->buckets[i]++;
	h->count++;
	h->sum += v;
}

static void p_count(struct p_set *s, const json_t *rec)
{
	const json_t *usage = json_object_get(rec, "usage");
	const json_t *err = json_object_get(rec, "error");
	double status = p_num(json_object_get(rec, "http"), "status");
	double cost = p_num(rec, "cost_usd");
	int i;

	s->requests++;
	s->errors += status >= 400 || (err && !json_is_null(err));
	s->incomplete += json_is_true(json_object_get(rec, "incomplete"));
	for (i = 0; i < P_NTOKENS; i++) {
		double t = p_num(usage, p_tokens[i].usage_key);

		s->tokens[i] += t > 0 ? (uint64_t)t : 0;
	}
	if (!isnan(cost) && cost > 0)
		s->cost += cost;
	p_observe(&s->duration, p_dur_bounds, P_NDUR,
		  p_num(rec, "duration_ms") / 1000);
	p_observe(&s->ttft, p_ttft_bounds, P_NTTFT,
		  p_num(rec, "ttft_ms") / 1000);
}

int prom_add(struct prom *p, const json_t *rec)
{
	const json_t *proc = json_object_get(rec, "process");
	struct p_set *s;

	if (!json_is_object(rec))
		return -EINVAL;

	pthread_mutex_lock(&p->lock);
	p->totals.calls++;
	s = p_set_for(p, p_str(json_object_get(rec, "provider")),
		      p_str(json_object_get(rec, "model")),
		      p_str(json_object_get(proc, "comm")));
	if (s)
		p_count(s, rec);
	pthread_mutex_unlock(&p->lock);
	return s ? 0 : -ENOMEM;
}

void prom_add_losses(struct prom *p, uint64_t ringbuf_drops,
		     uint64_t truncated_calls, uint64_t read_failures)
{
	pthread_mutex_lock(&p->lock);
	p->totals.ringbuf_drops += ringbuf_drops;
	p->totals.truncated_calls += truncated_calls;
	p->totals.read_failures += read_failures;
	pthread_mutex_unlock(&p->lock);
}

static uint64_t *p_loss_field(struct prom_totals *t, enum prom_loss what)
{
	switch (what) {
	case PROM_LOSS_EVICTED:
		return &t->conns_evicted;
	case PROM_LOSS_STORE_DROPPED:
		return &t->store_dropped;
	case PROM_LOSS_BODIES_CUT:
		return &t->bodies_cut;
	}
	return NULL;
}

void prom_add_loss(struct prom *p, enum prom_loss what, uint64_t n)
{
	uint64_t *field;

	pthread_mutex_lock(&p->lock);
	field = p_loss_field(&p->totals, what);
	if (field)
		*field += n;
	pthread_mutex_unlock(&p->lock);
}

void prom_totals(struct prom *p, struct prom_totals *out)
{
	pthread_mutex_lock(&p->lock);
	*out = p->totals;
	pthread_mutex_unlock(&p->lock);
}

/* ---- rendering ---- */

/* A label value: backslash, double quote and newline escaped. */
static void p_label(FILE *f, const char *name, const char *v)
{
	fprintf(f, "%s=\"", name);
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
	fputc('"', f);
}

static void p_head(FILE *f, const char *name, const char *type,
		   const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{provider=..,model=..,process=..[,extra=value] */
static void p_series(FILE *f, const char *name, const struct p_set *s,
		     const char *extra, const char *value)
{
	fprintf(f, "%s{", name);
	p_label(f, "provider", s->provider);
	fputc(',', f);
	p_label(f, "model", s->model);
	fputc(',', f);
	p_label(f, "process", s->process);
	if (extra) {
		fputc(',', f);
		p_label(f, extra, value);
	}
}

static void p_counter(FILE *f, const char *name, const struct p_set *s,
		      uint64_t v)
{
	p_series(f, name, s, NULL, NULL);
	fprintf(f, "} %" PRIu64 "\n", v);
}

enum p_count_kind { P_REQUESTS, P_ERRORS, P_INCOMPLETE };

static uint64_t p_count_of(const struct p_set *s, enum p_count_kind k)
{
	if (k == P_REQUESTS)
		return s->requests;
	return k == P_ERRORS ? s->errors : s->incomplete;
}

static void p_sets_counter(FILE *f, const struct prom *p, const char *name,
			   const char *help, enum p_count_kind k)
{
	size_t i;

	p_head(f, name, "counter", help);
	for (i = 0; i < p->nsets; i++)
		p_counter(f, name, &p->sets[i], p_count_of(&p->sets[i], k));
}

static void p_tokens_render(FILE *f, const struct prom *p)
{
	const char *name = "llmtap_tokens_total";
	size_t i;
	int t;

	p_head(f, name, "counter", "Tokens by type; cached, cache_write are "
	       "parts of input, reasoning of output.");
	for (i = 0; i < p->nsets; i++)
		for (t = 0; t < P_NTOKENS; t++) {
			p_series(f, name, &p->sets[i], "type",
				 p_tokens[t].label);
			fprintf(f, "} %" PRIu64 "\n", p->sets[i].tokens[t]);
		}
}

static void p_cost_render(FILE *f, const struct prom *p)
{
	const char *name = "llmtap_cost_usd_total";
	size_t i;

	p_head(f, name, "counter",
	       "Cost in US dollars, from the pricing table.");
	for (i = 0; i < p->nsets; i++) {
		p_series(f, name, &p->sets[i], NULL, NULL);
		fprintf(f, "} %.17g\n", p->sets[i].cost);
	}
}

static void p_hist_one(FILE *f, const char *name, const struct p_set *s,
		       const struct p_hist *h, const double *bounds,
		       size_t n)
{
	char sub[128], le[32];
	uint64_t cum = 0;
	size_t i;

	snprintf(sub, sizeof(sub), "%s_bucket", name);
	for (i = 0; i < n; i++) {
		cum += h->buckets[i];
		snprintf(le, sizeof(le), "%g", bounds[i]);
		p_series(f, sub, s, "le", le);
		fprintf(f, "} %" PRIu64 "\n", cum);
	}
	p_series(f, sub, s, "le", "+Inf");
	fprintf(f, "} %" PRIu64 "\n", h->count);
	snprintf(sub, sizeof(sub), "%s_sum", name);
	p_series(f, sub, s, NULL, NULL);
	fprintf(f, "} %.17g\n", h->sum);
	snprintf(sub, sizeof(sub), "%s_count", name);
	p_counter(f, sub, s, h->count);
}

static void p_hists_render(FILE *f, const struct prom *p)
{
	const char *dur = "llmtap_request_duration_seconds";
	const char *ttft = "llmtap_ttft_seconds";
	size_t i;

	p_head(f, dur, "histogram",
	       "First request byte to last response byte.");
	for (i = 0; i < p->nsets; i++)
		p_hist_one(f, dur, &p->sets[i], &p->sets[i].duration,
			   p_dur_bounds, P_NDUR);
	p_head(f, ttft, "histogram",
	       "Streams: first request byte to the first content event.");
	for (i = 0; i < p->nsets; i++)
		p_hist_one(f, ttft, &p->sets[i], &p->sets[i].ttft,
			   p_ttft_bounds, P_NTTFT);
}

static void p_plain(FILE *f, const char *name, const char *help,
		    uint64_t v)
{
	p_head(f, name, "counter", help);
	fprintf(f, "%s %" PRIu64 "\n", name, v);
}

static void p_capture_render(FILE *f, const struct prom_totals *t)
{
	p_plain(f, "llmtap_capture_ringbuf_drops_total",
		"Capture records lost to a full BPF ring buffer.",
		t->ringbuf_drops);
	p_plain(f, "llmtap_capture_truncated_calls_total",
		"TLS calls cut at --cap-bytes.", t->truncated_calls);
	p_plain(f, "llmtap_capture_read_failures_total",
		"TLS buffers BPF could not read from user memory.",
		t->read_failures);
	p_plain(f, "llmtap_connections_evicted_total",
		"Connections no longer followed, to stay under --max-conns; "
		"their waiting calls are written as incomplete.",
		t->conns_evicted);
	p_plain(f, "llmtap_store_dropped_total",
		"Calls the store could not keep (its queue full while the "
		"database could not be written); they are in the output.",
		t->store_dropped);
	p_plain(f, "llmtap_bodies_cut_total",
		"Bodies cut because all bodies held at once reached the "
		"memory budget; their calls are flagged truncated.",
		t->bodies_cut);
	p_plain(f, "llmtap_label_sets_folded_total",
		"Calls counted under model and process \"other\" past the "
		"label set limit.", t->folded);
}

static void p_render_all(FILE *f, const struct prom *p)
{
	p_sets_counter(f, p, "llmtap_requests_total", "LLM API calls.",
		       P_REQUESTS);
	p_sets_counter(f, p, "llmtap_errors_total",
		       "Calls with HTTP status >= 400 or an error object.",
		       P_ERRORS);
	p_sets_counter(f, p, "llmtap_incomplete_total",
		       "Calls that did not finish (connection cut, process "
		       "killed).", P_INCOMPLETE);
	p_tokens_render(f, p);
	p_cost_render(f, p);
	p_hists_render(f, p);
	p_capture_render(f, &p->totals);
}

char *prom_render(struct prom *p, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	int err;

	if (!f)
		return NULL;
	pthread_mutex_lock(&p->lock);
	p_render_all(f, p);
	pthread_mutex_unlock(&p->lock);
	err = ferror(f);
	if (fclose(f) || err) {
		free(buf);
		return NULL;
	}
	if (len)
		*len = n;
	return buf;
}
