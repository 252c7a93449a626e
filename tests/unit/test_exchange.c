// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "exchange.h"

#define KIB 1024

static void append_kib(struct body *b, size_t kib)
{
	static uint8_t chunk[KIB];

	memset(chunk, 'x', sizeof(chunk));
	for (size_t i = 0; i < kib; i++)
		assert_int_equal(body_append(b, chunk, sizeof(chunk), i), 0);
}

/* Past the process-wide budget a body is cut where it stands, marked
 * truncated and counted once; freeing bodies gives the room back. */
static void test_bodies_budget(void **state)
{
	struct body a = { 0 }, b = { 0 }, c = { 0 };
	uint64_t cut0 = exchange_bodies_cut();
	size_t held0 = exchange_bodies_held();

	exchange_set_bodies_budget(held0 + 1024 * KIB);
	append_kib(&a, 600);
	assert_int_equal(a.len, 600 * KIB);
	assert_false(a.truncated);

	append_kib(&b, 600);
	assert_true(b.truncated);
	assert_true(b.over_budget);
	assert_true(b.len < 600 * KIB);
	assert_int_equal(exchange_bodies_cut(), cut0 + 1);
	assert_true(exchange_bodies_held() <= held0 + 1024 * KIB);

	body_clear(&a);
	append_kib(&c, 300);
	assert_int_equal(c.len, 300 * KIB);
	assert_false(c.truncated);

	body_clear(&b);
	body_clear(&c);
	assert_int_equal(exchange_bodies_held(), held0);
	exchange_set_bodies_budget(EXCHANGE_BODIES_BUDGET);
}

/* The per-body limit still holds under the budget. */
static void test_body_limit(void **state)
{
	struct body b = { 0 };

	append_kib(&b, EXCHANGE_BODY_LIMIT / KIB + 10);
	assert_int_equal(b.len, EXCHANGE_BODY_LIMIT);
	assert_true(b.truncated);
	assert_false(b.over_budget);
	body_clear(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bodies_budget),
		cmocka_unit_test(test_body_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
