// SPDX-License-Identifier: MIT
/* Tests for user/pipeline.c: capture events for several connections
 * come out as the right exchanges, with where and who filled in and
 * secrets masked; closes, exits, losses and idleness end them. */
#include <errno.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pipeline.h"

#define MAX_GOT 32
#define PID_A 100
#define PID_B 200

struct got {
	uint64_t ssl;
	uint32_t pid;
	char method[16];
	char path[128];
	char auth[64];
	char sni[64];
	char peer[64];
	char exe[256];
	char user[64];
	int status;
	char resp_body[256];
	bool incomplete, gap;
	char note[128];
};

static struct got got[MAX_GOT];
static size_t ngot;
static uint64_t clock_ns = 1000000;

/* Copies what fits: the fields checked are short. */
static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n;

	src = src ? src : "(null)";
	n = strlen(src);
	n = n < size ? n : size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void on_exchange(void *ctx, struct http_exchange *ex)
{
	struct got *g;

	/* Beyond MAX_GOT exchanges are only counted. */
	if (ngot++ >= MAX_GOT)
		return;
	g = &got[ngot - 1];
	g->ssl = ex->conn.ssl;
	g->pid = ex->conn.pid;
	copy_str(g->method, sizeof(g->method), ex->method);
	copy_str(g->path, sizeof(g->path), ex->path);
	copy_str(g->auth, sizeof(g->auth),
		 hdr_list_get(&ex->req_headers, "authorization"));
	copy_str(g->sni, sizeof(g->sni), ex->sni);
	copy_str(g->peer, sizeof(g->peer), ex->peer);
	copy_str(g->exe, sizeof(g->exe), ex->proc.exe);
	copy_str(g->user, sizeof(g->user), ex->proc.user);
	g->status = ex->status;
	copy_str(g->resp_body, sizeof(g->resp_body),
		 (const char *)ex->resp_body.data);
	g->incomplete = ex->incomplete;
	g->gap = ex->capture_gap;
	copy_str(g->note, sizeof(g->note), ex->note);
}

static struct pipeline *pl_new(bool no_procfs)
{
	struct pipeline_opts o = {
		.sink = { NULL, on_exchange },
		.no_procfs = no_procfs,
	};
	struct pipeline *p = pipeline_new(&o);

	assert_non_null(p);
	ngot = 0;
	return p;
}

static struct ev_task task_of(uint32_t pid)
{
	struct ev_task t = { .ts_ns = ++clock_ns, .pid = pid, .tid = pid,
			     .uid = getuid() };

	snprintf(t.comm, sizeof(t.comm), "client");
	return t;
}

/* One chunk of one call: offset within it, the call's full length. */
static void data_at(struct pipeline *p, uint32_t pid, uint64_t ssl,
		    enum ev_dir dir, const char *s, size_t len,
		    uint64_t offset, uint64_t call_len)
{
	struct ev_sink k = pipeline_ev_sink(p);
	struct ev_data ev = {
		.task = task_of(pid),
		.conn = { pid, ssl },
		.dir = dir,
		.call_len = call_len,
		.offset = offset,
		.truncated = call_len > offset + len,
		.data = (const uint8_t *)s,
		.len = len,
	};

	k.on_data(k.ctx, &ev);
}

/* A whole call in one chunk. */
static void data(struct pipeline *p, uint32_t pid, uint64_t ssl,
		 enum ev_dir dir, const char *s)
{
	data_at(p, pid, ssl, dir, s, strlen(s), 0, strlen(s));
}

static void conn_ev(struct pipeline *p, uint32_t pid, uint64_t ssl,
		    enum ev_conn_op op, const char *text)
{
	struct ev_sink k = pipeline_ev_sink(p);
	struct ev_conn ev = { .task = task_of(pid), .conn = { pid, ssl },
			      .op = op, .fd = 7 };

	if (op == EV_CONN_SNI)
		snprintf(ev.host, sizeof(ev.host), "%s", text);
	if (op == EV_CONN_FD)
		snprintf(ev.peer, sizeof(ev.peer), "%s", text);
	k.on_conn(k.ctx, &ev);
}

static void proc_ev(struct pipeline *p, uint32_t pid, enum ev_proc_op op,
		    const char *exe)
{
	struct ev_sink k = pipeline_ev_sink(p);
	static struct ev_proc ev;

	memset(&ev, 0, sizeof(ev));
	ev.task = task_of(pid);
	ev.op = op;
	snprintf(ev.exe, sizeof(ev.exe), "%s", exe);
	k.on_proc(k.ctx, &ev);
}

static struct pipeline_stats stats(struct pipeline *p)
{
	struct pipeline_stats st;

	pipeline_get_stats(p, &st);
	return st;
}

static const char req_a[] =
	"POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n"
	"Authorization: Bearer sk-secret-a\r\nContent-Length: 2\r\n\r\n{}";
static const char req_b[] =
	"POST /v1beta/models/g:generateContent?key=AIzaSECRET&alt=sse "
	"HTTP/1.1\r\nHost: generativelanguage.googleapis.com\r\n"
	"x-goog-api-key: AIzaSECRET\r\nContent-Length: 0\r\n\r\n";
static const char resp_ok[] =
	"HTTP/1.1 200 OK\r\nSet-Cookie: s=1\r\nContent-Length: 5\r\n\r\n"
	"hello";

/* Two connections of one process, their calls interleaved and cut
 * into chunks: each exchange comes out whole, on its own connection. */
static void test_interleaved(void **state)
{
	struct pipeline *p = pl_new(true);
	size_t la = strlen(req_a), lr = strlen(resp_ok);

	proc_ev(p, PID_A, EV_PROC_EXEC, "/usr/bin/python3");
	conn_ev(p, PID_A, 1, EV_CONN_SNI, "api.openai.com");
	conn_ev(p, PID_A, 1, EV_CONN_FD, "10.0.0.1:443");
	conn_ev(p, PID_A, 2, EV_CONN_SNI, "generativelanguage.googleapis.com");

	data_at(p, PID_A, 1, EV_DIR_WRITE, req_a, 10, 0, la);
	data(p, PID_A, 2, EV_DIR_WRITE, req_b);
	data_at(p, PID_A, 1, EV_DIR_WRITE, req_a + 10, la - 10, 10, la);
	data_at(p, PID_A, 2, EV_DIR_READ, resp_ok, 30, 0, lr);
	data(p, PID_A, 1, EV_DIR_READ, resp_ok);
	assert_int_equal(ngot, 1);
	data_at(p, PID_A, 2, EV_DIR_READ, resp_ok + 30, lr - 30, 30, lr);
	assert_int_equal(ngot, 2);

	assert_int_equal(got[0].ssl, 1);
	assert_string_equal(got[0].path, "/v1/chat/completions");
	assert_string_equal(got[0].sni, "api.openai.com");
	assert_string_equal(got[0].peer, "10.0.0.1:443");
	assert_string_equal(got[0].exe, "/usr/bin/python3");
	assert_string_equal(got[0].resp_body, "hello");
	assert_false(got[0].incomplete || got[0].gap);
	assert_int_equal(got[1].ssl, 2);
	assert_string_equal(got[1].sni, "generativelanguage.googleapis.com");
	assert_string_equal(got[1].peer, "");
	assert_int_equal(got[1].status, 200);

	/* No credential leaves the pipeline. */
	assert_null(strstr(got[0].auth, "sk-secret"));
	assert_string_not_equal(got[0].auth, "(null)");
	assert_null(strstr(got[1].path, "AIzaSECRET"));
	assert_non_null(strstr(got[1].path, "alt=sse"));

	assert_int_equal(stats(p).conns, 2);
	assert_int_equal(stats(p).exchanges, 2);
	assert_int_equal(stats(p).gaps, 0);
	pipeline_free(p);
}

static void test_close_and_exit(void **state)
{
	struct pipeline *p = pl_new(true);

	data(p, PID_A, 1, EV_DIR_WRITE, req_a);
	data(p, PID_B, 1, EV_DIR_WRITE, req_a);
	data(p, PID_B, 2, EV_DIR_WRITE, req_b);
	data(p, PID_B, 2, EV_DIR_READ, "HTTP/1.1 200 OK\r\n\r\npartial");

	conn_ev(p, PID_A, 1, EV_CONN_CLOSE, "");
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].pid, PID_A);
	assert_true(got[0].incomplete);
	assert_string_equal(got[0].note, "connection closed");

	/* A close for a connection never seen is harmless. */
	conn_ev(p, PID_A, 99, EV_CONN_CLOSE, "");
	assert_int_equal(ngot, 1);

	proc_ev(p, PID_B, EV_PROC_EXIT, "");
	assert_int_equal(ngot, 3);
	for (size_t i = 1; i < 3; i++) {
		assert_int_equal(got[i].pid, PID_B);
		assert_true(got[i].incomplete || got[i].ssl == 2);
	}
	/* The body without a length was ended by the exit: complete. */
	for (size_t i = 1; i < 3; i++) {
		if (got[i].ssl == 1)
			assert_string_equal(got[i].note, "process exited");
		else
			assert_string_equal(got[i].resp_body, "partial");
	}

	/* The same SSL pointer afterwards is a new connection. */
	data(p, PID_B, 1, EV_DIR_WRITE, req_b);
	data(p, PID_B, 1, EV_DIR_READ, resp_ok);
	assert_int_equal(ngot, 4);
	assert_false(got[3].incomplete);
	assert_int_equal(stats(p).conns, 4);
	pipeline_free(p);
	assert_int_equal(ngot, 4);
}

static void test_non_http(void **state)
{
	struct pipeline *p = pl_new(true);

	/* Capture joined mid-way: a read first, then a write that does
	 * not start a call; neither decides anything. */
	data(p, PID_A, 1, EV_DIR_READ, resp_ok);
	data_at(p, PID_A, 1, EV_DIR_WRITE, "xx", 2, 5, 7);
	data(p, PID_A, 1, EV_DIR_WRITE, "\x16\x03\x01 not http at all");
	data(p, PID_A, 1, EV_DIR_WRITE, req_a);
	data(p, PID_A, 1, EV_DIR_READ, resp_ok);
	assert_int_equal(ngot, 0);
	assert_int_equal(stats(p).non_http, 1);

	/* A request line split before its space still sniffs as HTTP/1. */
	data_at(p, PID_A, 2, EV_DIR_WRITE, req_a, 2, 0, strlen(req_a));
	data_at(p, PID_A, 2, EV_DIR_WRITE, req_a + 2, strlen(req_a) - 2, 2,
		strlen(req_a));
	data(p, PID_A, 2, EV_DIR_READ, resp_ok);
	assert_int_equal(ngot, 1);
	assert_string_equal(got[0].method, "POST");

	/* The HTTP/2 preface goes to the HTTP/2 parser, not counted as
	 * other traffic. */
	data(p, PID_A, 3, EV_DIR_WRITE, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
	assert_int_equal(stats(p).non_http, 1);
	assert_int_equal(stats(p).conns, 3);
	pipeline_free(p);
}

/* Parse errors stop one connection and hand on what it had. */
static void test_parse_error(void **state)
{
	struct pipeline *p = pl_new(true);

	data(p, PID_A, 1, EV_DIR_WRITE, req_a);
	data(p, PID_A, 1, EV_DIR_READ, "HTTP/1.1 OK\r\n\r\n");
	assert_int_equal(stats(p).parse_errors, 1);
	assert_int_equal(ngot, 1);
	assert_true(got[0].incomplete);
	data(p, PID_A, 1, EV_DIR_READ, resp_ok);
	assert_int_equal(ngot, 1);
	assert_int_equal(stats(p).parse_errors, 1);
	pipeline_free(p);
}

/* A hole in a call's offsets, or a call that ended short of its
 * length, is a gap: the exchange is flagged, the next one is fine. */
static void test_gaps(void **state)
{
	struct pipeline *p = pl_new(true);
	size_t lr = strlen(resp_ok);

	data(p, PID_A, 1, EV_DIR_WRITE, req_a);
	data_at(p, PID_A, 1, EV_DIR_READ, resp_ok, 20, 0, lr);
	data_at(p, PID_A, 1, EV_DIR_READ, resp_ok + 30, lr - 30, 30, lr);
	assert_int_equal(stats(p).gaps, 1);
	assert_int_equal(ngot, 1);
	assert_true(got[0].gap && got[0].incomplete);

	/* Cut at the capture cap: the call moved 1000 bytes, 20 came. */
	data(p, PID_A, 1, EV_DIR_WRITE, req_a);
	data_at(p, PID_A, 1, EV_DIR_READ, resp_ok, 20, 0, 1000);
	data(p, PID_A, 1, EV_DIR_WRITE, req_a);
	data(p, PID_A, 1, EV_DIR_READ, resp_ok);
	assert_int_equal(stats(p).gaps, 2);
	assert_int_equal(ngot, 3);
	assert_true(got[1].gap);
	assert_false(got[2].gap || got[2].incomplete);
	assert_string_equal(got[2].resp_body, "hello");
	pipeline_free(p);
}

static void test_loss(void **state)
{
	struct pipeline *p = pl_new(true);
	struct ev_sink k = pipeline_ev_sink(p);
	struct ev_loss none = { .trunc_calls = 3 };
	struct ev_loss drops = { .rb_drops = 2 };

	data(p, PID_A, 1, EV_DIR_WRITE, req_a);
	data(p, PID_A, 2, EV_DIR_WRITE, req_a);
	data_at(p, PID_A, 2, EV_DIR_READ, resp_ok, 20, 0, strlen(resp_ok));
	k.on_loss(k.ctx, &none);
	assert_int_equal(stats(p).gaps, 0);
	k.on_loss(k.ctx, &drops);
	assert_int_equal(stats(p).gaps, 4);
	/* The response being read lost its place and leaves flagged. */
	assert_int_equal(ngot, 1);
	assert_true(got[0].gap);
	assert_int_equal(got[0].ssl, 2);
	pipeline_free(p);
	assert_int_equal(ngot, 2);
	assert_string_equal(got[1].note, "capture stopped");
}

static void test_idle(void **state)
{
	struct pipeline *p = pl_new(true);
	uint64_t t0;

	data(p, PID_A, 1, EV_DIR_WRITE, req_a);
	t0 = clock_ns;
	data(p, PID_A, 2, EV_DIR_WRITE, req_b);
	pipeline_tick(p, t0 + PIPELINE_IDLE_NS - 1);
	assert_int_equal(ngot, 0);
	pipeline_tick(p, t0 + PIPELINE_IDLE_NS);
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].ssl, 1);
	assert_string_equal(got[0].note, "idle timeout");
	pipeline_free(p);
	assert_int_equal(ngot, 2);
}

/* Live mode reads who made the call from /proc: here, this test. */
static void test_proc_live(void **state)
{
	struct pipeline *p = pl_new(false);
	uint32_t me = getpid();
	struct passwd *pw = getpwuid(getuid());
	char exe[256] = "";
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	assert_true(n > 0);
	exe[n] = '\0';
	data(p, me, 1, EV_DIR_WRITE, req_a);
	data(p, me, 1, EV_DIR_READ, resp_ok);
	assert_int_equal(ngot, 1);
	assert_string_equal(got[0].exe, exe);
	assert_string_equal(got[0].user, pw ? pw->pw_name : "");
	pipeline_free(p);
}

static void test_container_id(void **state)
{
	static const char id[] = "0123456789abcdef0123456789abcdef"
				 "0123456789abcdef0123456789abcdef";
	char text[1024], out[80];

	snprintf(text, sizeof(text), "0::/system.slice/docker-%s.scope\n",
		 id);
	assert_int_equal(pipeline_container_id(text, out, sizeof(out)), 0);
	assert_string_equal(out, id);

	snprintf(text, sizeof(text), "12:pids:/user.slice\n"
		 "1:name=systemd:/kubepods/besteffort/pod1/"
		 "cri-containerd-%s.scope\n", id);
	assert_int_equal(pipeline_container_id(text, out, sizeof(out)), 0);
	assert_string_equal(out, id);

	snprintf(text, sizeof(text), "0::/machine.slice/libpod-%s\n", id);
	assert_int_equal(pipeline_container_id(text, out, sizeof(out)), 0);

	/* 64 hex outside a runtime path, 63 or 65 hex inside one. */
	snprintf(text, sizeof(text), "0::/user.slice/%s\n", id);
	assert_int_equal(pipeline_container_id(text, out, sizeof(out)),
			 -ENOENT);
	assert_string_equal(out, "");
	snprintf(text, sizeof(text), "0::/docker/%.63s\n0::/docker/%sa\n",
		 id, id);
	assert_int_equal(pipeline_container_id(text, out, sizeof(out)),
			 -ENOENT);
	assert_int_equal(pipeline_container_id("", out, sizeof(out)),
			 -ENOENT);
}

/* Many connections: the table grows and every one is still found. */
static void test_many_conns(void **state)
{
	struct pipeline *p = pl_new(true);

	for (uint64_t ssl = 1; ssl <= 3000; ssl++)
		data(p, PID_A, ssl * 16, EV_DIR_WRITE, req_a);
	for (uint64_t ssl = 3000; ssl >= 1; ssl--)
		data(p, PID_A, ssl * 16, EV_DIR_READ, resp_ok);
	assert_int_equal(stats(p).conns, 3000);
	assert_int_equal(stats(p).exchanges, 3000);
	pipeline_free(p);
	pipeline_free(NULL);
}

/* Past the cap the least recently used connection goes first, its
 * waiting request emitted as incomplete; a recent event saves one. */
static void test_evict_lru(void **state)
{
	struct pipeline_opts o = { .sink = { NULL, on_exchange },
				   .no_procfs = true, .conns_max = 8 };
	struct pipeline *p = pipeline_new(&o);

	assert_non_null(p);
	ngot = 0;
	for (uint64_t ssl = 1; ssl <= 8; ssl++)
		data(p, PID_A, ssl, EV_DIR_WRITE, req_a);
	conn_ev(p, PID_A, 1, EV_CONN_SNI, "api.openai.com");
	assert_int_equal(ngot, 0);

	data(p, PID_A, 9, EV_DIR_WRITE, req_a);
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].ssl, 2);
	assert_true(got[0].incomplete);
	assert_string_equal(got[0].note, PIPELINE_EVICT_NOTE);
	assert_int_equal(stats(p).evicted, 1);

	/* Connection 1 is still open: its call completes. */
	data(p, PID_A, 1, EV_DIR_READ, resp_ok);
	assert_int_equal(ngot, 2);
	assert_int_equal(got[1].ssl, 1);
	assert_false(got[1].incomplete);

	data(p, PID_A, 10, EV_DIR_WRITE, req_a);
	assert_int_equal(ngot, 3);
	assert_int_equal(got[2].ssl, 3);
	assert_int_equal(stats(p).evicted, 2);
	assert_int_equal(stats(p).conns, 10);
	pipeline_free(p);
	assert_int_equal(ngot, 3 + 7);
	assert_string_equal(got[3].note, "capture stopped");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_interleaved),
		cmocka_unit_test(test_close_and_exit),
		cmocka_unit_test(test_non_http),
		cmocka_unit_test(test_parse_error),
		cmocka_unit_test(test_gaps),
		cmocka_unit_test(test_loss),
		cmocka_unit_test(test_idle),
		cmocka_unit_test(test_proc_live),
		cmocka_unit_test(test_container_id),
		cmocka_unit_test(test_many_conns),
		cmocka_unit_test(test_evict_lru),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
