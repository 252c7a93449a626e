// SPDX-License-Identifier: MIT
/*
 * Alert evaluation with synthetic records at controlled times: when a
 * rule fires and resolves, min_requests, windows sliding, group_by,
 * renotify, where filters, evaluate_every, reloads, group folding.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alerts.h"
#include "config.h"

#define S(x) ((uint64_t)(x) * 1000000000ull)
#define T0 1700000000ull	/* seconds; any time after the epoch */

struct fixture {
	struct alerts *a;
	json_t *events;	/* every alert object emitted */
};

static void on_emit(void *ctx, const json_t *ev)
{
	struct fixture *f = ctx;

	json_array_append(f->events, (json_t *)ev);
}

static struct config *cfg_of(const char *yaml)
{
	struct config_diag d = { 0 };
	struct config *c = config_parse(yaml, strlen(yaml), "t.yaml", &d);
	size_t i;

	for (i = 0; i < d.n; i++)
		print_message("%s\n", d.msgs[i]);
	config_diag_clear(&d);
	assert_non_null(c);
	return c;
}

static void start(struct fixture *f, const char *yaml)
{
	struct alerts_opts o = { .emit = on_emit, .emit_ctx = f };

	f->events = json_array();
	f->a = alerts_new(cfg_of(yaml), &o);
	assert_non_null(f->a);
}

static void stop(struct fixture *f)
{
	alerts_free(f->a);
	json_decref(f->events);
}

struct call {
	const char *user;
	bool error;
	double cost;
	double latency_ms;
	const char *env;	/* property Environment; NULL: none */
};

static void add(struct fixture *f, uint64_t t_s, const struct call *c)
{
	json_t *rec = json_pack(
		"{s:s, s:s, s:s, s:{s:s, s:i}, s:f, s:n, s:{s:i}, s:f, "
		"s:{s:i}, s:{}}",
		"type", "llm_call", "provider", "openai", "model",
		"gpt-4o-mini", "process", "comm", "python3", "uid", 0,
		"duration_ms", c->latency_ms ? c->latency_ms : 50.0,
		"ttft_ms", "usage", "total_tokens", 150, "cost_usd", c->cost,
		"http", "status", c->error ? 500 : 200, "properties");

	json_object_set_new(rec, "user_id", c->user ? json_string(c->user) :
						      json_null());
	json_object_set_new(rec, "error", c->error ?
		json_pack("{s:s}", "type", "server_error") : json_null());
	if (c->env)
		json_object_set_new(json_object_get(rec, "properties"),
				    "Environment", json_string(c->env));
	alerts_add(f->a, rec, S(T0 + t_s));
	json_decref(rec);
}

static size_t n_events(const struct fixture *f)
{
	return json_array_size(f->events);
}

static const json_t *event(const struct fixture *f, size_t i)
{
	return json_array_get(f->events, i);
}

static const char *ev_str(const struct fixture *f, size_t i,
			  const char *key)
{
	return json_string_value(json_object_get(event(f, i), key));
}

static double ev_num(const struct fixture *f, size_t i, const char *key)
{
	return json_number_value(json_object_get(event(f, i), key));
}

static void eval(struct fixture *f, uint64_t t_s)
{
	alerts_evaluate(f->a, S(T0 + t_s));
}

#define ERRORS_RULE                                                    \
	"alerts:\n"                                                     \
	"  - name: errors\n"                                            \
	"    metric: error_rate\n"                                      \
	"    threshold: \"> 50%\"\n"                                    \
	"    window: 10s\n"                                             \
	"    min_requests: 2\n"                                         \
	"    severity: critical\n"

static void test_fire_and_resolve(void **state)
{
	struct fixture f;
	const struct call bad = { .user = "alice", .error = true };
	const struct call good = { .user = "bob" };

	start(&f, ERRORS_RULE);
	add(&f, 0, &bad);
	eval(&f, 0);
	assert_int_equal(n_events(&f), 0);	/* one request < min 2 */
	add(&f, 1, &good);
	eval(&f, 1);
	assert_int_equal(n_events(&f), 0);	/* 50% is not > 50% */
	add(&f, 2, &bad);
	eval(&f, 2);
	assert_int_equal(n_events(&f), 1);
	assert_string_equal(ev_str(&f, 0, "type"), "alert");
	assert_string_equal(ev_str(&f, 0, "state"), "firing");
	assert_string_equal(ev_str(&f, 0, "rule"), "errors");
	assert_string_equal(ev_str(&f, 0, "severity"), "critical");
	assert_string_equal(ev_str(&f, 0, "metric"), "error_rate");
	assert_string_equal(ev_str(&f, 0, "threshold"), "> 50%");
	assert_string_equal(ev_str(&f, 0, "window"), "10s");
	assert_true(fabs(ev_num(&f, 0, "value") - 200.0 / 3) < 1e-9);
	assert_int_equal(ev_num(&f, 0, "requests"), 3);
	assert_true(json_is_null(json_object_get(event(&f, 0), "group")));

	/* Still over: no repeat. */
	eval(&f, 3);
	eval(&f, 9);
	assert_int_equal(n_events(&f), 1);
	/* The calls of second 0 left the window; 1 of 2 failed now. */
	eval(&f, 10);
	assert_int_equal(n_events(&f), 2);
	assert_string_equal(ev_str(&f, 1, "state"), "resolved");
	assert_true(ev_num(&f, 1, "value") == 50);
	stop(&f);
}

static void test_window_slides(void **state)
{
	struct fixture f;
	const struct call bad = { .user = "alice", .error = true };

	start(&f, ERRORS_RULE);
	add(&f, 0, &bad);
	add(&f, 0, &bad);
	eval(&f, 0);
	assert_int_equal(n_events(&f), 1);
	eval(&f, 9);
	assert_int_equal(n_events(&f), 1);
	/* Fewer than min_requests in the window resolves too. */
	eval(&f, 10);
	assert_int_equal(n_events(&f), 2);
	assert_string_equal(ev_str(&f, 1, "state"), "resolved");
	assert_int_equal(ev_num(&f, 1, "requests"), 0);
	/* A new burst fires again. */
	add(&f, 20, &bad);
	add(&f, 21, &bad);
	eval(&f, 21);
	assert_int_equal(n_events(&f), 3);
	assert_string_equal(ev_str(&f, 2, "state"), "firing");
	stop(&f);
}

static void test_top_lists_and_query(void **state)
{
	struct fixture f;
	const struct call a = { .user = "alice", .error = true };
	const struct call b = { .user = "bob", .error = true };
	const json_t *top;
	char want[128];

	start(&f, ERRORS_RULE);
	add(&f, 0, &a);
	add(&f, 1, &b);
	add(&f, 1, &b);
	eval(&f, 1);
	assert_int_equal(n_events(&f), 1);
	top = json_object_get(event(&f, 0), "top_users");
	assert_int_equal(json_array_size(top), 2);
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(top, 0), "user_id")), "bob");
	assert_int_equal(json_integer_value(json_object_get(
		json_array_get(top, 0), "errors")), 2);
	top = json_object_get(event(&f, 0), "top_processes");
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(top, 0), "process")), "python3");
	snprintf(want, sizeof(want), "/api/v1/calls?since=%llu",
		 T0 + 1 - 10);
	assert_string_equal(ev_str(&f, 0, "query"), want);
	stop(&f);
}

static void test_group_by(void **state)
{
	struct fixture f;
	const struct call alice = { .user = "alice", .cost = 0.1 };
	const struct call bob = { .user = "bob b", .cost = 0.3 };
	const json_t *g;

	start(&f, "alerts:\n"
		  "  - name: spend\n"
		  "    metric: cost\n"
		  "    threshold: \"> $0.5\"\n"
		  "    window: 1m\n"
		  "    group_by: user_id\n"
		  "    where: {provider: openai}\n");
	add(&f, 0, &alice);
	add(&f, 1, &bob);
	add(&f, 2, &alice);
	eval(&f, 3);
	assert_int_equal(n_events(&f), 0);
	add(&f, 4, &bob);
	eval(&f, 5);
	assert_int_equal(n_events(&f), 1);
	g = json_object_get(event(&f, 0), "group");
	assert_string_equal(json_string_value(json_object_get(g, "user_id")),
			    "bob b");
	assert_true(fabs(ev_num(&f, 0, "value") - 0.6) < 1e-9);
	assert_non_null(strstr(ev_str(&f, 0, "query"),
			       "&provider=openai&user=bob%20b"));
	/* The top users of bob's alert are bob's calls only. */
	assert_int_equal(json_array_size(json_object_get(event(&f, 0),
							 "top_users")), 1);
	stop(&f);
}

static void test_where(void **state)
{
	struct fixture f;
	const struct call prod = { .user = "u", .error = true,
				   .env = "production" };
	const struct call dev = { .user = "u", .error = true, .env = "dev" };
	const struct call none = { .user = "u", .error = true };

	start(&f, ERRORS_RULE "    where:\n"
		  "      property.Environment: production\n");
	add(&f, 0, &dev);
	add(&f, 0, &none);
	add(&f, 0, &prod);
	eval(&f, 0);
	assert_int_equal(n_events(&f), 0);
	add(&f, 1, &prod);
	eval(&f, 1);
	assert_int_equal(n_events(&f), 1);
	assert_int_equal(ev_num(&f, 0, "requests"), 2);
	stop(&f);
}

static void test_renotify(void **state)
{
	struct fixture f;
	const struct call c = { .user = "u" };

	start(&f, "alerts:\n"
		  "  - name: busy\n"
		  "    metric: requests\n"
		  "    threshold: \">= 1\"\n"
		  "    window: 1h\n"
		  "    renotify: 5s\n");
	add(&f, 0, &c);
	eval(&f, 0);
	eval(&f, 1);
	eval(&f, 4);
	assert_int_equal(n_events(&f), 1);
	eval(&f, 5);
	assert_int_equal(n_events(&f), 2);
	assert_string_equal(ev_str(&f, 1, "state"), "firing");
	eval(&f, 9);
	assert_int_equal(n_events(&f), 2);
	eval(&f, 10);
	assert_int_equal(n_events(&f), 3);
	stop(&f);
}

static void test_latency(void **state)
{
	struct fixture f;
	struct call fast = { .user = "u", .latency_ms = 100 };
	struct call slow = { .user = "u", .latency_ms = 1000 };
	int i;

	start(&f, "alerts:\n"
		  "  - name: slow\n"
		  "    metric: latency_p95\n"
		  "    threshold: \"> 200ms\"\n"
		  "    window: 30m\n"
		  "    min_requests: 20\n");
	for (i = 0; i < 19; i++)
		add(&f, (uint64_t)i * 30, &fast);
	add(&f, 600, &slow);
	eval(&f, 600);
	assert_int_equal(n_events(&f), 0);	/* p95 of 20 is still fast */
	for (i = 0; i < 4; i++)
		add(&f, 601, &slow);
	eval(&f, 601);
	assert_int_equal(n_events(&f), 1);
	assert_true(fabs(ev_num(&f, 0, "value") - 1000) <= 10);
	assert_string_equal(ev_str(&f, 0, "unit"), "ms");
	stop(&f);
}

static void test_tick_interval(void **state)
{
	struct fixture f;
	const struct call bad = { .user = "u", .error = true };

	start(&f, "evaluate_every: 5s\n" ERRORS_RULE);
	alerts_tick(f.a, S(T0));
	add(&f, 1, &bad);
	add(&f, 1, &bad);
	alerts_tick(f.a, S(T0 + 1));
	alerts_tick(f.a, S(T0 + 4));
	assert_int_equal(n_events(&f), 0);
	alerts_tick(f.a, S(T0 + 5));
	assert_int_equal(n_events(&f), 1);
	stop(&f);
}

static void test_reload(void **state)
{
	struct fixture f;
	const struct call bad = { .user = "u", .error = true };
	struct alerts_stats st;

	start(&f, ERRORS_RULE);
	add(&f, 0, &bad);
	add(&f, 0, &bad);
	eval(&f, 0);
	assert_int_equal(n_events(&f), 1);

	/* Unchanged: the window and the firing state stay. */
	assert_int_equal(alerts_reload(f.a, cfg_of(ERRORS_RULE)), 0);
	eval(&f, 1);
	assert_int_equal(n_events(&f), 1);

	/* Changed: it starts empty, so no resolve, and fires anew. */
	assert_int_equal(alerts_reload(f.a, cfg_of(
		"alerts:\n  - name: errors\n    metric: error_rate\n"
		"    threshold: \"> 40%\"\n    window: 10s\n")), 0);
	eval(&f, 2);
	assert_int_equal(n_events(&f), 1);
	add(&f, 3, &bad);
	eval(&f, 3);
	assert_int_equal(n_events(&f), 2);
	assert_string_equal(ev_str(&f, 1, "threshold"), "> 40%");
	alerts_stats(f.a, &st);
	assert_int_equal(st.fired, 2);
	stop(&f);
}

static void test_fold_groups(void **state)
{
	struct fixture f;
	struct alerts_stats st;
	char user[32];
	struct call c = { .user = user, .cost = 1 };
	int i;

	start(&f, "alerts:\n"
		  "  - name: spend\n"
		  "    metric: cost\n"
		  "    threshold: \"> $2\"\n"
		  "    window: 1m\n"
		  "    group_by: user_id\n");
	for (i = 0; i < ALERTS_MAX_GROUPS + 3; i++) {
		snprintf(user, sizeof(user), "user-%d", i);
		add(&f, 0, &c);
	}
	alerts_stats(f.a, &st);
	assert_int_equal(st.folded, 3);
	eval(&f, 0);
	/* The three folded users' $3 fire as one "(other)" group. */
	assert_int_equal(n_events(&f), 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
		event(&f, 0), "group"), "user_id")), "(other)");
	/* Idle groups go, so new users get a group of their own. */
	eval(&f, 120);
	snprintf(user, sizeof(user), "late");
	add(&f, 121, &c);
	alerts_stats(f.a, &st);
	assert_int_equal(st.folded, 3);
	stop(&f);
}

static void test_no_rules(void **state)
{
	struct fixture f;
	const struct call c = { .user = "u" };

	start(&f, "");
	add(&f, 0, &c);
	eval(&f, 0);
	assert_int_equal(n_events(&f), 0);
	stop(&f);
	alerts_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fire_and_resolve),
		cmocka_unit_test(test_window_slides),
		cmocka_unit_test(test_top_lists_and_query),
		cmocka_unit_test(test_group_by),
		cmocka_unit_test(test_where),
		cmocka_unit_test(test_renotify),
		cmocka_unit_test(test_latency),
		cmocka_unit_test(test_tick_interval),
		cmocka_unit_test(test_reload),
		cmocka_unit_test(test_fold_groups),
		cmocka_unit_test(test_no_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
