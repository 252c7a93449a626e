// SPDX-License-Identifier: MIT
/*
 * The configuration loader: the shipped example, every kind of error
 * with its line and field, thresholds with their units, durations.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

#define EXAMPLE "tools/llmtap.example.yaml"

static struct config *parse(const char *text, struct config_diag *d)
{
	return config_parse(text, strlen(text), "t.yaml", d);
}

/* Whether some message of d contains want. */
static bool has_msg(const struct config_diag *d, const char *want)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (strstr(d->msgs[i], want))
			return true;
	for (i = 0; i < d->n; i++)
		print_message("  got: %s\n", d->msgs[i]);
	return false;
}

/* text must fail with a message containing want. */
static void expect_error(const char *text, const char *want)
{
	struct config_diag d = { 0 };
	struct config *c = parse(text, &d);

	assert_null(c);
	assert_true(has_msg(&d, want));
	config_diag_clear(&d);
}

static void test_example(void **state)
{
	struct config_diag d = { 0 };
	struct config *c = config_load(EXAMPLE, &d);
	const struct config_alert *r;

	assert_non_null(c);
	assert_int_equal(d.n, 0);
	assert_int_equal(c->n_alerts, 3);
	assert_int_equal(c->n_notifiers, 4);
	assert_int_equal(c->evaluate_every_s, 5);

	r = &c->alerts[0];
	assert_string_equal(r->name, "Production Error Rate");
	assert_int_equal(r->metric, CONFIG_ERROR_RATE);
	assert_int_equal(r->op, CONFIG_GT);
	assert_true(r->threshold == 5);
	assert_int_equal(r->window_s, 600);
	assert_int_equal(r->min_requests, 10);
	assert_int_equal(r->n_where, 1);
	assert_int_equal(r->where[0].key.attr, CONFIG_ATTR_PROPERTY);
	assert_string_equal(r->where[0].key.property, "Environment");
	assert_string_equal(r->where[0].value, "production");
	assert_int_equal(r->n_notify, 2);
	assert_string_equal(c->notifiers[r->notify[0]].channel,
			    "#production-alerts");
	assert_int_equal(c->notifiers[r->notify[1]].type, CONFIG_EMAIL);

	r = &c->alerts[1];
	assert_int_equal(r->metric, CONFIG_COST);
	assert_true(r->threshold == 100);
	assert_int_equal(r->window_s, 86400);
	assert_string_equal(c->notifiers[r->notify[1]].channel,
			    "#cost-alerts");

	r = &c->alerts[2];
	assert_int_equal(r->metric, CONFIG_LATENCY_P95);
	assert_true(r->threshold == 10000);
	assert_int_equal(r->window_s, 1800);
	assert_int_equal(r->min_requests, 20);
	assert_string_equal(c->notifiers[r->notify[0]].channel,
			    "#performance-alerts");
	config_free(c);
}

static void test_durations(void **state)
{
	uint64_t s;

	assert_int_equal(config_parse_duration("30s", &s), 0);
	assert_int_equal(s, 30);
	assert_int_equal(config_parse_duration("10m", &s), 0);
	assert_int_equal(s, 600);
	assert_int_equal(config_parse_duration("1d", &s), 0);
	assert_int_equal(s, 86400);
	assert_int_equal(config_parse_duration("1h30m", &s), 0);
	assert_int_equal(s, 5400);
	assert_int_equal(config_parse_duration("2w", &s), 0);
	assert_int_equal(s, 14 * 86400);
	assert_int_equal(config_parse_duration("10", &s), -EINVAL);
	assert_int_equal(config_parse_duration("m", &s), -EINVAL);
	assert_int_equal(config_parse_duration("", &s), -EINVAL);
	assert_int_equal(config_parse_duration("5x", &s), -EINVAL);
	assert_int_equal(config_parse_duration("-5s", &s), -EINVAL);
	assert_int_equal(config_parse_duration("99999999999d", &s),
			 -EINVAL);
}

#define RULE(metric, thr)                                              \
	"alerts:\n"                                                     \
	"  - name: r\n"                                                 \
	"    metric: " metric "\n"                                      \
	"    threshold: \"" thr "\"\n"                                  \
	"    window: 5m\n"

static struct config *one_rule(const char *metric_thr)
{
	struct config_diag d = { 0 };
	struct config *c = parse(metric_thr, &d);

	config_diag_clear(&d);
	return c;
}

static void test_thresholds(void **state)
{
	struct config *c;

	c = one_rule(RULE("error_rate", ">= 2.5%"));
	assert_non_null(c);
	assert_int_equal(c->alerts[0].op, CONFIG_GE);
	assert_true(c->alerts[0].threshold == 2.5);
	config_free(c);

	c = one_rule(RULE("cost", "> $ 0.0001"));
	assert_non_null(c);
	assert_true(c->alerts[0].threshold == 0.0001);
	config_free(c);

	c = one_rule(RULE("latency_p99", "> 2s"));
	assert_non_null(c);
	assert_true(c->alerts[0].threshold == 2000);
	config_free(c);

	c = one_rule(RULE("requests", "< 3"));
	assert_non_null(c);
	assert_int_equal(c->alerts[0].op, CONFIG_LT);
	config_free(c);

	c = one_rule(RULE("ttft_p95", "<= 800ms"));
	assert_non_null(c);
	assert_int_equal(c->alerts[0].op, CONFIG_LE);
	assert_true(c->alerts[0].threshold == 800);
	config_free(c);
}

static void test_threshold_errors(void **state)
{
	expect_error(RULE("error_rate", "> 5"),
		     "t.yaml:4: alerts[0].threshold: \"> 5\" needs a unit "
		     "for error_rate: %");
	expect_error(RULE("cost", "> 100ms"),
		     "t.yaml:4: alerts[0].threshold: \"> 100ms\" has the "
		     "wrong unit for cost: $");
	expect_error(RULE("tokens", "> 5%"),
		     "has the wrong unit for tokens: a plain number");
	expect_error(RULE("latency_p95", "5000ms"),
		     "needs a comparison first");
	expect_error(RULE("latency_p95", "> fast"),
		     "needs a number after the comparison");
	expect_error(RULE("latency_p95", "> 5 ms later"),
		     "has something after the unit");
	expect_error("alerts:\n  - name: r\n    metric: cost\n"
		     "    threshold: > $5\n    window: 5m\n",
		     "t.yaml:4: YAML syntax: did not find expected comment "
		     "or line break while scanning a block scalar (quote");
	expect_error("alerts:\n  - name: r\n    metric: cost\n"
		     "    threshold: >\n      $5\n    window: 5m\n",
		     "t.yaml:4: alerts[0].threshold: write it in quotes");
}

static void test_rule_errors(void **state)
{
	expect_error("alerts:\n  - name: r\n    metric: errors\n"
		     "    threshold: \">= 3\"\n    window: 5m\n",
		     "t.yaml:3: alerts[0].metric: \"errors\" is not");
	expect_error("alerts:\n  - name: r\n    metric: requests\n"
		     "    threshold: \">= 3\"\n    window: 10\n",
		     "t.yaml:5: alerts[0].window: \"10\" is not a duration");
	expect_error("alerts:\n  - name: r\n    metric: requests\n"
		     "    threshold: \">= 3\"\n",
		     "t.yaml:2: alerts[0]: needs a window");
	expect_error("alerts:\n  - metric: requests\n"
		     "    threshold: \">= 3\"\n    window: 1m\n",
		     "t.yaml:2: alerts[0]: needs a name");
	expect_error("alerts:\n  - name: r\n    window: 1m\n",
		     "alerts[0]: needs a metric");
	expect_error(RULE("requests", "> 1") "    min_requests: many\n",
		     "t.yaml:6: alerts[0].min_requests: \"many\" must be");
	expect_error(RULE("requests", "> 1") "    severity: page\n",
		     "t.yaml:6: alerts[0].severity: \"page\" is not info");
	expect_error(RULE("requests", "> 1") "    renotify: often\n",
		     "t.yaml:6: alerts[0].renotify: \"often\" is not a");
	expect_error(RULE("requests", "> 1") "    colour: red\n",
		     "t.yaml:6: alerts[0].colour: unknown key");
	expect_error(RULE("requests", "> 1") "    group_by: team\n",
		     "t.yaml:6: alerts[0].group_by: \"team\" is not");
	expect_error(RULE("requests", "> 1") "    where:\n"
		     "      user_id: a\n      property.: b\n",
		     "t.yaml:8: alerts[0].where.property.: \"property.\"");
	expect_error(RULE("requests", "> 1") "    where:\n      uid: root\n",
		     "t.yaml:7: alerts[0].where.uid: \"root\" must be");
	expect_error(RULE("requests", "> 1") "    where: production\n",
		     "t.yaml:6: alerts[0].where: must be a map");
	expect_error(RULE("requests", "> 1") "    window: 1m\n",
		     "t.yaml:6: alerts[0]: \"window\" is given twice");
	expect_error(RULE("requests", "> 1") "  - name: r\n"
		     "    metric: tokens\n    threshold: \"> 1\"\n"
		     "    window: 1m\n",
		     "t.yaml:6: alerts[1]: the name \"r\" is taken by "
		     "alerts[0]");
}

static void test_notifier_errors(void **state)
{
	expect_error(RULE("requests", "> 1") "    notify: [pager]\n",
		     "t.yaml:6: alerts[0].notify: no notifier is named "
		     "\"pager\"");
	expect_error("notifiers:\n  a:\n    type: pager\n",
		     "t.yaml:3: notifiers.a: type \"pager\" is not");
	expect_error("notifiers:\n  a:\n    url: http://x/\n",
		     "t.yaml:3: notifiers.a: needs a type");
	expect_error("notifiers:\n  a:\n    type: webhook\n",
		     "t.yaml:3: notifiers.a: a webhook notifier needs url");
	expect_error("notifiers:\n  a:\n    type: slack\n"
		     "    url: ftp://x/\n",
		     "t.yaml:4: notifiers.a.url: \"ftp://x/\" must start");
	expect_error("notifiers:\n  a:\n    type: email\n"
		     "    smtp_url: smtp://127.0.0.1:25\n",
		     "t.yaml:3: notifiers.a: an email notifier needs");
	expect_error("notifiers:\n  a:\n    type: exec\n",
		     "an exec notifier needs command");
	expect_error("notifiers:\n  a:\n    type: webhook\n"
		     "    url: http://x/\n    channel: \"#a\"\n",
		     "notifiers.a: a key that webhook notifiers do not take");
	expect_error("notifiers:\n  a:\n    type: exec\n"
		     "    command: cat\n    timeout: 1h\n",
		     "t.yaml:5: notifiers.a.timeout: at most");
	expect_error("notifiers:\n  a:\n    type: exec\n"
		     "    command: cat\n    retries: 3\n",
		     "t.yaml:5: notifiers.a.retries: unknown key");
}

static void test_file_errors(void **state)
{
	struct config_diag d = { 0 };

	expect_error("alerts: [\n", "t.yaml:2: YAML syntax:");
	expect_error("- a\n- b\n", "t.yaml:1: the file must be a map");
	expect_error("evaluate_every: 0s\n", "t.yaml:1: evaluate_every:");
	expect_error("alert:\n  - name: r\n", "t.yaml:1: alert: unknown key");
	expect_error("alerts: {}\n", "t.yaml:1: alerts: must be a list");
	assert_null(config_load("/nonexistent/llmtap.yaml", &d));
	assert_true(has_msg(&d, "/nonexistent/llmtap.yaml: cannot read the "
			    "configuration: No such file"));
	config_diag_clear(&d);
}

/* A file others may write is refused: an exec notifier in it would
 * run as root. */
static void test_file_mode(void **state)
{
	char path[] = "/tmp/llmtap-test-config-XXXXXX";
	struct config_diag d = { 0 };
	struct config *c;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "alerts: []\n", 11), 11);
	close(fd);
	assert_int_equal(chmod(path, 0666), 0);
	assert_null(config_load(path, &d));
	assert_true(has_msg(&d, "configuration refused: writable by group "
			    "or others (mode 666)"));
	assert_true(has_msg(&d, path));
	config_diag_clear(&d);
	assert_int_equal(chmod(path, 0620), 0);
	assert_null(config_load(path, &d));
	config_diag_clear(&d);

	assert_int_equal(chmod(path, 0600), 0);
	c = config_load(path, &d);
	assert_non_null(c);
	assert_int_equal(d.n, 0);
	config_free(c);
	/* Owned by someone else (as root, who can give it away). */
	if (geteuid() == 0) {
		assert_int_equal(chown(path, 65534, 0), 0);
		assert_null(config_load(path, &d));
		assert_true(has_msg(&d, "owned by uid 65534"));
		config_diag_clear(&d);
	}
	unlink(path);
}

/* All problems are reported, not just the first. */
static void test_every_error(void **state)
{
	struct config_diag d = { 0 };
	const char *text = "evaluate_every: soon\n" RULE("cost", "> 5")
			   "    notify: nobody\n";

	assert_null(parse(text, &d));
	assert_int_equal(d.n, 3);
	/* In file order, though notify is checked before threshold. */
	assert_non_null(strstr(d.msgs[0], "t.yaml:1: evaluate_every:"));
	assert_non_null(strstr(d.msgs[1], "t.yaml:5: alerts[0].threshold:"));
	assert_non_null(strstr(d.msgs[2], "t.yaml:7: alerts[0].notify:"));
	config_diag_clear(&d);
}

static void test_full_rule(void **state)
{
	struct config_diag d = { 0 };
	struct config *c = parse(
		"evaluate_every: 1s\n"
		"alerts:\n"
		"  - name: spend\n"
		"    metric: cost\n"
		"    threshold: \"> $0.0001\"\n"
		"    window: 5s\n"
		"    group_by: user_id\n"
		"    where: {provider: openai, uid: 0}\n"
		"    notify: [hook, mail, run]\n"
		"    renotify: 1m\n"
		"notifiers:\n"
		"  hook: {type: webhook, url: \"http://127.0.0.1:1/x\"}\n"
		"  mail: {type: email, smtp_url: \"smtp://127.0.0.1:2\",\n"
		"         from: a@b.c, to: d@e.f}\n"
		"  run: {type: exec, command: \"cat > /dev/null\","
		" timeout: 3s}\n", &d);

	assert_int_equal(d.n, 0);
	assert_non_null(c);
	assert_int_equal(c->evaluate_every_s, 1);
	assert_true(c->alerts[0].grouped);
	assert_int_equal(c->alerts[0].group_by.attr, CONFIG_ATTR_USER_ID);
	assert_int_equal(c->alerts[0].n_where, 2);
	assert_int_equal(c->alerts[0].renotify_s, 60);
	assert_int_equal(c->alerts[0].n_notify, 3);
	assert_string_equal(c->alerts[0].severity, "warning");
	assert_int_equal(c->notifiers[1].n_to, 1);
	assert_string_equal(c->notifiers[1].to[0], "d@e.f");
	assert_int_equal(c->notifiers[2].timeout_s, 3);
	assert_true(config_alert_same(&c->alerts[0], &c->alerts[0]));
	config_free(c);
}

static void test_empty(void **state)
{
	struct config_diag d = { 0 };
	struct config *c = parse("", &d);

	assert_non_null(c);
	assert_int_equal(c->n_alerts, 0);
	assert_int_equal(c->evaluate_every_s, CONFIG_EVALUATE_DEFAULT_S);
	config_free(c);
	config_free(NULL);
	config_diag_clear(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_thresholds),
		cmocka_unit_test(test_threshold_errors),
		cmocka_unit_test(test_rule_errors),
		cmocka_unit_test(test_notifier_errors),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_file_mode),
		cmocka_unit_test(test_every_error),
		cmocka_unit_test(test_full_rule),
		cmocka_unit_test(test_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
