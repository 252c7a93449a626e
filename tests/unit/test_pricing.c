// SPDX-License-Identifier: MIT
/*
 * Prices from the shipped table (tools/pricing.json); every expected
 * cost is worked out by hand in the comment above its check, in USD
 * per million tokens.
 */
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pricing.h"

#define EPS 1e-12

static struct pricing *table;

#define assert_double_equal(got, want, eps) near((got), (want), (eps))

static void near(double got, double want, double eps)
{
	if (fabs(got - want) > eps)
		fail_msg("cost %.12g, want %.12g", got, want);
}

static int setup(void **state)
{
	table = pricing_load(NULL);
	return table ? 0 : -1;
}

static int teardown(void **state)
{
	pricing_free(table);
	return 0;
}

static double cost(const char *prov, const char *model,
		   const struct llm_usage *u)
{
	const struct price *pr = pricing_lookup(table, prov, model);

	assert_non_null(pr);
	return pricing_cost(pr, u);
}

static void test_openai_cached(void **state)
{
	struct llm_usage u = { .input_tokens = 1200, .output_tokens = 300,
			       .cached_input_tokens = 1024 };

	/* gpt-4o-mini 0.15 / cached 0.075 / out 0.60:
	 * 176 * 0.15 + 1024 * 0.075 + 300 * 0.60 = 26.4 + 76.8 + 180
	 * = 283.2 per 1e6 */
	assert_double_equal(cost("openai", "gpt-4o-mini-2024-07-18", &u),
			    283.2e-6, EPS);
}

static void test_longest_exact(void **state)
{
	struct llm_usage u = { .input_tokens = 1000, .output_tokens = 1000 };

	/* gpt-4o-2024-05-13 has its own entry, 5 / 15: 5000 + 15000 */
	assert_double_equal(cost("openai", "gpt-4o-2024-05-13", &u), 0.02,
			    EPS);
	/* any other dated gpt-4o is gpt-4o, 2.50 / 10: 2500 + 10000 */
	assert_double_equal(cost("openai", "gpt-4o-2024-08-06", &u), 0.0125,
			    EPS);
	/* gpt-4.1-mini is not gpt-4.1: 0.40 / 1.60: 400 + 1600 */
	assert_double_equal(cost("openai", "gpt-4.1-mini", &u), 0.002, EPS);
}

static void test_anthropic_cache(void **state)
{
	struct llm_usage u = { .input_tokens = 2600, .output_tokens = 50,
			       .cached_input_tokens = 2000,
			       .cache_write_tokens = 500 };

	/* claude-sonnet-4-5 3 / read 0.30 / write 3.75 / out 15:
	 * 100 * 3 + 2000 * 0.30 + 500 * 3.75 + 50 * 15
	 * = 300 + 600 + 1875 + 750 = 3525 */
	assert_double_equal(cost("anthropic", "claude-sonnet-4-5-20250929",
				 &u), 3525e-6, EPS);
	/* 200 of the writes are 1-hour ones at 6:
	 * 300 + 600 + 300 * 3.75 + 200 * 6 + 750 = 3975 */
	u.cache_write_1h_tokens = 200;
	assert_double_equal(cost("anthropic", "claude-sonnet-4-5", &u),
			    3975e-6, EPS);
}

static void test_long_context(void **state)
{
	struct llm_usage u = { .input_tokens = 200000, .output_tokens = 1000 };

	/* At the threshold, base prices: 200000 * 3 + 1000 * 15 = 615000 */
	assert_double_equal(cost("anthropic", "claude-sonnet-4", &u), 0.615,
			    EPS);
	/* Past it, all of it at 6 / 22.50: 1500000 + 22500 */
	u.input_tokens = 250000;
	assert_double_equal(cost("anthropic", "claude-sonnet-4", &u), 1.5225,
			    EPS);
	/* gemini-2.5-pro past 200k: 2.50 / 15: 625000 + 15000 */
	assert_double_equal(cost("gemini", "gemini-2.5-pro", &u), 0.64, EPS);
}

static void test_gemini_reasoning(void **state)
{
	struct llm_usage u = { .input_tokens = 1000, .output_tokens = 500,
			       .cached_input_tokens = 600,
			       .reasoning_tokens = 300 };

	/* gemini-2.5-flash 0.30 / cached 0.03 / out 2.50, reasoning at
	 * the output price: 400 * 0.30 + 600 * 0.03 + 200 * 2.5
	 * + 300 * 2.5 = 120 + 18 + 500 + 750 = 1388 */
	assert_double_equal(cost("gemini", "gemini-2.5-flash", &u), 1388e-6,
			    EPS);
}

static void test_suffixes_and_aliases(void **state)
{
	const struct price *pr;

	pr = pricing_lookup(table, "anthropic", "claude-3-5-sonnet-latest");
	assert_non_null(pr);
	assert_string_equal(pr->match, "claude-3-5-sonnet");
	pr = pricing_lookup(table, "anthropic", "claude-3-5-haiku@20241022");
	assert_string_equal(pr->match, "claude-3-5-haiku");
	pr = pricing_lookup(table, "xai", "grok-4-0709");
	assert_string_equal(pr->match, "grok-4");
	pr = pricing_lookup(table, "xai", "grok-4-fast-reasoning");
	assert_string_equal(pr->match, "grok-4-fast");
	assert_true(pr->prefix);
	pr = pricing_lookup(table, "azure", "gpt-4o-2024-11-20");
	assert_string_equal(pr->match, "gpt-4o");
	pr = pricing_lookup(table, "openrouter", "anthropic/claude-opus-4-1");
	assert_string_equal(pr->provider, "anthropic");
	pr = pricing_lookup(table, "vertex_ai", "gemini-2.0-flash-001");
	assert_string_equal(pr->match, "gemini-2.0-flash");
	pr = pricing_lookup(table, "gemini", "models/gemini-2.5-flash-lite");
	assert_string_equal(pr->match, "gemini-2.5-flash-lite");
	pr = pricing_lookup(table, "deepseek", "DeepSeek-Chat");
	assert_string_equal(pr->match, "deepseek-chat");
}

static void test_unknown(void **state)
{
	/* Unknown means no price, never a guess. */
	assert_null(pricing_lookup(table, "openai", "gpt-4o-audio-preview"));
	assert_null(pricing_lookup(table, "openai", "llama3"));
	assert_null(pricing_lookup(table, "openai_compatible", "gpt-4o"));
	assert_null(pricing_lookup(table, "openai", ""));
	assert_null(pricing_lookup(table, NULL, "gpt-4o"));
	assert_null(pricing_lookup(NULL, "openai", "gpt-4o"));
}

static char *write_tmp(const char *text)
{
	char *path = strdup("/tmp/test_pricing_XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_user_file(void **state)
{
	char *path = write_tmp("{\"updated\":\"2030-01-01\",\"models\":["
		"{\"provider\":\"openai\",\"match\":\"gpt-4o-mini\","
		"\"input\":1,\"output\":2,\"reasoning\":4},"
		"{\"provider\":\"openai_compatible\",\"match\":\"llama3*\","
		"\"input\":0.5,\"output\":0.5}]}");
	struct pricing *p = pricing_load(path);
	struct llm_usage u = { .input_tokens = 1000, .output_tokens = 1000,
			       .reasoning_tokens = 400 };
	const struct price *pr;

	assert_non_null(p);
	assert_string_equal(pricing_updated(p), "2030-01-01");
	/* The user's price wins: 1000 * 1 + 600 * 2 + 400 * 4 = 3800 */
	pr = pricing_lookup(p, "openai", "gpt-4o-mini");
	assert_double_equal(pricing_cost(pr, &u), 3800e-6, EPS);
	/* The shipped table is still there behind it. */
	assert_non_null(pricing_lookup(p, "anthropic", "claude-opus-4"));
	assert_non_null(pricing_lookup(p, "openai_compatible", "llama3.1:8b"));
	pricing_free(p);
	unlink(path);
	free(path);
}

static void test_bad_files(void **state)
{
	static const char *const bad[] = {
		"{\"models\": [", "[]", "{\"models\": {}}",
		"{\"models\":[{\"provider\":\"x\",\"match\":\"m\"}]}",
		"{\"models\":[{\"provider\":\"x\",\"match\":\"m\","
		"\"input\":-1,\"output\":1}]}",
		"{\"models\":[{\"provider\":\"x\",\"match\":\"m\","
		"\"input\":\"1\",\"output\":1}]}",
		"{\"models\":[{\"provider\":\"x\",\"match\":\"m\",\"input\":1,"
		"\"output\":1,\"long_context\":{\"input\":2,\"output\":2}}]}",
		"{\"models\":[7]}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *path = write_tmp(bad[i]);

		assert_null(pricing_load(path));
		unlink(path);
		free(path);
	}
	assert_null(pricing_load("/nonexistent/pricing.json"));
	pricing_free(NULL);
}

/* tools/pricing.json: relative to this source file as compiled, else
 * to the test binary (build/tests/), so any working directory works. */
static FILE *open_json_file(void)
{
	const char *tail = strstr(__FILE__, "tests/unit/test_pricing.c");
	char path[4096], exe[4096];
	ssize_t n;
	FILE *f;

	assert_non_null(tail);
	snprintf(path, sizeof(path), "%.*stools/pricing.json",
		 (int)(tail - __FILE__), __FILE__);
	f = fopen(path, "r");
	if (f)
		return f;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	snprintf(path, sizeof(path), "%s/../../tools/pricing.json",
		 dirname(exe));
	return fopen(path, "r");
}

static char *read_json_file(void)
{
	FILE *f = open_json_file();
	char *buf = calloc(1, 1 << 20);
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_shipped_matches_file(void **state)
{
	char *text = read_json_file();
	const char *upd = pricing_updated(table);

	assert_string_equal(text, pricing_shipped_json);
	free(text);
	/* Dated, and covering each provider the issue names. */
	assert_int_equal(strlen(upd), 10);
	assert_true(upd[4] == '-' && upd[7] == '-');
	assert_non_null(pricing_lookup(table, "openai", "gpt-5"));
	/* One model of each provider the issue names. */
	assert_non_null(pricing_lookup(table, "anthropic", "claude-opus-4-5"));
	assert_non_null(pricing_lookup(table, "gemini", "gemini-2.5-pro"));
	assert_non_null(pricing_lookup(table, "mistral", "mistral-large-2411"));
	assert_non_null(pricing_lookup(table, "deepseek", "deepseek-reasoner"));
	assert_non_null(pricing_lookup(table, "xai", "grok-3-mini"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_openai_cached),
		cmocka_unit_test(test_longest_exact),
		cmocka_unit_test(test_anthropic_cache),
		cmocka_unit_test(test_long_context),
		cmocka_unit_test(test_gemini_reasoning),
		cmocka_unit_test(test_suffixes_and_aliases),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_user_file),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_shipped_matches_file),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
