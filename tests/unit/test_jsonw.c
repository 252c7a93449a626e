// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "jsonw.h"

/* What w holds, read back by jansson: the writer's output must be
 * JSON any reader takes. */
static json_t *read_back(const struct jsonw *w)
{
	size_t len = 0;
	const char *text = jsonw_text(w, &len);
	json_error_t err;
	json_t *j;

	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	j = json_loadb(text, len, 0, &err);
	if (!j)
		fail_msg("not JSON (%s): %s", err.text, text);
	return j;
}

static void test_nesting_and_types(void **state)
{
	struct jsonw w = { 0 };
	json_t *j;

	jsonw_open(&w, NULL);
	jsonw_str(&w, "s", "text");
	jsonw_null(&w, "n");
	jsonw_str(&w, "absent", NULL);
	jsonw_open(&w, "inner");
	jsonw_u64(&w, "max", (uint64_t)INT64_MAX);
	jsonw_i64(&w, "neg", INT64_MIN);
	jsonw_open(&w, "empty");
	jsonw_close(&w);
	jsonw_close(&w);
	jsonw_bool(&w, "t", true);
	jsonw_bool(&w, "f", false);
	jsonw_raw(&w, "raw", "[1,{\"a\":2}]");
	jsonw_close(&w);

	j = read_back(&w);
	assert_string_equal(json_string_value(json_object_get(j, "s")),
			    "text");
	assert_true(json_is_null(json_object_get(j, "n")));
	assert_true(json_is_null(json_object_get(j, "absent")));
	assert_string_equal(jsonw_text(&w, &(size_t){ 0 }) +
				    strlen("{\"s\":\"text\",\"n\":null,"
					   "\"absent\":null,\"inner\":{"),
			    "\"max\":9223372036854775807,"
			    "\"neg\":-9223372036854775808,\"empty\":{}},"
			    "\"t\":true,\"f\":false,\"raw\":[1,{\"a\":2}]}");
	json_decref(j);
	jsonw_free(&w);
}

/* Every byte 1..255 in a string (valid UTF-8 around the high ones)
 * comes back as it went in. */
static void test_escapes(void **state)
{
	char in[160];
	size_t n = 0;
	struct jsonw w = { 0 };
	json_t *j;

	for (int ch = 1; ch < 128; ch++)
		in[n++] = (char)ch;
	memcpy(in + n, "\xc3\xa9\xe2\x82\xac", 5);	/* é € */
	n += 5;
	jsonw_open(&w, NULL);
	jsonw_strn(&w, "k\"ey\n", in, n);
	jsonw_close(&w);

	j = read_back(&w);
	assert_int_equal(json_string_length(json_object_get(j, "k\"ey\n")),
			 n);
	assert_memory_equal(json_string_value(json_object_get(j, "k\"ey\n")),
			    in, n);
	assert_non_null(strstr(jsonw_text(&w, &n), "\\n"));
	json_decref(j);
	jsonw_free(&w);
}

static void test_reals(void **state)
{
	struct jsonw w = { 0 };
	json_t *j;

	jsonw_open(&w, NULL);
	jsonw_real(&w, "whole", 3, 10);
	jsonw_real(&w, "small", 1.5e-7, 10);
	jsonw_real(&w, "cost", 0.0001234567891234, 10);
	jsonw_real(&w, "nan", 0.0 / 0.0, 10);
	jsonw_close(&w);

	j = read_back(&w);
	assert_true(json_is_real(json_object_get(j, "whole")));
	assert_true(json_real_value(json_object_get(j, "whole")) == 3.0);
	assert_true(json_real_value(json_object_get(j, "small")) == 1.5e-7);
	assert_true(json_real_value(json_object_get(j, "cost")) ==
		    0.0001234567891);
	assert_true(json_is_null(json_object_get(j, "nan")));
	json_decref(j);
	jsonw_free(&w);
}

/* Milliseconds to the microsecond: exact digits, always a real. */
static void test_milli(void **state)
{
	static const struct {
		uint64_t thousandths;
		const char *text;
	} cases[] = {
		{ 0, "0.0" },	   { 5, "0.005" },     { 10, "0.01" },
		{ 1000, "1.0" },   { 1500, "1.5" },    { 1234567, "1234.567" },
		{ 999999, "999.999" },
	};
	char want[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct jsonw w = { 0 };
		size_t len;

		jsonw_open(&w, NULL);
		jsonw_milli(&w, "ms", cases[i].thousandths);
		jsonw_close(&w);
		snprintf(want, sizeof(want), "{\"ms\":%s}", cases[i].text);
		assert_string_equal(jsonw_text(&w, &len), want);
		jsonw_free(&w);
	}
}

/* A reset writer starts a new text in the same buffer; a long one
 * grows it. */
static void test_reset_and_growth(void **state)
{
	struct jsonw w = { 0 };
	char *big = malloc(100000);
	size_t len = 0;
	json_t *j;

	memset(big, 'x', 99999);
	big[99999] = '\0';
	jsonw_open(&w, NULL);
	jsonw_str(&w, "a", "first");
	jsonw_close(&w);
	jsonw_reset(&w);
	jsonw_open(&w, NULL);
	jsonw_str(&w, "big", big);
	jsonw_close(&w);

	j = read_back(&w);
	assert_null(json_object_get(j, "a"));
	assert_int_equal(json_string_length(json_object_get(j, "big")),
			 99999);
	assert_true(jsonw_text(&w, &len)[0] == '{');
	json_decref(j);
	jsonw_free(&w);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nesting_and_types),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_reals),
		cmocka_unit_test(test_milli),
		cmocka_unit_test(test_reset_and_growth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
