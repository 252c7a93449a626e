// SPDX-License-Identifier: MIT
/*
 * Session inference: a conversation that grows turn by turn keeps its
 * session; another conversation, or the same one in another process,
 * does not join it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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

static void conv(char *body, size_t len, int i, bool more)
{
	snprintf(body, len, "{\"messages\":[{\"role\":\"user\","
		 "\"content\":\"q%d\"}%s]}", i,
		 more ? ",{\"role\":\"user\",\"content\":\"x\"}" : "");
}

/* A full table forgets the least recently used conversation: one
 * used again (a retry) is kept over one that is older. */
static void test_lru(void **state)
{
	struct session_infer *si = session_infer_new();
	char a0[SESSION_INFER_ID_LEN], a1[SESSION_INFER_ID_LEN];
	char id[SESSION_INFER_ID_LEN], body[160];

	for (int i = 0; i < SESSION_INFER_MAX_ENTRIES; i++) {
		conv(body, sizeof(body), i, false);
		assert_int_equal(assign(si, 1, T0, body, id), 0);
		if (i < 2)
			memcpy(i ? a1 : a0, id, sizeof(id));
	}
	conv(body, sizeof(body), 0, false);
	assert_int_equal(assign(si, 1, T0, body, id), 0);
	conv(body, sizeof(body), SESSION_INFER_MAX_ENTRIES, false);
	assert_int_equal(assign(si, 1, T0, body, id), 0);

	conv(body, sizeof(body), 0, true);
	assert_int_equal(assign(si, 1, T0, body, id), 0);
	assert_string_equal(id, a0);
	conv(body, sizeof(body), 1, true);
	assert_int_equal(assign(si, 1, T0, body, id), 0);
	assert_string_not_equal(id, a1);
	session_infer_free(si);
}

/* Ids depend on the exact bytes hashed: these were made by the
 * json_dumps-based hashing the fast string path replaced, so a replay
 * of an old recording still names its sessions the same. */
static void test_stable_ids(void **state)
{
	static const char *const bodies[][2] = {
		{ "{\"messages\":[{\"role\":\"system\",\"content\":"
		  "\"a\\\"b\\\\c\\n\\t\\r\\b\\f\\u0001\\u001f\\u007f/"
		  "caf\\u00e9 \\ud83d\\ude00\"},{\"role\":\"user\","
		  "\"content\":[{\"type\":\"text\",\"text\":\"x\"}]}]}",
		  "inf-630abd3109418d9d" },
		{ "{\"system\":\"sys \\u000b\",\"messages\":[{\"role\":"
		  "\"user\",\"content\":\"plain\"}]}",
		  "inf-671503aa7e51c1ee" },
	};
	char id[SESSION_INFER_ID_LEN];

	for (size_t i = 0; i < 2; i++) {
		struct session_infer *si = session_infer_new();

		assert_int_equal(assign(si, 77, 1, bodies[i][0], id), 0);
		assert_string_equal(id, bodies[i][1]);
		session_infer_free(si);
	}
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
		cmocka_unit_test(test_lru),
		cmocka_unit_test(test_stable_ids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
