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

#include "sse.h"

#define MAX_EVENTS 16

struct got {
	size_t n;
	char type[MAX_EVENTS][SSE_TYPE_MAX];
	char *data[MAX_EVENTS];
	size_t len[MAX_EVENTS];
	uint64_t ts[MAX_EVENTS];
	bool over[MAX_EVENTS];
	bool unterm[MAX_EVENTS];
	int fail_at;	/* return -EIO on this event (1-based), 0 never */
};

static int collect(void *ctx, const struct sse_event *ev)
{
	struct got *g = ctx;

	assert_true(g->n < MAX_EVENTS);
	assert_true(strlen(ev->data) <= ev->len);
	assert_int_equal(ev->data[ev->len], '\0');
	snprintf(g->type[g->n], SSE_TYPE_MAX, "%s", ev->type);
	g->data[g->n] = strdup(ev->data);
	g->len[g->n] = ev->len;
	g->ts[g->n] = ev->ts_ns;
	g->over[g->n] = ev->oversize;
	g->unterm[g->n] = ev->unterminated;
	g->n++;
	return g->fail_at && (int)g->n == g->fail_at ? -EIO : 0;
}

static void got_free(struct got *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->data[i]);
	memset(g, 0, sizeof(*g));
}

/* Every line ending, a comment, id and retry, a multi-line event, a
 * field without a colon, no space after the colon, an event with no
 * data (not dispatched) and a lone CR at the very end. */
static const char stream[] =
	": keep-alive comment\r\n"
	"event: message_start\r\n"
	"data: {\"a\":1}\r\n"
	"\r\n"
	"id: 7\n"
	"retry: 1000\n"
	"data: line one\n"
	"data:line two\n"
	"data\n"
	"\n"
	"event: ping\r"
	"\r"
	"event: done\r"
	"data:  two spaces\r"
	"\r";

static const char *const want_type[] = { "message_start", "message",
					 "done" };
static const char *const want_data[] = { "{\"a\":1}",
					 "line one\nline two\n",
					 " two spaces" };
#define WANT_N 3

/* Feeds byte by byte with ts = index: each event's ts is then where
 * it was completed. */
static void dispatch_points(uint64_t *pos)
{
	struct got g = { 0 };
	struct sse_parser *p = sse_parser_new(collect, &g);
	size_t n = strlen(stream);

	for (size_t i = 0; i < n; i++)
		assert_int_equal(sse_parser_feed(p, stream + i, 1, i), 0);
	assert_int_equal(g.n, WANT_N);
	for (size_t i = 0; i < WANT_N; i++)
		pos[i] = g.ts[i];
	sse_parser_free(p);
	got_free(&g);
}

static void check_events(struct got *g, const size_t *cuts, size_t ncuts,
			 const uint64_t *pos)
{
	assert_int_equal(g->n, WANT_N);
	for (size_t i = 0; i < WANT_N; i++) {
		uint64_t want_ts = 0;

		assert_string_equal(g->type[i], want_type[i]);
		assert_string_equal(g->data[i], want_data[i]);
		assert_false(g->over[i]);
		for (size_t k = 0; k < ncuts; k++)
			want_ts += pos[i] >= cuts[k];
		assert_int_equal(g->ts[i], want_ts);
	}
}

static void feed_cuts(const size_t *cuts, size_t ncuts, const uint64_t *pos)
{
	struct got g = { 0 };
	struct sse_parser *p = sse_parser_new(collect, &g);
	size_t n = strlen(stream), from = 0;

	for (size_t k = 0; k <= ncuts; k++) {
		size_t to = k < ncuts ? cuts[k] : n;

		assert_int_equal(sse_parser_feed(p, stream + from, to - from,
						 k), 0);
		from = to;
	}
	assert_int_equal(sse_parser_finish(p, 99), 0);
	check_events(&g, cuts, ncuts, pos);
	sse_parser_free(p);
	got_free(&g);
}

static void test_whole(void **state)
{
	uint64_t pos[WANT_N];

	dispatch_points(pos);
	feed_cuts(NULL, 0, pos);
}

static void test_every_split(void **state)
{
	size_t n = strlen(stream);
	uint64_t pos[WANT_N];

	dispatch_points(pos);
	for (size_t i = 0; i <= n; i++)
		feed_cuts(&i, 1, pos);
}

static void test_every_two_splits(void **state)
{
	size_t n = strlen(stream);
	uint64_t pos[WANT_N];
	size_t cuts[2];

	dispatch_points(pos);
	for (cuts[0] = 0; cuts[0] <= n; cuts[0]++) {
		for (cuts[1] = cuts[0]; cuts[1] <= n; cuts[1]++)
			feed_cuts(cuts, 2, pos);
	}
}

static void test_oversize(void **state)
{
	size_t big = SSE_EVENT_MAX + 100;
	char *line = malloc(big + 8);
	struct got g = { 0 };
	struct sse_parser *p = sse_parser_new(collect, &g);
	static const char next[] = "\n\ndata: ok\n\n";

	memcpy(line, "data: ", 6);
	memset(line + 6, 'x', big);
	/* In pieces, as it would arrive. */
	for (size_t off = 0; off < big + 6; off += 4096) {
		size_t n = big + 6 - off < 4096 ? big + 6 - off : 4096;

		assert_int_equal(sse_parser_feed(p, line + off, n, 1), 0);
	}
	assert_int_equal(sse_parser_feed(p, next, strlen(next), 2), 0);
	assert_int_equal(g.n, 2);
	assert_true(g.over[0]);
	assert_true(g.len[0] <= SSE_EVENT_MAX);
	assert_false(g.over[1]);
	assert_string_equal(g.data[1], "ok");
	sse_parser_free(p);
	got_free(&g);
	free(line);
}

static void test_finish_unterminated(void **state)
{
	static const char s[] = "data: {\"x\":1}\n\ndata: last";
	struct got g = { 0 };
	struct sse_parser *p = sse_parser_new(collect, &g);

	assert_int_equal(sse_parser_feed(p, s, strlen(s), 5), 0);
	assert_int_equal(g.n, 1);
	assert_false(g.unterm[0]);
	assert_int_equal(sse_parser_finish(p, 6), 0);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.data[1], "last");
	assert_true(g.unterm[1]);
	assert_int_equal(g.ts[1], 6);
	assert_int_equal(sse_parser_events(p), 2);
	sse_parser_free(p);
	got_free(&g);
}

static void test_callback_stops(void **state)
{
	static const char s[] = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
	struct got g = { .fail_at = 2 };
	struct sse_parser *p = sse_parser_new(collect, &g);

	assert_int_equal(sse_parser_feed(p, s, strlen(s), 0), -EIO);
	assert_int_equal(g.n, 2);
	sse_parser_free(p);
	got_free(&g);
}

static void test_binary_and_null(void **state)
{
	/* A NUL inside data cuts the C string but must not crash. */
	static const char s[] = "data: a\0b\n\n\xff\xfe: \n\n";
	struct got g = { 0 };
	struct sse_parser *p = sse_parser_new(collect, &g);

	sse_parser_free(NULL);
	assert_int_equal(sse_parser_events(NULL), 0);
	assert_int_equal(sse_parser_feed(p, s, sizeof(s) - 1, 0), 0);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.len[0], 3);
	sse_parser_free(p);
	got_free(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole),
		cmocka_unit_test(test_every_split),
		cmocka_unit_test(test_every_two_splits),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_finish_unterminated),
		cmocka_unit_test(test_callback_stops),
		cmocka_unit_test(test_binary_and_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
