// SPDX-License-Identifier: MIT
/*
 * The Prometheus exposition: every line well formed, HELP and TYPE
 * once per family before its samples, sums and histograms right,
 * label values escaped, label sets folded past the limit.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prom.h"

#define SET "{provider=\"openai\",model=\"m\",process=\"curl\"}"

static json_t *record(const char *model, const char *comm, int status,
		      double duration, double ttft, double cost)
{
	json_t *r = json_pack("{s:s, s:s, s:{s:s}, s:{s:i},"
			      " s:{s:i, s:i, s:i, s:i, s:i}, s:f, s:n,"
			      " s:b}",
			      "provider", "openai", "model", model, "process",
			      "comm", comm, "http", "status", status, "usage",
			      "input_tokens", 120, "output_tokens", 30,
			      "cached_input_tokens", 20, "reasoning_tokens", 5,
			      "cache_write_tokens", 10, "duration_ms",
			      duration, "error", "incomplete", 0);

	assert_non_null(r);
	json_object_set_new(r, "ttft_ms",
			    ttft >= 0 ? json_real(ttft) : json_null());
	json_object_set_new(r, "cost_usd",
			    cost >= 0 ? json_real(cost) : json_null());
	return r;
}

static void add(struct prom *p, json_t *r)
{
	assert_int_equal(prom_add(p, r), 0);
	json_decref(r);
}

/* The value of the sample whose name and labels are exactly series. */
static double sample(const char *text, const char *series)
{
	size_t n = strlen(series);
	const char *line = text;

	while (line && *line) {
		if (!strncmp(line, series, n) && line[n] == ' ')
			return strtod(line + n + 1, NULL);
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	fail_msg("no sample %s", series);
	return NAN;
}

static int is_name_char(int c, int first)
{
	return isalpha(c) || c == '_' || c == ':' || (!first && isdigit(c));
}

/* One sample line: NAME[{LABELS}] VALUE. */
static void check_sample_line(const char *line, size_t len)
{
	const char *sp = memrchr(line, ' ', len);
	char *end;
	size_t i = 0;

	if (!sp)
		fail_msg("no value: %.*s", (int)len, line);
	while (i < len && is_name_char(line[i], i == 0))
		i++;
	if (i == 0 || (line[i] != '{' && line + i != sp))
		fail_msg("bad name: %.*s", (int)len, line);
	if (line[i] == '{' && sp[-1] != '}')
		fail_msg("bad labels: %.*s", (int)len, line);
	if (strncmp(sp + 1, "+Inf", 4))
		strtod(sp + 1, &end);
	else
		end = (char *)sp + 5;
	if (end != line + len)
		fail_msg("bad value: %.*s", (int)len, line);
}

/* Every line a comment or a sample; each family's TYPE once. */
static void check_format(const char *text)
{
	const char *line = text;
	int types = 0;

	assert_true(text[strlen(text) - 1] == '\n');
	while (*line) {
		const char *nl = strchr(line, '\n');

		assert_non_null(nl);
		if (!strncmp(line, "# TYPE ", 7))
			types++;
		else if (strncmp(line, "# HELP ", 7))
			check_sample_line(line, (size_t)(nl - line));
		line = nl + 1;
	}
	/* requests, errors, incomplete, tokens, cost, 2 histograms,
	 * 3 capture counters, evicted, store dropped, bodies cut,
	 * folded. */
	assert_int_equal(types, 14);
}

static void test_counts_and_format(void **state)
{
	struct prom *p = prom_new();
	size_t len;
	char *text;

	add(p, record("m", "curl", 200, 40, -1, 0.5));
	add(p, record("m", "curl", 429, 3000, 20, -1));
	add(p, record("m", "python3", 200, 400000, 1500, 0.25));
	prom_add_losses(p, 3, 2, 1);
	prom_add_losses(p, 1, 0, 0);

	text = prom_render(p, &len);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	check_format(text);
	assert_true(sample(text, "llmtap_requests_total" SET) == 2);
	assert_true(sample(text, "llmtap_errors_total" SET) == 1);
	assert_true(sample(text, "llmtap_tokens_total{provider=\"openai\","
				 "model=\"m\",process=\"curl\","
				 "type=\"cache_write\"}") == 20);
	assert_true(sample(text, "llmtap_cost_usd_total" SET) == 0.5);
	assert_true(sample(text, "llmtap_capture_ringbuf_drops_total") == 4);
	assert_true(sample(text, "llmtap_capture_truncated_calls_total") == 2);
	assert_true(sample(text, "llmtap_capture_read_failures_total") == 1);
	free(text);
	prom_free(p);
}

#define DUR "llmtap_request_duration_seconds"
#define LE(v) "{provider=\"openai\",model=\"m\",process=\"curl\",le=\"" v "\"}"

static void test_histograms(void **state)
{
	struct prom *p = prom_new();
	char *text;

	/* 40 ms, 3 s; the ttft of one stream, 20 ms. */
	add(p, record("m", "curl", 200, 40, -1, 0));
	add(p, record("m", "curl", 200, 3000, 20, 0));
	add(p, record("m", "curl", 200, 1e6, -1, 0));
	text = prom_render(p, NULL);
	assert_true(sample(text, DUR "_bucket" LE("0.025")) == 0);
	assert_true(sample(text, DUR "_bucket" LE("0.05")) == 1);
	assert_true(sample(text, DUR "_bucket" LE("2.5")) == 1);
	assert_true(sample(text, DUR "_bucket" LE("5")) == 2);
	assert_true(sample(text, DUR "_bucket" LE("300")) == 2);
	/* Past the last bound: only in +Inf. */
	assert_true(sample(text, DUR "_bucket" LE("+Inf")) == 3);
	assert_true(sample(text, DUR "_count" SET) == 3);
	assert_true(fabs(sample(text, DUR "_sum" SET) - 1003.04) < 1e-9);
	assert_true(sample(text, "llmtap_ttft_seconds_count" SET) == 1);
	assert_true(sample(text, "llmtap_ttft_seconds_bucket" LE("0.025")) ==
		    1);
	free(text);
	prom_free(p);
}

static void test_escaping(void **state)
{
	struct prom *p = prom_new();
	char *text;

	add(p, record("m", "a\"b\\c\nd", 200, 1, -1, 0));
	text = prom_render(p, NULL);
	check_format(text);
	assert_true(sample(text, "llmtap_requests_total{provider=\"openai\","
				 "model=\"m\",process=\"a\\\"b\\\\c\\nd\"}") ==
		    1);
	free(text);
	prom_free(p);
}

static void test_folding(void **state)
{
	struct prom *p = prom_new();
	const int n = PROM_MAX_LABEL_SETS + 50;
	struct prom_totals t;
	char model[32], *text;
	int i;

	for (i = 0; i < n; i++) {
		snprintf(model, sizeof(model), "model-%d", i);
		add(p, record(model, "curl", 200, 1, -1, 0));
	}
	/* A set seen before the limit keeps counting as itself. */
	add(p, record("model-0", "curl", 200, 1, -1, 0));
	prom_totals(p, &t);
	assert_int_equal(t.calls, n + 1);
	assert_int_equal(t.folded, 50);

	text = prom_render(p, NULL);
	check_format(text);
	assert_true(sample(text, "llmtap_requests_total{provider=\"openai\","
				 "model=\"other\",process=\"other\"}") == 50);
	assert_true(sample(text, "llmtap_requests_total{provider=\"openai\","
				 "model=\"model-0\",process=\"curl\"}") == 2);
	assert_true(sample(text, "llmtap_label_sets_folded_total") == 50);
	assert_null(strstr(text, "model-120"));
	free(text);
	prom_free(p);
}

/* Evictions arrive as deltas each housekeeping tick; the counter
 * is there, at 0, before the first. */
static void test_evicted(void **state)
{
	const char *name = "llmtap_connections_evicted_total";
	struct prom *p = prom_new();
	struct prom_totals t;
	char *text;

	text = prom_render(p, NULL);
	check_format(text);
	assert_true(sample(text, name) == 0);
	free(text);

	prom_add_loss(p, PROM_LOSS_EVICTED, 9000);
	prom_add_loss(p, PROM_LOSS_EVICTED, 0);
	prom_add_loss(p, PROM_LOSS_EVICTED, 1);
	prom_totals(p, &t);
	assert_int_equal(t.conns_evicted, 9001);
	text = prom_render(p, NULL);
	check_format(text);
	assert_true(sample(text, name) == 9001);
	free(text);
	prom_free(p);
}

static void test_store_dropped(void **state)
{
	const char *name = "llmtap_store_dropped_total";
	struct prom *p = prom_new();
	struct prom_totals t;
	char *text;

	prom_add_loss(p, PROM_LOSS_STORE_DROPPED, 3);
	prom_add_loss(p, PROM_LOSS_STORE_DROPPED, 4);
	prom_totals(p, &t);
	assert_int_equal(t.store_dropped, 7);
	text = prom_render(p, NULL);
	check_format(text);
	assert_true(sample(text, name) == 7);
	free(text);
	prom_free(p);
}

static void test_bad_input(void **state)
{
	struct prom *p = prom_new();
	json_t *s = json_string("x");
	char *text;

	assert_int_equal(prom_add(p, s), -EINVAL);
	assert_int_equal(prom_add(p, NULL), -EINVAL);
	json_decref(s);
	/* Nothing known about the call: it still counts, labels empty. */
	s = json_object();
	assert_int_equal(prom_add(p, s), 0);
	json_decref(s);
	text = prom_render(p, NULL);
	check_format(text);
	assert_true(sample(text, "llmtap_requests_total{provider=\"\","
				 "model=\"\",process=\"\"}") == 1);
	free(text);
	prom_free(p);
	prom_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_and_format),
		cmocka_unit_test(test_histograms),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_folding),
		cmocka_unit_test(test_evicted),
		cmocka_unit_test(test_store_dropped),
		cmocka_unit_test(test_bad_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
