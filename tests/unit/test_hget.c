// SPDX-License-Identifier: MIT
/*
 * The `llmtap top` HTTP client's answer parser: a whole answer, every
 * prefix of it (need more), and the framings it refuses.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hget.h"

static const char ok_answer[] =
	"HTTP/1.1 200 OK\r\n"
	"Content-Type: application/json\r\n"
	"content-length: 11\r\n"
	"\r\n"
	"{\"a\": 1234}";

static void test_whole(void **state)
{
	struct hget_resp r;

	assert_int_equal(hget_parse(ok_answer, strlen(ok_answer), &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, 11);
	assert_string_equal(r.body, "{\"a\": 1234}");
	hget_resp_free(&r);
	hget_resp_free(NULL);
}

static void test_every_prefix_needs_more(void **state)
{
	struct hget_resp r;
	size_t n;

	for (n = 0; n < strlen(ok_answer); n++) {
		assert_int_equal(hget_parse(ok_answer, n, &r), -EAGAIN);
		assert_null(r.body);
	}
}

static void test_error_status(void **state)
{
	static const char a[] = "HTTP/1.1 503 Service Unavailable\r\n"
				"Content-Length: 2\r\n\r\n{}";
	struct hget_resp r;

	assert_int_equal(hget_parse(a, strlen(a), &r), 0);
	assert_int_equal(r.status, 503);
	assert_string_equal(r.body, "{}");
	hget_resp_free(&r);
}

static void test_refused(void **state)
{
	static const char *const bad[] = {
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
		"HTTP/1.1 200 OK\r\n\r\nno length",
		"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
		"SMTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
	};
	struct hget_resp r;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(hget_parse(bad[i], strlen(bad[i]), &r),
				 -EPROTO);
}

static void test_no_server(void **state)
{
	struct hget_resp r;

	assert_int_equal(hget("no-address", "/", 100, &r), -EINVAL);
	assert_int_equal(hget("127.0.0.1:99999", "/", 100, &r), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole),
		cmocka_unit_test(test_every_prefix_needs_more),
		cmocka_unit_test(test_error_status),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_no_server),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
