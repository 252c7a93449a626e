// SPDX-License-Identifier: MIT
/* The recording format: what record writes, replay reads back the same,
 * and bad lines are reported and skipped without losing good ones. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "recline.h"
#include "record.h"

#define MAX_SEEN 16

/* What a replay delivered, copied out of the borrowed events. */
struct seen {
	int ndata, nconn, nproc, nloss;
	struct ev_data data[MAX_SEEN];
	uint8_t bytes[MAX_SEEN][256];
	struct ev_conn conn[MAX_SEEN];
	struct ev_proc proc[MAX_SEEN];
	struct ev_loss loss[MAX_SEEN];
};

static void seen_data(void *ctx, const struct ev_data *ev)
{
	struct seen *s = ctx;

	assert_true(s->ndata < MAX_SEEN);
	assert_true(ev->len <= sizeof(s->bytes[0]));
	s->data[s->ndata] = *ev;
	memcpy(s->bytes[s->ndata], ev->data, ev->len);
	s->data[s->ndata].data = s->bytes[s->ndata];
	s->ndata++;
}

static void seen_conn(void *ctx, const struct ev_conn *ev)
{
	struct seen *s = ctx;

	s->conn[s->nconn++] = *ev;
}

static void seen_proc(void *ctx, const struct ev_proc *ev)
{
	struct seen *s = ctx;

	s->proc[s->nproc++] = *ev;
}

static void seen_loss(void *ctx, const struct ev_loss *ev)
{
	struct seen *s = ctx;

	s->loss[s->nloss++] = *ev;
}

static struct ev_sink seen_sink(struct seen *s)
{
	return (struct ev_sink){ s, seen_data, seen_conn, seen_proc,
				 seen_loss };
}

static char *temp_path(void)
{
	char *path = strdup("/tmp/llmtap-test-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	return path;
}

static const struct ev_task task = {
	.ts_ns = 1796315683629580659ull, .pid = 4242, .tid = 4243,
	.uid = 1000, .comm = "python3",
};

/* Every chunk length mod 3, so base64 padding of 0, 1 and 2. */
static void write_sample(const char *path)
{
	struct recorder *r = recorder_open(path);
	struct ev_sink sink = recorder_sink(r);
	static const uint8_t bin[] = { 0, 1, 2, 0xff, '\n', '"', 0x80 };
	struct ev_data d = { .task = task, .conn = { 4242, 0x7fa30c00f690 },
			     .dir = EV_DIR_WRITE, .call_len = 7, .data = bin,
			     .len = 7 };
	struct ev_conn c = { .task = task, .conn = { 4242, 0x7fa30c00f690 },
			     .op = EV_CONN_FD, .fd = 5,
			     .peer = "127.0.0.1:443" };
	struct ev_proc p = { .task = task, .op = EV_PROC_EXEC, .ppid = 1,
			     .exe = "/usr/bin/python3.11" };
	struct ev_loss l = { .ts_ns = 5, .rb_drops = 3, .rb_drop_bytes = 900,
			     .trunc_calls = 1, .trunc_bytes = 77 };

	for (size_t len = 5; len <= 7; len++) {
		d.len = len;
		d.offset = 7 - len;
		d.truncated = len == 5;
		sink.on_data(sink.ctx, &d);
	}
	sink.on_conn(sink.ctx, &c);
	snprintf(c.host, sizeof(c.host), "api.openai.com");
	c.op = EV_CONN_SNI;
	sink.on_conn(sink.ctx, &c);
	sink.on_proc(sink.ctx, &p);
	sink.on_loss(sink.ctx, &l);
	assert_int_equal(recorder_lines(r), 1 + 3 + 2 + 1 + 1);
	assert_int_equal(recorder_close(r), 0);
}

static void test_round_trip(void **state)
{
	static const uint8_t bin[] = { 0, 1, 2, 0xff, '\n', '"', 0x80 };
	struct seen *s = calloc(1, sizeof(*s));
	struct ev_sink sink = seen_sink(s);
	struct replay_stats st;
	char *path = temp_path();

	write_sample(path);
	assert_int_equal(replay_file(path, &sink, &st), 0);
	assert_int_equal(st.bad_lines, 0);
	assert_int_equal(st.events, 7);

	assert_int_equal(s->ndata, 3);
	for (int i = 0; i < 3; i++) {
		struct ev_data *d = &s->data[i];

		assert_int_equal(d->len, 5 + i);
		assert_memory_equal(d->data, bin, d->len);
		assert_int_equal(d->task.ts_ns, task.ts_ns);
		assert_int_equal(d->task.tid, 4243);
		assert_int_equal(d->task.uid, 1000);
		assert_string_equal(d->task.comm, "python3");
		assert_int_equal(d->conn.pid, 4242);
		assert_int_equal(d->conn.ssl, 0x7fa30c00f690);
		assert_int_equal(d->dir, EV_DIR_WRITE);
		assert_int_equal(d->call_len, 7);
		assert_int_equal(d->offset, 2 - i);
		assert_int_equal(d->truncated, i == 0);
	}
	assert_int_equal(s->nconn, 2);
	assert_int_equal(s->conn[0].op, EV_CONN_FD);
	assert_int_equal(s->conn[0].fd, 5);
	assert_string_equal(s->conn[0].peer, "127.0.0.1:443");
	assert_string_equal(s->conn[1].host, "api.openai.com");
	assert_int_equal(s->nproc, 1);
	assert_string_equal(s->proc[0].exe, "/usr/bin/python3.11");
	assert_int_equal(s->nloss, 1);
	assert_int_equal(s->loss[0].rb_drops, 3);
	assert_int_equal(s->loss[0].trunc_bytes, 77);

	unlink(path);
	free(path);
	free(s);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Each bad line is counted and skipped; the good ones around it live. */
static void test_bad_lines(void **state)
{
	struct seen *s = calloc(1, sizeof(*s));
	struct ev_sink sink = seen_sink(s);
	struct replay_stats st;
	char *path = temp_path();

	write_text(path,
		   "{\"type\":\"recording\",\"version\":1}\n"
		   "not json at all\n"
		   "{\"type\":\"data\",\"ts\":1,\"pid\":2,\"conn\":\"2:ff\","
		   "\"dir\":\"write\",\"len\":3,\"offset\":0,\"data\":\"YWJj\"}\n"
		   "{\"type\":\"data\",\"ts\":1,\"pid\":2,\"conn\":\"2:ff\","
		   "\"dir\":\"sideways\",\"len\":3,\"offset\":0,"
		   "\"data\":\"YWJj\"}\n"
		   "{\"type\":\"data\",\"ts\":1,\"pid\":2,\"conn\":\"nope\","
		   "\"dir\":\"read\",\"len\":3,\"offset\":0,\"data\":\"YWJj\"}\n"
		   "{\"type\":\"data\",\"ts\":1,\"pid\":2,\"conn\":\"2:ff\","
		   "\"dir\":\"read\",\"len\":3,\"offset\":0,\"data\":\"Y!Jj=\"}\n"
		   "{\"type\":\"conn\",\"ts\":1,\"pid\":2,\"conn\":\"2:ff\","
		   "\"op\":\"teleport\"}\n"
		   "[1,2,3]\n"
		   "\n"
		   "{\"type\":\"future-thing\",\"x\":1}\n"
		   "{\"type\":\"data\",\"ts\":9,\"pid\":2,\"conn\":\"2:ff\","
		   "\"dir\":\"read\",\"len\":2,\"offset\":0,\"data\":\"b2s=\"}");
	assert_int_equal(replay_file(path, &sink, &st), 0);
	assert_int_equal(st.lines, 11);
	assert_int_equal(st.bad_lines, 6);
	assert_int_equal(st.events, 2);
	assert_int_equal(s->ndata, 2);
	assert_memory_equal(s->data[0].data, "abc", 3);
	assert_int_equal(s->data[1].len, 2);
	assert_memory_equal(s->data[1].data, "ok", 2);

	unlink(path);
	free(path);
	free(s);
}

static void test_missing_file(void **state)
{
	struct seen s = { 0 };
	struct ev_sink sink = seen_sink(&s);
	struct replay_stats st;

	assert_int_equal(replay_file("/nonexistent/rec.jsonl", &sink, &st),
			 -ENOENT);
}

/* What recline answers for key equals what jansson's tree says. */
static void same_as_jansson(const char *line, const char *key)
{
	json_t *o = json_loads(line, 0, NULL);
	json_t *v = json_object_get(o, key);
	char *copy = strdup(line);
	struct recline rl;
	int64_t n = 0;

	assert_int_equal(recline_parse(&rl, copy, strlen(copy)),
			 o ? 0 : -EINVAL);
	if (!o) {
		free(copy);
		return;
	}
	if (json_is_string(v))
		assert_string_equal(recline_str(&rl, key),
				    json_string_value(v));
	else
		assert_null(recline_str(&rl, key));
	assert_int_equal(recline_int(&rl, key, &n), json_is_integer(v));
	if (json_is_integer(v))
		assert_int_equal(n, json_integer_value(v));
	assert_int_equal(recline_true(&rl, key), json_is_true(v));
	recline_free(&rl);
	json_decref(o);
	free(copy);
}

/* Lines on the fast path and lines it leaves to jansson, valid or
 * not, read the same as through jansson alone. */
static void test_recline(void **state)
{
	static const char *const lines[] = {
		"{\"k\":\"abc\",\"n\":1}",
		" { \"k\" : 42 , \"k\" : \"last\" } ",
		"{\"k\":-0}",
		"{\"k\":9223372036854775807}",
		"{\"k\":9223372036854775808}",
		"{\"k\":-9223372036854775808}",
		"{\"k\":12345678901234567890123}",
		"{\"k\":007}",
		"{\"k\":1.5}",
		"{\"k\":1e3}",
		"{\"k\":true}",
		"{\"k\":truex}",
		"{\"k\":false}",
		"{\"k\":null}",
		"{\"k\":\"a\\\"b\\u00e9\"}",
		"{\"k\":\"caf\xc3\xa9\"}",
		"{\"k\":\"bad\xff\"}",
		"{\"k\":{\"x\":1}}",
		"{\"k\":[1,2]}",
		"{\"k\":1,}",
		"{\"k\":1} x",
		"{}",
		"[1,2]",
		"{\"k\"",
		"",
	};

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		same_as_jansson(lines[i], "k");
}

/* The fast path reads strings eight bytes at a time: a line with any
 * byte value at any place of a long string reads as jansson reads it,
 * valid or not. */
static void test_recline_every_byte(void **state)
{
	char line[128];

	for (int ch = 1; ch < 256; ch++) {
		for (int at = 0; at < 20; at++) {
			char s[21];

			memset(s, 'a', 20);
			s[20] = '\0';
			s[at] = (char)ch;
			snprintf(line, sizeof(line), "{\"k\":\"%s\"}", s);
			same_as_jansson(line, "k");
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_recline),
		cmocka_unit_test(test_recline_every_byte),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
