// SPDX-License-Identifier: MIT
/*
 * The store in a temporary file: records in, flushed, the file reopened
 * read-only, and every query's answer checked against the records.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"

#define NS 1000000000ull
#define HOUR (3600 * NS)

struct t_rec {
	uint64_t ts_ns;
	int pid;
	const char *user_id;
	const char *model;
	int in, cached, out;
	double cost;	/* NAN: null */
	const char *error;	/* error type, NULL: none */
	const char *session;
	const char *path;
	const char *hash;
	const char *team;	/* Helicone-Property-Team */
};

static char dir[] = "/tmp/llmtap-store-XXXXXX";
static char db[256];

static int setup(void **state)
{
	static char tmpl[sizeof(dir)];

	memcpy(tmpl, "/tmp/llmtap-store-XXXXXX", sizeof(tmpl));
	assert_non_null(mkdtemp(tmpl));
	memcpy(dir, tmpl, sizeof(dir));
	snprintf(db, sizeof(db), "%s/sub/dir/calls.db", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static uint64_t now_ns(void)
{
	return (uint64_t)time(NULL) * NS;
}

static void ts_of(uint64_t ns, char *buf, size_t len)
{
	time_t sec = (time_t)(ns / NS);
	struct tm tm;
	size_t n;

	gmtime_r(&sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%06uZ", (unsigned)(ns % NS / 1000));
}

static json_t *mkrec(const struct t_rec *r)
{
	char ts[40];
	json_t *rec;

	ts_of(r->ts_ns, ts, sizeof(ts));
	rec = json_pack("{s:s, s:s, s:f, s:n, s:{s:i, s:s, s:s, s:i, s:s,"
			" s:n}, s:{s:i}, s:s, s:s, s:s, s:s, s:b,"
			" s:{s:i, s:i, s:i, s:i, s:i, s:i}, s:s?, s:s?,"
			" s:{}, s:s, s:b}",
			"type", "llm_call", "ts", ts, "duration_ms", 250.0,
			"ttft_ms", "process", "pid", r->pid, "comm", "python3",
			"exe", "/usr/bin/python3", "uid", 1000, "user",
			"alice", "container", "http", "status",
			r->error ? 429 : 200, "provider", "openai",
			"operation", "chat", "model", r->model,
			"response_model", r->model, "stream", 0, "usage",
			"input_tokens", r->in, "output_tokens", r->out,
			"cached_input_tokens", r->cached, "cache_write_tokens",
			0, "reasoning_tokens", 0, "total_tokens",
			r->in + r->out, "user_id", r->user_id,
			"request_hash", r->hash, "properties", "request_id",
			"req_1", "incomplete", 0);
	assert_non_null(rec);
	json_object_set_new(rec, "cost_usd", isnan(r->cost) ? json_null() :
					     json_real(r->cost));
	json_object_set_new(rec, "error", r->error ?
			    json_pack("{s:s, s:s}", "type", r->error,
				      "message", "slow down") : json_null());
	json_object_set_new(rec, "session", r->session ?
			    json_pack("{s:s, s:s?, s:n, s:b}", "id",
				      r->session, "path", r->path, "name",
				      "inferred", 0) : json_null());
	if (r->team)
		json_object_set_new(json_object_get(rec, "properties"),
				    "Team", json_string(r->team));
	return rec;
}

static struct store *open_rw(uint64_t retain_s, uint64_t max_bytes)
{
	struct store_opts o = { .path = db, .retain_seconds = retain_s,
				.max_bytes = max_bytes };
	struct store *s = store_open(&o);

	assert_non_null(s);
	return s;
}

static struct store *open_ro(void)
{
	struct store_opts o = { .path = db, .read_only = true };
	struct store *s = store_open(&o);

	assert_non_null(s);
	return s;
}

static void add(struct store *s, const struct t_rec *r)
{
	json_t *rec = mkrec(r);

	assert_int_equal(store_add(s, rec), 0);
	json_decref(rec);
}

static const struct store_filter any = { .uid = -1 };

static json_int_t total_requests(struct store *s)
{
	json_t *q = store_query_by(s, &any, "model", 0);
	json_int_t n;

	assert_non_null(q);
	n = json_integer_value(json_object_get(json_object_get(q, "total"),
					       "requests"));
	json_decref(q);
	return n;
}

static json_t *group(json_t *q, const char *key)
{
	json_t *g;
	size_t i;

	json_array_foreach(json_object_get(q, "groups"), i, g) {
		const char *k = json_string_value(json_object_get(g, "key"));

		if ((!key && !k) || (key && k && !strcmp(k, key)))
			return g;
	}
	fail_msg("no group %s", key ? key : "null");
	return NULL;
}

static json_int_t geti(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static double getf(json_t *o, const char *k)
{
	return json_number_value(json_object_get(o, k));
}

/* Five calls by two users; one failed, one unpriced. */
static void add_five(struct store *s, uint64_t t)
{
	struct t_rec r[] = {
		{ t, 10, "alice", "gpt-4o-mini", 100, 20, 30, 1e-5, NULL,
		  "s1", "/plan", "h1", "red" },
		{ t + NS, 10, "alice", "gpt-4o-mini", 200, 0, 10, 2e-5,
		  "rate_limit", "s1", "/plan/a", "h2", "red" },
		{ t + 2 * NS, 11, "bob", "gpt-4o", 50, 0, 5, 3e-5, NULL,
		  "s2", NULL, "h3", "blue" },
		{ t + 3 * NS, 11, "bob", "x-unknown", 7, 0, 1, NAN, NULL,
		  NULL, NULL, "h4", NULL },
		{ t + 4 * NS, 12, NULL, "gpt-4o", 1, 0, 1, 4e-5, NULL,
		  "s1", "/ship", "h5", NULL },
	};

	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++)
		add(s, &r[i]);
}

static void test_sums_after_reopen(void **state)
{
	struct store *s = open_rw(0, 0);
	json_t *q, *a, *b;

	add_five(s, now_ns() - HOUR);
	assert_int_equal(store_flush(s), 0);
	store_close(s);

	s = open_ro();
	q = store_query_by(s, &any, "user_id", 0);
	assert_non_null(q);
	a = group(q, "alice");
	b = group(q, "bob");
	assert_int_equal(geti(a, "requests"), 2);
	assert_int_equal(geti(a, "errors"), 1);
	assert_true(fabs(getf(a, "error_rate") - 0.5) < 1e-12);
	assert_int_equal(geti(a, "input_tokens"), 300);
	assert_int_equal(geti(a, "cached_input_tokens"), 20);
	assert_int_equal(geti(a, "output_tokens"), 40);
	assert_true(fabs(getf(a, "cost_usd") - 3e-5) < 1e-15);
	assert_int_equal(geti(b, "requests"), 2);
	assert_int_equal(geti(b, "unpriced"), 1);
	assert_true(fabs(getf(b, "cost_usd") - 3e-5) < 1e-15);
	assert_int_equal(geti(group(q, NULL), "requests"), 1);
	assert_int_equal(geti(json_object_get(q, "total"), "requests"), 5);
	assert_int_equal(geti(json_object_get(q, "total"), "input_tokens"),
			 358);
	/* Highest cost first: the null user_id's 4e-5. */
	assert_true(json_is_null(json_object_get(
		json_array_get(json_object_get(q, "groups"), 0), "key")));
	json_decref(q);
	store_close(s);
}

static void test_group_by_property_and_top(void **state)
{
	struct store *s = open_rw(0, 0);
	json_t *q;

	add_five(s, now_ns() - HOUR);
	store_close(s);	/* close flushes */

	s = open_ro();
	q = store_query_by(s, &any, "property:Team", 0);
	assert_non_null(q);
	assert_int_equal(geti(group(q, "red"), "requests"), 2);
	assert_int_equal(geti(group(q, "blue"), "requests"), 1);
	assert_int_equal(geti(group(q, NULL), "requests"), 2);
	json_decref(q);

	q = store_query_by(s, &any, "model", 1);
	assert_int_equal(json_array_size(json_object_get(q, "groups")), 1);
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(json_object_get(q, "groups"), 0), "key")),
		"gpt-4o");
	json_decref(q);

	assert_null(store_query_by(s, &any, "nonsense", 0));
	assert_null(store_query_by(s, &any, "property:", 0));
	store_close(s);
}

static void test_duplicates_ignored(void **state)
{
	uint64_t t = now_ns() - HOUR;
	struct store *s = open_rw(0, 0);

	add_five(s, t);
	add_five(s, t);
	store_flush(s);
	assert_int_equal(total_requests(s), 5);
	store_close(s);

	s = open_rw(0, 0);
	add_five(s, t);
	store_flush(s);
	assert_int_equal(total_requests(s), 5);
	store_close(s);
}

static void test_retention_by_age(void **state)
{
	uint64_t t = now_ns();
	struct t_rec old = { t - 48 * HOUR, 1, "u", "gpt-4o", 1, 0, 1, 1e-6,
			     NULL, NULL, NULL, "a", NULL };
	struct t_rec fresh = old;
	struct store *s = open_rw(24 * 3600, 0);

	fresh.ts_ns = t - HOUR;
	fresh.hash = "b";
	add(s, &old);
	add(s, &fresh);
	assert_int_equal(store_flush(s), 0);
	assert_int_equal(total_requests(s), 1);
	store_close(s);
}

static void test_retention_by_size(void **state)
{
	const uint64_t max = 256 << 10;
	uint64_t t = now_ns() - HOUR;
	char hash[32], big[2048];
	struct store *s = open_rw(0, max);
	json_t *calls;
	struct stat sb;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (int i = 0; i < 1000; i++) {
		struct t_rec r = { t + (uint64_t)i * NS, 1, big, "gpt-4o", 1,
				   0, 1, 1e-6, NULL, NULL, NULL, hash, NULL };

		snprintf(hash, sizeof(hash), "h%d", i);
		add(s, &r);
		if (i % 100 == 99)
			assert_int_equal(store_flush(s), 0);
	}
	assert_true(total_requests(s) < 1000);
	assert_true(total_requests(s) > 0);
	/* The newest call is kept. */
	calls = store_calls(s, &any, 1, 0);
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(json_object_get(calls, "calls"), 0),
		"request_hash")), "h999");
	json_decref(calls);
	store_close(s);
	/* The freed pages went back: the file is near the limit. */
	assert_int_equal(stat(db, &sb), 0);
	assert_true((uint64_t)sb.st_size < 2 * max);
}

static void test_bad_records_rejected(void **state)
{
	struct store *s = open_rw(0, 0);
	json_t *bad[] = {
		json_string("llm_call"),
		json_pack("{s:s, s:s}", "type", "loss", "ts",
			  "2025-01-01T00:00:00Z"),
		json_pack("{s:s, s:s}", "type", "llm_call", "ts", "yesterday"),
		json_pack("{s:s}", "type", "llm_call"),
		json_pack("{s:s, s:s, s:s, s:i}", "type", "llm_call", "ts",
			  "2025-01-01T00:00:00.5Z", "usage", "lots",
			  "process", 3),
	};

	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(store_add(s, bad[i]), -EINVAL);
		json_decref(bad[i]);
	}
	assert_int_equal(store_add(s, NULL), -EINVAL);
	assert_int_equal(store_dropped(s), 5);
	/* Odd fields in a valid record become NULL columns. */
	assert_int_equal(store_add(s, bad[4]), 0);
	json_decref(bad[4]);
	assert_int_equal(store_flush(s), 0);
	assert_int_equal(total_requests(s), 1);
	store_close(s);
}

static void test_missing_and_corrupt(void **state)
{
	struct store_opts o = { .path = db, .read_only = true };
	FILE *f;

	assert_null(store_open(&o));	/* no file yet */
	o.read_only = false;
	mkdir(dir, 0700);
	snprintf(db, sizeof(db), "%s/corrupt.db", dir);
	f = fopen(db, "w");
	assert_non_null(f);
	for (int i = 0; i < 1000; i++)
		fputs("this is not a database ", f);
	fclose(f);
	assert_null(store_open(&o));
	o.read_only = true;
	assert_null(store_open(&o));
	snprintf(db, sizeof(db), "%s/sub/dir/calls.db", dir);
}

static void test_calls_paging_and_filters(void **state)
{
	struct store *s = open_rw(0, 0);
	struct store_filter f = { .uid = -1, .user_id = "bob" };
	json_t *c;

	add_five(s, now_ns() - HOUR);
	store_flush(s);
	c = store_calls(s, &any, 2, 1);
	assert_non_null(c);
	assert_int_equal(geti(c, "total"), 5);
	assert_int_equal(json_array_size(json_object_get(c, "calls")), 2);
	/* Newest first, one skipped: the 4th and 3rd calls. */
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(json_object_get(c, "calls"), 0),
		"request_hash")), "h4");
	json_decref(c);

	c = store_calls(s, &f, 0, 0);
	assert_int_equal(geti(c, "total"), 2);
	json_decref(c);
	f.user_id = NULL;
	f.uid = 0;	/* every call here is uid 1000 */
	c = store_calls(s, &f, 0, 0);
	assert_int_equal(geti(c, "total"), 0);
	json_decref(c);
	f.uid = -1;
	f.since_ns = now_ns() - HOUR + 3 * NS;
	c = store_calls(s, &f, 0, 0);
	assert_int_equal(geti(c, "total"), 2);
	json_decref(c);
	store_close(s);
}

static void test_users(void **state)
{
	uint64_t day0 = (now_ns() / (86400 * NS) - 3) * 86400 * NS;
	struct t_rec r = { day0 + HOUR, 1, "carol", "gpt-4o", 10, 0, 1, 1e-3,
			   NULL, NULL, NULL, "c1", NULL };
	struct store *s = open_rw(0, 0);
	json_t *u, *row;

	add(s, &r);
	r.ts_ns += 2 * HOUR;	/* the same day */
	r.hash = "c2";
	add(s, &r);
	r.ts_ns += 24 * HOUR;	/* the next */
	r.hash = "c3";
	add(s, &r);
	store_flush(s);

	u = store_users(s, &any, false, 0);
	row = json_array_get(json_object_get(u, "users"), 0);
	assert_string_equal(json_string_value(json_object_get(row,
							      "user_id")),
			    "carol");
	assert_int_equal(geti(row, "requests"), 3);
	assert_int_equal(geti(row, "active_days"), 2);
	assert_true(fabs(getf(row, "cost_per_active_day") - 1.5e-3) < 1e-12);
	assert_int_equal(geti(row, "first_ns"), (json_int_t)(day0 + HOUR));
	json_decref(u);

	u = store_users(s, &any, true, 0);
	row = json_array_get(json_object_get(u, "users"), 0);
	assert_string_equal(json_string_value(json_object_get(row, "user")),
			    "alice");
	assert_int_equal(geti(row, "uid"), 1000);
	json_decref(u);
	store_close(s);
}

static json_t *child(json_t *node, const char *name)
{
	json_t *k;
	size_t i;

	json_array_foreach(json_object_get(node, "children"), i, k)
		if (!strcmp(json_string_value(json_object_get(k, "name")),
			    name))
			return k;
	fail_msg("no child %s", name);
	return NULL;
}

static void test_session_tree(void **state)
{
	struct store *s = open_rw(0, 0);
	json_t *ss, *t, *plan;

	add_five(s, now_ns() - HOUR);
	store_flush(s);
	ss = store_session(s, "s1");
	assert_non_null(ss);
	assert_int_equal(geti(ss, "requests"), 3);
	assert_false(json_is_true(json_object_get(ss, "success")));
	assert_false(json_is_true(json_object_get(ss, "inferred")));
	/* First start to last end: 4 s apart, the last lasting 250 ms. */
	assert_true(fabs(getf(ss, "duration_ms") - 4250) < 1e-6);
	t = json_object_get(ss, "tree");
	assert_int_equal(geti(t, "total_requests"), 3);
	assert_int_equal(geti(t, "requests"), 0);
	plan = child(t, "plan");
	assert_string_equal(json_string_value(json_object_get(plan, "path")),
			    "/plan");
	assert_int_equal(geti(plan, "requests"), 1);
	assert_int_equal(geti(plan, "total_requests"), 2);
	assert_true(fabs(getf(plan, "total_cost_usd") - 3e-5) < 1e-15);
	assert_string_equal(json_string_value(json_object_get(
		child(plan, "a"), "path")), "/plan/a");
	assert_int_equal(geti(child(t, "ship"), "requests"), 1);
	json_decref(ss);

	assert_null(store_session(s, "nope"));
	ss = store_sessions(s, &any, 0);
	assert_int_equal(json_array_size(json_object_get(ss, "sessions")), 2);
	json_decref(ss);
	store_close(s);
}

static void test_cache(void **state)
{
	uint64_t t = now_ns() - 3 * HOUR;
	struct t_rec r = { t, 1, "u", "gpt-4o-mini", 1000, 400, 10, 1e-4,
			   NULL, NULL, NULL, "same", NULL };
	struct store *s = open_rw(0, 0);
	json_t *c, *rep;

	add(s, &r);	/* fills the response cache */
	r.ts_ns = t + 600 * NS;	/* a hit */
	r.cost = 2e-4;
	add(s, &r);
	r.ts_ns = t + 2 * HOUR;	/* expired: fills it again */
	r.cost = 4e-4;
	add(s, &r);
	r.ts_ns = t + 2 * HOUR + NS;	/* failed: not a hit */
	r.error = "server_error";
	add(s, &r);
	store_flush(s);

	c = store_cache(s, &any);
	assert_non_null(c);
	assert_int_equal(geti(c, "input_tokens"), 4000);
	assert_int_equal(geti(c, "cached_input_tokens"), 1600);
	assert_true(fabs(getf(c, "hit_rate") - 0.4) < 1e-12);
	/* gpt-4o-mini: input 0.15, cached 0.075 per million tokens. */
	assert_true(fabs(getf(c, "saved_usd") - 1600 * 0.075e-6) < 1e-15);
	rep = json_object_get(c, "repeats");
	assert_int_equal(geti(rep, "requests"), 3);
	assert_int_equal(geti(rep, "distinct"), 1);
	assert_int_equal(geti(rep, "repeats"), 1);
	assert_true(fabs(getf(rep, "saved_usd") - 2e-4) < 1e-15);
	json_decref(c);

	c = store_cache_ttl(s, &any, 3 * 3600);
	assert_int_equal(geti(json_object_get(c, "repeats"), "repeats"), 2);
	json_decref(c);
	store_close(s);
}

/* Alert and enforcement lines: stored at once, read newest first, by
 * type, and still there after a reopen. */
static void test_events(void **state)
{
	struct store *s = open_rw(0, 0);
	json_t *a1 = json_pack("{s:s, s:s, s:s}", "type", "alert", "rule",
			       "r1", "state", "firing");
	json_t *a2 = json_pack("{s:s, s:s, s:s}", "type", "alert", "rule",
			       "r1", "state", "resolved");
	json_t *e1 = json_pack("{s:s, s:s}", "type", "enforcement", "quota",
			       "q");
	json_t *bad = json_pack("{s:i}", "x", 1);
	json_t *got, *list;

	assert_int_equal(store_add_event(s, a1), 0);
	assert_int_equal(store_add_event(s, e1), 0);
	assert_int_equal(store_add_event(s, a2), 0);
	assert_int_equal(store_add_event(s, bad), -EINVAL);
	store_close(s);

	s = open_ro();
	got = store_events(s, "alert", 10);
	list = json_object_get(got, "events");
	assert_int_equal(json_array_size(list), 2);
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(list, 0), "state")), "resolved");
	json_decref(got);
	got = store_events(s, "enforcement", 10);
	assert_int_equal(json_array_size(json_object_get(got, "events")), 1);
	json_decref(got);
	store_close(s);
	json_decref(a1);
	json_decref(a2);
	json_decref(e1);
	json_decref(bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sums_after_reopen, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_group_by_property_and_top,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicates_ignored, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_retention_by_age, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_retention_by_size, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_records_rejected,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_and_corrupt,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_calls_paging_and_filters,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_users, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_tree, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
