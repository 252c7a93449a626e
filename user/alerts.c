// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alerts.h"
#include "log.h"
#include "sketch.h"

#define AL_NS_PER_S 1000000000ull
#define AL_TS_LEN 40
#define AL_QUERY_LEN 1024
/* Distinct names tallied per top list; more are left out of it. */
#define AL_TOP_SCAN 256
#define AL_OTHER "(other)"
#define AL_VAL_LEN (CONFIG_MAX_VALUE + 1)
/* Value slots of a call: the fixed attributes, then the properties. */
#define AL_N_FIXED (CONFIG_ATTR_UID + 1)
#define AL_N_SLOTS (AL_N_FIXED + CONFIG_MAX_PROPERTIES)

/* One slice of a window. idx is time / width; 0 marks an unused one,
 * as no real time falls in the first slice after the epoch. */
struct al_bucket {
	uint64_t idx;
	uint64_t requests, errors, tokens;
	double cost;
	struct sketch *lat;	/* latency, ttft rules; made when needed */
};

enum al_state { AL_OK, AL_FIRING };

struct al_group {
	char key[AL_VAL_LEN];
	bool null_key;	/* calls without the group_by attribute */
	bool other;	/* the calls of groups past ALERTS_MAX_GROUPS */
	struct al_bucket *ring;
	enum al_state state;
	uint64_t fired_ns, notified_ns;
};

struct al_rule {
	const struct config_alert *cfg;
	uint64_t width_ns;
	size_t n_buckets;
	struct al_group **groups;
	size_t n_groups;
	struct al_group *other;
};

/* What the rules look at in one call; also what the recent ring keeps
 * to name the top users, models and processes. Values longer than
 * CONFIG_MAX_VALUE are cut and marked, so they equal no where value. */
struct al_call {
	uint64_t t_ns;
	double cost, latency_ms, ttft_ms;	/* ttft: NAN when none */
	uint64_t tokens;
	bool error;
	uint16_t have, cut;	/* bit per slot */
	char v[AL_N_SLOTS][AL_VAL_LEN];
};

struct al_tally {
	const char *name;	/* NULL: the attribute was missing */
	uint64_t requests, errors;
	double cost;
};

struct alerts {
	struct alerts_opts opts;
	struct config *cfg;
	struct al_rule *rules;
	const char *props[CONFIG_MAX_PROPERTIES];
	size_t n_props;
	struct al_call *recent;	/* a ring, up to ALERTS_RECENT_MAX */
	size_t recent_cap, recent_len, recent_head;
	struct sketch *scratch;	/* a window's buckets merged */
	struct al_tally *tally;
	uint64_t last_eval_ns;
	struct alerts_stats stats;
};

/* --- call attributes ------------------------------------------------ */

static void al_set(struct al_call *c, int slot, const char *s)
{
	size_t n;

	if (!s)
		return;
	n = strlen(s);
	c->have |= 1u << slot;
	if (n > CONFIG_MAX_VALUE) {
		c->cut |= 1u << slot;
		n = CONFIG_MAX_VALUE;
	}
	memcpy(c->v[slot], s, n);
	c->v[slot][n] = '\0';
}

static double al_num(const json_t *obj, const char *key, double dflt)
{
	const json_t *v = json_object_get(obj, key);

	return json_is_number(v) ? json_number_value(v) : dflt;
}

static void al_call_fixed(struct al_call *c, const json_t *rec)
{
	const json_t *proc = json_object_get(rec, "process");
	const json_t *uid = json_object_get(proc, "uid");
	char buf[24];

	al_set(c, CONFIG_ATTR_PROVIDER,
	       json_string_value(json_object_get(rec, "provider")));
	al_set(c, CONFIG_ATTR_MODEL,
	       json_string_value(json_object_get(rec, "model")));
	al_set(c, CONFIG_ATTR_USER_ID,
	       json_string_value(json_object_get(rec, "user_id")));
	al_set(c, CONFIG_ATTR_PROCESS,
	       json_string_value(json_object_get(proc, "comm")));
	if (json_is_integer(uid)) {
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(uid));
		al_set(c, CONFIG_ATTR_UID, buf);
	}
}

/* An error is what the provider said (error) or an HTTP failure. */
static void al_call_from(const struct alerts *a, const json_t *rec,
			 uint64_t now_ns, struct al_call *c)
{
	const json_t *props = json_object_get(rec, "properties");
	const json_t *http = json_object_get(rec, "http");
	size_t i;

	memset(c, 0, offsetof(struct al_call, v));
	c->t_ns = now_ns;
	c->cost = al_num(rec, "cost_usd", 0);
	c->latency_ms = al_num(rec, "duration_ms", NAN);
	c->ttft_ms = al_num(rec, "ttft_ms", NAN);
	c->tokens = (uint64_t)al_num(json_object_get(rec, "usage"),
				     "total_tokens", 0);
	c->error = json_is_object(json_object_get(rec, "error")) ||
		   al_num(http, "status", 0) >= 400;
	al_call_fixed(c, rec);
	for (i = 0; i < a->n_props; i++)
		al_set(c, (int)(AL_N_FIXED + i), json_string_value(
			json_object_get(props, a->props[i])));
}

static int al_slot(const struct alerts *a, const struct config_key *k)
{
	size_t i;

	if (k->attr != CONFIG_ATTR_PROPERTY)
		return (int)k->attr;
	for (i = 0; i < a->n_props; i++)
		if (!strcmp(a->props[i], k->property))
			return (int)(AL_N_FIXED + i);
	return -1;
}

/* The call's value for k, or NULL when it has none. */
static const char *al_value_of(const struct alerts *a,
			       const struct al_call *c,
			       const struct config_key *k)
{
	int s = al_slot(a, k);

	return s >= 0 && (c->have & (1u << s)) ? c->v[s] : NULL;
}

static bool al_match(const struct alerts *a, const struct al_rule *r,
		     const struct al_call *c)
{
	size_t i;

	for (i = 0; i < r->cfg->n_where; i++) {
		const struct config_where *w = &r->cfg->where[i];
		int s = al_slot(a, &w->key);

		if (s < 0 || !(c->have & (1u << s)) || (c->cut & (1u << s)) ||
		    strcmp(c->v[s], w->value))
			return false;
	}
	return true;
}

/* --- windows -------------------------------------------------------- */

static bool al_uses_sketch(const struct config_alert *r)
{
	return r->metric >= CONFIG_LATENCY_P50;
}

static void al_ring_free(struct al_bucket *ring, size_t n)
{
	size_t i;

	for (i = 0; ring && i < n; i++)
		sketch_free(ring[i].lat);
	free(ring);
}

static void al_group_free(struct al_group *g, size_t n_buckets)
{
	if (!g)
		return;
	al_ring_free(g->ring, n_buckets);
	free(g);
}

static struct al_group *al_group_new(const struct al_rule *r,
				     const char *key)
{
	struct al_group *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->ring = calloc(r->n_buckets, sizeof(*g->ring));
	if (!g->ring) {
		free(g);
		return NULL;
	}
	g->null_key = !key;
	if (key)
		snprintf(g->key, sizeof(g->key), "%s", key);
	return g;
}

static struct al_bucket *al_bucket_at(const struct al_rule *r,
				      struct al_group *g, uint64_t now_ns)
{
	uint64_t idx = now_ns / r->width_ns;
	struct al_bucket *b = &g->ring[idx % r->n_buckets];

	if (b->idx != idx) {
		b->idx = idx;
		b->requests = b->errors = b->tokens = 0;
		b->cost = 0;
		if (b->lat)
			sketch_reset(b->lat);
	}
	return b;
}

static void al_bucket_add(const struct al_rule *r, struct al_group *g,
			  const struct al_call *c)
{
	struct al_bucket *b = al_bucket_at(r, g, c->t_ns);
	double v = r->cfg->metric == CONFIG_TTFT_P95 ? c->ttft_ms :
						       c->latency_ms;

	b->requests++;
	b->errors += c->error;
	b->tokens += c->tokens;
	b->cost += c->cost;
	if (!al_uses_sketch(r->cfg) || isnan(v))
		return;
	if (!b->lat)
		b->lat = sketch_new();
	if (b->lat)
		sketch_add(b->lat, v);
}

/* The group c counts in; NULL only when memory ran out. */
static struct al_group *al_group_for(struct alerts *a, struct al_rule *r,
				     const struct al_call *c)
{
	const char *key;
	struct al_group **gs;
	size_t i;

	if (!r->cfg->grouped)
		return r->groups[0];
	key = al_value_of(a, c, &r->cfg->group_by);
	for (i = 0; i < r->n_groups; i++) {
		struct al_group *g = r->groups[i];

		if (key ? !g->null_key && !strcmp(g->key, key) : g->null_key)
			return g;
	}
	if (r->n_groups == ALERTS_MAX_GROUPS) {
		a->stats.folded++;
		if (!r->other) {
			r->other = al_group_new(r, AL_OTHER);
			if (r->other)
				r->other->other = true;
		}
		return r->other;
	}
	gs = realloc(r->groups, (r->n_groups + 1) * sizeof(*gs));
	if (!gs)
		return NULL;
	r->groups = gs;
	gs[r->n_groups] = al_group_new(r, key);
	return gs[r->n_groups] ? gs[r->n_groups++] : NULL;
}

/* --- the recent calls ----------------------------------------------- */

static void al_recent_push(struct alerts *a, const struct al_call *c)
{
	size_t cap = a->recent_cap;

	/* Grown only before the ring first wraps, so order is kept. */
	if (a->recent_len == cap && cap < ALERTS_RECENT_MAX &&
	    !a->recent_head) {
		size_t ncap = cap ? cap * 2 : 64;
		struct al_call *n = realloc(a->recent, ncap * sizeof(*n));

		if (n) {
			a->recent = n;
			a->recent_cap = cap = ncap;
		}
	}
	if (!cap)
		return;
	a->recent[(a->recent_head + a->recent_len) % cap] = *c;
	if (a->recent_len < cap)
		a->recent_len++;
	else
		a->recent_head = (a->recent_head + 1) % cap;
}

void alerts_add(struct alerts *a, const json_t *rec, uint64_t now_ns)
{
	struct al_call c;
	bool any = false;
	size_t i;

	if (!a || !a->cfg->n_alerts)
		return;
	al_call_from(a, rec, now_ns, &c);
	for (i = 0; i < a->cfg->n_alerts; i++) {
		struct al_rule *r = &a->rules[i];
		struct al_group *g;

		if (!al_match(a, r, &c))
			continue;
		any = true;
		g = al_group_for(a, r, &c);
		if (g)
			al_bucket_add(r, g, &c);
	}
	if (!any)
		return;
	a->stats.calls++;
	al_recent_push(a, &c);
}

/* --- evaluation ----------------------------------------------------- */

struct al_agg {
	uint64_t requests, errors, tokens;
	double cost;
	double value;	/* in the threshold's unit; NAN: no data */
};

static double al_metric_value(const struct al_rule *r,
			      const struct al_agg *ag,
			      const struct sketch *lat)
{
	switch (r->cfg->metric) {
	case CONFIG_ERROR_RATE:
		return ag->requests ? 100.0 * (double)ag->errors /
					      (double)ag->requests : NAN;
	case CONFIG_COST:
		return ag->cost;
	case CONFIG_REQUESTS:
		return (double)ag->requests;
	case CONFIG_TOKENS:
		return (double)ag->tokens;
	case CONFIG_LATENCY_P50:
		return sketch_quantile(lat, 0.50);
	case CONFIG_LATENCY_P99:
		return sketch_quantile(lat, 0.99);
	default:
		return sketch_quantile(lat, 0.95);
	}
}

/* Sums the buckets of g inside the window that ends at now_ns. */
static void al_aggregate(struct alerts *a, const struct al_rule *r,
			 const struct al_group *g, uint64_t now_ns,
			 struct al_agg *ag)
{
	uint64_t now_idx = now_ns / r->width_ns;
	size_t i;

	memset(ag, 0, sizeof(*ag));
	sketch_reset(a->scratch);
	for (i = 0; i < r->n_buckets; i++) {
		const struct al_bucket *b = &g->ring[i];

		if (!b->idx || b->idx > now_idx ||
		    b->idx + r->n_buckets <= now_idx)
			continue;
		ag->requests += b->requests;
		ag->errors += b->errors;
		ag->tokens += b->tokens;
		ag->cost += b->cost;
		if (b->lat)
			sketch_merge(a->scratch, b->lat);
	}
	ag->value = al_metric_value(r, ag, a->scratch);
}

static bool al_over(const struct config_alert *r, const struct al_agg *ag)
{
	double v = ag->value, t = r->threshold;

	if (ag->requests < r->min_requests || isnan(v))
		return false;
	switch (r->op) {
	case CONFIG_GT:
		return v > t;
	case CONFIG_GE:
		return v >= t;
	case CONFIG_LT:
		return v < t;
	default:
		return v <= t;
	}
}

/* --- the alert object ----------------------------------------------- */

static void al_ts(char *buf, size_t len, uint64_t ns)
{
	time_t sec = (time_t)(ns / AL_NS_PER_S);
	struct tm tm;

	gmtime_r(&sec, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *al_ts_json(uint64_t ns)
{
	char buf[AL_TS_LEN];

	al_ts(buf, sizeof(buf), ns);
	return json_string(buf);
}

static bool al_in_group(const struct alerts *a, const struct al_rule *r,
			const struct al_group *g, const struct al_call *c)
{
	const char *v;

	if (!r->cfg->grouped || g->other)
		return true;
	v = al_value_of(a, c, &r->cfg->group_by);
	return v ? !g->null_key && !strcmp(v, g->key) : g->null_key;
}

/* Adds c to the tally of its value in slot; n is the tally's size. */
static size_t al_tally_add(struct al_tally *t, size_t n,
			   const struct al_call *c, int slot)
{
	const char *name = (c->have & (1u << slot)) ? c->v[slot] : NULL;
	size_t i;

	for (i = 0; i < n; i++)
		if (name ? t[i].name && !strcmp(t[i].name, name) :
			   !t[i].name)
			break;
	if (i == n) {
		if (n == AL_TOP_SCAN)
			return n;
		t[n++] = (struct al_tally){ .name = name };
	}
	t[i].requests++;
	t[i].errors += c->error;
	t[i].cost += c->cost;
	return n;
}

/* Cost for cost rules, errors for error rates, else requests. */
static double al_rank(const struct config_alert *r,
		      const struct al_tally *t)
{
	if (r->metric == CONFIG_COST)
		return t->cost;
	if (r->metric == CONFIG_ERROR_RATE)
		return (double)t->errors;
	return (double)t->requests;
}

static json_t *al_top_json(const struct config_alert *r,
			   struct al_tally *t, size_t n, const char *key)
{
	json_t *arr = json_array();
	struct al_tally tmp;
	size_t k, i, best;

	/* A selection sort of the first ALERTS_TOP_N only. */
	for (k = 0; k < ALERTS_TOP_N && k < n; k++) {
		for (best = k, i = k + 1; i < n; i++)
			if (al_rank(r, &t[i]) > al_rank(r, &t[best]))
				best = i;
		tmp = t[k];
		t[k] = t[best];
		t[best] = tmp;
		json_array_append_new(arr, json_pack(
			"{s:o, s:I, s:I, s:f}", key,
			t[k].name ? json_string(t[k].name) : json_null(),
			"requests", (json_int_t)t[k].requests,
			"errors", (json_int_t)t[k].errors,
			"cost_usd", t[k].cost));
	}
	return arr;
}

/* The top values of slot among the recent calls of g since since_ns. */
static json_t *al_top(struct alerts *a, const struct al_rule *r,
		      const struct al_group *g, uint64_t since_ns, int slot,
		      const char *key)
{
	size_t n = 0, i;

	for (i = 0; i < a->recent_len; i++) {
		const struct al_call *c =
			&a->recent[(a->recent_head + i) % a->recent_cap];

		if (c->t_ns < since_ns || !al_match(a, r, c) ||
		    !al_in_group(a, r, g, c))
			continue;
		n = al_tally_add(a->tally, n, c, slot);
	}
	return al_top_json(r->cfg, a->tally, n, key);
}

/* Characters a query value may hold as they are (RFC 3986, 2.3). */
static bool al_unreserved(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || strchr("-._~", ch);
}

static void al_query_add(char *q, size_t len, const struct config_key *k,
			 const char *value)
{
	static const char *const params[] = {
		[CONFIG_ATTR_PROVIDER] = "provider",
		[CONFIG_ATTR_MODEL] = "model",
		[CONFIG_ATTR_USER_ID] = "user",
		[CONFIG_ATTR_PROCESS] = "process",
		[CONFIG_ATTR_UID] = "uid",
	};
	size_t n = strlen(q);
	const unsigned char *p;

	/* The calls API has no property filter. */
	if (k->attr == CONFIG_ATTR_PROPERTY || !value)
		return;
	n += (size_t)snprintf(q + n, len - n, "&%s=", params[k->attr]);
	for (p = (const unsigned char *)value; *p && n + 4 < len; p++)
		n += (size_t)(al_unreserved(*p) ?
			      snprintf(q + n, len - n, "%c", *p) :
			      snprintf(q + n, len - n, "%%%02X", *p));
}

/* The API query that lists the calls behind the alert. */
static json_t *al_query(const struct al_rule *r, const struct al_group *g,
			uint64_t since_ns)
{
	char q[AL_QUERY_LEN];
	size_t i;

	snprintf(q, sizeof(q), "/api/v1/calls?since=%" PRIu64,
		 (uint64_t)(since_ns / AL_NS_PER_S));
	for (i = 0; i < r->cfg->n_where; i++)
		al_query_add(q, sizeof(q), &r->cfg->where[i].key,
			     r->cfg->where[i].value);
	if (r->cfg->grouped && !g->other && !g->null_key)
		al_query_add(q, sizeof(q), &r->cfg->group_by, g->key);
	return json_string(q);
}

static json_t *al_group_json(const struct al_rule *r,
			     const struct al_group *g)
{
	if (!r->cfg->grouped)
		return json_null();
	return json_pack("{s:o}", r->cfg->group_by.text,
			 g->null_key ? json_null() : json_string(g->key));
}

static json_t *al_notify_names(const struct alerts *a,
			       const struct config_alert *r)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < r->n_notify; i++)
		json_array_append_new(arr, json_string(
			a->cfg->notifiers[r->notify[i]].name));
	return arr;
}

static const char *al_unit(enum config_metric m)
{
	if (m == CONFIG_ERROR_RATE)
		return "%";
	if (m == CONFIG_COST)
		return "USD";
	return m >= CONFIG_LATENCY_P50 ? "ms" : "";
}

static json_t *al_event(struct alerts *a, const struct al_rule *r,
			const struct al_group *g, const char *state,
			const struct al_agg *ag, uint64_t now_ns)
{
	const struct config_alert *c = r->cfg;
	uint64_t window_ns = c->window_s * AL_NS_PER_S;
	uint64_t from = g->fired_ns < now_ns ? g->fired_ns : now_ns;
	uint64_t since = from > window_ns ? from - window_ns : 0;
	json_t *ev = json_object();

	json_object_set_new(ev, "type", json_string("alert"));
	json_object_set_new(ev, "ts", al_ts_json(now_ns));
	json_object_set_new(ev, "rule", json_string(c->name));
	json_object_set_new(ev, "state", json_string(state));
	json_object_set_new(ev, "severity", json_string(c->severity));
	json_object_set_new(ev, "metric",
			    json_string(config_metric_name(c->metric)));
	json_object_set_new(ev, "value", isnan(ag->value) ? json_null() :
					 json_real(ag->value));
	json_object_set_new(ev, "unit", json_string(al_unit(c->metric)));
	json_object_set_new(ev, "threshold", json_string(c->threshold_text));
	json_object_set_new(ev, "window", json_string(c->window_text));
	json_object_set_new(ev, "requests", json_integer(
		(json_int_t)ag->requests));
	json_object_set_new(ev, "errors", json_integer(
		(json_int_t)ag->errors));
	json_object_set_new(ev, "cost_usd", json_real(ag->cost));
	json_object_set_new(ev, "group", al_group_json(r, g));
	json_object_set_new(ev, "firing_since", al_ts_json(g->fired_ns));
	json_object_set_new(ev, "top_users", al_top(a, r, g, since,
		CONFIG_ATTR_USER_ID, "user_id"));
	json_object_set_new(ev, "top_models", al_top(a, r, g, since,
		CONFIG_ATTR_MODEL, "model"));
	json_object_set_new(ev, "top_processes", al_top(a, r, g, since,
		CONFIG_ATTR_PROCESS, "process"));
	json_object_set_new(ev, "query", al_query(r, g, since));
	json_object_set_new(ev, "notify", al_notify_names(a, c));
	return ev;
}

static void al_emit(struct alerts *a, const struct al_rule *r,
		    struct al_group *g, const char *state,
		    const struct al_agg *ag, uint64_t now_ns)
{
	json_t *ev = al_event(a, r, g, state, ag, now_ns);
	size_t i;

	if (!ev)
		return;
	if (a->opts.emit)
		a->opts.emit(a->opts.emit_ctx, ev);
	for (i = 0; a->opts.notify && i < r->cfg->n_notify; i++)
		notify_send(a->opts.notify,
			    &a->cfg->notifiers[r->cfg->notify[i]], ev);
	g->notified_ns = now_ns;
	json_decref(ev);
}

/* One group's step of the state machine. */
static void al_group_eval(struct alerts *a, const struct al_rule *r,
			  struct al_group *g, uint64_t now_ns)
{
	const struct config_alert *c = r->cfg;
	uint64_t renotify_ns = c->renotify_s * AL_NS_PER_S;
	struct al_agg ag;
	bool over;

	al_aggregate(a, r, g, now_ns, &ag);
	over = al_over(c, &ag);
	if (g->state == AL_OK && over) {
		g->state = AL_FIRING;
		g->fired_ns = now_ns;
		a->stats.fired++;
		al_emit(a, r, g, "firing", &ag, now_ns);
	} else if (g->state == AL_FIRING && !over) {
		g->state = AL_OK;
		a->stats.resolved++;
		al_emit(a, r, g, "resolved", &ag, now_ns);
	} else if (g->state == AL_FIRING && renotify_ns &&
		   now_ns - g->notified_ns >= renotify_ns) {
		al_emit(a, r, g, "firing", &ag, now_ns);
	}
}

/* Whether g has nothing in its window and no alert open: it may go. */
static bool al_group_idle(const struct al_rule *r,
			  const struct al_group *g, uint64_t now_ns)
{
	uint64_t now_idx = now_ns / r->width_ns;
	size_t i;

	if (g->state != AL_OK)
		return false;
	for (i = 0; i < r->n_buckets; i++)
		if (g->ring[i].idx &&
		    g->ring[i].idx + r->n_buckets > now_idx)
			return false;
	return true;
}

/* Frees the idle groups of a group_by rule, keeping the order. */
static void al_rule_sweep(struct al_rule *r, uint64_t now_ns)
{
	size_t i, k = 0;

	if (!r->cfg->grouped)
		return;
	for (i = 0; i < r->n_groups; i++) {
		if (al_group_idle(r, r->groups[i], now_ns))
			al_group_free(r->groups[i], r->n_buckets);
		else
			r->groups[k++] = r->groups[i];
	}
	r->n_groups = k;
	if (r->other && al_group_idle(r, r->other, now_ns)) {
		al_group_free(r->other, r->n_buckets);
		r->other = NULL;
	}
}

void alerts_evaluate(struct alerts *a, uint64_t now_ns)
{
	size_t i, j;

	if (!a)
		return;
	a->last_eval_ns = now_ns;
	for (i = 0; i < a->cfg->n_alerts; i++) {
		struct al_rule *r = &a->rules[i];

		for (j = 0; j < r->n_groups; j++)
			al_group_eval(a, r, r->groups[j], now_ns);
		if (r->other)
			al_group_eval(a, r, r->other, now_ns);
		al_rule_sweep(r, now_ns);
	}
}

void alerts_tick(struct alerts *a, uint64_t now_ns)
{
	if (!a)
		return;
	if (a->last_eval_ns &&
	    now_ns - a->last_eval_ns <
		    (uint64_t)a->cfg->evaluate_every_s * AL_NS_PER_S)
		return;
	alerts_evaluate(a, now_ns);
}

/* --- rules and their life cycle ------------------------------------- */

static void al_rule_clear(struct al_rule *r)
{
	size_t i;

	for (i = 0; i < r->n_groups; i++)
		al_group_free(r->groups[i], r->n_buckets);
	free(r->groups);
	al_group_free(r->other, r->n_buckets);
	memset(r, 0, sizeof(*r));
}

static void al_rules_free(struct al_rule *rules, size_t n)
{
	size_t i;

	for (i = 0; rules && i < n; i++)
		al_rule_clear(&rules[i]);
	free(rules);
}

/* Width window / ALERTS_BUCKETS, at least a second; enough buckets to
 * cover the window. */
static int al_rule_init(struct al_rule *r, const struct config_alert *c)
{
	uint64_t width_s = c->window_s / ALERTS_BUCKETS;

	r->cfg = c;
	if (!width_s)
		width_s = 1;
	r->width_ns = width_s * AL_NS_PER_S;
	r->n_buckets = (size_t)((c->window_s + width_s - 1) / width_s);
	if (c->grouped)
		return 0;
	r->groups = calloc(1, sizeof(*r->groups));
	if (r->groups)
		r->groups[0] = al_group_new(r, NULL);
	if (!r->groups || !r->groups[0])
		return -ENOMEM;
	r->n_groups = 1;
	return 0;
}

static struct al_rule *al_rules_new(const struct config *cfg)
{
	struct al_rule *rules = calloc(cfg->n_alerts ? cfg->n_alerts : 1,
				       sizeof(*rules));
	size_t i;

	for (i = 0; rules && i < cfg->n_alerts; i++) {
		if (al_rule_init(&rules[i], &cfg->alerts[i])) {
			al_rules_free(rules, cfg->n_alerts);
			return NULL;
		}
	}
	return rules;
}

/* Moves the windows and states of unchanged rules from old to rules. */
static void al_rules_keep(struct al_rule *rules, const struct config *cfg,
			  struct al_rule *old, size_t n_old)
{
	size_t i, j;

	for (i = 0; i < cfg->n_alerts; i++) {
		for (j = 0; j < n_old; j++)
			if (old[j].cfg &&
			    config_alert_same(old[j].cfg, rules[i].cfg))
				break;
		if (j == n_old)
			continue;
		al_rule_clear(&rules[i]);
		rules[i] = old[j];
		rules[i].cfg = &cfg->alerts[i];
		memset(&old[j], 0, sizeof(old[j]));
	}
}

/* Whether the property names differ from those the recent calls were
 * read with; sets the new ones. */
static bool al_set_props(struct alerts *a)
{
	const char *props[CONFIG_MAX_PROPERTIES];
	size_t n = config_properties(a->cfg, props, CONFIG_MAX_PROPERTIES);
	bool changed = n != a->n_props;
	size_t i;

	for (i = 0; i < n; i++) {
		changed = changed || strcmp(props[i], a->props[i]);
		a->props[i] = props[i];
	}
	a->n_props = n;
	return changed;
}

struct alerts *alerts_new(struct config *cfg, const struct alerts_opts *o)
{
	struct alerts *a = calloc(1, sizeof(*a));

	if (!a) {
		config_free(cfg);
		return NULL;
	}
	a->opts = *o;
	a->cfg = cfg;
	a->rules = al_rules_new(cfg);
	a->scratch = sketch_new();
	a->tally = calloc(AL_TOP_SCAN, sizeof(*a->tally));
	if (!a->rules || !a->scratch || !a->tally) {
		alerts_free(a);
		return NULL;
	}
	al_set_props(a);
	return a;
}

int alerts_reload(struct alerts *a, struct config *cfg)
{
	struct al_rule *rules = al_rules_new(cfg), *old_rules = a->rules;
	struct config *old = a->cfg;

	if (!rules) {
		config_free(cfg);
		return -ENOMEM;
	}
	al_rules_keep(rules, cfg, old_rules, old->n_alerts);
	a->rules = rules;
	a->cfg = cfg;
	/* Kept calls hold the old properties' values: start over. */
	if (al_set_props(a))
		a->recent_len = a->recent_head = 0;
	al_rules_free(old_rules, old->n_alerts);
	config_free(old);
	return 0;
}

void alerts_free(struct alerts *a)
{
	if (!a)
		return;
	al_rules_free(a->rules, a->cfg->n_alerts);
	config_free(a->cfg);
	sketch_free(a->scratch);
	free(a->tally);
	free(a->recent);
	free(a);
}

void alerts_stats(const struct alerts *a, struct alerts_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (a)
		*out = a->stats;
}

const struct config *alerts_config(const struct alerts *a)
{
	return a ? a->cfg : NULL;
}
