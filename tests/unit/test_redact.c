// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redact.h"

static void test_headers(void **state)
{
	static const char *const secret[] = {
		"Authorization", "proxy-authorization", "X-API-Key", "api-key",
		"x-goog-api-key", "Cookie", "set-cookie", "Helicone-Auth",
	};
	static const char *const plain[] = {
		"Content-Type", "User-Agent", "Helicone-User-Id", "x-request-id",
		"anthropic-version", "Host",
	};

	for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
		assert_true(redact_header_is_secret(secret[i]));
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		assert_false(redact_header_is_secret(plain[i]));
}

struct path_case {
	const char *in;
	const char *out;
};

static const struct path_case paths[] = {
	{ "/v1/chat/completions", "/v1/chat/completions" },
	{ "/v1beta/models/g:generateContent?key=AIzaSyA-secret",
	  "/v1beta/models/g:generateContent?key=[REDACTED]" },
	{ "/x?alt=sse&key=abc&b=1", "/x?alt=sse&key=[REDACTED]&b=1" },
	{ "/x?API_KEY=1;access_token=2&monkey=3",
	  "/x?API_KEY=[REDACTED];access_token=[REDACTED]&monkey=3" },
	{ "/x?key", "/x?key" },
	{ "/x?key=", "/x?key=[REDACTED]" },
	{ "/x?&&key=a=b&", "/x?&&key=[REDACTED]&" },
	{ "/openai/deployments/d/chat/completions?api-version=2024-10-21",
	  "/openai/deployments/d/chat/completions?api-version=2024-10-21" },
};

static void test_paths(void **state)
{
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		char *r = redact_path(paths[i].in);

		assert_string_equal(r, paths[i].out);
		free(r);
	}
}

static void test_body_keys(void **state)
{
	static const char in[] =
		"{\"a\":\"sk-proj-AbCdEfGhIjKlMnOpQrStUvWx1234\","
		"\"b\":\"sk-ant-" "api03-abcdefghijklmnopqrstuvwxyz_0123\","
		"\"c\":\"AIza" "SyD3xAmPlE0123456789abcdefghijklmno\","
		"\"d\":\"task-" "abcdefghijklmnopqrstuvwxyz\","
		"\"e\":\"sk-short\"}";
	bool cut = true;
	char *r = redact_body(in, strlen(in), 4096, &cut);

	assert_false(cut);
	assert_null(strstr(r, "AbCdEf"));
	assert_null(strstr(r, "abcdefghijklmnopqrstuvwxyz_0123"));
	assert_null(strstr(r, "AIzaSy"));
	assert_non_null(strstr(r, "\"a\":\"[REDACTED]\""));
	assert_non_null(strstr(r, "\"c\":\"[REDACTED]\""));
	/* Not keys: inside a word, or too short to be one. */
	assert_non_null(strstr(r, "task-" "abcdefghijklmnopqrstuvwxyz"));
	assert_non_null(strstr(r, "sk-short"));
	free(r);
}

static void test_body_cut(void **state)
{
	/* "é" is two bytes: a cut must not split it. */
	static const char in[] = "ab\xc3\xa9" "cd";
	bool cut = false;
	char *r = redact_body(in, strlen(in), 3, &cut);

	assert_true(cut);
	assert_string_equal(r, "ab");
	free(r);
	/* A key across the cut is masked, not half shown. */
	r = redact_body("x sk-" "abcdefghijklmnopqrstuvwxyz", 31, 8, &cut);
	assert_true(cut);
	assert_string_equal(r, "x [REDAC");
	free(r);
}

static void test_body_bad_utf8(void **state)
{
	static const char in[] = "a\xff" "b\xc0\xaf" "c\xed\xa0\x80" "d";
	char *r = redact_body(in, strlen(in), 100, NULL);

	assert_string_equal(r, "a?b??c???d");
	free(r);
	r = redact_body("", 0, 10, NULL);
	assert_string_equal(r, "");
	free(r);
}

static void test_headers_json(void **state)
{
	struct hdr_list l = { 0 };
	json_t *j;
	char *s;

	hdr_list_add(&l, "Authorization", 13, "Bearer sk-live-123", 18);
	hdr_list_add(&l, "x-api-key", 9, "sk-ant-xyz", 10);
	hdr_list_add(&l, "Cookie", 6, "a=1", 3);
	hdr_list_add(&l, "Cookie", 6, "b=2", 3);
	hdr_list_add(&l, "Accept", 6, "text/event-stream", 17);
	hdr_list_add(&l, "X-Odd", 5, "\xff", 1);
	j = redact_headers_json(&l);
	s = json_dumps(j, JSON_COMPACT);
	assert_non_null(s);
	assert_null(strstr(s, "sk-live"));
	assert_null(strstr(s, "sk-ant"));
	assert_null(strstr(s, "a=1"));
	assert_string_equal(json_string_value(json_object_get(j, "Cookie")),
			    "[REDACTED], [REDACTED]");
	assert_string_equal(json_string_value(json_object_get(j, "Accept")),
			    "text/event-stream");
	assert_string_equal(json_string_value(json_object_get(j, "X-Odd")),
			    "?");
	free(s);
	json_decref(j);
	hdr_list_clear(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_body_keys),
		cmocka_unit_test(test_body_cut),
		cmocka_unit_test(test_body_bad_utf8),
		cmocka_unit_test(test_headers_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
