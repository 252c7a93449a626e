// SPDX-License-Identifier: MIT
/* The scrubber: secrets masked at the same length wherever chunks are
 * split, everything else byte-identical, HTTP/2 still decodable, held
 * events released in order, random input survived. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nghttp2/nghttp2.h>

#include "scrub.h"

#define MAX_OUT 128
#define STREAM_MAX 4096
#define PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

/* What came out of the scrubber, in order. */
struct out_ev {
	char kind;	/* 'd' data, 'c' conn, 'p' proc */
	struct ev_data data;
	uint8_t bytes[STREAM_MAX];
	enum ev_conn_op op;
};

struct out {
	int n;
	struct out_ev ev[MAX_OUT];
	uint8_t stream[2][STREAM_MAX];	/* per direction, concatenated */
	size_t len[2];
	bool count_only;	/* just add up data bytes */
	size_t bytes;
};

static void out_data(void *ctx, const struct ev_data *ev)
{
	struct out *o = ctx;
	struct out_ev *e;

	if (o->count_only) {
		o->bytes += ev->len;
		return;
	}
	e = &o->ev[o->n++];
	assert_true(o->n <= MAX_OUT);
	assert_true(ev->len <= STREAM_MAX);
	e->kind = 'd';
	e->data = *ev;
	memcpy(e->bytes, ev->data, ev->len);
	/* Streams longer than the buffer are only counted. */
	if (o->len[ev->dir] + ev->len <= STREAM_MAX)
		memcpy(o->stream[ev->dir] + o->len[ev->dir], ev->data,
		       ev->len);
	o->len[ev->dir] += ev->len;
}

static void out_conn(void *ctx, const struct ev_conn *ev)
{
	struct out *o = ctx;

	if (o->count_only)
		return;
	assert_true(o->n < MAX_OUT);
	o->ev[o->n].kind = 'c';
	o->ev[o->n++].op = ev->op;
}

static void out_proc(void *ctx, const struct ev_proc *ev)
{
	struct out *o = ctx;

	assert_true(o->n < MAX_OUT);
	o->ev[o->n++].kind = 'p';
}

static struct scrub *new_scrub(struct out *o)
{
	struct ev_sink down = {
		.ctx = o,
		.on_data = out_data,
		.on_conn = out_conn,
		.on_proc = out_proc,
	};
	struct scrub *s;

	memset(o, 0, sizeof(*o));
	s = scrub_new(&down);
	assert_non_null(s);
	return s;
}

static struct ev_data mk_data(enum ev_dir dir, const void *p, size_t len,
			      uint64_t call_len, uint64_t offset)
{
	return (struct ev_data){
		.task = { .ts_ns = 1000 + offset, .pid = 42, .tid = 43 },
		.conn = { .pid = 42, .ssl = 0xabc },
		.dir = dir,
		.call_len = call_len,
		.offset = offset,
		.data = p,
		.len = len,
	};
}

/* One call of len bytes, as two chunks split at cut. */
static void feed_split(struct ev_sink *sk, enum ev_dir dir,
		       const uint8_t *p, size_t len, size_t cut)
{
	struct ev_data a = mk_data(dir, p, cut, len, 0);
	struct ev_data b = mk_data(dir, p + cut, len - cut, len, cut);

	if (cut)
		sk->on_data(sk->ctx, &a);
	if (cut < len)
		sk->on_data(sk->ctx, &b);
}

static void feed_close(struct ev_sink *sk)
{
	struct ev_conn c = {
		.conn = { .pid = 42, .ssl = 0xabc },
		.op = EV_CONN_CLOSE,
	};

	sk->on_conn(sk->ctx, &c);
}

/* ---- HTTP/1.1 ---- */

static const char h1_req[] =
	"GET /v1/models?key=SECRET1&alt=json&api_key=S2#f HTTP/1.1\r\n"
	"Host: api.example.com\r\n"
	"Authorization: Bearer sk-abc123\r\n"
	"x-api-key:   k2k2\r\n"
	"COOKIE: a=b; c=d\r\n"
	"X-Other: keep me\r\n"
	"X-Authorization-Hint: not a secret name\r\n"
	"\r\n";
static const char h1_req_masked[] =
	"GET /v1/models?key=*******&alt=json&api_key=**#f HTTP/1.1\r\n"
	"Host: api.example.com\r\n"
	"Authorization: ****************\r\n"
	"x-api-key:   ****\r\n"
	"COOKIE: ********\r\n"
	"X-Other: keep me\r\n"
	"X-Authorization-Hint: not a secret name\r\n"
	"\r\n";
static const char h1_resp[] =
	"HTTP/1.1 200 OK\r\n"
	"Set-Cookie: sess=abc; Path=/\r\n"
	"Content-Length: 2\r\n"
	"\r\n"
	"ok";
static const char h1_resp_masked[] =
	"HTTP/1.1 200 OK\r\n"
	"Set-Cookie: ****************\r\n"
	"Content-Length: 2\r\n"
	"\r\n"
	"ok";

static void check_h1_chunks(const struct out *o, size_t rlen, size_t cut)
{
	size_t off = 0;

	for (int i = 0; i < o->n; i++) {
		const struct ev_data *d = &o->ev[i].data;

		assert_int_equal(o->ev[i].kind, 'd');
		if (d->dir != EV_DIR_WRITE)
			continue;
		assert_int_equal(d->offset, off);
		assert_int_equal(d->call_len, rlen);
		assert_int_equal(d->task.ts_ns, 1000 + off);
		assert_int_equal(d->len,
				 off ? rlen - cut : (cut ? cut : rlen));
		off += d->len;
	}
}

static void test_h1_every_split(void **state)
{
	size_t rlen = strlen(h1_req), slen = strlen(h1_resp);
	struct out o;

	for (size_t cut = 0; cut <= rlen; cut++) {
		struct scrub *s = new_scrub(&o);
		struct ev_sink sk = scrub_sink(s);

		feed_split(&sk, EV_DIR_WRITE, (const uint8_t *)h1_req, rlen,
			   cut);
		feed_split(&sk, EV_DIR_READ, (const uint8_t *)h1_resp, slen,
			   cut % (slen + 1));
		/* Nothing is held for HTTP/1.x. */
		assert_int_equal(o.n, (cut && cut < rlen ? 2 : 1) +
			       (cut % (slen + 1) &&
					cut % (slen + 1) < slen ? 2 : 1));
		assert_int_equal(o.len[EV_DIR_WRITE], rlen);
		assert_memory_equal(o.stream[EV_DIR_WRITE], h1_req_masked,
				    rlen);
		assert_int_equal(o.len[EV_DIR_READ], slen);
		assert_memory_equal(o.stream[EV_DIR_READ], h1_resp_masked,
				    slen);
		check_h1_chunks(&o, rlen, cut);
		scrub_free(s);
	}
}

/* A value cut across calls, one byte a call, stays masked. */
static void test_h1_byte_calls(void **state)
{
	size_t rlen = strlen(h1_req);
	struct out o;
	struct scrub *s = new_scrub(&o);
	struct ev_sink sk = scrub_sink(s);

	for (size_t i = 0; i < rlen; i++) {
		struct ev_data d = mk_data(EV_DIR_WRITE, h1_req + i, 1, 1, 0);

		sk.on_data(sk.ctx, &d);
		if (o.n == MAX_OUT)
			o.n = 0;
	}
	assert_int_equal(o.len[EV_DIR_WRITE], rlen);
	assert_memory_equal(o.stream[EV_DIR_WRITE], h1_req_masked, rlen);
	scrub_free(s);
}

/* ---- HTTP/2 ---- */

struct h2_build {
	uint8_t buf[STREAM_MAX];
	size_t len;
};

static void put_frame(struct h2_build *b, uint8_t type, uint8_t flags,
		      uint32_t sid, const uint8_t *p, size_t n)
{
	uint8_t *h = b->buf + b->len;

	assert_true(b->len + 9 + n <= sizeof(b->buf));
	h[0] = (uint8_t)(n >> 16);
	h[1] = (uint8_t)(n >> 8);
	h[2] = (uint8_t)n;
	h[3] = type;
	h[4] = flags;
	h[5] = (uint8_t)(sid >> 24);
	h[6] = (uint8_t)(sid >> 16);
	h[7] = (uint8_t)(sid >> 8);
	h[8] = (uint8_t)sid;
	memcpy(h + 9, p, n);
	b->len += 9 + n;
}

#define NV(n, v, f) \
	{ (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, f }

static nghttp2_nv h2_nva[] = {
	NV(":method", "GET", 0),
	NV(":scheme", "https", 0),
	NV(":path", "/v1/chat?alt=sse&key=AIzaSecretValue123&x=1", 0),
	NV(":authority", "api.example.com", 0),
	NV("authorization", "Bearer sk-proj-abcdefghijklmnop", 0),
	NV("x-api-key", "sk-ant-0123456789", 0),
	NV("cookie", "session=deadbeef", NGHTTP2_NV_FLAG_NO_INDEX),
	NV("user-agent", "test-agent/1.0", 0),
};

#define H2_NNV (sizeof(h2_nva) / sizeof(h2_nva[0]))

static size_t deflate(nghttp2_hd_deflater *d, uint8_t *out, size_t cap)
{
	ssize_t n = nghttp2_hd_deflate_hd(d, out, cap, h2_nva, H2_NNV);

	assert_true(n > 0);
	return (size_t)n;
}

/* Preface, SETTINGS, HEADERS, DATA, then a second request on the same
 * connection as a padded, prioritised HEADERS and a CONTINUATION. */
static void h2_build_stream(struct h2_build *b)
{
	static const uint8_t settings[] = { 0, 1, 0, 0, 0x10, 0 };
	uint8_t blk[1024], pay[1100];
	nghttp2_hd_deflater *d;
	size_t n, half;

	memset(b, 0, sizeof(*b));
	assert_int_equal(nghttp2_hd_deflate_new(&d, 4096), 0);
	memcpy(b->buf, PREFACE, strlen(PREFACE));
	b->len = strlen(PREFACE);
	put_frame(b, 0x4, 0, 0, settings, sizeof(settings));

	n = deflate(d, blk, sizeof(blk));
	put_frame(b, 0x1, 0x4, 1, blk, n);
	put_frame(b, 0x0, 0x1, 1, (const uint8_t *)"hello body", 10);

	n = deflate(d, blk, sizeof(blk));
	half = n / 2;
	pay[0] = 3;	/* pad length */
	memset(pay + 1, 0, 5);	/* priority */
	memcpy(pay + 6, blk, half);
	memset(pay + 6 + half, 0, 3);
	put_frame(b, 0x1, 0x8 | 0x20, 3, pay, 6 + half + 3);
	put_frame(b, 0x9, 0x4, 3, blk + half, n - half);
	nghttp2_hd_deflate_del(d);
}

/* Walks frames, gathering header blocks and DATA payloads. */
struct h2_seen {
	int blocks;
	char path[2][256];
	char auth[2][256];
	char xkey[2][256];
	char cookie[2][256];
	char ua[2][256];
	char data[64];
	char text[1024];	/* every field, "name=value\n" */
};

static void nv_copy(char *dst, const nghttp2_nv *nv)
{
	memcpy(dst, nv->value, nv->valuelen);
	dst[nv->valuelen] = 0;
}

static void h2_note(struct h2_seen *h, const nghttp2_nv *nv)
{
	int i = h->blocks;
	const char *n = (const char *)nv->name;

	assert_true(nv->valuelen < 256);
	assert_true(strlen(h->text) + nv->namelen + nv->valuelen + 3 <
		    sizeof(h->text));
	strncat(h->text, n, nv->namelen);
	strcat(h->text, "=");
	strncat(h->text, (const char *)nv->value, nv->valuelen);
	strcat(h->text, "\n");
	if (nv->namelen == 5 && !memcmp(n, ":path", 5))
		nv_copy(h->path[i], nv);
	if (nv->namelen == 13 && !memcmp(n, "authorization", 13))
		nv_copy(h->auth[i], nv);
	if (nv->namelen == 9 && !memcmp(n, "x-api-key", 9))
		nv_copy(h->xkey[i], nv);
	if (nv->namelen == 6 && !memcmp(n, "cookie", 6))
		nv_copy(h->cookie[i], nv);
	if (nv->namelen == 10 && !memcmp(n, "user-agent", 10))
		nv_copy(h->ua[i], nv);
}

static void h2_inflate(nghttp2_hd_inflater *hd, struct h2_seen *h,
		       const uint8_t *in, size_t len)
{
	for (;;) {
		nghttp2_nv nv;
		int fl = 0;
		ssize_t rv = nghttp2_hd_inflate_hd2(hd, &nv, &fl, in, len, 1);

		assert_true(rv >= 0);
		in += rv;
		len -= (size_t)rv;
		if (fl & NGHTTP2_HD_INFLATE_EMIT)
			h2_note(h, &nv);
		if (fl & NGHTTP2_HD_INFLATE_FINAL)
			break;
	}
	nghttp2_hd_inflate_end_headers(hd);
	h->blocks++;
}

/* The frame payload minus padding and priority. */
static void h2_fragment_of(const uint8_t *p, size_t n, uint8_t type,
			   uint8_t flags, const uint8_t **frag, size_t *flen)
{
	size_t pad = 0, skip = 0;

	if (type == 0x1 && flags & 0x8) {
		pad = p[0];
		skip = 1;
	}
	if (type == 0x1 && flags & 0x20)
		skip += 5;
	*frag = p + skip;
	*flen = n - skip - pad;
}

static void h2_decode(const uint8_t *s, size_t len, struct h2_seen *h)
{
	uint8_t blk[2048];
	size_t blen = 0, pos = strlen(PREFACE);
	nghttp2_hd_inflater *hd;

	memset(h, 0, sizeof(*h));
	assert_int_equal(nghttp2_hd_inflate_new(&hd), 0);
	assert_memory_equal(s, PREFACE, pos);
	while (pos < len) {
		size_t n = (size_t)s[pos] << 16 | s[pos + 1] << 8 | s[pos + 2];
		uint8_t type = s[pos + 3], flags = s[pos + 4];
		const uint8_t *frag;
		size_t flen;

		assert_true(pos + 9 + n <= len);
		if (type == 0x0)
			memcpy(h->data, s + pos + 9, n);
		if (type == 0x1 || type == 0x9) {
			h2_fragment_of(s + pos + 9, n, type, flags, &frag,
				       &flen);
			memcpy(blk + blen, frag, flen);
			blen += flen;
		}
		if ((type == 0x1 || type == 0x9) && flags & 0x4) {
			h2_inflate(hd, h, blk, blen);
			blen = 0;
		}
		pos += 9 + n;
	}
	nghttp2_hd_inflate_del(hd);
}

static void assert_stars(const char *v)
{
	assert_true(strlen(v) > 0);
	for (const char *p = v; *p; p++)
		assert_int_equal(*p, '*');
}

/* Only the parameter value of a Huffman :path is masked, with as many
 * characters, '*' and '0' mixed to keep the string's length. */
static void check_path(const char *path)
{
	const char *pre = "/v1/chat?alt=sse&key=";
	size_t plen = strlen(pre), klen = strlen("AIzaSecretValue123");

	assert_int_equal(strlen(path), plen + klen + strlen("&x=1"));
	assert_memory_equal(path, pre, plen);
	assert_string_equal(path + plen + klen, "&x=1");
	assert_int_equal(path[plen], '*');
	for (size_t i = plen; i < plen + klen; i++)
		assert_true(path[i] == '*' || path[i] == '0');
}

static void check_h2_seen(const struct h2_seen *h)
{
	assert_int_equal(h->blocks, 2);
	assert_string_equal(h->data, "hello body");
	for (int i = 0; i < 2; i++) {
		assert_stars(h->auth[i]);
		assert_stars(h->xkey[i]);
		assert_stars(h->cookie[i]);
		assert_string_equal(h->ua[i], "test-agent/1.0");
		check_path(h->path[i]);
	}
}

static void test_h2_every_split(void **state)
{
	struct h2_build b;
	uint8_t first[STREAM_MAX];
	struct h2_seen seen;
	struct out o;

	h2_build_stream(&b);
	for (size_t cut = 0; cut <= b.len; cut++) {
		struct scrub *s = new_scrub(&o);
		struct ev_sink sk = scrub_sink(s);

		feed_split(&sk, EV_DIR_WRITE, b.buf, b.len, cut);
		/* Complete blocks: nothing waits for a flush. */
		assert_int_equal(o.n, cut && cut < b.len ? 2 : 1);
		assert_int_equal(o.len[EV_DIR_WRITE], b.len);
		assert_int_equal(o.ev[0].data.len, cut ? cut : b.len);
		if (cut == 0)
			memcpy(first, o.stream[EV_DIR_WRITE], b.len);
		assert_memory_equal(o.stream[EV_DIR_WRITE], first, b.len);
		scrub_free(s);
	}
	h2_decode(first, b.len, &seen);
	check_h2_seen(&seen);
}


/* Raw literals by hand: only the parameter value of a raw :path is
 * masked; a literal name, an inserted entry and a later reference to
 * it come out masked; a size update at the start is skipped. */
static void test_h2_raw_literals(void **state)
{
	static const uint8_t blk1[] =
		"\x3f\xe1\x1f"	/* size update to 4096 */
		"\x82"	/* :method GET */
		"\x04\x0e" "/x?key=abc&b=1"
		"\x10\x0e" "x-goog-api-key" "\x03" "abc"
		"\x40\x07" "api-key" "\x02" "zz";
	static const uint8_t blk2[] = "\x82\xbe";	/* api-key, index 62 */
	struct h2_build b = { .len = strlen(PREFACE) };
	struct h2_seen seen;
	struct out o;
	struct scrub *s = new_scrub(&o);
	struct ev_sink sk = scrub_sink(s);

	memcpy(b.buf, PREFACE, b.len);
	put_frame(&b, 0x1, 0x4, 1, blk1, sizeof(blk1) - 1);
	put_frame(&b, 0x1, 0x4, 3, blk2, sizeof(blk2) - 1);
	for (size_t cut = 0; cut <= b.len; cut++) {
		memset(&o, 0, sizeof(o));
		feed_split(&sk, EV_DIR_WRITE, b.buf, b.len, cut);
		feed_close(&sk);
		h2_decode(o.stream[EV_DIR_WRITE], b.len, &seen);
		assert_string_equal(seen.text,
				    ":method=GET\n:path=/x?key=***&b=1\n"
				    "x-goog-api-key=***\napi-key=**\n"
				    ":method=GET\napi-key=**\n");
	}
	scrub_free(s);
}

/* A read event behind a held write keeps its place, and a close lets
 * the held events out first, the open block masked. */
static void test_h2_hold_order(void **state)
{
	struct h2_build b;
	size_t cut = strlen(PREFACE) + 15 + 9 + 4;
	struct ev_data w1, r, w2;
	struct out o;
	struct scrub *s;
	struct ev_sink sk;

	h2_build_stream(&b);
	s = new_scrub(&o);
	sk = scrub_sink(s);
	w1 = mk_data(EV_DIR_WRITE, b.buf, cut, cut, 0);
	r = mk_data(EV_DIR_READ, "xyz", 3, 3, 0);
	w2 = mk_data(EV_DIR_WRITE, b.buf + cut, b.len - cut,
		     b.len - cut, 0);

	sk.on_data(sk.ctx, &w1);
	assert_int_equal(o.n, 0);
	sk.on_data(sk.ctx, &r);
	assert_int_equal(o.n, 0);
	sk.on_data(sk.ctx, &w2);
	assert_int_equal(o.n, 3);
	assert_int_equal(o.ev[0].data.len, cut);
	assert_int_equal(o.ev[1].data.dir, EV_DIR_READ);
	assert_int_equal(o.ev[2].data.len, b.len - cut);

	/* A fresh connection, cut in the first block, then closed. */
	feed_close(&sk);
	assert_int_equal(o.n, 4);
	sk.on_data(sk.ctx, &w1);
	assert_int_equal(o.n, 4);
	feed_close(&sk);
	assert_int_equal(o.n, 6);
	assert_int_equal(o.ev[4].kind, 'd');
	assert_int_equal(o.ev[5].kind, 'c');
	assert_int_equal(o.ev[4].bytes[cut - 1], '*');
	assert_memory_equal(o.ev[4].bytes, b.buf, cut - 4);
	scrub_free(s);
}

/* A process exit lets its connections' held events out first. */
static void test_h2_proc_exit(void **state)
{
	struct h2_build b;
	size_t cut = strlen(PREFACE) + 15 + 9 + 4;
	struct ev_proc p = { .task = { .pid = 42 }, .op = EV_PROC_EXIT };
	struct ev_data w1;
	struct out o;
	struct scrub *s = new_scrub(&o);
	struct ev_sink sk = scrub_sink(s);

	h2_build_stream(&b);
	w1 = mk_data(EV_DIR_WRITE, b.buf, cut, cut, 0);
	sk.on_data(sk.ctx, &w1);
	assert_int_equal(o.n, 0);
	sk.on_proc(sk.ctx, &p);
	assert_int_equal(o.n, 2);
	assert_int_equal(o.ev[0].kind, 'd');
	assert_int_equal(o.ev[1].kind, 'p');
	scrub_free(s);
}

/* A HEADERS frame bigger than the bound: given up, masked, released. */
static void test_h2_bound(void **state)
{
	static uint8_t big[1 << 12];
	uint8_t head[9] = { 0x08, 0, 0, 0x1, 0x4, 0, 0, 0, 1 };
	struct ev_data d;
	struct scrub_stats st;
	struct out o;
	struct scrub *s = new_scrub(&o);
	struct ev_sink sk = scrub_sink(s);
	size_t total = 0;

	d = mk_data(EV_DIR_WRITE, PREFACE, strlen(PREFACE), 24, 0);
	sk.on_data(sk.ctx, &d);
	d = mk_data(EV_DIR_WRITE, head, 9, 9, 0);
	sk.on_data(sk.ctx, &d);
	memset(big, 'a', sizeof(big));
	while (total <= SCRUB_HOLD_MAX) {
		d = mk_data(EV_DIR_WRITE, big, sizeof(big), sizeof(big), 0);
		sk.on_data(sk.ctx, &d);
		total += sizeof(big);
	}
	scrub_get_stats(s, &st);
	assert_int_equal(st.gave_up, 1);
	assert_true(o.n > 2);
	assert_int_equal(o.ev[o.n - 1].bytes[0], '*');
	scrub_free(s);
}

/* Random bytes, in random chunks on a few connections: no crash, and
 * every byte comes out once. */
static void test_random(void **state)
{
	static uint8_t buf[STREAM_MAX];
	static struct out o;
	struct scrub *s = new_scrub(&o);
	struct ev_sink sk = scrub_sink(s);
	size_t in = 0;

	o.count_only = true;
	srand(7);
	for (int round = 0; round < 20000; round++) {
		size_t n = (size_t)(rand() % 300);
		struct ev_data d;

		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)rand();
		if (rand() % 4 == 0 && n >= 24)
			memcpy(buf, PREFACE, 24);
		d = mk_data(rand() % 2, buf, n, n + rand() % 3, 0);
		d.conn.ssl = (uint64_t)(rand() % 8);
		sk.on_data(sk.ctx, &d);
		in += n;
		if (rand() % 50 == 0) {
			struct ev_conn c = { .conn = d.conn,
					     .op = EV_CONN_CLOSE };

			sk.on_conn(sk.ctx, &c);
		}
	}
	scrub_flush(s);
	assert_int_equal(in, o.bytes);
	scrub_free(s);
	scrub_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_h1_every_split),
		cmocka_unit_test(test_h1_byte_calls),
		cmocka_unit_test(test_h2_every_split),
		cmocka_unit_test(test_h2_raw_literals),
		cmocka_unit_test(test_h2_hold_order),
		cmocka_unit_test(test_h2_proc_exit),
		cmocka_unit_test(test_h2_bound),
		cmocka_unit_test(test_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
