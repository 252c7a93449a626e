// SPDX-License-Identifier: MIT
/*
 * HTTP/2 connection tests. Byte streams are built here: frame headers
 * by hand, header blocks with nghttp2's HPACK deflater (one per
 * direction, as each peer has its own encoder).
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
#include <nghttp2/nghttp2.h>
#include <zlib.h>

#include "exchange.h"
#include "http2.h"

#define PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define MAX_CHUNKS 128
#define MAX_RECS 1100

enum {
	F_DATA = 0, F_HEADERS = 1, F_RST = 3, F_SETTINGS = 4,
	F_PUSH = 5, F_PING = 6, F_GOAWAY = 7, F_WINDOW = 8, F_CONT = 9,
};

#define END_STREAM 0x1
#define ACK 0x1
#define END_HEADERS 0x4
#define PADDED 0x8
#define PRIORITY 0x20

/* ---- byte buffers and scripts ---- */

struct buf {
	uint8_t *p;
	size_t len;
	size_t cap;
};

static void buf_put(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void put_frame(struct buf *b, uint8_t type, uint8_t flags,
		      uint32_t sid, const void *p, size_t n)
{
	uint8_t h[9] = {
		(uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n,
		type, flags,
		(uint8_t)(sid >> 24), (uint8_t)(sid >> 16),
		(uint8_t)(sid >> 8), (uint8_t)sid,
	};

	buf_put(b, h, sizeof(h));
	buf_put(b, p, n);
}

/* One read or write: a direction, a time, its bytes. */
struct chunk {
	enum ev_dir dir;
	uint64_t ts;
	struct buf b;
};

struct script {
	struct chunk c[MAX_CHUNKS];
	size_t n;
	nghttp2_hd_deflater *hd[2];
};

static struct script *script_new(void)
{
	struct script *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	assert_int_equal(nghttp2_hd_deflate_new(&s->hd[0], 4096), 0);
	assert_int_equal(nghttp2_hd_deflate_new(&s->hd[1], 4096), 0);
	return s;
}

static void script_free(struct script *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->c[i].b.p);
	nghttp2_hd_deflate_del(s->hd[0]);
	nghttp2_hd_deflate_del(s->hd[1]);
	free(s);
}

/* Adds to the last chunk if it has the same direction and time. */
static struct buf *chunk_at(struct script *s, enum ev_dir dir,
			    uint64_t ts)
{
	struct chunk *last = s->n ? &s->c[s->n - 1] : NULL;

	if (last && last->dir == dir && last->ts == ts)
		return &last->b;
	assert_true(s->n < MAX_CHUNKS);
	s->c[s->n].dir = dir;
	s->c[s->n].ts = ts;
	return &s->c[s->n++].b;
}

/* kv: name, value, name, value, ..., NULL */
static struct buf hpack(struct script *s, enum ev_dir dir,
			const char *const *kv)
{
	nghttp2_nv nv[32];
	size_t n = 0;
	struct buf out = { 0 };
	size_t bound;
	ssize_t rv;

	for (; kv[0]; kv += 2, n++) {
		nv[n] = (nghttp2_nv){ (uint8_t *)kv[0], (uint8_t *)kv[1],
				      strlen(kv[0]), strlen(kv[1]),
				      NGHTTP2_NV_FLAG_NONE };
	}
	bound = nghttp2_hd_deflate_bound(s->hd[dir], nv, n);
	out.p = malloc(bound);
	out.cap = bound;
	rv = nghttp2_hd_deflate_hd(s->hd[dir], out.p, bound, nv, n);
	assert_true(rv >= 0);
	out.len = (size_t)rv;
	return out;
}

static void add_headers(struct script *s, enum ev_dir dir, uint64_t ts,
			uint32_t sid, uint8_t flags, const char *const *kv)
{
	struct buf blk = hpack(s, dir, kv);

	put_frame(chunk_at(s, dir, ts), F_HEADERS, flags | END_HEADERS, sid,
		  blk.p, blk.len);
	free(blk.p);
}

static void add_data(struct script *s, enum ev_dir dir, uint64_t ts,
		     uint32_t sid, uint8_t flags, const char *body)
{
	put_frame(chunk_at(s, dir, ts), F_DATA, flags, sid, body,
		  strlen(body));
}

static void add_frame(struct script *s, enum ev_dir dir, uint64_t ts,
		      uint8_t type, uint8_t flags, uint32_t sid,
		      const void *p, size_t n)
{
	put_frame(chunk_at(s, dir, ts), type, flags, sid, p, n);
}

/* Preface and the SETTINGS exchange both sides start with. */
static void add_start(struct script *s)
{
	static const uint8_t cset[] = {
		0, 1, 0, 0, 0x10, 0,	/* HEADER_TABLE_SIZE 4096 */
		0, 2, 0, 0, 0, 0,	/* ENABLE_PUSH 0 */
	};
	static const uint8_t sset[] = { 0, 3, 0, 0, 0, 100 };
	static const uint8_t win[] = { 0, 0x0f, 0, 1 };

	buf_put(chunk_at(s, EV_DIR_WRITE, 10), PREFACE, strlen(PREFACE));
	add_frame(s, EV_DIR_WRITE, 10, F_SETTINGS, 0, 0, cset, sizeof(cset));
	add_frame(s, EV_DIR_WRITE, 10, F_WINDOW, 0, 0, win, sizeof(win));
	add_frame(s, EV_DIR_READ, 20, F_SETTINGS, 0, 0, sset, sizeof(sset));
	add_frame(s, EV_DIR_READ, 20, F_SETTINGS, ACK, 0, NULL, 0);
	add_frame(s, EV_DIR_WRITE, 30, F_SETTINGS, ACK, 0, NULL, 0);
}

/* ---- what the sink saw ---- */

struct recs {
	struct http_exchange *ex[MAX_RECS];
	size_t n;
};

static void body_copy(struct body *dst, const struct body *src)
{
	*dst = *src;
	dst->data = malloc(src->len + 1);
	assert_non_null(dst->data);
	if (src->data)
		memcpy(dst->data, src->data, src->len + 1);
	else
		dst->data[0] = '\0';
	dst->cap = src->len + 1;
	dst->budgeted = 0;	/* not body_append's memory */
	dst->segs = calloc(src->nsegs + 1, sizeof(*src->segs));
	assert_non_null(dst->segs);
	if (src->nsegs)
		memcpy(dst->segs, src->segs, src->nsegs * sizeof(*src->segs));
	dst->segcap = src->nsegs + 1;
}

static void hdrs_copy(struct hdr_list *dst, const struct hdr_list *src)
{
	memset(dst, 0, sizeof(*dst));
	for (size_t i = 0; i < src->n; i++) {
		const struct hdr *h = &src->v[i];

		assert_int_equal(hdr_list_add(dst, h->name, strlen(h->name),
					      h->value, strlen(h->value)), 0);
	}
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static struct http_exchange *ex_clone(const struct http_exchange *src)
{
	struct http_exchange *ex = exchange_new();

	assert_non_null(ex);
	*ex = *src;
	ex->method = dup_or_null(src->method);
	ex->path = dup_or_null(src->path);
	ex->authority = dup_or_null(src->authority);
	hdrs_copy(&ex->req_headers, &src->req_headers);
	hdrs_copy(&ex->resp_headers, &src->resp_headers);
	body_copy(&ex->req_body, &src->req_body);
	body_copy(&ex->resp_body, &src->resp_body);
	return ex;
}

static void on_exchange(void *ctx, struct http_exchange *ex)
{
	struct recs *r = ctx;

	assert_true(r->n < MAX_RECS);
	r->ex[r->n++] = ex_clone(ex);
}

static void recs_clear(struct recs *r)
{
	for (size_t i = 0; i < r->n; i++)
		exchange_free(r->ex[i]);
	r->n = 0;
}

static void dump_body(FILE *f, const char *tag, const struct body *b)
{
	fprintf(f, "%s len=%zu wire=%llu trunc=%d derr=%d [", tag, b->len,
		(unsigned long long)b->wire_len, b->truncated,
		b->decode_error);
	fwrite(b->data, 1, b->len, f);
	fprintf(f, "] segs");
	for (size_t i = 0; i < b->nsegs; i++) {
		const struct body_seg *g = &b->segs[i];

		fprintf(f, " %llu:%zu+%zu", (unsigned long long)g->ts_ns,
			g->off, g->len);
	}
	fprintf(f, "\n");
}

static void dump_hdrs(FILE *f, const char *tag, const struct hdr_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		fprintf(f, "%s %s: %s\n", tag, l->v[i].name, l->v[i].value);
}

/* Everything the sink saw, as text, to compare runs. */
static char *dump(const struct recs *r)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	for (size_t i = 0; i < r->n; i++) {
		const struct http_exchange *ex = r->ex[i];

		fprintf(f, "#%u v%d task=%llu/%u/%u/%u/%s conn=%u/%llx\n",
			ex->stream_id, ex->http_version,
			(unsigned long long)ex->task.ts_ns, ex->task.pid,
			ex->task.tid, ex->task.uid, ex->task.comm,
			ex->conn.pid, (unsigned long long)ex->conn.ssl);
		fprintf(f, "%s %s %s status=%d inc=%d gap=%d note=%s\n",
			ex->method, ex->path, ex->authority, ex->status,
			ex->incomplete, ex->capture_gap, ex->note);
		fprintf(f, "ts %llu %llu %llu %llu\n",
			(unsigned long long)ex->ts_req_start,
			(unsigned long long)ex->ts_req_end,
			(unsigned long long)ex->ts_resp_start,
			(unsigned long long)ex->ts_resp_end);
		dump_hdrs(f, ">", &ex->req_headers);
		dump_hdrs(f, "<", &ex->resp_headers);
		dump_body(f, "req", &ex->req_body);
		dump_body(f, "resp", &ex->resp_body);
	}
	fclose(f);
	return out;
}

/* ---- feeding ---- */

static const struct ev_conn_id conn_id = { 4242, 0xfeedbeefULL };

static struct ev_task task_at(uint64_t ts)
{
	struct ev_task t = { ts, 4242, 4243, 1000, "curl" };

	return t;
}

static struct h2_conn *conn_new(struct recs *r)
{
	struct exchange_sink sink = { r, on_exchange };
	struct h2_conn *c = h2_conn_new(&sink, &conn_id);

	assert_non_null(c);
	return c;
}

static void feed(struct h2_conn *c, const struct chunk *k, size_t from,
		 size_t to)
{
	struct ev_task t = task_at(k->ts);

	assert_int_equal(h2_conn_feed(c, k->dir, k->b.p + from, to - from,
				      &t), 0);
}

/* Feeds every chunk, chunk split_chunk cut in two at split_at
 * (step > 0: in pieces of step bytes instead). */
static void run(const struct script *s, struct recs *r, size_t split_chunk,
		size_t split_at, size_t step)
{
	struct h2_conn *c = conn_new(r);

	for (size_t i = 0; i < s->n; i++) {
		const struct chunk *k = &s->c[i];

		if (step) {
			for (size_t o = 0; o < k->b.len; o += step)
				feed(c, k, o, o + step < k->b.len ?
					 o + step : k->b.len);
		} else if (i == split_chunk) {
			feed(c, k, 0, split_at);
			feed(c, k, split_at, k->b.len);
		} else {
			feed(c, k, 0, k->b.len);
		}
	}
	h2_conn_close(c, 99999, "connection closed");
	h2_conn_free(c);
}

/* The result of feeding split at every byte equals the whole feed. */
static void check_splits(const struct script *s)
{
	struct recs base = { 0 }, r = { 0 };
	char *want, *got;

	run(s, &base, SIZE_MAX, 0, 0);
	want = dump(&base);
	for (size_t i = 0; i < s->n; i++) {
		for (size_t at = 0; at <= s->c[i].b.len; at++) {
			run(s, &r, i, at, 0);
			got = dump(&r);
			assert_string_equal(got, want);
			free(got);
			recs_clear(&r);
		}
	}
	run(s, &r, SIZE_MAX, 0, 1);
	got = dump(&r);
	assert_string_equal(got, want);
	free(got);
	recs_clear(&r);
	free(want);
	recs_clear(&base);
}

static const struct http_exchange *find_rec(const struct recs *r,
					    uint32_t sid)
{
	for (size_t i = 0; i < r->n; i++) {
		if (r->ex[i]->stream_id == sid)
			return r->ex[i];
	}
	fail_msg("stream %u not emitted", sid);
	return NULL;
}

static void check_seg(const struct body *b, size_t i, uint64_t ts,
		      size_t off, size_t len)
{
	assert_true(i < b->nsegs);
	assert_int_equal(b->segs[i].ts_ns, ts);
	assert_int_equal(b->segs[i].off, off);
	assert_int_equal(b->segs[i].len, len);
}

/* ---- the two-stream scenario ---- */

static const char chat_req[] =
	"{\"model\":\"gpt-4o\",\"stream\":false,"
	"\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
static const char chat_resp1[] = "{\"id\":\"chatcmpl-1\",\"usage\":";
static const char chat_resp2[] = "{\"prompt_tokens\":5,\"total_tokens\":7}}";
static const char msg_req[] = "{\"model\":\"claude\",\"stream\":true}";
static const char sse1[] = "event: message_start\ndata: {\"a\":1}\n\n";
static const char sse2[] = "event: content_block_delta\ndata: {\"b\":2}\n\n";
static const char sse3[] = "event: message_stop\ndata: {}\n\n";

static struct script *two_streams(void)
{
	struct script *s = script_new();
	const char *req3[] = {
		":method", "POST", ":scheme", "https",
		":path", "/v1/chat/completions",
		":authority", "api.openai.com",
		"content-type", "application/json",
		"authorization", "Bearer sk-secret", NULL,
	};
	const char *req5[] = {
		":method", "POST", ":scheme", "https",
		":path", "/v1/messages", ":authority", "api.anthropic.com",
		"content-type", "application/json",
		"x-api-key", "sk-ant-secret",
		"accept", "text/event-stream", NULL,
	};
	const char *cont[] = { ":status", "100", NULL };
	const char *resp5[] = {
		":status", "200", "content-type", "text/event-stream", NULL,
	};
	const char *resp3[] = {
		":status", "200", "content-type", "application/json",
		"x-request-id", "req_abc", NULL,
	};

	add_start(s);
	add_headers(s, EV_DIR_WRITE, 1000, 3, 0, req3);
	add_data(s, EV_DIR_WRITE, 1000, 3, END_STREAM, chat_req);
	add_headers(s, EV_DIR_WRITE, 1100, 5, 0, req5);
	add_data(s, EV_DIR_WRITE, 1100, 5, END_STREAM, msg_req);
	add_headers(s, EV_DIR_READ, 1900, 3, 0, cont);
	add_headers(s, EV_DIR_READ, 2000, 5, 0, resp5);
	add_data(s, EV_DIR_READ, 2100, 5, 0, sse1);
	add_headers(s, EV_DIR_READ, 2200, 3, 0, resp3);
	add_data(s, EV_DIR_READ, 2300, 3, 0, chat_resp1);
	add_data(s, EV_DIR_READ, 2400, 5, 0, sse2);
	add_data(s, EV_DIR_READ, 2500, 3, END_STREAM, chat_resp2);
	add_data(s, EV_DIR_READ, 2600, 5, 0, sse3);
	add_data(s, EV_DIR_READ, 2700, 5, END_STREAM, "");
	return s;
}

static void check_stream3(const struct http_exchange *ex)
{
	size_t n1 = strlen(chat_resp1), n2 = strlen(chat_resp2);

	assert_int_equal(ex->http_version, 20);
	assert_int_equal(ex->task.ts_ns, 1000);
	assert_int_equal(ex->task.pid, 4242);
	assert_int_equal(ex->task.tid, 4243);
	assert_int_equal(ex->task.uid, 1000);
	assert_string_equal(ex->task.comm, "curl");
	assert_int_equal(ex->conn.pid, conn_id.pid);
	assert_int_equal(ex->conn.ssl, conn_id.ssl);
	assert_string_equal(ex->method, "POST");
	assert_string_equal(ex->path, "/v1/chat/completions");
	assert_string_equal(ex->authority, "api.openai.com");
	assert_int_equal(ex->req_headers.n, 2);
	assert_string_equal(hdr_list_get(&ex->req_headers, "content-type"),
			    "application/json");
	assert_null(hdr_list_get(&ex->req_headers, ":path"));
	assert_string_equal((char *)ex->req_body.data, chat_req);
	assert_int_equal(ex->req_body.wire_len, strlen(chat_req));
	assert_int_equal(ex->req_body.nsegs, 1);
	check_seg(&ex->req_body, 0, 1000, 0, strlen(chat_req));
	assert_int_equal(ex->ts_req_start, 1000);
	assert_int_equal(ex->ts_req_end, 1000);

	assert_int_equal(ex->status, 200);
	assert_int_equal(ex->resp_headers.n, 2);
	assert_string_equal(hdr_list_get(&ex->resp_headers, "x-request-id"),
			    "req_abc");
	assert_int_equal(ex->resp_body.len, n1 + n2);
	assert_memory_equal(ex->resp_body.data, chat_resp1, n1);
	assert_memory_equal(ex->resp_body.data + n1, chat_resp2, n2);
	assert_int_equal(ex->resp_body.wire_len, n1 + n2);
	assert_int_equal(ex->resp_body.nsegs, 2);
	check_seg(&ex->resp_body, 0, 2300, 0, n1);
	check_seg(&ex->resp_body, 1, 2500, n1, n2);
	assert_int_equal(ex->ts_resp_start, 2200);
	assert_int_equal(ex->ts_resp_end, 2500);
	assert_false(ex->incomplete);
	assert_false(ex->capture_gap);
	assert_false(ex->resp_body.truncated);
	assert_false(ex->resp_body.decode_error);
	assert_string_equal(ex->note, "");
}

static void check_stream5(const struct http_exchange *ex)
{
	size_t n1 = strlen(sse1), n2 = strlen(sse2), n3 = strlen(sse3);

	assert_int_equal(ex->http_version, 20);
	assert_int_equal(ex->task.ts_ns, 1100);
	assert_string_equal(ex->method, "POST");
	assert_string_equal(ex->path, "/v1/messages");
	assert_string_equal(ex->authority, "api.anthropic.com");
	assert_int_equal(ex->req_headers.n, 3);
	assert_string_equal(hdr_list_get(&ex->req_headers, "accept"),
			    "text/event-stream");
	assert_string_equal((char *)ex->req_body.data, msg_req);
	assert_int_equal(ex->ts_req_start, 1100);
	assert_int_equal(ex->ts_req_end, 1100);

	assert_int_equal(ex->status, 200);
	assert_string_equal(hdr_list_get(&ex->resp_headers, "content-type"),
			    "text/event-stream");
	assert_int_equal(ex->resp_body.len, n1 + n2 + n3);
	assert_int_equal(ex->resp_body.wire_len, n1 + n2 + n3);
	assert_int_equal(ex->resp_body.nsegs, 3);
	check_seg(&ex->resp_body, 0, 2100, 0, n1);
	check_seg(&ex->resp_body, 1, 2400, n1, n2);
	check_seg(&ex->resp_body, 2, 2600, n1 + n2, n3);
	assert_int_equal(ex->ts_resp_start, 2000);
	assert_int_equal(ex->ts_resp_end, 2700);
	assert_false(ex->incomplete);
	assert_false(ex->capture_gap);
	assert_string_equal(ex->note, "");
}

static void test_two_streams(void **state)
{
	struct script *s = two_streams();
	struct recs r = { 0 };

	run(s, &r, SIZE_MAX, 0, 0);
	assert_int_equal(r.n, 2);
	/* Stream 3 ended first, so it is emitted first. */
	assert_int_equal(r.ex[0]->stream_id, 3);
	assert_int_equal(r.ex[1]->stream_id, 5);
	check_stream3(r.ex[0]);
	check_stream5(r.ex[1]);
	recs_clear(&r);
	script_free(s);
}

static void test_two_streams_splits(void **state)
{
	struct script *s = two_streams();

	check_splits(s);
	script_free(s);
}

/* ---- single-stream variants ---- */

static const char *const req1[] = {
	":method", "POST", ":scheme", "https", ":path", "/v1/responses",
	":authority", "api.openai.com", NULL,
};
static const char *const ok200[] = { ":status", "200", NULL };

static void add_request1(struct script *s, uint32_t sid, uint64_t ts)
{
	add_headers(s, EV_DIR_WRITE, ts, sid, 0, req1);
	add_data(s, EV_DIR_WRITE, ts, sid, END_STREAM, "{}");
}

static void test_rst_stream(void **state)
{
	struct script *s = script_new();
	static const uint8_t cancel[] = { 0, 0, 0, 8 };
	struct recs r = { 0 };

	add_start(s);
	add_request1(s, 1, 100);
	add_headers(s, EV_DIR_READ, 200, 1, 0, ok200);
	add_data(s, EV_DIR_READ, 300, 1, 0, "data: {}\n\n");
	add_frame(s, EV_DIR_WRITE, 400, F_RST, 0, 1, cancel, 4);
	add_data(s, EV_DIR_READ, 500, 1, END_STREAM, "late");
	run(s, &r, SIZE_MAX, 0, 0);

	assert_int_equal(r.n, 1);
	assert_int_equal(r.ex[0]->stream_id, 1);
	assert_true(r.ex[0]->incomplete);
	assert_string_equal(r.ex[0]->note, "stream reset");
	assert_int_equal(r.ex[0]->status, 200);
	assert_string_equal((char *)r.ex[0]->resp_body.data, "data: {}\n\n");
	recs_clear(&r);
	check_splits(s);
	script_free(s);
}

static void test_goaway(void **state)
{
	struct script *s = script_new();
	static const uint8_t away[] = { 0, 0, 0, 1, 0, 0, 0, 0 };
	struct recs r = { 0 };

	add_start(s);
	add_request1(s, 1, 100);
	add_request1(s, 3, 110);
	add_request1(s, 5, 120);
	add_frame(s, EV_DIR_READ, 200, F_GOAWAY, 0, 0, away, sizeof(away));
	add_headers(s, EV_DIR_READ, 300, 1, 0, ok200);
	add_data(s, EV_DIR_READ, 300, 1, END_STREAM, "{\"ok\":1}");
	run(s, &r, SIZE_MAX, 0, 0);

	assert_int_equal(r.n, 3);
	assert_int_equal(r.ex[0]->stream_id, 3);
	assert_int_equal(r.ex[1]->stream_id, 5);
	for (int i = 0; i < 2; i++) {
		assert_true(r.ex[i]->incomplete);
		assert_string_equal(r.ex[i]->note, "goaway");
		assert_int_equal(r.ex[i]->status, 0);
		assert_string_equal(r.ex[i]->path, "/v1/responses");
	}
	assert_int_equal(r.ex[2]->stream_id, 1);
	assert_false(r.ex[2]->incomplete);
	assert_int_equal(r.ex[2]->status, 200);
	assert_string_equal((char *)r.ex[2]->resp_body.data, "{\"ok\":1}");
	recs_clear(&r);
	check_splits(s);
	script_free(s);
}

/* DATA and HEADERS with padding, HEADERS with a priority block. */
static void test_padding(void **state)
{
	struct script *s = script_new();
	struct buf blk = { 0 }, p = { 0 };
	static const uint8_t prio[5] = { 0, 0, 0, 0, 15 };
	static const uint8_t zeros[20];
	uint8_t pad = 7;
	struct recs r = { 0 };

	add_start(s);
	add_request1(s, 1, 100);
	blk = hpack(s, EV_DIR_READ, ok200);
	buf_put(&p, &pad, 1);
	buf_put(&p, prio, sizeof(prio));
	buf_put(&p, blk.p, blk.len);
	buf_put(&p, zeros, pad);
	add_frame(s, EV_DIR_READ, 200, F_HEADERS,
		  PADDED | PRIORITY | END_HEADERS, 1, p.p, p.len);
	p.len = 0;
	pad = 20;
	buf_put(&p, &pad, 1);
	buf_put(&p, "hello", 5);
	buf_put(&p, zeros, pad);
	add_frame(s, EV_DIR_READ, 300, F_DATA, PADDED, 1, p.p, p.len);
	p.len = 0;
	pad = 0;
	buf_put(&p, &pad, 1);
	buf_put(&p, " world", 6);
	add_frame(s, EV_DIR_READ, 400, F_DATA, PADDED | END_STREAM, 1,
		  p.p, p.len);
	run(s, &r, SIZE_MAX, 0, 0);

	assert_int_equal(r.n, 1);
	assert_int_equal(r.ex[0]->status, 200);
	assert_false(r.ex[0]->incomplete);
	assert_string_equal((char *)r.ex[0]->resp_body.data, "hello world");
	assert_int_equal(r.ex[0]->resp_body.wire_len, 11);
	check_seg(&r.ex[0]->resp_body, 0, 300, 0, 5);
	check_seg(&r.ex[0]->resp_body, 1, 400, 5, 6);
	recs_clear(&r);
	check_splits(s);
	free(blk.p);
	free(p.p);
	script_free(s);
}

/* A request header block cut into HEADERS and two CONTINUATIONs,
 * response trailers after the body. */
static void test_continuation(void **state)
{
	struct script *s = script_new();
	const char *kv[] = {
		":method", "POST", ":path", "/v1beta/models/gemini:generate",
		":authority", "generativelanguage.googleapis.com",
		"user-agent", "go-http-client/2.0",
		"content-type", "application/json", NULL,
	};
	const char *trailers[] = { "grpc-status", "0", NULL };
	struct buf blk = hpack(s, EV_DIR_WRITE, kv);
	size_t a = blk.len / 3, b = 2 * blk.len / 3;
	struct recs r = { 0 };

	add_start(s);
	add_frame(s, EV_DIR_WRITE, 100, F_HEADERS, 0, 1, blk.p, a);
	add_frame(s, EV_DIR_WRITE, 100, F_CONT, 0, 1, blk.p + a, b - a);
	add_frame(s, EV_DIR_WRITE, 100, F_CONT, END_HEADERS, 1, blk.p + b,
		  blk.len - b);
	add_data(s, EV_DIR_WRITE, 110, 1, END_STREAM, "{\"contents\":[]}");
	add_headers(s, EV_DIR_READ, 200, 1, 0, ok200);
	add_data(s, EV_DIR_READ, 210, 1, 0, "{\"candidates\":[]}");
	add_headers(s, EV_DIR_READ, 220, 1, END_STREAM, trailers);
	run(s, &r, SIZE_MAX, 0, 0);

	assert_int_equal(r.n, 1);
	assert_string_equal(r.ex[0]->path, "/v1beta/models/gemini:generate");
	assert_string_equal(r.ex[0]->authority,
			    "generativelanguage.googleapis.com");
	assert_int_equal(r.ex[0]->req_headers.n, 2);
	assert_int_equal(r.ex[0]->ts_req_end, 110);
	assert_string_equal(hdr_list_get(&r.ex[0]->resp_headers,
					 "grpc-status"), "0");
	assert_int_equal(r.ex[0]->ts_resp_end, 220);
	assert_false(r.ex[0]->incomplete);
	recs_clear(&r);
	check_splits(s);
	free(blk.p);
	script_free(s);
}

/* PUSH_PROMISE must keep the server's HPACK table in step. */
static void test_push_promise(void **state)
{
	struct script *s = script_new();
	const char *promised[] = {
		":method", "GET", ":path", "/pushed", "x-big", "pushed-value",
		NULL,
	};
	const char *resp[] = { ":status", "200", "x-big", "pushed-value",
			       NULL };
	struct buf blk = hpack(s, EV_DIR_READ, promised);
	struct buf p = { 0 };
	static const uint8_t sid2[] = { 0, 0, 0, 2 };
	struct recs r = { 0 };

	add_start(s);
	add_request1(s, 1, 100);
	buf_put(&p, sid2, 4);
	buf_put(&p, blk.p, blk.len);
	add_frame(s, EV_DIR_READ, 200, F_PUSH, END_HEADERS, 1, p.p, p.len);
	/* Same field again: now an index into the dynamic table. */
	add_headers(s, EV_DIR_READ, 210, 1, 0, resp);
	add_headers(s, EV_DIR_READ, 220, 2, END_STREAM, ok200);
	add_data(s, EV_DIR_READ, 230, 1, END_STREAM, "x");
	run(s, &r, SIZE_MAX, 0, 0);

	assert_int_equal(r.n, 1);
	assert_int_equal(r.ex[0]->stream_id, 1);
	assert_string_equal(hdr_list_get(&r.ex[0]->resp_headers, "x-big"),
			    "pushed-value");
	assert_false(r.ex[0]->incomplete);
	recs_clear(&r);
	free(p.p);
	free(blk.p);
	script_free(s);
}

static void test_gzip_body(void **state)
{
	struct script *s = script_new();
	const char *resp[] = { ":status", "200", "content-encoding", "gzip",
			       NULL };
	const char *plain = "{\"usage\":{\"input_tokens\":12}}";
	uint8_t gz[256];
	z_stream z = { 0 };
	size_t n, half;
	struct recs r = { 0 };

	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 31, 8,
				      Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (uint8_t *)plain;
	z.avail_in = (uInt)strlen(plain);
	z.next_out = gz;
	z.avail_out = sizeof(gz);
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	n = sizeof(gz) - z.avail_out;
	deflateEnd(&z);
	half = n / 2;

	add_start(s);
	add_request1(s, 1, 100);
	add_headers(s, EV_DIR_READ, 200, 1, 0, resp);
	add_frame(s, EV_DIR_READ, 300, F_DATA, 0, 1, gz, half);
	add_frame(s, EV_DIR_READ, 400, F_DATA, END_STREAM, 1, gz + half,
		  n - half);
	run(s, &r, SIZE_MAX, 0, 0);

	assert_int_equal(r.n, 1);
	assert_string_equal((char *)r.ex[0]->resp_body.data, plain);
	assert_int_equal(r.ex[0]->resp_body.wire_len, n);
	assert_false(r.ex[0]->resp_body.decode_error);
	recs_clear(&r);
	check_splits(s);
	script_free(s);
}

/* ---- a conversation between real nghttp2 sessions ---- */

/* The bytes a body provider still has to give. */
struct src {
	const char *p;
	size_t left;
};

struct peers {
	struct script *s;
	enum ev_dir sending;
	uint64_t ts;
	nghttp2_session *srv;
	struct src req[3];
	struct src resp[3];
	int nresp;
};

static const char sess_req[] = "{\"model\":\"m\",\"stream\":true}";
static const char sess_resp[] =
	"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"
	"data: {\"usage\":{\"prompt_tokens\":3}}\n\n"
	"data: [DONE]\n\n";

/* Each send is one write or read, a tick later than the last. */
static ssize_t sess_send(nghttp2_session *ss, const uint8_t *data,
			 size_t len, int flags, void *ud)
{
	struct peers *p = ud;

	buf_put(chunk_at(p->s, p->sending, ++p->ts), data, len);
	return (ssize_t)len;
}

/* Small pieces, so bodies span several DATA frames. */
static ssize_t sess_read(nghttp2_session *ss, int32_t sid, uint8_t *buf,
			 size_t len, uint32_t *dflags,
			 nghttp2_data_source *source, void *ud)
{
	struct src *src = source->ptr;
	size_t n = src->left < 16 ? src->left : 16;

	memcpy(buf, src->p, n < len ? n : len);
	n = n < len ? n : len;
	src->p += n;
	src->left -= n;
	if (src->left == 0)
		*dflags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static int sess_respond(nghttp2_session *ss, const nghttp2_frame *fr,
			void *ud)
{
	struct peers *p = ud;
	nghttp2_nv nv[] = {
		{ (uint8_t *)":status", (uint8_t *)"200", 7, 3, 0 },
		{ (uint8_t *)"content-type", (uint8_t *)"text/event-stream",
		  12, 17, 0 },
	};
	nghttp2_data_provider prd;
	struct src *src;

	if (ss != p->srv || !(fr->hd.flags & NGHTTP2_FLAG_END_STREAM) ||
	    (fr->hd.type != NGHTTP2_HEADERS && fr->hd.type != NGHTTP2_DATA))
		return 0;
	src = &p->resp[p->nresp++];
	*src = (struct src){ sess_resp, strlen(sess_resp) };
	prd.source.ptr = src;
	prd.read_callback = sess_read;
	return nghttp2_submit_response(ss, fr->hd.stream_id, nv, 2, &prd);
}

static nghttp2_session *sess_new(struct peers *p, bool server)
{
	nghttp2_session_callbacks *cb;
	nghttp2_session *ss;

	assert_int_equal(nghttp2_session_callbacks_new(&cb), 0);
	nghttp2_session_callbacks_set_send_callback(cb, sess_send);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb,
							     sess_respond);
	if (server)
		assert_int_equal(nghttp2_session_server_new(&ss, cb, p), 0);
	else
		assert_int_equal(nghttp2_session_client_new(&ss, cb, p), 0);
	nghttp2_session_callbacks_del(cb);
	assert_int_equal(nghttp2_submit_settings(ss, 0, NULL, 0), 0);
	return ss;
}

static void sess_request(nghttp2_session *cli, struct src *src)
{
	nghttp2_nv nv[] = {
		{ (uint8_t *)":method", (uint8_t *)"POST", 7, 4, 0 },
		{ (uint8_t *)":scheme", (uint8_t *)"https", 7, 5, 0 },
		{ (uint8_t *)":path", (uint8_t *)"/v1/chat/completions",
		  5, 20, 0 },
		{ (uint8_t *)":authority", (uint8_t *)"api.groq.com", 10, 12,
		  0 },
		{ (uint8_t *)"content-type", (uint8_t *)"application/json",
		  12, 16, 0 },
	};
	nghttp2_data_provider prd;

	*src = (struct src){ sess_req, strlen(sess_req) };
	prd.source.ptr = src;
	prd.read_callback = sess_read;
	assert_true(nghttp2_submit_request(cli, NULL, nv, 5, &prd, NULL) > 0);
}

/* Moves what one side wrote to the other; false when all is quiet. */
static bool sess_pump(struct peers *p, nghttp2_session *from,
		      nghttp2_session *to, enum ev_dir dir)
{
	size_t before = p->s->n;

	p->sending = dir;
	assert_int_equal(nghttp2_session_send(from), 0);
	for (size_t i = before; i < p->s->n; i++) {
		const struct buf *b = &p->s->c[i].b;

		assert_int_equal(nghttp2_session_mem_recv(to, b->p, b->len),
				 (ssize_t)b->len);
	}
	return p->s->n > before;
}

static void test_nghttp2_sessions(void **state)
{
	struct peers p = { .s = script_new() };
	nghttp2_session *cli = sess_new(&p, false);
	bool busy = true;
	struct recs r = { 0 };

	p.srv = sess_new(&p, true);
	for (int i = 0; i < 3; i++)
		sess_request(cli, &p.req[i]);
	while (busy) {
		busy = sess_pump(&p, cli, p.srv, EV_DIR_WRITE);
		busy |= sess_pump(&p, p.srv, cli, EV_DIR_READ);
	}
	nghttp2_session_del(cli);
	nghttp2_session_del(p.srv);
	assert_int_equal(p.nresp, 3);

	run(p.s, &r, SIZE_MAX, 0, 0);
	assert_int_equal(r.n, 3);
	for (size_t i = 0; i < 3; i++) {
		const struct http_exchange *ex = r.ex[i];

		assert_int_equal(ex->stream_id, 2 * i + 1);
		assert_string_equal(ex->path, "/v1/chat/completions");
		assert_string_equal(ex->authority, "api.groq.com");
		assert_string_equal(hdr_list_get(&ex->req_headers,
						 "content-type"),
				    "application/json");
		assert_string_equal((char *)ex->req_body.data, sess_req);
		assert_int_equal(ex->status, 200);
		assert_string_equal((char *)ex->resp_body.data, sess_resp);
		/* 16-byte pieces, each its own DATA frame and send. */
		assert_int_equal(ex->resp_body.nsegs,
				 (strlen(sess_resp) + 15) / 16);
		assert_true(ex->ts_req_start < ex->ts_resp_start);
		assert_true(ex->ts_resp_start < ex->ts_resp_end);
		assert_false(ex->incomplete);
	}
	recs_clear(&r);
	check_splits(p.s);
	script_free(p.s);
}

/* ---- losses and bad input ---- */

static void test_close_pending(void **state)
{
	struct script *s = script_new();
	struct recs r = { 0 };

	add_start(s);
	add_request1(s, 1, 100);
	add_headers(s, EV_DIR_READ, 200, 1, 0, ok200);
	add_data(s, EV_DIR_READ, 300, 1, 0, "part");
	run(s, &r, SIZE_MAX, 0, 0);

	assert_int_equal(r.n, 1);
	assert_true(r.ex[0]->incomplete);
	assert_string_equal(r.ex[0]->note, "connection closed");
	assert_string_equal((char *)r.ex[0]->resp_body.data, "part");
	recs_clear(&r);
	script_free(s);
}

static void test_gap(void **state)
{
	struct script *s = script_new();
	struct recs r = { 0 };
	struct h2_conn *c = conn_new(&r);

	add_start(s);
	add_request1(s, 1, 100);
	add_headers(s, EV_DIR_READ, 200, 1, 0, ok200);
	add_data(s, EV_DIR_READ, 300, 1, END_STREAM, "{}");
	for (size_t i = 0; i + 2 < s->n; i++)
		feed(c, &s->c[i], 0, s->c[i].b.len);

	h2_conn_gap(c, EV_DIR_READ);
	assert_int_equal(r.n, 1);
	assert_true(r.ex[0]->incomplete);
	assert_true(r.ex[0]->capture_gap);
	assert_string_equal(r.ex[0]->path, "/v1/responses");
	/* Nothing after a gap is trusted in that direction. */
	feed(c, &s->c[s->n - 1], 0, s->c[s->n - 1].b.len);
	h2_conn_close(c, 400, "closed");
	assert_int_equal(r.n, 1);
	h2_conn_close(c, 500, "closed again");
	h2_conn_free(c);
	recs_clear(&r);
	script_free(s);
}

/* Capture starts inside a frame, in both directions. */
static void test_mid_connection(void **state)
{
	struct script *s = two_streams();
	struct recs r = { 0 };
	struct h2_conn *c = conn_new(&r);
	size_t first_w = SIZE_MAX, first_r = SIZE_MAX;

	/* The chunks holding stream 3's request and its 100 Continue. */
	for (size_t i = 0; i < s->n; i++) {
		if (s->c[i].ts == 1000)
			first_w = i;
		if (s->c[i].ts == 1900)
			first_r = i;
	}
	assert_true(first_w < first_r && first_r < s->n);
	feed(c, &s->c[first_w], 5, s->c[first_w].b.len);
	for (size_t i = first_w + 1; i < s->n; i++)
		feed(c, &s->c[i], i == first_r ? 4 : 0, s->c[i].b.len);
	h2_conn_close(c, 9000, "connection closed");
	h2_conn_free(c);

	/* Stream 5's request could not be decoded (its HPACK block names
	 * entries we never saw) but its response is kept, flagged. */
	assert_true(r.n >= 1);
	for (size_t i = 0; i < r.n; i++) {
		assert_true(r.ex[i]->incomplete);
		assert_true(strlen(r.ex[i]->note) > 0);
	}
	assert_string_equal(find_rec(&r, 5)->path, "/v1/messages");
	assert_int_equal(find_rec(&r, 5)->ts_req_start, 1100);
	assert_int_equal(find_rec(&r, 5)->status, 200);
	assert_string_equal(find_rec(&r, 3)->note, "joined mid-connection");
	assert_int_equal(find_rec(&r, 3)->status, 200);
	assert_int_equal(find_rec(&r, 5)->resp_body.len,
			 strlen(sse1) + strlen(sse2) + strlen(sse3));
	recs_clear(&r);
	script_free(s);
}

/* Frames but no preface: a capture that began at a frame start. */
static void test_mid_connection_aligned(void **state)
{
	struct script *s = script_new();
	struct recs r = { 0 };
	struct h2_conn *c = conn_new(&r);

	add_request1(s, 7, 100);
	add_headers(s, EV_DIR_READ, 200, 7, 0, ok200);
	add_data(s, EV_DIR_READ, 300, 7, END_STREAM, "{}");
	for (size_t i = 0; i < s->n; i++)
		feed(c, &s->c[i], 0, s->c[i].b.len);
	h2_conn_free(c);

	/* Both blocks decode without the table: the call is whole. */
	assert_int_equal(r.n, 1);
	assert_string_equal(r.ex[0]->path, "/v1/responses");
	assert_int_equal(r.ex[0]->status, 200);
	recs_clear(&r);
	script_free(s);
}

/* In a direction picked up mid-way, a frame header that breaks the
 * rules means the guessed alignment was wrong: hunt again. */
static void test_rehunt(void **state)
{
	struct script *s = script_new();
	static const uint8_t bad[] = { 0, 0, 4, F_RST, 0, 0, 0, 0, 0,
				       1, 2, 3, 4 };
	struct recs r = { 0 };
	const struct http_exchange *ex;

	add_headers(s, EV_DIR_WRITE, 100, 1, 0, req1);
	add_data(s, EV_DIR_WRITE, 100, 1, 0, "{");
	buf_put(chunk_at(s, EV_DIR_WRITE, 110), bad, sizeof(bad));
	add_request1(s, 3, 120);
	add_headers(s, EV_DIR_READ, 200, 1, 0, ok200);
	add_data(s, EV_DIR_READ, 200, 1, END_STREAM, "a");
	add_headers(s, EV_DIR_READ, 210, 3, 0, ok200);
	add_data(s, EV_DIR_READ, 210, 3, END_STREAM, "b");
	run(s, &r, SIZE_MAX, 0, 0);

	assert_int_equal(r.n, 2);
	ex = find_rec(&r, 1);
	assert_true(ex->capture_gap);
	assert_string_equal(ex->note, "framing lost");
	assert_string_equal((char *)ex->req_body.data, "{");
	assert_string_equal((char *)ex->resp_body.data, "a");
	ex = find_rec(&r, 3);
	assert_false(ex->incomplete);
	assert_string_equal(ex->path, "/v1/responses");
	assert_string_equal((char *)ex->req_body.data, "{}");
	assert_string_equal((char *)ex->resp_body.data, "b");
	recs_clear(&r);
	script_free(s);
}

static void test_block_too_large(void **state)
{
	struct script *s = script_new();
	size_t big = 300u << 10;
	uint8_t *junk = calloc(1, big);
	struct recs r = { 0 };

	assert_non_null(junk);
	add_start(s);
	add_frame(s, EV_DIR_WRITE, 100, F_HEADERS, 0, 1, junk, big / 2);
	add_frame(s, EV_DIR_WRITE, 100, F_CONT, END_HEADERS, 1,
		  junk + big / 2, big - big / 2);
	add_data(s, EV_DIR_WRITE, 110, 1, END_STREAM, "{}");
	add_request1(s, 3, 120);
	run(s, &r, SIZE_MAX, 0, 0);

	assert_int_equal(r.n, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_true(r.ex[i]->incomplete);
		assert_null(r.ex[i]->method);
		assert_non_null(strstr(r.ex[i]->note, "too large"));
	}
	assert_string_equal((char *)find_rec(&r, 1)->req_body.data, "{}");
	recs_clear(&r);
	free(junk);
	script_free(s);
}

static void test_stream_limit(void **state)
{
	struct script *s = script_new();
	struct recs r = { 0 };

	add_start(s);
	for (uint32_t i = 0; i < 1010; i++)
		add_headers(s, EV_DIR_WRITE, 100, 2 * i + 1, 0, req1);
	run(s, &r, SIZE_MAX, 0, 0);
	assert_int_equal(r.n, 1000);
	recs_clear(&r);
	script_free(s);
}

static uint32_t rnd_state = 12345;

static uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

static void feed_random(struct h2_conn *c, enum ev_dir dir, size_t len)
{
	uint8_t b[512];
	struct ev_task t = task_at(rnd());

	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)rnd();
	assert_int_equal(h2_conn_feed(c, dir, b, len, &t), 0);
}

static void check_sane(const struct recs *r)
{
	for (size_t i = 0; i < r->n; i++) {
		assert_int_equal(r->ex[i]->http_version, 20);
		assert_true(r->ex[i]->stream_id & 1);
	}
}

/* Random bytes, with and without a valid start. */
static void test_garbage(void **state)
{
	for (int round = 0; round < 400; round++) {
		struct recs r = { 0 };
		struct h2_conn *c = conn_new(&r);
		struct ev_task t = task_at(1);

		if (round & 1)
			h2_conn_feed(c, EV_DIR_WRITE, (const uint8_t *)PREFACE,
				     strlen(PREFACE), &t);
		for (int i = 0; i < 60; i++)
			feed_random(c, rnd() & 1, rnd() % 512);
		h2_conn_close(c, 2, "closed");
		h2_conn_free(c);
		check_sane(&r);
		recs_clear(&r);
	}
}

/* A valid conversation with random bytes flipped. */
static void test_mutations(void **state)
{
	struct script *s = two_streams();

	for (int round = 0; round < 2000; round++) {
		struct recs r = { 0 };
		struct h2_conn *c = conn_new(&r);

		for (size_t i = 0; i < s->n; i++) {
			struct chunk k = s->c[i];
			uint8_t *copy = malloc(k.b.len + 1);

			memcpy(copy, k.b.p, k.b.len);
			if (k.b.len && rnd() % 3 == 0)
				copy[rnd() % k.b.len] ^= (uint8_t)(1 + rnd());
			k.b.p = copy;
			feed(c, &k, 0, k.b.len);
			free(copy);
		}
		h2_conn_close(c, 2, "closed");
		h2_conn_free(c);
		check_sane(&r);
		recs_clear(&r);
	}
	script_free(s);
}

static void test_null_safe(void **state)
{
	struct ev_task t = task_at(1);

	h2_conn_free(NULL);
	h2_conn_close(NULL, 0, "x");
	h2_conn_gap(NULL, EV_DIR_READ);
	assert_int_equal(h2_conn_feed(NULL, EV_DIR_READ,
				      (const uint8_t *)"x", 1, &t), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_streams),
		cmocka_unit_test(test_two_streams_splits),
		cmocka_unit_test(test_rst_stream),
		cmocka_unit_test(test_goaway),
		cmocka_unit_test(test_padding),
		cmocka_unit_test(test_continuation),
		cmocka_unit_test(test_push_promise),
		cmocka_unit_test(test_gzip_body),
		cmocka_unit_test(test_nghttp2_sessions),
		cmocka_unit_test(test_close_pending),
		cmocka_unit_test(test_gap),
		cmocka_unit_test(test_mid_connection),
		cmocka_unit_test(test_mid_connection_aligned),
		cmocka_unit_test(test_rehunt),
		cmocka_unit_test(test_block_too_large),
		cmocka_unit_test(test_stream_limit),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_null_safe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
