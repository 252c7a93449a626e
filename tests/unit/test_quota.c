// SPDX-License-Identifier: MIT
/* Quotas: windows, blocking and release, declared policies. */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "quota.h"

#define S 1000000000ull
#define T0 (1796300000ull * S)

/* What the hooks saw. */
struct seen {
	int blocks, unblocks, endpoints;
	struct lt_blocked last;
	int events;
	char states[16][16];
	char actions[16][16];
	char keys[16][32];
	int refuse;	/* block hook fails: not enforceable */
};

static int on_block(void *ctx, const struct lt_blocked *who, bool on)
{
	struct seen *s = ctx;

	if (s->refuse)
		return -1;
	s->last = *who;
	if (on)
		s->blocks++;
	else
		s->unblocks++;
	return 0;
}

static void on_endpoint(void *ctx, const char *peer)
{
	struct seen *s = ctx;

	assert_string_equal(peer, "127.0.0.1:8443");
	s->endpoints++;
}

static void on_emit(void *ctx, json_t *ev)
{
	struct seen *s = ctx;
	int i = s->events++;

	assert_string_equal(json_string_value(json_object_get(ev, "type")),
			    "enforcement");
	snprintf(s->states[i], 16, "%s",
		 json_string_value(json_object_get(ev, "state")));
	snprintf(s->actions[i], 16, "%s",
		 json_string_value(json_object_get(ev, "action")));
	snprintf(s->keys[i], 32, "%s",
		 json_string_value(json_object_get(ev, "key")));
}

static struct quota_hooks hooks_for(struct seen *s)
{
	return (struct quota_hooks){ s, on_block, on_endpoint, on_emit };
}

static json_t *record(int uid, const char *comm, const char *user,
		      int tokens, double cost)
{
	return json_pack("{s:s, s:{s:i, s:i, s:s}, s:{s:s}, s:s, "
			 "s:{s:i}, s:f}",
			 "type", "llm_call",
			 "process", "pid", 100, "uid", uid, "comm", comm,
			 "http", "peer", "127.0.0.1:8443",
			 "user_id", user,
			 "usage", "total_tokens", tokens,
			 "cost_usd", cost);
}

static void add(struct quota *q, json_t *rec, uint64_t t)
{
	quota_add(q, rec, t);
	json_decref(rec);
}

static void test_uid_block_and_release(void **state)
{
	struct quota_rule r = { "nobody-2", QUOTA_UID, QUOTA_REQUESTS, 2, 10,
				QUOTA_BLOCK };
	struct seen s = { 0 };
	struct quota_hooks h = hooks_for(&s);
	struct quota *q = quota_new(&r, 1, &h);

	add(q, record(65534, "python3", "u", 10, 0.1), T0);
	assert_int_equal(s.blocks, 0);
	add(q, record(0, "curl", "u", 10, 0.1), T0 + 1 * S);
	add(q, record(65534, "python3", "u", 10, 0.1), T0 + 2 * S);

	/* Two requests reach the limit: uid 65534 is blocked. */
	assert_int_equal(s.blocks, 1);
	assert_int_equal(s.last.scope, LT_BLOCK_UID);
	assert_int_equal(s.last.uid, 65534);
	assert_int_equal(s.events, 1);
	assert_string_equal(s.states[0], "over");
	assert_string_equal(s.actions[0], "block");
	assert_string_equal(s.keys[0], "65534");
	assert_int_equal(s.endpoints, 3);

	/* Still inside the window: nothing changes. */
	quota_tick(q, T0 + 9 * S);
	assert_int_equal(s.unblocks, 0);

	/* The first call has left the window: released. */
	quota_tick(q, T0 + 11 * S);
	assert_int_equal(s.unblocks, 1);
	assert_int_equal(s.events, 2);
	assert_string_equal(s.states[1], "released");
	quota_free(q);
}

/* A reload keeps a quota's history under new limits, lifts or sets
 * blocks as its action changes, drops a quota no longer named. */
static void test_reload(void **state)
{
	struct quota_rule r = { "u", QUOTA_UID, QUOTA_REQUESTS, 2, 60,
				QUOTA_ALERT };
	struct seen s = { 0 };
	struct quota_hooks h = hooks_for(&s);
	struct quota *q = quota_new(&r, 1, &h);

	add(q, record(1000, "python3", "a", 1, 0), T0);
	add(q, record(1000, "python3", "a", 1, 0), T0 + S);
	assert_int_equal(s.events, 1);	/* over, alert only */
	assert_int_equal(s.blocks, 0);

	/* Same quota, now blocking: the key already over is blocked. */
	r.action = QUOTA_BLOCK;
	assert_int_equal(quota_reload(q, &r, 1), 0);
	assert_int_equal(s.blocks, 1);
	assert_int_equal(s.last.uid, 1000);

	/* A higher limit frees it at the next tick, history kept. */
	r.limit = 3;
	assert_int_equal(quota_reload(q, &r, 1), 0);
	quota_tick(q, T0 + 2 * S);
	assert_int_equal(s.unblocks, 1);
	assert_string_equal(s.states[s.events - 1], "released");
	add(q, record(1000, "python3", "a", 1, 0), T0 + 3 * S);
	assert_int_equal(s.blocks, 2);	/* 3 of 3 in the window */

	/* Renamed: the old quota goes, its block lifted; the new one
	 * starts with no history. */
	snprintf(r.name, sizeof(r.name), "v");
	assert_int_equal(quota_reload(q, &r, 1), 0);
	assert_int_equal(s.unblocks, 2);
	add(q, record(1000, "python3", "a", 1, 0), T0 + 4 * S);
	assert_int_equal(s.blocks, 2);

	/* No rules at all. */
	assert_int_equal(quota_reload(q, NULL, 0), 0);
	quota_free(q);
	assert_int_equal(s.unblocks, 2);
}

static void test_cost_and_tokens_alert(void **state)
{
	struct quota_rule r[] = {
		{ "cost", QUOTA_USER_ID, QUOTA_COST, 0.25, 60, QUOTA_BLOCK },
		{ "tok", QUOTA_PROCESS, QUOTA_TOKENS, 100, 60, QUOTA_ALERT },
	};
	struct seen s = { 0 };
	struct quota_hooks h = hooks_for(&s);
	struct quota *q = quota_new(r, 2, &h);

	add(q, record(1, "node", "alice", 60, 0.1), T0);
	add(q, record(1, "node", "bob", 30, 0.2), T0);
	assert_int_equal(s.events, 0);
	add(q, record(1, "node", "alice", 10, 0.2), T0 + S);

	/* alice: $0.30 >= $0.25, a user_id cannot be blocked in the
	 * kernel: alert. node: 100 tokens >= 100: alert. */
	assert_int_equal(s.events, 2);
	assert_int_equal(s.blocks, 0);
	assert_string_equal(s.keys[0], "alice");
	assert_string_equal(s.actions[0], "alert");
	assert_string_equal(s.keys[1], "node");
	quota_free(q);
}

static void test_unenforceable_block_alerts(void **state)
{
	struct quota_rule r = { "p", QUOTA_PROCESS, QUOTA_REQUESTS, 1, 10,
				QUOTA_BLOCK };
	struct seen s = { .refuse = 1 };
	struct quota_hooks h = hooks_for(&s);
	struct quota *q = quota_new(&r, 1, &h);

	add(q, record(1, "curl", "u", 1, 0), T0);
	assert_int_equal(s.events, 1);
	assert_int_equal(s.blocks, 0);
	quota_free(q);
}

static void test_policy_header(void **state)
{
	struct quota_rule r;
	struct seen s = { 0 };
	struct quota_hooks h = hooks_for(&s);
	struct quota *q = quota_new(NULL, 0, &h);
	json_t *rec;

	assert_int_equal(quota_policy_parse("100;w=3600;u=request;s=user",
					    &r), 0);
	assert_true(r.limit == 100 && r.window_s == 3600);
	assert_int_equal(r.scope, QUOTA_USER_ID);
	assert_int_equal(quota_policy_parse("500;w=60;u=cents", &r), 0);
	assert_true(r.limit == 5.0 && r.metric == QUOTA_COST);
	assert_int_equal(r.scope, QUOTA_GLOBAL);
	assert_int_equal(quota_policy_parse("abc;w=60", &r), -EINVAL);
	assert_int_equal(quota_policy_parse("10", &r), -EINVAL);
	assert_int_equal(quota_policy_parse("10;w=60;u=parsecs", &r),
			 -EINVAL);

	for (int i = 0; i < 2; i++) {
		rec = record(1, "curl", "carol", 1, 0);
		json_object_set_new(rec, "rate_limit_policy",
				    json_string("2;w=60;s=user"));
		add(q, rec, T0 + (uint64_t)i * S);
	}
	/* A call without the header does not count against it. */
	add(q, record(1, "curl", "carol", 1, 0), T0 + 2 * S);
	assert_int_equal(s.events, 1);
	assert_string_equal(s.keys[0], "carol");
	assert_string_equal(s.actions[0], "alert");
	quota_free(q);
}

static void test_parse_names(void **state)
{
	enum quota_scope sc;
	enum quota_metric m;
	enum quota_action a;

	assert_int_equal(quota_scope_parse("container", &sc), 0);
	assert_int_equal(sc, QUOTA_CGROUP);
	assert_int_equal(quota_scope_parse("planet", &sc), -EINVAL);
	assert_int_equal(quota_metric_parse("tokens", &m), 0);
	assert_int_equal(m, QUOTA_TOKENS);
	assert_int_equal(quota_action_parse("block", &a), 0);
	assert_int_equal(quota_action_parse("smite", &a), -EINVAL);
}

static void test_spec(void **state)
{
	struct quota_rule r;
	char why[64];

	assert_int_equal(quota_rule_parse_spec(
		"name=n,scope=uid,metric=requests,limit=2,window=10s,"
		"action=block", &r, why, sizeof(why)), 0);
	assert_string_equal(r.name, "n");
	assert_true(r.scope == QUOTA_UID && r.metric == QUOTA_REQUESTS &&
		    r.limit == 2 && r.window_s == 10 &&
		    r.action == QUOTA_BLOCK);
	assert_int_equal(quota_rule_parse_spec(
		"name=c,scope=user_id,metric=cost,limit=$5,window=1d", &r, why,
		sizeof(why)), 0);
	assert_true(r.limit == 5 && r.window_s == 86400 &&
		    r.action == QUOTA_ALERT);
	assert_int_equal(quota_rule_parse_spec("name=x,limit=2,window=9q",
					       &r, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "bad 'window'");
	assert_int_equal(quota_rule_parse_spec("scope=uid,limit=1,window=1m",
					       &r, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "needs name, limit and window");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uid_block_and_release),
		cmocka_unit_test(test_reload),
		cmocka_unit_test(test_cost_and_tokens_alert),
		cmocka_unit_test(test_unenforceable_block_alerts),
		cmocka_unit_test(test_policy_header),
		cmocka_unit_test(test_parse_names),
		cmocka_unit_test(test_spec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
