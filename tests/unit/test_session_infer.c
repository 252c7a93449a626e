// SPDX-License-Identifier: MIT
/*
 * Session inference: a conversation that grows turn by turn keeps its
 * session; another conversation, or the same one in another process,
 * does not join it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "session_infer.h"

#define T0 1700000000000000000ull
#define SEC 1000000000ull

static int assign(struct session_infer *si, uint32_t pid, uint64_t ts,
		  const char *body, char *id)
{
	return session_infer_assign(si, pid, ts, body, strlen(body), id);
}

static const char turn1[] =
	"{\"model\":\"gpt-4o\",\"messages\":["
	"{\"role\":\"system\",\"content\":\"be brief\"},"
	"{\"role\":\"user\",\"content\":\"hi\"}]}";
/* The answer comes back with keys the request never had. */
static const char turn2[] =
	"{\"model\":\"gpt-4o\",\"temperature\":0.2,\"messages\":["
	"{\"content\":\"be brief\",\"role\":\"system\"},"
	"{\"role\":\"user\",\"content\":\"hi\"},"
	"{\"role\":\"assistant\",\"content\":\"hello\",\"refusal\":null},"
	"{\"role\":\"user\",\"content\":\"more\"}]}";
static const char turn3[] =
	"{\"model\":\"gpt-4o\",\"messages\":["
	"{\"role\":\"system\",\"content\":\"be brief\"},"
	"{\"role\":\"user\",\"content\":\"hi\"},"
	"{\"role\":\"assistant\",\"content\":\"hello\"},"
	"{\"role\":\"user\",\"content\":\"more\"},"
	"{\"role\":\"assistant\",\"content\":[{\"type\":\"text\","
	"\"text\":\"ok\"}]},"
	"{\"role\":\"user\",\"content\":\"done\"}]}";
static const char other[] =
	"{\"model\":\"gpt-4o\",\"messages\":["
	"{\"role\":\"user\",\"content\":\"unrelated\"}]}";

static void test_multi_turn_joins(void **state)
{
	struct session_infer *si = session_infer_new();
	char a[SESSION_INFER_ID_LEN], b[SESSION_INFER_ID_LEN];
	char c[SESSION_INFER_ID_LEN];

	assert_int_equal(assign(si, 7, T0, turn1, a), 0);
	assert_int_equal(strncmp(a, "inf-", 4), 0);
	assert_int_equal(strlen(a), 20);
	assert_int_equal(assign(si, 7, T0 + SEC, turn2, b), 0);
	assert_int_equal(assign(si, 7, T0 + 2 * SEC, turn3, c), 0);
	assert_string_equal(a, b);
	assert_string_equal(a, c);
	session_infer_free(si);
}

static void test_unrelated_and_other_pid_do_not(void **state)
{
	struct session_infer *si = session_infer_new();
	char a[SESSION_INFER_ID_LEN], b[SESSION_INFER_ID_LEN];
	char c[SESSION_INFER_ID_LEN], d[SESSION_INFER_ID_LEN];

	assert_int_equal(assign(si, 7, T0, turn1, a), 0);
	assert_int_equal(assign(si, 7, T0 + SEC, other, b), 0);
	assert_string_not_equal(a, b);
	/* The same conversation, in another process. */
	assert_int_equal(assign(si, 8, T0 + SEC, turn2, c), 0);
	assert_string_not_equal(a, c);
	/* A changed system prompt is another conversation. */
	assert_int_equal(assign(si, 7, T0 + SEC,
		"{\"messages\":[{\"role\":\"system\",\"content\":\"be long\"},"
		"{\"role\":\"user\",\"content\":\"hi\"}]}", d), 0);
	assert_string_not_equal(a, d);
	session_infer_free(si);
}

static void test_expires_after_ttl(void **state)
{
	struct session_infer *si = session_infer_new();
	char a[SESSION_INFER_ID_LEN], b[SESSION_INFER_ID_LEN];

	assert_int_equal(assign(si, 7, T0, turn1, a), 0);
	assert_int_equal(assign(si, 7, T0 + SESSION_INFER_TTL_NS + SEC, turn2,
				b), 0);
	assert_string_not_equal(a, b);
	session_infer_free(si);
}

/* Anthropic's system and messages, Gemini's contents, responses' input. */
static void test_dialects(void **state)
{
	struct session_infer *si = session_infer_new();
	char a[SESSION_INFER_ID_LEN], b[SESSION_INFER_ID_LEN];

	assert_int_equal(assign(si, 1, T0, "{\"system\":\"s\",\"messages\":"
				"[{\"role\":\"user\",\"content\":\"q\"}]}", a), 0);
	assert_int_equal(assign(si, 1, T0, "{\"system\":\"s\",\"messages\":"
				"[{\"role\":\"user\",\"content\":\"q\"},"
				"{\"role\":\"assistant\",\"content\":\"r\"},"
				"{\"role\":\"user\",\"content\":\"q2\"}]}", b), 0);
	assert_string_equal(a, b);

	assert_int_equal(assign(si, 2, T0, "{\"contents\":[{\"role\":\"user\","
				"\"parts\":[{\"text\":\"q\"}]}]}", a), 0);
	assert_int_equal(assign(si, 2, T0, "{\"contents\":[{\"role\":\"user\","
				"\"parts\":[{\"text\":\"q\"}]},{\"role\":"
				"\"model\",\"parts\":[{\"text\":\"r\"}]}]}",
				b), 0);
	assert_string_equal(a, b);

	assert_int_equal(assign(si, 3, T0, "{\"input\":[{\"role\":\"user\","
				"\"content\":\"q\"}]}", a), 0);
	assert_int_equal(assign(si, 3, T0, "{\"input\":[{\"role\":\"user\","
				"\"content\":\"q\"},{\"type\":\"function_call\","
				"\"name\":\"f\"}]}", b), 0);
	assert_string_equal(a, b);
	session_infer_free(si);
}

/* Same process, same first messages: the same id, as a replay needs. */
static void test_ids_are_reproducible(void **state)
{
	struct session_infer *x = session_infer_new();
	struct session_infer *y = session_infer_new();
	char a[SESSION_INFER_ID_LEN], b[SESSION_INFER_ID_LEN];

	assert_int_equal(assign(x, 7, T0, turn1, a), 0);
	assert_int_equal(assign(y, 7, T0 + 5, turn1, b), 0);
	assert_string_equal(a, b);
	session_infer_free(x);
	session_infer_free(y);
}

static void test_no_conversation(void **state)
{
	struct session_infer *si = session_infer_new();
	char id[SESSION_INFER_ID_LEN];

	assert_int_equal(assign(si, 1, T0, "{\"input\":\"just text\"}", id),
			 -ENOENT);
	assert_int_equal(assign(si, 1, T0, "{\"messages\":[]}", id), -ENOENT);
	assert_int_equal(assign(si, 1, T0, "not json {", id), -ENOENT);
	assert_int_equal(assign(si, 1, T0, "[1,2]", id), -ENOENT);
	assert_int_equal(session_infer_assign(si, 1, T0, NULL, 0, id),
			 -ENOENT);
	session_infer_free(si);
	session_infer_free(NULL);
}

/* More conversations than the table holds: the oldest are forgotten,
 * the newest still join. */
static void test_bounded(void **state)
{
	struct session_infer *si = session_infer_new();
	char a[SESSION_INFER_ID_LEN], b[SESSION_INFER_ID_LEN];
	char body[128];

	for (int i = 0; i < SESSION_INFER_MAX_ENTRIES + 10; i++) {
		snprintf(body, sizeof(body), "{\"messages\":[{\"role\":"
			 "\"user\",\"content\":\"q%d\"}]}", i);
		assert_int_equal(assign(si, 1, T0, body, a), 0);
	}
	snprintf(body, sizeof(body), "{\"messages\":[{\"role\":\"user\","
		 "\"content\":\"q%d\"},{\"role\":\"user\",\"content\":\"x\"}]}",
		 SESSION_INFER_MAX_ENTRIES + 9);
	assert_int_equal(assign(si, 1, T0, body, b), 0);
	assert_string_equal(a, b);
	session_infer_free(si);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_multi_turn_joins),
		cmocka_unit_test(test_unrelated_and_other_pid_do_not),
		cmocka_unit_test(test_expires_after_ttl),
		cmocka_unit_test(test_dialects),
		cmocka_unit_test(test_ids_are_reproducible),
		cmocka_unit_test(test_no_conversation),
		cmocka_unit_test(test_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
