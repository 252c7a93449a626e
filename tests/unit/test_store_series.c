// SPDX-License-Identifier: MIT
/*
 * The dashboard's time series from a store in a temporary file: calls
 * land in their step, errors and cost add up, p95 is the nearest rank,
 * empty steps are zeros with a null p95, and filters apply.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "store_series.h"

/* A fixed time, a multiple of a minute. */
#define T0 1800000000ull
#define NS 1000000000ull

static char dir[] = "/tmp/llmtap-series-XXXXXX";
static char db[256];

static json_t *call(uint64_t ts_s, double dur, int status,
		    const char *user, double cost)
{
	char ts[40];
	time_t sec = (time_t)ts_s;
	struct tm tm;

	gmtime_r(&sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S.000000Z", &tm);
	return json_pack(
		"{s:s, s:s, s:f, s:{s:i, s:s, s:s}, s:{s:i}, s:s, s:s,"
		" s:{s:i, s:i, s:i}, s:f, s:s, s:s, s:n, s:b, s:s}",
		"type", "llm_call", "ts", ts, "duration_ms", dur, "process",
		"pid", 7, "comm", "curl", "exe", "/usr/bin/curl", "http",
		"status", status, "provider", "openai", "model", "gpt-4o",
		"usage", "input_tokens", 10, "output_tokens", 5,
		"cached_input_tokens", 2, "cost_usd", cost, "user_id", user,
		"request_hash", "h", "error", "incomplete", 0, "request_id",
		"r");
}

static void fill(void)
{
	struct store_opts o = { .path = db };
	struct store *s;
	json_t *c;
	int i;

	assert_non_null(mkdtemp(dir));
	snprintf(db, sizeof(db), "%s/calls.db", dir);
	s = store_open(&o);
	assert_non_null(s);
	/* Step 0: durations 1..20 ms and one failure; step 1: one call. */
	for (i = 1; i <= 20; i++) {
		c = call(T0 + (uint64_t)i, i, i == 20 ? 500 : 200, "ann", 0.5);
		assert_int_equal(store_add(s, c), 0);
		json_decref(c);
	}
	c = call(T0 + 70, 40, 200, "bob", 1.0);
	assert_int_equal(store_add(s, c), 0);
	json_decref(c);
	assert_int_equal(store_flush(s), 0);
	store_close(s);
}

static double num(const json_t *p, const char *k)
{
	return json_number_value(json_object_get(p, k));
}

static void test_series(void **state)
{
	struct store_opts o = { .path = db, .read_only = true };
	struct store_filter f = { .uid = -1 };
	struct store *s;
	json_t *v, *pts;

	fill();
	s = store_open(&o);
	assert_non_null(s);
	v = store_series(s, &f, T0, 60, 3);
	assert_non_null(v);
	pts = json_object_get(v, "points");
	assert_int_equal(json_array_size(pts), 3);
	assert_int_equal(num(json_array_get(pts, 0), "t"), T0);
	assert_int_equal(num(json_array_get(pts, 0), "requests"), 20);
	assert_int_equal(num(json_array_get(pts, 0), "errors"), 1);
	assert_int_equal(num(json_array_get(pts, 0), "input_tokens"), 200);
	assert_true(num(json_array_get(pts, 0), "cost_usd") == 10.0);
	/* Nearest rank: the 19th of 20 sorted durations. */
	assert_true(num(json_array_get(pts, 0), "p95_ms") == 19.0);
	assert_int_equal(num(json_array_get(pts, 1), "requests"), 1);
	assert_true(num(json_array_get(pts, 1), "p95_ms") == 40.0);
	assert_int_equal(num(json_array_get(pts, 2), "requests"), 0);
	assert_true(json_is_null(json_object_get(json_array_get(pts, 2),
						 "p95_ms")));
	json_decref(v);

	f.user_id = "bob";
	v = store_series(s, &f, T0, 60, 3);
	pts = json_object_get(v, "points");
	assert_int_equal(num(json_array_get(pts, 0), "requests"), 0);
	assert_int_equal(num(json_array_get(pts, 1), "requests"), 1);
	json_decref(v);

	assert_null(store_series(s, &f, T0, 0, 3));
	assert_null(store_series(s, &f, T0, 60,
				 STORE_SERIES_MAX_POINTS + 1));
	store_close(s);
}

static int teardown(void **state)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_series),
	};

	return cmocka_run_group_tests(tests, NULL, teardown);
}
