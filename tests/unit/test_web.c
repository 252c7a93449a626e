// SPDX-License-Identifier: MIT
/*
 * The dashboard's built-in files: each path finds its file with the
 * right content type; nothing outside /assets/ or with a '/' in its
 * name is found.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "web.h"

static void expect_file(const char *url, const char *type,
			const char *starts)
{
	struct web_asset a;

	assert_int_equal(web_find(url, &a), 0);
	assert_string_equal(a.type, type);
	assert_true(a.len > strlen(starts));
	assert_memory_equal(a.data, starts, strlen(starts));
}

static void test_files(void **state)
{
	expect_file("/", "text/html; charset=utf-8", "<!DOCTYPE html>");
	expect_file("/assets/index.html", "text/html; charset=utf-8",
		    "<!DOCTYPE html>");
	expect_file("/assets/app.js", "text/javascript; charset=utf-8",
		    "// llmtap dashboard");
	expect_file("/assets/style.css", "text/css; charset=utf-8",
		    "/* llmtap dashboard");
}

static void test_not_found(void **state)
{
	static const char *const urls[] = {
		"/assets/", "/assets/nothing.js", "/assets/../app.js",
		"/assets/x/app.js", "/app.js", "/index.html", "/healthz",
	};
	struct web_asset a;
	size_t i;

	for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++)
		assert_int_equal(web_find(urls[i], &a), -ENOENT);
	assert_true(web_is_path("/"));
	assert_true(web_is_path("/assets/x"));
	assert_false(web_is_path("/api/v1/calls"));
}

static void test_csp_self_only(void **state)
{
	assert_non_null(strstr(WEB_CSP, "default-src 'self'"));
	assert_null(strstr(WEB_CSP, "unsafe"));
	assert_null(strstr(WEB_CSP, "*"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_csp_self_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
