// SPDX-License-Identifier: MIT
/*
 * Metrics over llm_call records: sums per group, errors as documented,
 * sliding windows, filters, quantiles, and the series bound.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

/* Any fixed time: a multiple of a day, so slots line up. */
#define T0 1800000000ull

struct call {
	const char *provider, *model, *comm, *user_id, *session;
	int status;
	const char *error;	/* the error type, or NULL */
	int incomplete;
	int in, out;
	double cost;	/* < 0: null */
	double duration, ttft;	/* ttft < 0: null */
	const char *env;	/* the Environment property, or NULL */
};

static json_t *nullable_str(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *make_record(const struct call *c)
{
	json_t *r = json_pack(
		"{s:s, s:o, s:{s:i, s:s, s:s, s:i, s:s, s:n},"
		" s:{s:i}, s:{s:i, s:i, s:i, s:i, s:i},"
		" s:f, s:o, s:o, s:o, s:b}",
		"provider", c->provider ? c->provider : "openai", "model",
		nullable_str(c->model ? c->model : "gpt-4o"), "process",
		"pid", 42, "comm", c->comm ? c->comm : "curl", "exe",
		"/usr/bin/curl", "uid", 1000, "user", "alice", "container",
		"http", "status", c->status ? c->status : 200, "usage",
		"input_tokens", c->in, "output_tokens", c->out,
		"cached_input_tokens", 1, "reasoning_tokens", 2,
		"cache_write_tokens", 3, "duration_ms", c->duration,
		"ttft_ms", c->ttft >= 0 ? json_real(c->ttft) : json_null(),
		"cost_usd", c->cost >= 0 ? json_real(c->cost) : json_null(),
		"user_id", nullable_str(c->user_id), "incomplete",
		c->incomplete);

	assert_non_null(r);
	json_object_set_new(r, "session",
			    c->session ? json_pack("{s:s}", "id", c->session)
				       : json_null());
	json_object_set_new(r, "error",
			    c->error ? json_pack("{s:s}", "type", c->error)
				     : json_null());
	json_object_set_new(r, "properties",
			    c->env ? json_pack("{s:s}", "Environment", c->env)
				   : json_object());
	return r;
}

static void add(struct metrics *m, const struct call *c, uint64_t now)
{
	json_t *r = make_record(c);

	assert_int_equal(metrics_add(m, r, now), 0);
	json_decref(r);
}

static json_t *query(struct metrics *m, const char *by, const char *win,
		     const struct metrics_filter *f, uint64_t now)
{
	json_t *out = NULL;
	int w = metrics_window_parse(win);

	assert_true(w >= 0);
	assert_int_equal(metrics_query_filtered(m, by, w, f, now, &out), 0);
	assert_true(json_is_array(out));
	return out;
}

/* The group whose value is name (a string), or NULL. */
static json_t *group(json_t *arr, const char *name)
{
	size_t i;
	json_t *g;

	json_array_foreach(arr, i, g) {
		const char *v = json_string_value(json_object_get(g, "group"));

		if (name ? v && !strcmp(v, name)
			 : json_is_null(json_object_get(g, "group")))
			return g;
	}
	return NULL;
}

static long long num(json_t *arr, const char *name, const char *field)
{
	json_t *g = group(arr, name);

	if (!g)
		fail_msg("no group '%s'", name ? name : "null");
	return json_integer_value(json_object_get(g, field));
}

static double real(json_t *arr, const char *name, const char *field)
{
	return json_number_value(json_object_get(group(arr, name), field));
}

static void test_groups_and_sums(void **state)
{
	struct metrics *m = metrics_new();
	json_t *q;

	add(m, &(struct call){ .model = "a", .user_id = "u1", .in = 10,
			       .out = 5, .cost = 0.5, .duration = 100 }, T0);
	add(m, &(struct call){ .model = "a", .in = 20, .out = 6, .cost = 0.25,
			       .duration = 200 }, T0);
	add(m, &(struct call){ .model = "b", .user_id = "u1", .in = 1,
			       .cost = -1, .duration = 300 }, T0);

	q = query(m, "model", "total", NULL, T0);
	assert_int_equal(json_array_size(q), 2);
	/* Most requests first. */
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(q, 0), "group")), "a");
	assert_int_equal(num(q, "a", "requests"), 2);
	assert_int_equal(num(q, "a", "input_tokens"), 30);
	assert_int_equal(num(q, "a", "output_tokens"), 11);
	assert_int_equal(num(q, "a", "cached_input_tokens"), 2);
	assert_int_equal(num(q, "a", "reasoning_tokens"), 4);
	assert_int_equal(num(q, "a", "cache_write_tokens"), 6);
	assert_true(fabs(real(q, "a", "cost_usd") - 0.75) < 1e-12);
	/* A null cost adds nothing. */
	assert_true(real(q, "b", "cost_usd") == 0);
	json_decref(q);

	q = query(m, "user_id", "1m", NULL, T0);
	assert_int_equal(num(q, "u1", "requests"), 2);
	assert_int_equal(num(q, NULL, "requests"), 1);
	json_decref(q);

	q = query(m, NULL, "1h", NULL, T0);
	assert_int_equal(json_array_size(q), 1);
	assert_int_equal(num(q, "all", "requests"), 3);
	json_decref(q);
	metrics_free(m);
}

static void test_errors(void **state)
{
	struct metrics *m = metrics_new();
	json_t *q;

	add(m, &(struct call){ .status = 429, .duration = 1 }, T0);
	add(m, &(struct call){ .error = "overloaded", .duration = 1 }, T0);
	add(m, &(struct call){ .incomplete = 1, .duration = 1 }, T0);
	add(m, &(struct call){ .duration = 1 }, T0);

	q = query(m, "provider", "10m", NULL, T0);
	assert_int_equal(num(q, "openai", "requests"), 4);
	assert_int_equal(num(q, "openai", "errors"), 2);
	assert_int_equal(num(q, "openai", "incomplete"), 1);
	assert_true(fabs(real(q, "openai", "error_rate") - 0.5) < 1e-12);
	json_decref(q);
	metrics_free(m);
}

static void test_windows_slide(void **state)
{
	struct metrics *m = metrics_new();
	json_t *q;

	add(m, &(struct call){ .model = "old2h", .duration = 1 },
	    T0 - 2 * 3600);
	add(m, &(struct call){ .model = "old2m", .duration = 1 }, T0 - 120);
	add(m, &(struct call){ .model = "now", .duration = 1 }, T0);

	/* 2 minutes old: out of 1m, in 10m; 2 hours old: only in 1d. */
	q = query(m, "model", "1m", NULL, T0 + 1);
	assert_int_equal(json_array_size(q), 1);
	assert_non_null(group(q, "now"));
	json_decref(q);
	q = query(m, "model", "10m", NULL, T0 + 1);
	assert_int_equal(json_array_size(q), 2);
	assert_non_null(group(q, "old2m"));
	json_decref(q);
	q = query(m, "model", "1h", NULL, T0 + 1);
	assert_int_equal(json_array_size(q), 2);
	json_decref(q);
	q = query(m, "model", "1d", NULL, T0 + 1);
	assert_int_equal(json_array_size(q), 3);
	json_decref(q);

	/* A day later every window is empty but the total. */
	q = query(m, "model", "1d", NULL, T0 + 86400 + 900);
	assert_int_equal(json_array_size(q), 0);
	json_decref(q);
	q = query(m, "model", "total", NULL, T0 + 86400 + 900);
	assert_int_equal(json_array_size(q), 3);
	json_decref(q);

	/* A slot reused a minute later holds only the new call. */
	add(m, &(struct call){ .model = "now", .duration = 1 }, T0 + 60);
	q = query(m, "model", "1m", NULL, T0 + 60);
	assert_int_equal(num(q, "now", "requests"), 1);
	json_decref(q);
	metrics_free(m);
}

static void test_filter_and_properties(void **state)
{
	struct metrics *m = metrics_new();
	struct metrics_filter f = { .uid = -1, .user_id = "alice" };
	json_t *q;

	add(m, &(struct call){ .model = "a", .user_id = "alice",
			       .env = "prod", .duration = 1 }, T0);
	add(m, &(struct call){ .model = "b", .user_id = "alice",
			       .comm = "python3", .duration = 1 }, T0);
	add(m, &(struct call){ .model = "a", .user_id = "bob", .env = "dev",
			       .duration = 1 }, T0);

	q = query(m, "model", "total", &f, T0);
	assert_int_equal(num(q, "a", "requests"), 1);
	assert_int_equal(num(q, "b", "requests"), 1);
	json_decref(q);

	f = (struct metrics_filter){ .uid = 1000, .process = "python3" };
	q = query(m, "all", "total", &f, T0);
	assert_int_equal(num(q, "all", "requests"), 1);
	json_decref(q);
	f = (struct metrics_filter){ .uid = 7 };
	q = query(m, "all", "total", &f, T0);
	assert_int_equal(json_array_size(q), 0);
	json_decref(q);

	f = (struct metrics_filter){ .uid = -1, .prop_name = "Environment",
				     .prop_value = "dev" };
	q = query(m, "user_id", "total", &f, T0);
	assert_int_equal(json_array_size(q), 1);
	assert_int_equal(num(q, "bob", "requests"), 1);
	json_decref(q);

	q = query(m, "property:Environment", "total", NULL, T0);
	assert_int_equal(json_array_size(q), 3);
	assert_int_equal(num(q, "prod", "requests"), 1);
	assert_int_equal(num(q, NULL, "requests"), 1);
	json_decref(q);
	metrics_free(m);
}

static void test_quantiles(void **state)
{
	struct metrics *m = metrics_new();
	json_t *q, *lat;
	int i;

	/* Durations 1..1000 ms spread over two series; ttft on half. */
	for (i = 1; i <= 1000; i++)
		add(m, &(struct call){ .model = i % 2 ? "a" : "b",
				       .duration = i,
				       .ttft = i % 2 ? i / 10.0 : -1 }, T0);
	q = query(m, "all", "1m", NULL, T0);
	lat = json_object_get(json_array_get(q, 0), "latency_ms");
	/* Rank floor(q * 999) of 1..1000 is q * 999 + 1, within 1%. */
	assert_true(fabs(json_real_value(json_object_get(lat, "p50")) -
			 500) <= 5.0);
	assert_true(fabs(json_real_value(json_object_get(lat, "p99")) -
			 990) <= 9.9);
	assert_non_null(json_object_get(json_object_get(
		json_array_get(q, 0), "ttft_ms"), "p95"));
	json_decref(q);

	q = query(m, "model", "1m", NULL, T0);
	assert_true(json_is_null(json_object_get(group(q, "b"), "ttft_ms")));
	json_decref(q);
	metrics_free(m);
}

/* Ten times more sessions than series allowed: memory stays bounded,
 * nothing is lost, the excess is named "other" and counted. */
static void test_series_bound(void **state)
{
	struct metrics *m = metrics_new();
	const int n = METRICS_MAX_SERIES * 10;
	struct metrics_stats st;
	char sess[32];
	json_t *q;
	int i;

	for (i = 0; i < n; i++) {
		snprintf(sess, sizeof(sess), "s%d", i);
		add(m, &(struct call){ .session = sess, .duration = 1 }, T0);
	}
	metrics_stats(m, &st);
	assert_int_equal(st.records, n);
	assert_true(st.series <= METRICS_MAX_SERIES + METRICS_FOLD_RESERVE + 1);
	assert_int_equal(st.folded, n - METRICS_MAX_SERIES);

	q = query(m, "session", "total", NULL, T0);
	assert_int_equal(num(q, METRICS_OTHER, "requests"),
			 n - METRICS_MAX_SERIES);
	json_decref(q);
	q = query(m, "model", "1m", NULL, T0);
	assert_int_equal(num(q, "gpt-4o", "requests"), n);
	json_decref(q);
	metrics_free(m);
}

static void test_bad_input(void **state)
{
	struct metrics *m = metrics_new();
	json_t *out = NULL, *s = json_string("x");

	assert_int_equal(metrics_add(m, s, T0), -EINVAL);
	assert_int_equal(metrics_add(m, NULL, T0), -EINVAL);
	json_decref(s);
	assert_int_equal(metrics_query(m, "colour", METRICS_1M, T0, &out),
			 -EINVAL);
	assert_null(out);
	assert_int_equal(metrics_query(m, "property:", METRICS_1M, T0, &out),
			 -EINVAL);
	assert_int_equal(metrics_query(m, "model", 99, T0, &out), -EINVAL);
	assert_int_equal(metrics_window_parse("5m"), -EINVAL);
	assert_int_equal(metrics_window_parse("total"), METRICS_TOTAL);
	assert_string_equal(metrics_window_name(METRICS_10M), "10m");

	/* A record with missing and odd fields still counts. */
	s = json_pack("{s:s, s:s, s:[]}", "type", "llm_call", "usage", "x",
		      "process");
	assert_int_equal(metrics_add(m, s, T0), 0);
	json_decref(s);
	assert_int_equal(metrics_query(m, "model", METRICS_1M, T0, &out), 0);
	assert_int_equal(num(out, NULL, "requests"), 1);
	json_decref(out);
	metrics_free(m);
	metrics_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_groups_and_sums),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_windows_slide),
		cmocka_unit_test(test_filter_and_properties),
		cmocka_unit_test(test_quantiles),
		cmocka_unit_test(test_series_bound),
		cmocka_unit_test(test_bad_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
