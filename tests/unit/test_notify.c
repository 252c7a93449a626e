// SPDX-License-Identifier: MIT
/*
 * Notification delivery without a network: the Slack payload and the
 * mail text, the exec channel (alert JSON on stdin), the bounded
 * queue dropping its oldest messages, and a command killed at its
 * timeout being tried again.
 */
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

#include "notify.h"

#define POLL_LIMIT 3000	/* 10 ms steps: a hung worker fails the test */

static json_t *alert(const char *user)
{
	return json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:f, s:s, s:s, s:s, s:i, s:o, "
		"s:[{s:s, s:i, s:i, s:f}], s:[], s:[], s:s, s:s}",
		"type", "alert", "rule", "Errors", "state", "firing",
		"severity", "critical", "metric", "error_rate", "value",
		66.7, "unit", "%", "threshold", "> 50%", "window", "5m",
		"requests", 3, "group", json_pack("{s:s}", "user_id", user),
		"top_users", "user_id", user, "requests", 3, "errors", 2,
		"cost_usd", 0.5, "top_models", "top_processes", "query",
		"/api/v1/calls?since=1", "firing_since",
		"2026-01-01T00:00:00Z");
}

static void test_slack_payload(void **state)
{
	struct config_notifier nf = { .name = "s", .type = CONFIG_SLACK,
				      .url = "http://x/",
				      .channel = "#alerts" };
	json_t *a = alert("alice"), *p;
	char *s = notify_slack_payload(&nf, a);
	const char *text, *block;

	assert_non_null(s);
	p = json_loads(s, 0, NULL);
	assert_non_null(p);
	text = json_string_value(json_object_get(p, "text"));
	assert_string_equal(text, "[critical] FIRING Errors: error_rate "
			    "66.7% (threshold > 50% over 5m, 3 requests) "
			    "for user_id=alice");
	assert_string_equal(json_string_value(json_object_get(p, "channel")),
			    "#alerts");
	block = json_string_value(json_object_get(json_object_get(
		json_array_get(json_object_get(p, "blocks"), 0), "text"),
		"text"));
	assert_non_null(strstr(block, "threshold &gt; 50%"));
	block = json_string_value(json_object_get(json_object_get(
		json_array_get(json_object_get(p, "blocks"), 1), "text"),
		"text"));
	assert_non_null(strstr(block, "*Top users*: alice (3 req, 2 err, "
			       "$0.5)"));
	assert_non_null(strstr(block, "/api/v1/calls?since=1"));
	json_decref(p);
	json_decref(a);
	free(s);
}

/* A user id is the client's to choose: no header may come of it. */
static void test_email_no_injection(void **state)
{
	char *to[] = { "a@b.c", "d@e.f" };
	struct config_notifier nf = { .name = "m", .type = CONFIG_EMAIL,
				      .smtp_url = "smtp://x",
				      .from = "l@t.c", .to = to, .n_to = 2 };
	json_t *a = alert("eve\r\nBcc: x@evil.c");
	char *m = notify_email(&nf, a);

	assert_non_null(m);
	assert_non_null(strstr(m, "\r\nTo: a@b.c, d@e.f\r\n"));
	assert_non_null(strstr(m, "\r\nSubject: [llmtap] [critical] FIRING "
			       "Errors: error_rate 66.7%"));
	assert_null(strstr(m, "\r\nBcc:"));
	assert_null(strstr(m, "\nBcc:"));
	json_decref(a);
	free(m);
}

static void wait_until(struct notify *n, uint64_t sent, uint64_t retries)
{
	struct timespec step = { 0, 10 * 1000000L };
	struct notify_stats st;
	int i;

	for (i = 0; i < POLL_LIMIT; i++) {
		notify_stats(n, &st);
		if (st.sent >= sent && st.retries >= retries)
			return;
		nanosleep(&step, NULL);
	}
	fail_msg("sent %llu of %llu, retries %llu of %llu",
		 (unsigned long long)st.sent, (unsigned long long)sent,
		 (unsigned long long)st.retries,
		 (unsigned long long)retries);
}

static void test_exec(void **state)
{
	char dir[] = "/tmp/llmtap-notify-XXXXXX", cmd[256], path[128];
	struct config_notifier nf = { .name = "x", .type = CONFIG_EXEC,
				      .command = cmd, .timeout_s = 10 };
	struct notify *n = notify_new();
	json_t *a = alert("bob"), *got;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/out", dir);
	snprintf(cmd, sizeof(cmd), "cat > %s", path);
	assert_int_equal(notify_send(n, &nf, a), 0);
	wait_until(n, 1, 0);
	got = json_load_file(path, 0, NULL);
	assert_non_null(got);
	assert_true(json_equal(got, a));
	notify_free(n);
	json_decref(got);
	json_decref(a);
	unlink(path);
	rmdir(dir);
}

static void test_queue_drops_oldest(void **state)
{
	char dir[] = "/tmp/llmtap-notify-XXXXXX", block[512], flag[128];
	char fifo[128];
	struct config_notifier blocker = { .name = "b", .type = CONFIG_EXEC,
					   .command = block,
					   .timeout_s = 60 };
	struct config_notifier quick = { .name = "q", .type = CONFIG_EXEC,
					 .command = "true",
					 .timeout_s = 10 };
	struct timespec step = { 0, 10 * 1000000L };
	struct notify *n = notify_new();
	struct notify_stats st;
	json_t *a = alert("carol");
	FILE *f;
	int i;

	assert_non_null(mkdtemp(dir));
	snprintf(flag, sizeof(flag), "%s/started", dir);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	snprintf(block, sizeof(block), "touch %s; cat %s > /dev/null",
		 flag, fifo);

	/* The worker sits in the blocker until the fifo is written. */
	notify_send(n, &blocker, a);
	for (i = 0; i < POLL_LIMIT && access(flag, F_OK); i++)
		nanosleep(&step, NULL);
	assert_int_equal(access(flag, F_OK), 0);
	for (i = 0; i < NOTIFY_QUEUE_MAX + 44; i++)
		notify_send(n, &quick, a);
	notify_stats(n, &st);
	assert_int_equal(st.dropped, 44);

	f = fopen(fifo, "w");
	assert_non_null(f);
	fclose(f);
	wait_until(n, 1 + NOTIFY_QUEUE_MAX, 0);
	notify_free(n);
	json_decref(a);
	unlink(flag);
	unlink(fifo);
	rmdir(dir);
}

static void test_timeout_retries(void **state)
{
	struct config_notifier nf = { .name = "slow", .type = CONFIG_EXEC,
				      .command = "exec sleep 30",
				      .timeout_s = 1 };
	struct notify *n = notify_new();
	json_t *a = alert("dan");
	struct notify_stats st;

	notify_send(n, &nf, a);
	/* Killed after 1 s, then tried again 1 s later. */
	wait_until(n, 0, 2);
	notify_stats(n, &st);
	assert_int_equal(st.sent, 0);
	notify_free(n);
	notify_free(NULL);
	json_decref(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slack_payload),
		cmocka_unit_test(test_email_no_injection),
		cmocka_unit_test(test_exec),
		cmocka_unit_test(test_queue_drops_oldest),
		cmocka_unit_test(test_timeout_retries),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
