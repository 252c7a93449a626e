// SPDX-License-Identifier: MIT
/* Tests for user/http1.c: a keep-alive conversation gives the same
 * exchanges however its bytes are cut, and bad or cut-off traffic
 * ends in errors or incomplete exchanges, never in a crash. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "http1.h"

#define MAX_GOT 256
#define BUF_MAX 65536

/* What the sink saw of one exchange (the exchange itself is freed). */
struct got {
	char method[16];
	char path[64];
	char authority[64];
	char ctype[64];
	int status;
	int version;
	char req_body[1024];
	size_t req_len;
	char resp_body[4096];
	size_t resp_len;
	uint64_t resp_wire;
	size_t resp_segs;
	uint64_t seg_ts[8];
	uint64_t ts_req_start, ts_req_end, ts_resp_start, ts_resp_end;
	uint32_t pid;
	bool incomplete, gap, decode_error;
	char note[128];
};

static struct got got[MAX_GOT];
static size_t ngot;

static void copy_str(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

static void on_exchange(void *ctx, struct http_exchange *ex)
{
	struct got *g;

	assert_true(ngot < MAX_GOT);
	g = &got[ngot++];
	memset(g, 0, sizeof(*g));
	copy_str(g->method, sizeof(g->method), ex->method);
	copy_str(g->path, sizeof(g->path), ex->path);
	copy_str(g->authority, sizeof(g->authority), ex->authority);
	copy_str(g->ctype, sizeof(g->ctype),
		 hdr_list_get(&ex->resp_headers, "content-type"));
	g->status = ex->status;
	g->version = ex->http_version;
	assert_true(ex->req_body.len < sizeof(g->req_body));
	assert_true(ex->resp_body.len < sizeof(g->resp_body));
	memcpy(g->req_body, ex->req_body.data, ex->req_body.len);
	g->req_len = ex->req_body.len;
	memcpy(g->resp_body, ex->resp_body.data, ex->resp_body.len);
	g->resp_len = ex->resp_body.len;
	g->resp_wire = ex->resp_body.wire_len;
	g->resp_segs = ex->resp_body.nsegs;
	for (size_t i = 0; i < ex->resp_body.nsegs && i < 8; i++)
		g->seg_ts[i] = ex->resp_body.segs[i].ts_ns;
	g->ts_req_start = ex->ts_req_start;
	g->ts_req_end = ex->ts_req_end;
	g->ts_resp_start = ex->ts_resp_start;
	g->ts_resp_end = ex->ts_resp_end;
	g->pid = ex->task.pid;
	g->incomplete = ex->incomplete;
	g->gap = ex->capture_gap;
	g->decode_error = ex->resp_body.decode_error;
	copy_str(g->note, sizeof(g->note), ex->note);
}

static const struct exchange_sink sink = { NULL, on_exchange };
static const struct ev_conn_id conn_id = { 42, 0xabcdef };
static uint64_t clock_ns;

static struct h1_conn *conn_new(void)
{
	struct h1_conn *c = h1_conn_new(&sink, &conn_id);

	assert_non_null(c);
	ngot = 0;
	clock_ns = 1000;
	return c;
}

/* Each feed is a new arrival: a later timestamp. */
static int feed(struct h1_conn *c, enum ev_dir dir, const void *p,
		size_t len)
{
	struct ev_task t = { .ts_ns = ++clock_ns, .pid = 42, .tid = 43 };

	return h1_conn_feed(c, dir, p, len, &t);
}

static int feed_str(struct h1_conn *c, enum ev_dir dir, const char *s)
{
	return feed(c, dir, s, strlen(s));
}

/* ---- the keep-alive conversation ---- */

static const char req1_body[] =
	"{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\","
	"\"content\":\"hi\"}]}";
static const char resp1_body[] =
	"{\"id\":\"chatcmpl-1\",\"choices\":[{\"message\":{\"content\":"
	"\"Hello there, hello there, hello there!\"}}],\"usage\":"
	"{\"prompt_tokens\":9,\"completion_tokens\":12}}";
static const char req2_body[] =
	"{\"model\":\"claude\",\"stream\":true,\"max_tokens\":64}";
static const char *const sse_events[] = {
	"event: message_start\ndata: {\"type\":\"message_start\"}\n\n",
	"event: content_block_delta\ndata: {\"text\":\"Hi\"}\n\n",
	"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
};
#define N_EVENTS 3

struct convo {
	char req1[BUF_MAX], resp1[BUF_MAX], req2[BUF_MAX], resp2[BUF_MAX];
	size_t req1_len, resp1_len, req2_len, resp2_len;
	size_t gz_len;
};

static struct convo cv;

static size_t gzip_encode(const char *in, size_t len, uint8_t *out,
			  size_t cap)
{
	z_stream z = { 0 };

	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 31, 8,
				      Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (Bytef *)in;
	z.avail_in = len;
	z.next_out = out;
	z.avail_out = cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	deflateEnd(&z);
	return cap - z.avail_out;
}

/* Chunks of 17 bytes, one with an extension, then a trailer. */
static size_t build_gzip_chunked(char *out)
{
	uint8_t gz[1024];
	size_t n = 0, gzlen;

	gzlen = gzip_encode(resp1_body, strlen(resp1_body), gz, sizeof(gz));
	cv.gz_len = gzlen;
	for (size_t off = 0; off < gzlen; off += 17) {
		size_t k = gzlen - off < 17 ? gzlen - off : 17;

		n += sprintf(out + n, off == 17 ? "%zx;name=\"v\"\r\n" :
						  "%zX\r\n", k);
		memcpy(out + n, gz + off, k);
		n += k;
		n += sprintf(out + n, "\r\n");
	}
	n += sprintf(out + n, "0\r\nX-Checksum: abc\r\n\r\n");
	return n;
}

static void build_convo(void)
{
	size_t n;

	cv.req1_len = sprintf(cv.req1,
		"POST /v1/chat/completions HTTP/1.1\r\n"
		"Host: api.openai.com\r\n"
		"Content-Type: application/json\r\n"
		"Authorization: Bearer sk-test\r\n"
		"Content-Length: %zu\r\n\r\n%s",
		strlen(req1_body), req1_body);
	n = sprintf(cv.resp1,
		"HTTP/1.1 200 OK\r\n"
		"Content-Type: application/json\r\n"
		"Content-Encoding: gzip\r\n"
		"Transfer-Encoding: chunked\r\n\r\n");
	cv.resp1_len = n + build_gzip_chunked(cv.resp1 + n);
	cv.req2_len = sprintf(cv.req2,
		"\r\nPOST /v1/messages?beta=true HTTP/1.1\r\n"
		"host: api.anthropic.com\r\n"
		"content-length: %zu\r\n\r\n%s",
		strlen(req2_body), req2_body);
	n = sprintf(cv.resp2,
		"HTTP/1.1 200 OK\n"
		"Content-Type: text/event-stream\n"
		"Transfer-Encoding: chunked\n\n");
	for (int i = 0; i < N_EVENTS; i++)
		n += sprintf(cv.resp2 + n, "%zx\r\n%s\r\n",
			     strlen(sse_events[i]), sse_events[i]);
	cv.resp2_len = n + sprintf(cv.resp2 + n, "0\r\n\r\n");
}

static void check_sse_body(const struct got *g)
{
	char all[1024] = "";

	for (int i = 0; i < N_EVENTS; i++)
		strcat(all, sse_events[i]);
	assert_int_equal(g->resp_len, strlen(all));
	assert_memory_equal(g->resp_body, all, g->resp_len);
	assert_int_equal(g->resp_wire, strlen(all));
	assert_string_equal(g->ctype, "text/event-stream");
}

static void check_convo(void)
{
	const struct got *a = &got[0], *b = &got[1];

	assert_int_equal(ngot, 2);
	assert_string_equal(a->method, "POST");
	assert_string_equal(a->path, "/v1/chat/completions");
	assert_string_equal(a->authority, "api.openai.com");
	assert_int_equal(a->version, 11);
	assert_int_equal(a->status, 200);
	assert_int_equal(a->pid, 42);
	assert_int_equal(a->req_len, strlen(req1_body));
	assert_memory_equal(a->req_body, req1_body, a->req_len);
	assert_int_equal(a->resp_len, strlen(resp1_body));
	assert_memory_equal(a->resp_body, resp1_body, a->resp_len);
	assert_int_equal(a->resp_wire, cv.gz_len);
	assert_false(a->incomplete || a->gap || a->decode_error);
	assert_string_equal(a->note, "");

	assert_string_equal(b->path, "/v1/messages?beta=true");
	assert_string_equal(b->authority, "api.anthropic.com");
	assert_int_equal(b->req_len, strlen(req2_body));
	assert_memory_equal(b->req_body, req2_body, b->req_len);
	check_sse_body(b);
	assert_false(b->incomplete || b->gap);

	for (size_t i = 0; i < 2; i++) {
		assert_true(got[i].ts_req_start <= got[i].ts_req_end);
		assert_true(got[i].ts_req_end <= got[i].ts_resp_start);
		assert_true(got[i].ts_resp_start <= got[i].ts_resp_end);
	}
}

struct piece {
	enum ev_dir dir;
	const char *p;
	size_t len;
};

/* Feeds the pieces in order, the one holding global byte cut in two. */
static void feed_cut(const struct piece *pc, size_t n, size_t cut)
{
	struct h1_conn *c = conn_new();
	size_t base = 0;

	for (size_t i = 0; i < n; i++) {
		size_t k = cut >= base && cut < base + pc[i].len ?
				   cut - base : 0;

		if (k)
			assert_int_equal(feed(c, pc[i].dir, pc[i].p, k), 0);
		assert_int_equal(feed(c, pc[i].dir, pc[i].p + k,
				      pc[i].len - k), 0);
		base += pc[i].len;
	}
	check_convo();
	h1_conn_close(c, clock_ns, "connection closed");
	assert_int_equal(ngot, 2);
	h1_conn_free(c);
}

static void test_convo_every_split(void **state)
{
	const struct piece pc[] = {
		{ EV_DIR_WRITE, cv.req1, cv.req1_len },
		{ EV_DIR_READ, cv.resp1, cv.resp1_len },
		{ EV_DIR_WRITE, cv.req2, cv.req2_len },
		{ EV_DIR_READ, cv.resp2, cv.resp2_len },
	};
	size_t total = cv.req1_len + cv.resp1_len + cv.req2_len +
		       cv.resp2_len;

	for (size_t cut = 0; cut < total; cut++)
		feed_cut(pc, 4, cut);
}

/* Pipelined: both requests in one write, both responses in one read. */
static void test_pipelined_every_split(void **state)
{
	static char reqs[2 * BUF_MAX], resps[2 * BUF_MAX];
	size_t rq = cv.req1_len + cv.req2_len;
	size_t rs = cv.resp1_len + cv.resp2_len;
	const struct piece pc[] = {
		{ EV_DIR_WRITE, reqs, rq },
		{ EV_DIR_READ, resps, rs },
	};

	memcpy(reqs, cv.req1, cv.req1_len);
	memcpy(reqs + cv.req1_len, cv.req2, cv.req2_len);
	memcpy(resps, cv.resp1, cv.resp1_len);
	memcpy(resps + cv.resp1_len, cv.resp2, cv.resp2_len);
	for (size_t cut = 0; cut < rq + rs; cut++)
		feed_cut(pc, 2, cut);
}

static void feed_bytewise(struct h1_conn *c, enum ev_dir dir,
			  const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		assert_int_equal(feed(c, dir, p + i, 1), 0);
}

static void test_convo_bytewise(void **state)
{
	struct h1_conn *c = conn_new();

	feed_bytewise(c, EV_DIR_WRITE, cv.req1, cv.req1_len);
	feed_bytewise(c, EV_DIR_READ, cv.resp1, cv.resp1_len);
	feed_bytewise(c, EV_DIR_WRITE, cv.req2, cv.req2_len);
	feed_bytewise(c, EV_DIR_READ, cv.resp2, cv.resp2_len);
	check_convo();
	/* Every body byte came in its own feed, so its own segment. */
	assert_int_equal(got[1].resp_segs, got[1].resp_len);
	h1_conn_free(c);
}

/* Each SSE event read separately: the segments carry the times they
 * arrived, and the exchange leaves on the last chunk, not at close. */
static void test_sse_timing(void **state)
{
	struct h1_conn *c = conn_new();
	const char *p = cv.resp2, *body = strstr(cv.resp2, "\n\n") + 2;
	uint64_t ts_events[N_EVENTS];

	assert_int_equal(feed(c, EV_DIR_WRITE, cv.req2, cv.req2_len), 0);
	assert_int_equal(feed(c, EV_DIR_READ, p, body - p), 0);
	for (int i = 0; i < N_EVENTS; i++) {
		const char *next = strstr(body, "\n\n\r\n") + 4;

		assert_int_equal(feed(c, EV_DIR_READ, body, next - body), 0);
		ts_events[i] = clock_ns;
		body = next;
	}
	assert_int_equal(ngot, 0);
	assert_int_equal(feed_str(c, EV_DIR_READ, "0\r\n\r\n"), 0);
	assert_int_equal(ngot, 1);
	check_sse_body(&got[0]);
	assert_int_equal(got[0].resp_segs, N_EVENTS);
	for (int i = 0; i < N_EVENTS; i++)
		assert_int_equal(got[0].seg_ts[i], ts_events[i]);
	assert_int_equal(got[0].ts_resp_end, clock_ns);
	h1_conn_free(c);
}

static void test_continue(void **state)
{
	struct h1_conn *c = conn_new();

	feed_str(c, EV_DIR_WRITE, "POST /up HTTP/1.1\r\nHost: h\r\n"
		 "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n");
	feed_str(c, EV_DIR_READ, "HTTP/1.1 100 Continue\r\n\r\n");
	assert_int_equal(ngot, 0);
	feed_str(c, EV_DIR_WRITE, "hello");
	feed_str(c, EV_DIR_READ, "HTTP/1.1 103 Early Hints\r\n"
		 "Link: </a>\r\n\r\nHTTP/1.1 201 Created\r\n"
		 "Content-Length: 2\r\n\r\nok");
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].status, 201);
	assert_string_equal(got[0].req_body, "hello");
	assert_string_equal(got[0].resp_body, "ok");
	assert_false(got[0].incomplete);
	h1_conn_free(c);
}

/* HEAD, 204 and 304 have no body even with a Content-Length. */
static void test_no_body_responses(void **state)
{
	struct h1_conn *c = conn_new();

	feed_str(c, EV_DIR_WRITE, "HEAD /a HTTP/1.1\r\n\r\n"
		 "GET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n"
		 "GET /d HTTP/1.0\r\n\r\n");
	feed_str(c, EV_DIR_READ,
		 "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
		 "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n"
		 "HTTP/1.1 304 Not Modified\r\n\r\n"
		 "HTTP/1.0 200\r\n\r\nuntil close");
	assert_int_equal(ngot, 3);
	assert_string_equal(got[0].path, "/a");
	assert_int_equal(got[1].status, 204);
	assert_int_equal(got[2].status, 304);
	assert_int_equal(got[0].resp_len + got[1].resp_len, 0);

	/* A body without a length ends at the close, complete. */
	h1_conn_close(c, clock_ns, "connection closed");
	assert_int_equal(ngot, 4);
	assert_int_equal(got[3].version, 10);
	assert_string_equal(got[3].resp_body, "until close");
	assert_false(got[3].incomplete);
	h1_conn_free(c);
}

static void test_garbage(void **state)
{
	static const char *const bad[] = {
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
		"GET /\r\n\r\n",
		"GET / HTTP/2.0\r\n\r\n",
		"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
		"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999"
		"\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
		"11111111111111111\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
		"1\r\nab\r\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct h1_conn *c = conn_new();

		assert_int_equal(feed_str(c, EV_DIR_WRITE, bad[i]), -EPROTO);
		assert_int_equal(feed_str(c, EV_DIR_WRITE, "GET / HTTP/1.1"
					  "\r\n\r\n"), -EPROTO);
		h1_conn_close(c, clock_ns, "connection closed");
		assert_true(ngot <= 1);
		if (ngot)
			assert_true(got[0].incomplete);
		h1_conn_free(c);
	}
}

/* A bad response after a good request: the request is handed on as
 * incomplete at once, with the reason. */
static void test_bad_response(void **state)
{
	struct h1_conn *c = conn_new();

	assert_int_equal(feed_str(c, EV_DIR_WRITE, "GET / HTTP/1.1\r\n\r\n"),
			 0);
	assert_int_equal(feed_str(c, EV_DIR_READ, "HTTP/1.1 2000 OK\r\n\r\n"),
			 -EPROTO);
	assert_int_equal(ngot, 1);
	assert_true(got[0].incomplete);
	assert_string_equal(got[0].note, "HTTP/1.1 parse error");
	assert_int_equal(feed_str(c, EV_DIR_READ, "HTTP/1.1 200 OK\r\n\r\n"),
			 -EPROTO);
	h1_conn_free(c);
}

static void test_truncated_close(void **state)
{
	struct h1_conn *c = conn_new();

	feed(c, EV_DIR_WRITE, cv.req1, cv.req1_len);
	feed_str(c, EV_DIR_READ, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n"
		 "\r\nabc");
	assert_int_equal(ngot, 0);
	h1_conn_close(c, clock_ns + 5, "connection closed");
	assert_int_equal(ngot, 1);
	assert_true(got[0].incomplete);
	assert_string_equal(got[0].note, "connection closed");
	assert_int_equal(got[0].status, 200);
	assert_string_equal(got[0].resp_body, "abc");
	/* Nothing more after the close. */
	assert_int_equal(feed_str(c, EV_DIR_READ, "defghijkl"), 0);
	h1_conn_close(c, clock_ns, "again");
	assert_int_equal(ngot, 1);
	h1_conn_free(c);

	/* Request cut mid-body, no response at all. */
	c = conn_new();
	feed(c, EV_DIR_WRITE, cv.req1, cv.req1_len - 3);
	h1_conn_close(c, clock_ns, "process exited");
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].status, 0);
	assert_string_equal(got[0].note, "process exited");
	assert_int_equal(got[0].req_len, strlen(req1_body) - 3);
	h1_conn_free(c);
}

/* Lost response bytes: that exchange leaves marked, the next response
 * is found again and paired with the next request. */
static void test_gap_resync(void **state)
{
	struct h1_conn *c = conn_new();

	feed(c, EV_DIR_WRITE, cv.req1, cv.req1_len);
	feed(c, EV_DIR_WRITE, cv.req2, cv.req2_len);
	feed(c, EV_DIR_READ, cv.resp1, 150);
	h1_conn_gap(c, EV_DIR_READ);
	assert_int_equal(ngot, 1);
	assert_true(got[0].gap && got[0].incomplete);
	assert_string_equal(got[0].path, "/v1/chat/completions");

	/* The rest of the lost response is dropped, then sync returns. */
	feed(c, EV_DIR_READ, cv.resp1 + 200, cv.resp1_len - 200);
	feed(c, EV_DIR_READ, cv.resp2, cv.resp2_len);
	assert_int_equal(ngot, 2);
	assert_string_equal(got[1].path, "/v1/messages?beta=true");
	check_sse_body(&got[1]);
	assert_false(got[1].gap || got[1].incomplete);
	h1_conn_free(c);
}

/* A request head cut by a gap leaves a placeholder, so the responses
 * still pair with the right requests. */
static void test_gap_in_request_head(void **state)
{
	struct h1_conn *c = conn_new();

	feed(c, EV_DIR_WRITE, cv.req1, 20);
	h1_conn_gap(c, EV_DIR_WRITE);
	feed(c, EV_DIR_WRITE, "tail of lost request", 20);
	feed(c, EV_DIR_WRITE, cv.req2, cv.req2_len);
	feed(c, EV_DIR_READ, cv.resp1, cv.resp1_len);
	assert_int_equal(ngot, 1);
	assert_true(got[0].gap);
	assert_string_equal(got[0].method, "");
	assert_string_equal(got[0].resp_body, resp1_body);
	feed(c, EV_DIR_READ, cv.resp2, cv.resp2_len);
	assert_int_equal(ngot, 2);
	assert_string_equal(got[1].path, "/v1/messages?beta=true");
	assert_false(got[1].gap);
	h1_conn_free(c);
}

static void test_orphan_response(void **state)
{
	struct h1_conn *c = conn_new();

	feed_str(c, EV_DIR_READ, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
		 "\r\nhi");
	assert_int_equal(ngot, 1);
	assert_true(got[0].incomplete);
	assert_string_equal(got[0].note, "response without a request");
	assert_string_equal(got[0].resp_body, "hi");
	h1_conn_free(c);
}

static void test_decode_error_keeps_raw(void **state)
{
	struct h1_conn *c = conn_new();

	feed_str(c, EV_DIR_WRITE, "GET / HTTP/1.1\r\n\r\n");
	feed_str(c, EV_DIR_READ, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n"
		 "Content-Encoding: gzip\r\n\r\nnot gzip!");
	assert_int_equal(ngot, 1);
	assert_true(got[0].decode_error);
	assert_string_equal(got[0].resp_body, "not gzip!");
	assert_false(got[0].incomplete);
	h1_conn_free(c);
}

static void test_limits(void **state)
{
	static char big[H1_HEAD_MAX + 100];
	struct h1_conn *c = conn_new();
	int rc = 0;

	/* An endless header block stops at the limit. */
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	assert_int_equal(feed(c, EV_DIR_WRITE, big, sizeof(big)), -E2BIG);
	h1_conn_free(c);

	/* Requests nobody answers stop at the pending limit. */
	c = conn_new();
	for (int i = 0; i <= H1_PENDING_MAX && !rc; i++)
		rc = feed_str(c, EV_DIR_WRITE, "GET / HTTP/1.1\r\n\r\n");
	assert_int_equal(rc, -ENOBUFS);
	assert_int_equal(ngot, H1_PENDING_MAX);
	assert_string_equal(got[0].note,
			    "too many HTTP/1.1 requests pending");
	h1_conn_free(c);

	/* An endless chunk-size line, an endless trailer. */
	c = conn_new();
	feed_str(c, EV_DIR_WRITE, "GET / HTTP/1.1\r\n\r\n");
	feed_str(c, EV_DIR_READ, "HTTP/1.1 200 OK\r\n"
		 "Transfer-Encoding: chunked\r\n\r\n1;");
	assert_int_equal(feed(c, EV_DIR_READ, big, sizeof(big)), -E2BIG);
	h1_conn_free(c);
}

/* Folded and odd fields parse or fail, they do not crash. */
static void test_folding(void **state)
{
	struct h1_conn *c = conn_new();

	feed_str(c, EV_DIR_WRITE, "GET / HTTP/1.1\r\nX-A: one\r\n"
		 " two\r\n\tthree\r\nHost:h\r\n\r\n");
	feed_str(c, EV_DIR_READ, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
		 "\r\n");
	assert_int_equal(ngot, 1);
	assert_string_equal(got[0].authority, "h");
	h1_conn_free(c);

	c = conn_new();
	assert_int_equal(feed_str(c, EV_DIR_WRITE, "GET / HTTP/1.1\r\n"
				  " fold first\r\n\r\n"), -EPROTO);
	h1_conn_free(c);
	h1_conn_free(NULL);
}

/* After 101 the bytes are another protocol and are ignored. */
static void test_upgrade(void **state)
{
	struct h1_conn *c = conn_new();

	feed_str(c, EV_DIR_WRITE, "GET /ws HTTP/1.1\r\nUpgrade: websocket"
		 "\r\n\r\n");
	feed_str(c, EV_DIR_READ, "HTTP/1.1 101 Switching Protocols\r\n\r\n"
		 "\x81\x05hello");
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].status, 101);
	assert_int_equal(feed_str(c, EV_DIR_WRITE, "\x81\x85xxxx"), 0);
	h1_conn_close(c, clock_ns, "connection closed");
	assert_int_equal(ngot, 1);
	h1_conn_free(c);
}

/* A chunk extension longer than what the parser keeps of a line. */
static void test_long_chunk_ext(void **state)
{
	char resp[1024], ext[300];
	size_t n;

	memset(ext, 'e', sizeof(ext) - 1);
	ext[sizeof(ext) - 1] = '\0';
	n = sprintf(resp, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
		    "\r\n\r\n3;x=%s\r\nabc\r\n0;%s\r\n\r\n", ext, ext);
	for (size_t cut = 0; cut < n; cut++) {
		struct h1_conn *c = conn_new();

		feed_str(c, EV_DIR_WRITE, "GET / HTTP/1.1\r\n\r\n");
		assert_int_equal(feed(c, EV_DIR_READ, resp, cut), 0);
		assert_int_equal(feed(c, EV_DIR_READ, resp + cut, n - cut), 0);
		assert_int_equal(ngot, 1);
		assert_string_equal(got[0].resp_body, "abc");
		assert_false(got[0].incomplete);
		h1_conn_free(c);
	}
}

static int setup(void **state)
{
	build_convo();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_convo_every_split),
		cmocka_unit_test(test_pipelined_every_split),
		cmocka_unit_test(test_convo_bytewise),
		cmocka_unit_test(test_sse_timing),
		cmocka_unit_test(test_continue),
		cmocka_unit_test(test_no_body_responses),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_bad_response),
		cmocka_unit_test(test_truncated_close),
		cmocka_unit_test(test_gap_resync),
		cmocka_unit_test(test_gap_in_request_head),
		cmocka_unit_test(test_orphan_response),
		cmocka_unit_test(test_decode_error_keeps_raw),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_folding),
		cmocka_unit_test(test_upgrade),
		cmocka_unit_test(test_long_chunk_ext),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
