// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jview.h"

static int parse(struct jview *v, const char *text)
{
	return jview_parse(v, text, strlen(text));
}

static void test_lookups(void **state)
{
	static const char *const text =
		" {\"model\":\"gpt-4o\",\"stream\":true,\"n\":42,"
		"\"neg\":-3,\"real\":1.5,\"none\":null,\"off\":false,"
		"\"msgs\":[{\"role\":\"user\",\"content\":\"hi\"},"
		"[1,[2]],\"x\"],\"empty\":[],\"s\":\"\","
		"\"big\":99999999999999999999999} ";
	struct jview v = { 0 };
	int root, msgs;
	char *s;

	assert_int_equal(parse(&v, text), 0);
	root = jv_root(&v);
	assert_true(jv_is_object(&v, root));
	assert_int_equal(jv_size(&v, root), 11);
	s = jv_strdup(&v, jv_get(&v, root, "model"));
	assert_string_equal(s, "gpt-4o");
	free(s);
	assert_true(jv_is_true(&v, jv_get(&v, root, "stream")));
	assert_true(jv_is_false(&v, jv_get(&v, root, "off")));
	assert_true(jv_is_null(&v, jv_get(&v, root, "none")));
	assert_int_equal(jv_uint(&v, jv_get(&v, root, "n")), 42);
	/* Negative, real and missing read as 0; too big saturates. */
	assert_int_equal(jv_uint(&v, jv_get(&v, root, "neg")), 0);
	assert_int_equal(jv_uint(&v, jv_get(&v, root, "real")), 0);
	assert_false(jv_is_integer(&v, jv_get(&v, root, "real")));
	assert_int_equal(jv_uint(&v, jv_get(&v, root, "absent")), 0);
	assert_int_equal(jv_uint(&v, jv_get(&v, root, "big")), UINT64_MAX);

	msgs = jv_get(&v, root, "msgs");
	assert_int_equal(jv_size(&v, msgs), 3);
	assert_true(jv_str_eq(&v, jv_get(&v, jv_at(&v, msgs, 0), "role"),
			      "user"));
	assert_true(jv_is_array(&v, jv_at(&v, msgs, 1)));
	assert_true(jv_str_eq(&v, jv_at(&v, msgs, 2), "x"));
	assert_int_equal(jv_at(&v, msgs, 3), JV_NONE);
	assert_false(jv_nonempty(&v, jv_get(&v, root, "empty")));
	assert_false(jv_nonempty(&v, jv_get(&v, root, "s")));
	assert_true(jv_nonempty(&v, msgs));

	/* JV_NONE goes through every lookup. */
	assert_int_equal(jv_get(&v, JV_NONE, "a"), JV_NONE);
	assert_int_equal(jv_get(&v, msgs, "a"), JV_NONE);
	assert_null(jv_strdup(&v, JV_NONE));
	assert_false(jv_str_eq(&v, JV_NONE, ""));
	jview_free(&v);
}

struct esc_case {
	const char *json;	/* a string literal's inside */
	const char *want;
};

static void test_escapes(void **state)
{
	static const struct esc_case cases[] = {
		{ "plain", "plain" },
		{ "a\\\"b\\\\c\\/d", "a\"b\\c/d" },
		{ "\\b\\f\\n\\r\\t", "\b\f\n\r\t" },
		{ "\\u00e9\\u20AC", "\xc3\xa9\xe2\x82\xac" },
		{ "\\ud83d\\ude00", "\xf0\x9f\x98\x80" },	/* a pair */
		{ "x\\ud83dy", "x\xef\xbf\xbdy" },	/* lone: U+FFFD */
		{ "\\ude00", "\xef\xbf\xbd" },
	};
	char text[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct jview v = { 0 };
		char *s;
		int k;

		snprintf(text, sizeof(text), "{\"k\":\"%s\"}", cases[i].json);
		assert_int_equal(parse(&v, text), 0);
		k = jv_get(&v, jv_root(&v), "k");
		s = jv_strdup(&v, k);
		assert_string_equal(s, cases[i].want);
		assert_true(jv_str_eq(&v, k, cases[i].want));
		assert_int_equal(jv_has_escape(&v, k),
				 strchr(cases[i].json, '\\') != NULL);
		free(s);
		jview_free(&v);
	}
}

/* jv_is_plain reads eight bytes a step: an escape or a control byte
 * anywhere in a long string must still be seen; UTF-8 is plain. */
static void test_plain(void **state)
{
	static const char *const odd[] = { "\\n", "\t", "\x01", "\x1f" };
	struct jview utf8 = { 0 };
	char text[64], s[24];

	for (size_t o = 0; o < sizeof(odd) / sizeof(odd[0]); o++) {
		for (size_t at = 0; at + strlen(odd[o]) <= 20; at++) {
			struct jview v = { 0 };

			memset(s, 'a', 20);
			s[20] = '\0';
			memcpy(s + at, odd[o], strlen(odd[o]));
			snprintf(text, sizeof(text), "[\"%s\"]", s);
			assert_int_equal(parse(&v, text), 0);
			assert_false(jv_is_plain(&v, jv_at(&v, 0, 0)));
			jview_free(&v);
		}
	}
	assert_int_equal(parse(&utf8,
			       "[\"caf\xc3\xa9 au lait, 20 bytes\",1]"),
			 0);
	assert_true(jv_is_plain(&utf8, jv_at(&utf8, 0, 0)));
	assert_false(jv_is_plain(&utf8, jv_at(&utf8, 0, 1)));
	jview_free(&utf8);
}

/* What jansson refuses by default, the view refuses too (a body that
 * is cut or not JSON is reported, not half read). */
static void test_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"   ",
		"42",
		"\"text\"",
		"{\"a\":1",
		"{\"a\":1}}",
		"{\"a\":1} x",
		"{\"a\":1}{\"b\":2}",
		"{\"a\"}",
		"{\"a\":1,\"b\"}",
		"{1:2}",
		"[\"a\":1]",
		"{\"a\":\"unterminated}",
		"{\"a\":\"bad \\q escape\"}",
		"{\"a\":[1,2}",
		"{\"a\":tru e}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct jview v = { 0 };

		if (parse(&v, bad[i]) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
		assert_int_equal(jv_root(&v), JV_NONE);
		jview_free(&v);
	}
}

/* Past the first token array the view grows, and keeps working over
 * many siblings (a long conversation). */
static void test_large(void **state)
{
	size_t n = 20000, cap = n * 32 + 64, len = 0;
	char *text = malloc(cap);
	struct jview v = { 0 };
	int msgs, el;

	len += (size_t)snprintf(text + len, cap - len, "{\"messages\":[");
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, cap - len,
					"%s{\"role\":\"user\",\"n\":%zu}",
					i ? "," : "", i);
	len += (size_t)snprintf(text + len, cap - len, "],\"model\":\"m\"}");

	assert_int_equal(jview_parse(&v, text, len), 0);
	msgs = jv_get(&v, jv_root(&v), "messages");
	assert_int_equal(jv_size(&v, msgs), (int)n);
	el = jv_first(&v, msgs);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(jv_uint(&v, jv_get(&v, el, "n")), i);
		el = jv_skip(&v, el);
	}
	assert_true(jv_str_eq(&v, jv_get(&v, jv_root(&v), "model"), "m"));
	/* The same view reads a second text. */
	assert_int_equal(parse(&v, "[true]"), 0);
	assert_true(jv_is_true(&v, jv_at(&v, jv_root(&v), 0)));
	jview_free(&v);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
