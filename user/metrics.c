// SPDX-License-Identifier: MIT
/*
 * Metrics: one series per distinct set of call attributes, each with a
 * ring of time slots per window. A query merges the live slots of the
 * series that pass the filter into one aggregate per group, so any
 * grouping and filter is answered from the same data, and each call
 * updates one series only.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "sketch.h"

enum m_token {
	M_TOK_INPUT,
	M_TOK_OUTPUT,
	M_TOK_CACHED,
	M_TOK_REASONING,
	M_TOK_CACHE_WRITE,
	M_NTOKENS,
};

/* The usage keys of a record (README.md, 'Output'), by m_token. */
static const char *const m_token_keys[M_NTOKENS] = {
	"input_tokens", "output_tokens", "cached_input_tokens",
	"reasoning_tokens", "cache_write_tokens",
};

/* Slots per window, laid out one after another in a series' ring. */
static const struct m_window {
	const char *name;
	uint32_t slot_s;
	uint32_t nslots;
	uint32_t first;
} m_windows[METRICS_TOTAL] = {
	[METRICS_1M] = { "1m", 1, 60, 0 },
	[METRICS_10M] = { "10m", 10, 60, 60 },
	[METRICS_1H] = { "1h", 60, 60, 120 },
	[METRICS_1D] = { "1d", 900, 96, 180 },
};
#define M_RING_SLOTS 276

/* Attribute keys of a series key, coarsest last: a fold at level L
 * sets every attribute of level <= L to "other". */
static const struct m_attr {
	const char *name;
	int level;
} m_attrs[] = {
	{ "session", 1 }, { "properties", 1 }, { "user_id", 2 },
	{ "exe", 2 },	  { "container", 2 },	{ "process", 3 },
	{ "uid", 3 },	  { "user", 3 },	{ "model", 4 },
	{ "provider", 4 },
};
#define M_NATTRS (sizeof(m_attrs) / sizeof(m_attrs[0]))
#define M_FOLD_LEVELS 5

struct m_stats {
	uint64_t epoch;	/* the slot's time / slot_s */
	uint64_t requests, errors, incomplete;
	uint64_t tokens[M_NTOKENS];
	double cost;
	struct sketch *latency, *ttft;	/* made at the first value */
};

struct m_series {
	json_t *key;	/* the attributes, an object */
	struct m_stats total;
	struct m_stats *ring[M_RING_SLOTS];
};

struct metrics {
	pthread_mutex_t lock;
	json_t *index;	/* dumped key -> position in series */
	struct m_series **series;
	size_t nseries, cap;
	struct metrics_stats st;
};

/* One call's numbers, read from its record. */
struct m_call {
	bool error, incomplete;
	uint64_t tokens[M_NTOKENS];
	double cost, latency, ttft;	/* NaN when absent */
};

struct metrics *metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->index = json_object();
	if (!m->index) {
		free(m);
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

static void m_stats_clear(struct m_stats *s)
{
	sketch_free(s->latency);
	sketch_free(s->ttft);
	memset(s, 0, sizeof(*s));
}

static void m_series_free(struct m_series *s)
{
	size_t i;

	for (i = 0; i < M_RING_SLOTS; i++) {
		if (s->ring[i])
			m_stats_clear(s->ring[i]);
		free(s->ring[i]);
	}
	m_stats_clear(&s->total);
	json_decref(s->key);
	free(s);
}

void metrics_free(struct metrics *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->nseries; i++)
		m_series_free(m->series[i]);
	free(m->series);
	json_decref(m->index);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* ---- reading a record ---- */

static double m_num(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

static void m_read_call(const json_t *rec, struct m_call *c)
{
	const json_t *usage = json_object_get(rec, "usage");
	const json_t *http = json_object_get(rec, "http");
	const json_t *err = json_object_get(rec, "error");
	double status = m_num(http, "status");
	int i;

	memset(c, 0, sizeof(*c));
	c->error = (status >= 400) || (err && !json_is_null(err));
	c->incomplete = json_is_true(json_object_get(rec, "incomplete"));
	for (i = 0; i < M_NTOKENS; i++) {
		double t = m_num(usage, m_token_keys[i]);

		c->tokens[i] = t > 0 ? (uint64_t)t : 0;
	}
	c->cost = m_num(rec, "cost_usd");
	c->latency = m_num(rec, "duration_ms");
	c->ttft = m_num(rec, "ttft_ms");
}

/* A copy of v when it is a string or an integer, else null. */
static json_t *m_scalar(const json_t *v)
{
	if (json_is_string(v) || json_is_integer(v))
		return json_copy((json_t *)v);
	return json_null();
}

static json_t *m_props(const json_t *props)
{
	json_t *out = json_object();
	const char *name;
	json_t *v;
	int n = 0;

	if (!out || !json_is_object(props))
		return out;
	json_object_foreach((json_t *)props, name, v) {
		if (n++ == METRICS_MAX_PROPS)
			break;
		if (json_is_string(v))
			json_object_set_new(out, name, json_copy(v));
	}
	return out;
}

/* Where each attribute of a series key is read in a record: the
 * record itself, its "process" or its "session" object. */
enum m_src { M_SRC_REC, M_SRC_PROC, M_SRC_SESS };

static const struct {
	const char *attr;
	enum m_src src;
	const char *field;
} m_fields[] = {
	{ "provider", M_SRC_REC, "provider" },
	{ "model", M_SRC_REC, "model" },
	{ "user_id", M_SRC_REC, "user_id" },
	{ "process", M_SRC_PROC, "comm" },
	{ "exe", M_SRC_PROC, "exe" },
	{ "uid", M_SRC_PROC, "uid" },
	{ "user", M_SRC_PROC, "user" },
	{ "container", M_SRC_PROC, "container" },
	{ "session", M_SRC_SESS, "id" },
};

/* The series key of a record: its attributes, those at or under
 * fold_level set to "other". */
static json_t *m_key(const json_t *rec, int fold_level)
{
	const json_t *from[] = {
		[M_SRC_REC] = rec,
		[M_SRC_PROC] = json_object_get(rec, "process"),
		[M_SRC_SESS] = json_object_get(rec, "session"),
	};
	json_t *k = json_object();
	size_t i;

	if (!k)
		return NULL;
	for (i = 0; i < sizeof(m_fields) / sizeof(m_fields[0]); i++)
		json_object_set_new(k, m_fields[i].attr,
				    m_scalar(json_object_get(
					    from[m_fields[i].src],
					    m_fields[i].field)));
	json_object_set_new(k, "properties",
			    m_props(json_object_get(rec, "properties")));
	for (i = 0; i < M_NATTRS; i++)
		if (m_attrs[i].level <= fold_level)
			json_object_set_new(k, m_attrs[i].name,
					    json_string(METRICS_OTHER));
	return k;
}

/* ---- finding the series ---- */

static struct m_series *m_lookup(struct metrics *m, const char *dumped)
{
	json_t *pos = json_object_get(m->index, dumped);

	return pos ? m->series[json_integer_value(pos)] : NULL;
}

static int m_append(struct metrics *m, const char *dumped, json_t *key)
{
	struct m_series *s;

	if (m->nseries == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		void *p = realloc(m->series, cap * sizeof(*m->series));

		if (!p)
			return -ENOMEM;
		m->series = p;
		m->cap = cap;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (json_object_set_new(m->index, dumped,
				json_integer((json_int_t)m->nseries))) {
		free(s);
		return -ENOMEM;
	}
	s->key = json_incref(key);
	m->series[m->nseries++] = s;
	m->st.series = m->nseries;
	return 0;
}

/* Whether a new series at this fold level fits: full detail up to
 * METRICS_MAX_SERIES, folded ones within the reserve, and the series
 * with everything folded always (it is only one). */
static bool m_may_create(const struct metrics *m, int level)
{
	if (level == M_FOLD_LEVELS - 1)
		return true;
	if (level == 0)
		return m->nseries < METRICS_MAX_SERIES;
	return m->nseries < METRICS_MAX_SERIES + METRICS_FOLD_RESERVE;
}

/* The series rec counts in at one fold level: *out stays NULL when
 * there is none and none may be made. */
static int m_series_at(struct metrics *m, const json_t *rec, int level,
		       struct m_series **out)
{
	json_t *key = m_key(rec, level);
	char *dumped = key ? json_dumps(key, JSON_COMPACT | JSON_SORT_KEYS)
			   : NULL;
	int err = 0;

	*out = NULL;
	if (!dumped) {
		json_decref(key);
		return -ENOMEM;
	}
	*out = m_lookup(m, dumped);
	if (!*out && m_may_create(m, level)) {
		err = m_append(m, dumped, key);
		if (!err)
			*out = m->series[m->nseries - 1];
	}
	free(dumped);
	json_decref(key);
	return err;
}

static int m_series_for(struct metrics *m, const json_t *rec,
			struct m_series **out)
{
	int level, err;

	for (level = 0; level < M_FOLD_LEVELS; level++) {
		err = m_series_at(m, rec, level, out);
		if (err)
			return err;
		if (*out) {
			m->st.folded += level > 0;
			return 0;
		}
	}
	return -ENOMEM;
}

/* ---- counting ---- */

static int m_sketch_add(struct sketch **sk, double v)
{
	if (isnan(v) || v < 0)
		return 0;
	if (!*sk)
		*sk = sketch_new();
	if (!*sk)
		return -ENOMEM;
	return sketch_add(*sk, v) == -ENOMEM ? -ENOMEM : 0;
}

static int m_stats_add(struct m_stats *s, const struct m_call *c)
{
	int i;

	s->requests++;
	s->errors += c->error;
	s->incomplete += c->incomplete;
	for (i = 0; i < M_NTOKENS; i++)
		s->tokens[i] += c->tokens[i];
	if (!isnan(c->cost))
		s->cost += c->cost;
	if (m_sketch_add(&s->latency, c->latency) ||
	    m_sketch_add(&s->ttft, c->ttft))
		return -ENOMEM;
	return 0;
}

/* The slot of window w that now_s falls in, emptied if it held an
 * older period. */
static struct m_stats *m_slot(struct m_series *s, enum metrics_window w,
			      uint64_t now_s)
{
	const struct m_window *mw = &m_windows[w];
	uint64_t epoch = now_s / mw->slot_s;
	struct m_stats **slot = &s->ring[mw->first + epoch % mw->nslots];

	if (!*slot)
		*slot = calloc(1, sizeof(**slot));
	if (!*slot)
		return NULL;
	if ((*slot)->epoch != epoch) {
		m_stats_clear(*slot);
		(*slot)->epoch = epoch;
	}
	return *slot;
}

static int m_series_add(struct m_series *s, const struct m_call *c,
			uint64_t now_s)
{
	int w, err = m_stats_add(&s->total, c);

	for (w = 0; w < METRICS_TOTAL; w++) {
		struct m_stats *slot = m_slot(s, w, now_s);

		if (!slot)
			return -ENOMEM;
		err = err ? err : m_stats_add(slot, c);
	}
	return err;
}

int metrics_add(struct metrics *m, const json_t *rec, uint64_t now_s)
{
	struct m_series *s;
	struct m_call c;
	int err;

	if (!json_is_object(rec))
		return -EINVAL;
	m_read_call(rec, &c);

	pthread_mutex_lock(&m->lock);
	err = m_series_for(m, rec, &s);
	if (!err)
		err = m_series_add(s, &c, now_s);
	m->st.records++;
	pthread_mutex_unlock(&m->lock);
	if (err)
		log_warn("metrics: out of memory; a call is partly counted");
	return err;
}

/* ---- querying ---- */

/* One group of a query's answer. */
struct m_group {
	json_t *value;
	struct m_stats st;
};

struct m_query {
	const char *by;	/* NULL: one group */
	enum metrics_window w;
	const struct metrics_filter *f;
	uint64_t now_s;
	json_t *index;	/* dumped group value -> position in groups */
	struct m_group *groups;
	size_t ngroups;
};

int metrics_by_valid(const char *by)
{
	static const char *const plain[] = {
		"provider", "model", "process", "exe",	     "uid",
		"user",	    "user_id", "session", "container", "all",
	};
	size_t i;

	if (!by)
		return 1;
	if (!strncmp(by, "property:", 9))
		return by[9] != '\0';
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if (!strcmp(by, plain[i]))
			return 1;
	return 0;
}

/* properties[name] of a series key; "other" when they were folded. */
static const json_t *m_prop(const json_t *key, const char *name)
{
	const json_t *props = json_object_get(key, "properties");

	if (json_is_string(props))
		return props;
	return json_object_get(props, name);
}

/* The value of attribute by in a series key; NULL for null. */
static const json_t *m_attr(const json_t *key, const char *by)
{
	const json_t *v;

	if (!strncmp(by, "property:", 9))
		return m_prop(key, by + 9);
	v = json_object_get(key, by);
	return json_is_null(v) ? NULL : v;
}

static bool m_str_is(const json_t *v, const char *want)
{
	const char *have = json_string_value(v);

	return !want || (have && !strcmp(have, want));
}

static bool m_filter_match(const json_t *key, const struct metrics_filter *f)
{
	const json_t *uid = m_attr(key, "uid");

	if (!f)
		return true;
	if (f->uid >= 0 &&
	    !(json_is_integer(uid) && json_integer_value(uid) == f->uid))
		return false;
	if (f->process && !m_str_is(m_attr(key, "process"), f->process) &&
	    !m_str_is(m_attr(key, "exe"), f->process))
		return false;
	if (f->prop_name && f->prop_value &&
	    !m_str_is(m_prop(key, f->prop_name), f->prop_value))
		return false;
	return m_str_is(m_attr(key, "provider"), f->provider) &&
	       m_str_is(m_attr(key, "model"), f->model) &&
	       m_str_is(m_attr(key, "user_id"), f->user_id) &&
	       m_str_is(m_attr(key, "session"), f->session);
}

static int m_sketch_merge(struct sketch **dst, const struct sketch *src)
{
	if (!src)
		return 0;
	if (!*dst)
		*dst = sketch_new();
	return *dst ? sketch_merge(*dst, src) : -ENOMEM;
}

static int m_stats_merge(struct m_stats *dst, const struct m_stats *src)
{
	int i;

	dst->requests += src->requests;
	dst->errors += src->errors;
	dst->incomplete += src->incomplete;
	for (i = 0; i < M_NTOKENS; i++)
		dst->tokens[i] += src->tokens[i];
	dst->cost += src->cost;
	if (m_sketch_merge(&dst->latency, src->latency) ||
	    m_sketch_merge(&dst->ttft, src->ttft))
		return -ENOMEM;
	return 0;
}

/* Whether a slot holds a period inside window w ending at now_s. */
static bool m_slot_live(const struct m_stats *slot, enum metrics_window w,
			uint64_t now_s)
{
	const struct m_window *mw = &m_windows[w];
	uint64_t epoch = now_s / mw->slot_s;

	return slot && slot->epoch <= epoch &&
	       slot->epoch + mw->nslots > epoch;
}

static int m_series_merge(struct m_stats *dst, const struct m_series *s,
			  enum metrics_window w, uint64_t now_s)
{
	const struct m_window *mw;
	uint32_t i;
	int err = 0;

	if (w == METRICS_TOTAL)
		return m_stats_merge(dst, &s->total);
	mw = &m_windows[w];
	for (i = 0; i < mw->nslots && !err; i++) {
		const struct m_stats *slot = s->ring[mw->first + i];

		if (m_slot_live(slot, w, now_s))
			err = m_stats_merge(dst, slot);
	}
	return err;
}

/* The group a series counts in, made when new. */
static struct m_group *m_group_of(struct m_query *q, const json_t *key)
{
	const json_t *v = q->by ? m_attr(key, q->by) : NULL;
	json_t *value = q->by ? json_copy((json_t *)v) : json_string("all");
	char *dumped;
	json_t *pos;

	if (!value)
		value = json_null();
	dumped = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
	pos = dumped ? json_object_get(q->index, dumped) : NULL;
	if (pos || !dumped) {
		free(dumped);
		json_decref(value);
		return pos ? &q->groups[json_integer_value(pos)] : NULL;
	}
	json_object_set_new(q->index, dumped,
			    json_integer((json_int_t)q->ngroups));
	free(dumped);
	q->groups[q->ngroups].value = value;
	return &q->groups[q->ngroups++];
}

static int m_collect(struct metrics *m, struct m_query *q)
{
	size_t i;

	/* Never more groups than series. */
	q->groups = calloc(m->nseries + 1, sizeof(*q->groups));
	q->index = json_object();
	if (!q->groups || !q->index)
		return -ENOMEM;
	for (i = 0; i < m->nseries; i++) {
		const struct m_series *s = m->series[i];
		struct m_group *g;

		if (!m_filter_match(s->key, q->f))
			continue;
		g = m_group_of(q, s->key);
		if (!g || m_series_merge(&g->st, s, q->w, q->now_s))
			return -ENOMEM;
	}
	return 0;
}

static json_t *m_quantiles(const struct sketch *sk)
{
	if (!sk || !sketch_count(sk))
		return json_null();
	return json_pack("{s:f, s:f, s:f, s:f}", "p50",
			 sketch_quantile(sk, 0.5), "p90",
			 sketch_quantile(sk, 0.9), "p95",
			 sketch_quantile(sk, 0.95), "p99",
			 sketch_quantile(sk, 0.99));
}

static json_t *m_group_json(const struct m_group *g)
{
	const struct m_stats *s = &g->st;
	json_t *o = json_pack(
		"{s:O, s:I, s:I, s:f, s:I, s:f, s:o, s:o}", "group", g->value,
		"requests", (json_int_t)s->requests, "errors",
		(json_int_t)s->errors, "error_rate",
		s->requests ? (double)s->errors / (double)s->requests : 0.0,
		"incomplete", (json_int_t)s->incomplete, "cost_usd", s->cost,
		"latency_ms", m_quantiles(s->latency), "ttft_ms",
		m_quantiles(s->ttft));
	int i;

	for (i = 0; o && i < M_NTOKENS; i++)
		json_object_set_new(o, m_token_keys[i],
				    json_integer((json_int_t)s->tokens[i]));
	return o;
}

/* Most requests first; ties by cost, then by name for a stable order. */
static int m_group_cmp(const void *a, const void *b)
{
	const struct m_group *x = a, *y = b;
	char *xs, *ys;
	int c;

	if (x->st.requests != y->st.requests)
		return x->st.requests > y->st.requests ? -1 : 1;
	if (x->st.cost != y->st.cost)
		return x->st.cost > y->st.cost ? -1 : 1;
	xs = json_dumps(x->value, JSON_ENCODE_ANY);
	ys = json_dumps(y->value, JSON_ENCODE_ANY);
	c = xs && ys ? strcmp(xs, ys) : 0;
	free(xs);
	free(ys);
	return c;
}

static json_t *m_render(struct m_query *q)
{
	json_t *arr = json_array();
	size_t i;

	qsort(q->groups, q->ngroups, sizeof(*q->groups), m_group_cmp);
	for (i = 0; arr && i < q->ngroups; i++) {
		json_t *g;

		/* Series with nothing in the window make no group. */
		if (!q->groups[i].st.requests)
			continue;
		g = m_group_json(&q->groups[i]);

		if (!g || json_array_append_new(arr, g)) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static void m_query_free(struct m_query *q)
{
	size_t i;

	for (i = 0; i < q->ngroups; i++) {
		json_decref(q->groups[i].value);
		m_stats_clear(&q->groups[i].st);
	}
	free(q->groups);
	json_decref(q->index);
}

int metrics_query_filtered(struct metrics *m, const char *by,
			   enum metrics_window w,
			   const struct metrics_filter *f, uint64_t now_s,
			   json_t **out)
{
	struct m_query q = { .w = w, .f = f, .now_s = now_s };
	int err;

	*out = NULL;
	if (!metrics_by_valid(by) || (int)w < 0 || w >= METRICS_NWINDOWS)
		return -EINVAL;
	q.by = by && strcmp(by, "all") ? by : NULL;

	pthread_mutex_lock(&m->lock);
	err = m_collect(m, &q);
	pthread_mutex_unlock(&m->lock);

	if (!err) {
		*out = m_render(&q);
		err = *out ? 0 : -ENOMEM;
	}
	m_query_free(&q);
	return err;
}

int metrics_query(struct metrics *m, const char *by,
		  enum metrics_window w, uint64_t now_s, json_t **out)
{
	return metrics_query_filtered(m, by, w, NULL, now_s, out);
}

int metrics_window_parse(const char *name)
{
	int w;

	if (!name)
		return -EINVAL;
	for (w = 0; w < METRICS_TOTAL; w++)
		if (!strcmp(name, m_windows[w].name))
			return w;
	return strcmp(name, "total") ? -EINVAL : METRICS_TOTAL;
}

const char *metrics_window_name(enum metrics_window w)
{
	if (w == METRICS_TOTAL)
		return "total";
	return (int)w >= 0 && w < METRICS_TOTAL ? m_windows[w].name : "?";
}

void metrics_stats(struct metrics *m, struct metrics_stats *out)
{
	pthread_mutex_lock(&m->lock);
	*out = m->st;
	pthread_mutex_unlock(&m->lock);
}
