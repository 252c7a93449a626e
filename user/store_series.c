// SPDX-License-Identifier: MIT
/*
 * The dashboard's time series, from the store: one ordered pass over
 * the calls of the span, by step and then by duration, so each step's
 * p95 is read off its sorted durations without holding the others.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"
#include "store_series.h"

#define SS_NS_PER_S 1000000000ll
#define SS_SQL_MAX 1024
#define SS_P95 0.95

/* Columns, in the order the query names them. */
enum { SS_BUCKET, SS_DURATION, SS_ERR, SS_COST, SS_IN, SS_OUT, SS_CACHED };

static const char ss_sql_head[] =
	"SELECT (ts_ns - :since) / :step, duration_ms,"
	" (coalesce(status, 0) >= 400 OR error_type IS NOT NULL),"
	" cost_usd, input_tokens, output_tokens, cached_tokens"
	" FROM calls WHERE ts_ns >= :since AND ts_ns < :until";
static const char ss_sql_tail[] = " ORDER BY 1, 2";

struct ss_point {
	int64_t requests, errors, in, out, cached;
	double cost;
	double p95;	/* < 0: no duration */
};

/* The durations of the step being read, ascending. */
struct ss_durations {
	double *v;
	size_t n, cap;
};

static int ss_push(struct ss_durations *d, double v)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 64;
		double *nv = realloc(d->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		d->v = nv;
		d->cap = cap;
	}
	d->v[d->n++] = v;
	return 0;
}

/* Nearest rank: the smallest value with 95% of them at or below. */
static double ss_p95(const struct ss_durations *d)
{
	size_t rank;

	if (!d->n)
		return -1;
	rank = (size_t)ceil(SS_P95 * (double)d->n);
	return d->v[rank ? rank - 1 : 0];
}

static void ss_bind_text(sqlite3_stmt *st, const char *name, const char *v)
{
	int i = sqlite3_bind_parameter_index(st, name);

	if (i && v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

static sqlite3_stmt *ss_prepare(struct store *s,
				const struct store_filter *f)
{
	char sql[SS_SQL_MAX];
	sqlite3_stmt *st = NULL;

	snprintf(sql, sizeof(sql), "%s%s%s%s%s%s", ss_sql_head,
		 f && f->user_id ? " AND user_id = :user" : "",
		 f && f->model ? " AND (model = :model OR"
				 " response_model = :model)" : "",
		 f && f->provider ? " AND provider = :provider" : "",
		 f && f->process ? " AND (comm = :process OR"
				   " exe = :process)" : "",
		 ss_sql_tail);
	if (sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL) !=
	    SQLITE_OK) {
		log_err("store: cannot prepare the series: %s",
			sqlite3_errmsg(store_db(s)));
		sqlite3_finalize(st);
		return NULL;
	}
	if (f) {
		ss_bind_text(st, ":user", f->user_id);
		ss_bind_text(st, ":model", f->model);
		ss_bind_text(st, ":provider", f->provider);
		ss_bind_text(st, ":process", f->process);
	}
	return st;
}

static void ss_add_row(sqlite3_stmt *st, struct ss_point *p)
{
	p->requests++;
	p->errors += sqlite3_column_int(st, SS_ERR);
	p->cost += sqlite3_column_double(st, SS_COST);
	p->in += sqlite3_column_int64(st, SS_IN);
	p->out += sqlite3_column_int64(st, SS_OUT);
	p->cached += sqlite3_column_int64(st, SS_CACHED);
}

/* Reads every row into pts; 0 or a negative errno. */
static int ss_read(struct store *s, sqlite3_stmt *st, struct ss_point *pts,
		   unsigned npoints)
{
	struct ss_durations d = { 0 };
	int64_t cur = -1;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t b = sqlite3_column_int64(st, SS_BUCKET);

		if (b < 0 || b >= npoints)
			continue;
		if (b != cur) {
			if (cur >= 0)
				pts[cur].p95 = ss_p95(&d);
			d.n = 0;
			cur = b;
		}
		ss_add_row(st, &pts[b]);
		if (sqlite3_column_type(st, SS_DURATION) != SQLITE_NULL &&
		    ss_push(&d, sqlite3_column_double(st, SS_DURATION))) {
			free(d.v);
			return -ENOMEM;
		}
	}
	if (cur >= 0)
		pts[cur].p95 = ss_p95(&d);
	free(d.v);
	if (rc != SQLITE_DONE) {
		log_err("store: the series query failed: %s",
			sqlite3_errmsg(store_db(s)));
		return -EIO;
	}
	return 0;
}

static json_t *ss_point_json(const struct ss_point *p, uint64_t t)
{
	return json_pack(
		"{s:I, s:I, s:I, s:f, s:f, s:I, s:I, s:I, s:o}", "t",
		(json_int_t)t, "requests", (json_int_t)p->requests, "errors",
		(json_int_t)p->errors, "error_rate",
		p->requests ? (double)p->errors / (double)p->requests : 0.0,
		"cost_usd", p->cost, "input_tokens", (json_int_t)p->in,
		"output_tokens", (json_int_t)p->out, "cached_input_tokens",
		(json_int_t)p->cached, "p95_ms",
		p->p95 < 0 ? json_null() : json_real(p->p95));
}

static json_t *ss_json(const struct ss_point *pts, uint64_t since_s,
		       uint64_t step_s, unsigned npoints)
{
	json_t *arr = json_array();
	unsigned i;

	for (i = 0; arr && i < npoints; i++)
		if (json_array_append_new(arr, ss_point_json(
			&pts[i], since_s + i * step_s))) {
			json_decref(arr);
			return NULL;
		}
	return arr ? json_pack("{s:I, s:I, s:o}", "since",
			       (json_int_t)since_s, "step_s",
			       (json_int_t)step_s, "points", arr) : NULL;
}

json_t *store_series(struct store *s, const struct store_filter *f,
		     uint64_t since_s, uint64_t step_s, unsigned npoints)
{
	struct ss_point *pts;
	sqlite3_stmt *st;
	json_t *out = NULL;
	unsigned i;

	if (!step_s || !npoints || npoints > STORE_SERIES_MAX_POINTS)
		return NULL;
	pts = calloc(npoints, sizeof(*pts));
	st = pts ? ss_prepare(s, f) : NULL;
	if (!st) {
		free(pts);
		return NULL;
	}
	for (i = 0; i < npoints; i++)
		pts[i].p95 = -1;
	sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":since"),
			   (int64_t)since_s * SS_NS_PER_S);
	sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":step"),
			   (int64_t)step_s * SS_NS_PER_S);
	sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":until"),
			   (int64_t)(since_s + npoints * step_s) *
				   SS_NS_PER_S);
	if (!ss_read(s, st, pts, npoints))
		out = ss_json(pts, since_s, step_s, npoints);
	sqlite3_finalize(st);
	free(pts);
	return out;
}
