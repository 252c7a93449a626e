// SPDX-License-Identifier: MIT
/*
 * The NDJSON line splitter: the same stream cut at every point and
 * every pair of points gives the same lines with the right arrival
 * times; oversize lines are cut and flagged, and the next line is
 * whole again.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ndjson.h"

#define MAX_LINES 16
#define TS_FINISH 999

struct got {
	size_t n;
	char *data[MAX_LINES];
	size_t len[MAX_LINES];
	uint64_t ts[MAX_LINES];
	bool over[MAX_LINES];
	bool unterm[MAX_LINES];
	int fail_at;	/* return -EIO on this line (1-based), 0 never */
};

static int collect(void *ctx, const struct ndjson_line *l)
{
	struct got *g = ctx;

	assert_true(g->n < MAX_LINES);
	assert_non_null(l->data);
	g->data[g->n] = strndup(l->data, l->len);
	g->len[g->n] = l->len;
	g->ts[g->n] = l->ts_ns;
	g->over[g->n] = l->oversize;
	g->unterm[g->n] = l->unterminated;
	g->n++;
	return g->fail_at && (int)g->n == g->fail_at ? -EIO : 0;
}

static void got_free(struct got *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->data[i]);
	memset(g, 0, sizeof(*g));
}

/* LF and CRLF ends, blank and whitespace-only lines (skipped), a
 * line with inner blanks, and a last line with no newline. */
static const char stream[] =
	"{\"model\":\"m\",\"done\":false}\n"
	"\n"
	"{\"a\": \"x y\"}\r\n"
	"  \t \r\n"
	"[1,2]\n"
	"{\"done\":true}";

static const char *const want[] = {
	"{\"model\":\"m\",\"done\":false}", "{\"a\": \"x y\"}", "[1,2]",
	"{\"done\":true}",
};
#define WANT_N 4

/* Where each wanted line's newline is; the last has none. */
static size_t nl_pos(size_t i)
{
	const char *s = strstr(stream, want[i]);

	return (size_t)(strchr(s, '\n') - stream);
}

/* Feeds stream cut at cuts[], arrival k at ts k, and checks. */
static void feed_cuts(const size_t *cuts, size_t ncuts)
{
	struct got g = { 0 };
	struct ndjson_parser *p = ndjson_parser_new(collect, &g);
	size_t n = strlen(stream), from = 0;

	assert_non_null(p);
	for (size_t k = 0; k <= ncuts; k++) {
		size_t to = k < ncuts ? cuts[k] : n;

		assert_int_equal(ndjson_parser_feed(p, stream + from,
						    to - from, k), 0);
		from = to;
	}
	assert_int_equal(ndjson_parser_finish(p, TS_FINISH), 0);
	assert_int_equal(g.n, WANT_N);
	assert_int_equal(ndjson_parser_lines(p), WANT_N);
	for (size_t i = 0; i < WANT_N; i++) {
		uint64_t ts = 0;

		assert_string_equal(g.data[i], want[i]);
		assert_false(g.over[i]);
		assert_int_equal(g.unterm[i], i == WANT_N - 1);
		if (i == WANT_N - 1) {
			assert_int_equal(g.ts[i], TS_FINISH);
			continue;
		}
		/* The arrival holding the newline completes the line. */
		for (size_t k = 0; k < ncuts; k++)
			ts += cuts[k] <= nl_pos(i);
		assert_int_equal(g.ts[i], ts);
	}
	ndjson_parser_free(p);
	got_free(&g);
}

static void test_whole(void **state)
{
	feed_cuts(NULL, 0);
}

static void test_every_split(void **state)
{
	size_t n = strlen(stream);

	for (size_t a = 0; a <= n; a++) {
		size_t one[1] = { a };

		feed_cuts(one, 1);
		for (size_t b = a; b <= n; b++) {
			size_t two[2] = { a, b };

			feed_cuts(two, 2);
		}
	}
}

static void test_byte_by_byte(void **state)
{
	size_t n = strlen(stream);
	size_t cuts[sizeof(stream)];

	for (size_t i = 0; i < n; i++)
		cuts[i] = i + 1;
	feed_cuts(cuts, n - 1);
}

/* A line over the limit, fed whole or in pieces, comes out once, cut
 * and flagged; the following line is whole. */
static void oversize(size_t piece)
{
	size_t big = NDJSON_LINE_MAX + 100;
	char *buf = malloc(big + 16);
	struct got g = { 0 };
	struct ndjson_parser *p = ndjson_parser_new(collect, &g);
	size_t total, off;

	assert_non_null(buf);
	memset(buf, 'x', big);
	memcpy(buf + big, "\n{\"ok\":1}\n", 10);
	total = big + 10;
	for (off = 0; off < total; off += piece) {
		size_t n = total - off < piece ? total - off : piece;

		assert_int_equal(ndjson_parser_feed(p, buf + off, n, 1), 0);
	}
	assert_int_equal(ndjson_parser_finish(p, 2), 0);
	assert_int_equal(g.n, 2);
	assert_true(g.over[0]);
	assert_int_equal(g.len[0], NDJSON_LINE_MAX);
	assert_false(g.over[1]);
	assert_string_equal(g.data[1], "{\"ok\":1}");
	ndjson_parser_free(p);
	got_free(&g);
	free(buf);
}

static void test_oversize(void **state)
{
	oversize(NDJSON_LINE_MAX * 2);	/* in place, one feed */
	oversize(1 << 20);	/* buffered across feeds */
	oversize(NDJSON_LINE_MAX - 1);	/* the limit hit mid-feed */
}

/* An oversize line cut by the end of the stream is flushed flagged. */
static void test_oversize_unterminated(void **state)
{
	size_t big = NDJSON_LINE_MAX + 1;
	char *buf = malloc(big);
	struct got g = { 0 };
	struct ndjson_parser *p = ndjson_parser_new(collect, &g);

	assert_non_null(buf);
	memset(buf, '7', big);
	assert_int_equal(ndjson_parser_feed(p, buf, 10, 1), 0);
	assert_int_equal(ndjson_parser_feed(p, buf + 10, big - 10, 2), 0);
	assert_int_equal(ndjson_parser_finish(p, 3), 0);
	assert_int_equal(g.n, 1);
	assert_true(g.over[0]);
	assert_true(g.unterm[0]);
	assert_int_equal(g.ts[0], 3);
	ndjson_parser_free(p);
	got_free(&g);
	free(buf);
}

static void test_callback_stops(void **state)
{
	struct got g = { .fail_at = 2 };
	struct ndjson_parser *p = ndjson_parser_new(collect, &g);

	assert_int_equal(ndjson_parser_feed(p, "1\n2\n3\n", 6, 0), -EIO);
	assert_int_equal(g.n, 2);
	ndjson_parser_free(p);
	got_free(&g);
}

static void test_empty(void **state)
{
	struct got g = { 0 };
	struct ndjson_parser *p = ndjson_parser_new(collect, &g);

	assert_int_equal(ndjson_parser_feed(p, "", 0, 0), 0);
	assert_int_equal(ndjson_parser_feed(p, "\n\r\n \n", 5, 0), 0);
	assert_int_equal(ndjson_parser_finish(p, 0), 0);
	assert_int_equal(g.n, 0);
	/* A lone CR left over at the end is blank too. */
	assert_int_equal(ndjson_parser_feed(p, "\r", 1, 0), 0);
	assert_int_equal(ndjson_parser_finish(p, 0), 0);
	assert_int_equal(g.n, 0);
	ndjson_parser_free(p);
	ndjson_parser_free(NULL);
	assert_int_equal(ndjson_parser_lines(NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole),
		cmocka_unit_test(test_every_split),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_oversize_unterminated),
		cmocka_unit_test(test_callback_stops),
		cmocka_unit_test(test_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
