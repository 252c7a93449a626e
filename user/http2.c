// SPDX-License-Identifier: MIT
/*
 * HTTP/2 from the client side: framing per RFC 9113 section 4, header
 * blocks through nghttp2's HPACK inflater (RFC 7541), one exchange per
 * client-initiated stream.
 *
 * Each direction has its own framing state and its own inflater,
 * since each encoder keeps its own dynamic table. DATA payloads are
 * streamed straight into the bodies so every byte keeps the time of
 * the read or write it arrived in; other frames are kept whole (header
 * blocks) or in part (control frames) until they end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include <nghttp2/nghttp2.h>

#include "decode.h"
#include "http2.h"
#include "log.h"

#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN (sizeof(H2_PREFACE) - 1)
#define H2_FRAME_HDR_LEN 9

/* Streams tracked at once; past it new streams are ignored. */
#define H2_MAX_STREAMS 1000
#define H2_STREAMS_INITIAL 8
/* A header block with its CONTINUATION frames, encoded. */
#define H2_MAX_HDR_BLOCK (256u << 10)
/* HPACK lets one byte name a 4 KiB table entry, so the encoded limit
 * bounds little: cap what one block may expand to, too. */
#define H2_MAX_HDR_FIELDS 256
#define H2_MAX_HDR_BYTES (256u << 10)
/* Of control frames only the start matters: SETTINGS entries and the
 * GOAWAY last stream id. */
#define H2_CTRL_KEEP 512
/* Largest dynamic table we let an encoder use (it is our memory). */
#define H2_HPACK_TABLE_MAX (256u << 10)
/* RFC 7541 section 4.2: the table starts at 4096 bytes. */
#define H2_HPACK_TABLE_DEFAULT 4096u
/* While hunting for frame alignment, a larger claimed length means we
 * are not at a frame start: peers rarely allow frames over 1 MiB. */
#define H2_HUNT_MAX_LEN (1u << 20)
/* Decoded body bytes held for one connection's open streams. */
#define H2_CONN_BODY_BUDGET (64u << 20)

#define H2_NOTE_MIDWAY "joined mid-connection"

/* Frame types, RFC 9113 section 6. */
enum h2_type {
	H2_DATA = 0x0,
	H2_HEADERS = 0x1,
	H2_PRIORITY = 0x2,
	H2_RST_STREAM = 0x3,
	H2_SETTINGS = 0x4,
	H2_PUSH_PROMISE = 0x5,
	H2_PING = 0x6,
	H2_GOAWAY = 0x7,
	H2_WINDOW_UPDATE = 0x8,
	H2_CONTINUATION = 0x9,
};

#define H2_F_END_STREAM 0x01
#define H2_F_ACK 0x01
#define H2_F_END_HEADERS 0x04
#define H2_F_PADDED 0x08
#define H2_F_PRIORITY 0x20

/* HEADERS with PRIORITY carry a dependency and a weight first. */
#define H2_PRIORITY_LEN 5
/* PUSH_PROMISE carries the promised stream id first. */
#define H2_PROMISE_LEN 4
#define H2_SETTING_LEN 6
#define H2_SETTINGS_HEADER_TABLE_SIZE 0x1
#define H2_SID_MASK 0x7fffffffu

enum h2_sync {
	H2_SYNC_PREFACE,	/* matching the client's connection preface */
	H2_SYNC_HUNT,	/* frame alignment unknown: try each feed start */
	H2_SYNC_OK,	/* at a known frame boundary */
	H2_SYNC_LOST,	/* bytes lost or connection closed: stop */
};

struct h2_frame {
	uint32_t len;
	uint8_t type;
	uint8_t flags;
	bool reserved;
	uint32_t sid;
};

/* A header block being gathered from HEADERS or PUSH_PROMISE and the
 * CONTINUATION frames that follow it. */
struct h2_block {
	uint8_t *buf;
	size_t len;
	size_t cap;
	uint32_t sid;
	bool open;
	bool end_stream;
	bool push;	/* its headers belong to no exchange of ours */
};

struct h2_dir {
	enum ev_dir dir;
	enum h2_sync sync;
	bool fresh;	/* at the first byte of a feed */
	bool joined;	/* we did not see this direction start */
	bool seen_frame;
	bool hd_broken;	/* HPACK state unknown: headers undecodable */
	const char *hd_why;
	nghttp2_hd_inflater *hd;
	size_t hd_table_max;
	size_t preface_off;

	uint8_t fh[H2_FRAME_HDR_LEN];
	size_t fh_len;
	struct h2_frame f;
	uint32_t f_off;	/* payload bytes of f seen */
	uint32_t data_end;	/* DATA: where padding starts */

	uint8_t *keep;	/* the kept start of a non-DATA payload */
	size_t keep_want;
	size_t keep_cap;

	struct h2_block blk;
};

struct h2_stream {
	uint32_t id;
	struct http_exchange *ex;
	struct decoder *dec[2];	/* by enum ev_dir, NULL for identity */
	bool hdrs[2];	/* the non-informational headers arrived */
	bool ended[2];	/* END_STREAM seen */
};

struct h2_conn {
	struct exchange_sink sink;
	struct ev_conn_id id;
	struct h2_dir dir[2];	/* by enum ev_dir */
	struct h2_stream **streams;	/* in the order they opened */
	size_t nstreams;
	size_t cap;
	uint32_t first_client_sid;
	uint32_t max_client_sid;
	size_t body_bytes;	/* decoded body bytes held, all streams */
	uint64_t streams_refused;	/* over H2_MAX_STREAMS */
	const struct ev_task *task;	/* of the feed being parsed */
	bool closed;
};

/* Per header block: where its fields go. */
struct h2_hctx {
	struct h2_stream *s;
	enum ev_dir dir;
	bool trailers;
	bool informational;	/* a 1xx response: dropped */
	size_t nfields;
	size_t bytes;
};

/* Where decoded body bytes go. */
struct h2_out {
	struct h2_conn *c;
	struct body *b;
	uint64_t ts_ns;
};

static uint32_t h2_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint64_t h2_now(const struct h2_conn *c)
{
	return c->task ? c->task->ts_ns : 0;
}

/* ---- exchange notes ---- */

static void h2_note(struct http_exchange *ex, const char *why)
{
	size_t n = strlen(ex->note);

	if (!why || strstr(ex->note, why))
		return;
	if (n == 0)
		snprintf(ex->note, sizeof(ex->note), "%s", why);
	else
		snprintf(ex->note + n, sizeof(ex->note) - n, "; %s", why);
}

static void h2_flag(struct http_exchange *ex, bool gap, const char *why)
{
	ex->incomplete = true;
	if (gap)
		ex->capture_gap = true;
	h2_note(ex, why);
}

/* ---- streams ---- */

static ssize_t h2_stream_index(const struct h2_conn *c, uint32_t sid)
{
	for (size_t i = 0; i < c->nstreams; i++) {
		if (c->streams[i]->id == sid)
			return (ssize_t)i;
	}
	return -1;
}

static struct h2_stream *h2_stream_find(const struct h2_conn *c,
					uint32_t sid)
{
	ssize_t i = h2_stream_index(c, sid);

	return i < 0 ? NULL : c->streams[i];
}

/* Room for one more stream; most connections carry a few at once. */
static int h2_streams_grow(struct h2_conn *c)
{
	size_t ncap = c->cap ? c->cap * 2 : H2_STREAMS_INITIAL;
	struct h2_stream **nv;

	if (c->nstreams < c->cap)
		return 0;
	if (ncap > H2_MAX_STREAMS)
		ncap = H2_MAX_STREAMS;
	nv = realloc(c->streams, ncap * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	c->streams = nv;
	c->cap = ncap;
	return 0;
}

static struct h2_stream *h2_stream_new(struct h2_conn *c, uint32_t sid)
{
	struct h2_stream *s;

	if (c->nstreams >= H2_MAX_STREAMS) {
		if (c->streams_refused++ == 0)
			log_debug("http2: pid %u: over %d open streams, "
				  "new ones ignored", c->id.pid,
				  H2_MAX_STREAMS);
		return NULL;
	}
	if (h2_streams_grow(c))
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->ex = exchange_new();
	if (!s->ex) {
		free(s);
		return NULL;
	}

	s->id = sid;
	s->ex->conn = c->id;
	s->ex->http_version = 20;
	s->ex->stream_id = sid;
	if (c->task)
		s->ex->task = *c->task;
	c->streams[c->nstreams++] = s;
	return s;
}

/* Removes stream i without emitting it. */
static void h2_stream_drop(struct h2_conn *c, size_t i)
{
	struct h2_stream *s = c->streams[i];
	size_t held = s->ex->req_body.len + s->ex->resp_body.len;

	c->body_bytes -= held < c->body_bytes ? held : c->body_bytes;
	for (int d = 0; d < 2; d++) {
		if (s->dec[d])
			decoder_free(s->dec[d]);
	}
	exchange_free(s->ex);
	free(s);
	memmove(&c->streams[i], &c->streams[i + 1],
		(c->nstreams - i - 1) * sizeof(*c->streams));
	c->nstreams--;
}

static int h2_body_out(void *ctx, const uint8_t *data, size_t len)
{
	struct h2_out *o = ctx;
	size_t before = o->b->len;
	int rc;

	/* Many large bodies at once must not add up without bound. */
	if (o->c->body_bytes + len > H2_CONN_BODY_BUDGET) {
		o->b->truncated = true;
		return 0;
	}
	rc = body_append(o->b, data, len, o->ts_ns);
	o->c->body_bytes += o->b->len - before;
	return rc;
}

static struct body *h2_body_of(struct h2_stream *s, enum ev_dir dir)
{
	return dir == EV_DIR_WRITE ? &s->ex->req_body : &s->ex->resp_body;
}

/* A decoder error marks the body; only lack of memory stops us. */
static int h2_decode_result(struct body *b, int rc)
{
	if (rc == 0 || rc == -ENOMEM)
		return rc;
	if (rc == -EFBIG)
		b->truncated = true;
	else
		b->decode_error = true;
	return 0;
}

static int h2_body_feed(struct h2_conn *c, struct h2_stream *s,
			enum ev_dir dir, const uint8_t *data, size_t len)
{
	struct body *b = h2_body_of(s, dir);
	struct h2_out o = { c, b, h2_now(c) };
	int rc;

	b->wire_len += len;
	if (b->decode_error)
		return 0;
	if (!s->dec[dir])
		return h2_body_out(&o, data, len);
	rc = decoder_feed(s->dec[dir], data, len, h2_body_out, &o);
	return h2_decode_result(b, rc);
}

/* The body ended: a compressed stream cut short is a decode error. */
static int h2_body_finish(struct h2_conn *c, struct h2_stream *s,
			  enum ev_dir dir)
{
	struct body *b = h2_body_of(s, dir);
	struct h2_out o = { c, b, h2_now(c) };
	int rc;

	if (!s->dec[dir] || b->decode_error)
		return 0;
	rc = decoder_finish(s->dec[dir], h2_body_out, &o);
	decoder_free(s->dec[dir]);
	s->dec[dir] = NULL;
	/* A body we saw only part of cannot be expected to end well. */
	if (rc == -EPIPE && (!s->ended[dir] || b->truncated))
		return 0;
	return h2_decode_result(b, rc);
}

/* Hands stream i to the sink and frees it; why != NULL: incomplete. */
static int h2_stream_emit(struct h2_conn *c, size_t i, const char *why)
{
	struct h2_stream *s = c->streams[i];
	int rc = h2_body_finish(c, s, EV_DIR_WRITE);

	if (rc == 0)
		rc = h2_body_finish(c, s, EV_DIR_READ);
	if (why)
		h2_flag(s->ex, false, why);
	if (c->sink.on_exchange)
		c->sink.on_exchange(c->sink.ctx, s->ex);
	h2_stream_drop(c, i);
	return rc;
}

/* Emits every stream above last_sid (all of them for H2_SID_MASK+). */
static int h2_emit_above(struct h2_conn *c, uint32_t last_sid,
			 const char *why)
{
	size_t i = 0;
	int rc = 0;

	while (i < c->nstreams) {
		if (c->streams[i]->id <= last_sid) {
			i++;
			continue;
		}
		if (h2_stream_emit(c, i, why) < 0)
			rc = -ENOMEM;
	}
	return rc;
}

/* ---- header blocks ---- */

static void h2_hd_break(struct h2_conn *c, struct h2_dir *d, uint32_t sid,
			const char *why)
{
	struct h2_stream *s = h2_stream_find(c, sid);

	if (!d->hd_broken)
		log_debug("http2: pid %u: %s headers undecodable from here: %s",
			  c->id.pid, d->dir == EV_DIR_WRITE ? "request" :
			  "response", why);
	d->hd_broken = true;
	d->hd_why = why;
	if (s)
		h2_flag(s->ex, false, why);
}

static int h2_set_str(char **dst, const nghttp2_nv *nv)
{
	if (*dst)
		return 0;
	*dst = strndup((const char *)nv->value, nv->valuelen);
	return *dst ? 0 : -ENOMEM;
}

static bool h2_name_is(const nghttp2_nv *nv, const char *name)
{
	return nv->namelen == strlen(name) &&
	       memcmp(nv->name, name, nv->namelen) == 0;
}

/* ":status" is three digits (RFC 9110 section 15). */
static int h2_parse_status(const nghttp2_nv *nv)
{
	const uint8_t *v = nv->value;

	if (nv->valuelen != 3)
		return 0;
	for (int i = 0; i < 3; i++) {
		if (v[i] < '0' || v[i] > '9')
			return 0;
	}
	return (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
}

static int h2_pseudo(struct h2_hctx *h, const nghttp2_nv *nv)
{
	struct http_exchange *ex = h->s->ex;
	int status;

	if (h->trailers)
		return 0;
	if (h->dir == EV_DIR_READ) {
		if (!h2_name_is(nv, ":status"))
			return 0;
		status = h2_parse_status(nv);
		/* RFC 9113 section 8.1: 1xx blocks precede the real one. */
		if (status >= 100 && status < 200)
			h->informational = true;
		else
			ex->status = status;
		return 0;
	}
	if (h2_name_is(nv, ":method"))
		return h2_set_str(&ex->method, nv);
	if (h2_name_is(nv, ":path"))
		return h2_set_str(&ex->path, nv);
	if (h2_name_is(nv, ":authority"))
		return h2_set_str(&ex->authority, nv);
	return 0;
}

static int h2_field(struct h2_hctx *h, const nghttp2_nv *nv)
{
	struct hdr_list *l;

	h->nfields++;
	h->bytes += nv->namelen + nv->valuelen;
	if (!h->s || h->informational || h->nfields > H2_MAX_HDR_FIELDS ||
	    h->bytes > H2_MAX_HDR_BYTES)
		return 0;
	if (nv->namelen > 0 && nv->name[0] == ':')
		return h2_pseudo(h, nv);

	l = h->dir == EV_DIR_WRITE ? &h->s->ex->req_headers :
				     &h->s->ex->resp_headers;
	return hdr_list_add(l, (const char *)nv->name, nv->namelen,
			    (const char *)nv->value, nv->valuelen);
}

/* Runs the whole gathered block through the inflater. Returns 0,
 * -EPROTO when HPACK fails, -ENOMEM. */
static int h2_inflate(struct h2_dir *d, struct h2_hctx *h)
{
	static const uint8_t empty[1];
	const uint8_t *in = d->blk.buf ? d->blk.buf : empty;
	size_t left = d->blk.len;

	for (;;) {
		nghttp2_nv nv;
		int flags = 0;
		ssize_t rv;
		int rc;

		rv = nghttp2_hd_inflate_hd2(d->hd, &nv, &flags, in, left, 1);
		if (rv < 0)
			return rv == NGHTTP2_ERR_NOMEM ? -ENOMEM : -EPROTO;
		in += rv;
		left -= (size_t)rv;

		if (flags & NGHTTP2_HD_INFLATE_EMIT) {
			rc = h2_field(h, &nv);
			if (rc)
				return rc;
		}
		if (flags & NGHTTP2_HD_INFLATE_FINAL) {
			nghttp2_hd_inflate_end_headers(d->hd);
			return 0;
		}
		if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && left == 0)
			return -EPROTO;
	}
}

/* The stream a block from this direction is about, created if new. */
static struct h2_stream *h2_block_stream(struct h2_conn *c,
					 struct h2_dir *d, uint32_t sid)
{
	struct h2_stream *s = h2_stream_find(c, sid);
	bool before_first = c->first_client_sid == 0 ||
			    sid < c->first_client_sid;

	/* Client streams are odd (RFC 9113 section 5.1.1); even ones are
	 * pushed by the server and are not calls the process made. */
	if (s || sid == 0 || !(sid & 1))
		return s;
	if (d->dir == EV_DIR_WRITE) {
		if (sid <= c->max_client_sid)
			return NULL;
		if (c->first_client_sid == 0)
			c->first_client_sid = sid;
		c->max_client_sid = sid;
		return h2_stream_new(c, sid);
	}

	/* A response to a request we never saw: keep what we can. */
	if (!before_first && sid <= c->max_client_sid)
		return NULL;
	s = h2_stream_new(c, sid);
	if (s)
		h2_flag(s->ex, false, c->dir[EV_DIR_WRITE].joined ?
			H2_NOTE_MIDWAY : "request not seen");
	return s;
}

static int h2_headers_arrived(struct h2_conn *c, struct h2_hctx *h)
{
	struct h2_stream *s = h->s;
	struct http_exchange *ex = s->ex;
	const struct hdr_list *l;
	const char *ce;

	if (h->trailers || h->informational)
		return 0;
	s->hdrs[h->dir] = true;
	if (h->dir == EV_DIR_WRITE) {
		ex->ts_req_start = h2_now(c);
		l = &ex->req_headers;
	} else {
		ex->ts_resp_start = h2_now(c);
		l = &ex->resp_headers;
	}

	ce = hdr_list_get(l, "content-encoding");
	if (!ce || strcasecmp(ce, "identity") == 0 || s->dec[h->dir])
		return 0;
	s->dec[h->dir] = decoder_new(ce);
	if (!s->dec[h->dir])
		return -ENOMEM;
	decoder_set_limit(s->dec[h->dir], EXCHANGE_BODY_LIMIT);
	return 0;
}

static int h2_end_stream(struct h2_conn *c, struct h2_dir *d,
			 uint32_t sid)
{
	ssize_t i = h2_stream_index(c, sid);
	struct h2_stream *s;

	if (i < 0)
		return 0;
	s = c->streams[i];
	s->ended[d->dir] = true;
	if (d->dir == EV_DIR_WRITE) {
		s->ex->ts_req_end = h2_now(c);
		return 0;
	}
	/* The response is whole: that is the end of the exchange. */
	s->ex->ts_resp_end = h2_now(c);
	if (!s->hdrs[EV_DIR_READ] && !s->ex->incomplete)
		h2_flag(s->ex, false, "response headers not seen");
	return h2_stream_emit(c, (size_t)i, NULL);
}

static int h2_block_decode(struct h2_conn *c, struct h2_dir *d,
			   struct h2_stream *s)
{
	struct h2_hctx h = { .s = s, .dir = d->dir };
	int rc;

	if (s)
		h.trailers = s->hdrs[d->dir];
	if (d->hd_broken) {
		if (s && !h.trailers)
			h2_flag(s->ex, false, d->hd_why);
		return s ? h2_headers_arrived(c, &h) : 0;
	}

	rc = h2_inflate(d, &h);
	if (rc < 0) {
		h2_hd_break(c, d, d->blk.sid, d->joined ?
			    "headers undecodable (" H2_NOTE_MIDWAY ")" :
			    "HPACK decoding failed");
		if (rc == -ENOMEM)
			return rc;
	}
	/* Fields before a failure decoded right (indices count from
	 * the newest entry): keep them and the block's time. */
	return s ? h2_headers_arrived(c, &h) : 0;
}

/* END_HEADERS: decode the block and apply it to its stream. */
static int h2_block_done(struct h2_conn *c, struct h2_dir *d)
{
	struct h2_block *b = &d->blk;
	struct h2_stream *s = NULL;
	int rc;

	b->open = false;
	if (!b->push)
		s = h2_block_stream(c, d, b->sid);
	rc = h2_block_decode(c, d, s);
	b->len = 0;
	if (rc == 0 && b->end_stream && !b->push)
		rc = h2_end_stream(c, d, b->sid);
	return rc;
}

static int h2_block_append(struct h2_block *b, const uint8_t *p,
			   size_t n)
{
	size_t need = b->len + n;
	uint8_t *nb;

	if (need > b->cap) {
		nb = realloc(b->buf, need);
		if (!nb)
			return -ENOMEM;
		b->buf = nb;
		b->cap = need;
	}
	if (n)
		memcpy(b->buf + b->len, p, n);
	b->len = need;
	return 0;
}

/* Appends the header block fragment of a HEADERS or PUSH_PROMISE
 * frame: after the pad length and skip bytes, before the padding. */
static int h2_fragment(struct h2_conn *c, struct h2_dir *d, size_t skip)
{
	const struct h2_frame *f = &d->f;
	size_t off = 0;
	size_t pad = 0;

	if (d->hd_broken)
		return 0;
	if ((f->flags & H2_F_PADDED) && f->len > 0) {
		pad = d->keep[0];
		off = 1;
	}
	off += skip;
	if (off + pad > f->len || ((f->flags & H2_F_PADDED) && !f->len)) {
		h2_hd_break(c, d, f->sid, "malformed header frame");
		return 0;
	}
	if (f->len == off + pad)	/* keep may be NULL: nothing to add */
		return 0;
	return h2_block_append(&d->blk, d->keep + off, f->len - off - pad);
}

static int h2_block_start(struct h2_conn *c, struct h2_dir *d,
			  bool push, size_t skip)
{
	struct h2_block *b = &d->blk;
	int rc;

	b->open = true;
	b->push = push;
	b->sid = d->f.sid;
	b->end_stream = !push && (d->f.flags & H2_F_END_STREAM);
	b->len = 0;
	rc = h2_fragment(c, d, skip);
	if (rc || !(d->f.flags & H2_F_END_HEADERS))
		return rc;
	return h2_block_done(c, d);
}

static int h2_on_headers(struct h2_conn *c, struct h2_dir *d)
{
	size_t skip = d->f.flags & H2_F_PRIORITY ? H2_PRIORITY_LEN : 0;

	return h2_block_start(c, d, false, skip);
}

static int h2_on_continuation(struct h2_conn *c, struct h2_dir *d)
{
	struct h2_block *b = &d->blk;
	int rc = 0;

	if (!b->open || b->sid != d->f.sid) {
		h2_hd_break(c, d, d->f.sid, "stray CONTINUATION frame");
		return 0;
	}
	if (!d->hd_broken)
		rc = h2_block_append(b, d->keep, d->f.len);
	if (rc || !(d->f.flags & H2_F_END_HEADERS))
		return rc;
	return h2_block_done(c, d);
}

/* ---- control frames ---- */

/* SETTINGS_HEADER_TABLE_SIZE from one side bounds the other side's
 * encoder (RFC 7541 section 4.2). Only raising matters to a passive
 * decoder: the encoder still announces every size it picks. */
static void h2_raise_table(struct h2_dir *o, uint32_t size)
{
	if (size > H2_HPACK_TABLE_MAX)
		size = H2_HPACK_TABLE_MAX;
	if (size <= o->hd_table_max)
		return;
	if (nghttp2_hd_inflate_change_table_size(o->hd, size) == 0)
		o->hd_table_max = size;
}

static void h2_on_settings(struct h2_conn *c, struct h2_dir *d)
{
	struct h2_dir *o = &c->dir[!d->dir];
	size_t kept = d->f.len < d->keep_want ? d->f.len : d->keep_want;

	if (d->f.flags & H2_F_ACK || d->f.sid != 0)
		return;
	for (size_t i = 0; i + H2_SETTING_LEN <= kept; i += H2_SETTING_LEN) {
		const uint8_t *e = d->keep + i;
		unsigned int id = (unsigned int)e[0] << 8 | e[1];

		if (id == H2_SETTINGS_HEADER_TABLE_SIZE)
			h2_raise_table(o, h2_be32(e + 2));
	}
}

static int h2_on_rst(struct h2_conn *c, struct h2_dir *d)
{
	ssize_t i = h2_stream_index(c, d->f.sid);

	if (i < 0 || d->f.len != 4)
		return 0;
	return h2_stream_emit(c, (size_t)i, "stream reset");
}

/* Only the server's GOAWAY names client streams it will not serve. */
static int h2_on_goaway(struct h2_conn *c, struct h2_dir *d)
{
	uint32_t last;

	if (d->dir != EV_DIR_READ || d->f.len < 8 || d->f.sid != 0)
		return 0;
	last = h2_be32(d->keep) & H2_SID_MASK;
	return h2_emit_above(c, last, "goaway");
}

/* ---- framing ---- */

static int h2_frame_dispatch(struct h2_conn *c, struct h2_dir *d)
{
	switch (d->f.type) {
	case H2_DATA:
		if (!(d->f.flags & H2_F_END_STREAM))
			return 0;
		return h2_end_stream(c, d, d->f.sid);
	case H2_HEADERS:
		return h2_on_headers(c, d);
	case H2_PUSH_PROMISE:
		return h2_block_start(c, d, true, H2_PROMISE_LEN);
	case H2_CONTINUATION:
		return h2_on_continuation(c, d);
	case H2_SETTINGS:
		h2_on_settings(c, d);
		return 0;
	case H2_RST_STREAM:
		return h2_on_rst(c, d);
	case H2_GOAWAY:
		return h2_on_goaway(c, d);
	default:
		/* PRIORITY, PING, WINDOW_UPDATE, extensions: nothing to
		 * learn about the calls (RFC 9113 section 5.5). */
		return 0;
	}
}

static int h2_frame_end(struct h2_conn *c, struct h2_dir *d)
{
	int rc = h2_frame_dispatch(c, d);

	d->fh_len = 0;
	return rc;
}

static bool h2_is_block_frame(uint8_t type)
{
	return type == H2_HEADERS || type == H2_PUSH_PROMISE ||
	       type == H2_CONTINUATION;
}

/* How much of this frame's payload to keep until it ends. */
static size_t h2_keep_want(struct h2_conn *c, struct h2_dir *d)
{
	const struct h2_frame *f = &d->f;

	if (f->type == H2_DATA)
		return 0;
	if (!h2_is_block_frame(f->type))
		return f->len < H2_CTRL_KEEP ? f->len : H2_CTRL_KEEP;
	if (d->hd_broken)
		return 0;
	if (d->blk.len + f->len > H2_MAX_HDR_BLOCK) {
		h2_hd_break(c, d, f->sid, "header block too large");
		return 0;
	}
	return f->len;
}

static int h2_frame_begin(struct h2_conn *c, struct h2_dir *d)
{
	uint8_t *nk;

	d->seen_frame = true;
	d->f_off = 0;
	d->data_end = d->f.len;
	/* RFC 9113 section 6.10: nothing may interleave with a block. */
	if (d->blk.open && d->f.type != H2_CONTINUATION) {
		d->blk.open = false;
		d->blk.len = 0;
		h2_hd_break(c, d, d->blk.sid, "header block interrupted");
	}

	d->keep_want = h2_keep_want(c, d);
	if (d->keep_want > d->keep_cap) {
		nk = realloc(d->keep, d->keep_want);
		if (!nk)
			return -ENOMEM;
		d->keep = nk;
		d->keep_cap = d->keep_want;
	}
	if (d->f.len == 0)
		return h2_frame_end(c, d);
	return 0;
}

static void h2_frame_decode(struct h2_frame *f, const uint8_t *h)
{
	f->len = (uint32_t)h[0] << 16 | (uint32_t)h[1] << 8 | h[2];
	f->type = h[3];
	f->flags = h[4];
	f->reserved = h[5] & 0x80;
	f->sid = h2_be32(h + 5) & H2_SID_MASK;
}

/* Flags each frame type defines (RFC 9113 section 6). */
static const uint8_t h2_type_flags[] = {
	[H2_DATA] = H2_F_END_STREAM | H2_F_PADDED,
	[H2_HEADERS] = H2_F_END_STREAM | H2_F_END_HEADERS | H2_F_PADDED |
		       H2_F_PRIORITY,
	[H2_SETTINGS] = H2_F_ACK,
	[H2_PUSH_PROMISE] = H2_F_END_HEADERS | H2_F_PADDED,
	[H2_PING] = H2_F_ACK,
	[H2_CONTINUATION] = H2_F_END_HEADERS,
};

static bool h2_len_plausible(const struct h2_frame *f)
{
	switch (f->type) {
	case H2_PRIORITY:
		return f->len == 5;
	case H2_RST_STREAM:
	case H2_WINDOW_UPDATE:
		return f->len == 4;
	case H2_PING:
		return f->len == 8;
	case H2_SETTINGS:
		return f->len % H2_SETTING_LEN == 0 &&
		       (!(f->flags & H2_F_ACK) || f->len == 0);
	case H2_GOAWAY:
		return f->len >= 8;
	default:
		return true;
	}
}

/* Whether a header read at a guessed position looks like a real frame
 * start: a random position passes all of this rarely. A CONTINUATION
 * cannot start a sync, since its block's start is gone. */
static bool h2_frame_plausible(const struct h2_frame *f)
{
	bool conn_level = f->type == H2_SETTINGS || f->type == H2_PING ||
			  f->type == H2_GOAWAY;

	if (f->type >= H2_CONTINUATION || f->reserved ||
	    f->len > H2_HUNT_MAX_LEN)
		return false;
	if (f->flags & ~h2_type_flags[f->type])
		return false;
	if (f->type != H2_WINDOW_UPDATE && conn_level != (f->sid == 0))
		return false;
	return h2_len_plausible(f);
}

/* Hunting: accept the header just read as a frame start, or not. */
static bool h2_hunt_accept(struct h2_conn *c, struct h2_dir *d)
{
	const struct h2_frame *f = &d->f;
	bool server_start = d->dir == EV_DIR_READ && !d->seen_frame &&
			    f->type == H2_SETTINGS && !(f->flags & H2_F_ACK);

	if (!h2_frame_plausible(f)) {
		d->joined = true;
		return false;
	}
	/* RFC 9113 section 3.4: the server's first frame is SETTINGS. */
	if (!server_start)
		d->joined = true;
	if (d->joined) {
		/* We missed its SETTINGS: allow any table it might use. */
		h2_raise_table(d, H2_HPACK_TABLE_MAX);
		log_debug("http2: pid %u: %s frames picked up mid-way",
			  c->id.pid, d->dir == EV_DIR_WRITE ? "request" :
			  "response");
	}
	d->sync = H2_SYNC_OK;
	return true;
}

/* In a direction we picked up mid-way the frame start we chose may
 * have been wrong: a header that breaks the rules says so. Unknown
 * types are extensions (RFC 9113 section 5.5) and pass. */
static bool h2_sync_doubtful(const struct h2_dir *d)
{
	const struct h2_frame *f = &d->f;

	if (f->type == H2_CONTINUATION)
		return !d->blk.open || d->blk.sid != f->sid;
	return f->type < H2_CONTINUATION && !h2_frame_plausible(f);
}

/* Back to hunting: what was open in this direction lost bytes. */
static void h2_rehunt(struct h2_conn *c, struct h2_dir *d)
{
	log_debug("http2: pid %u: %s framing lost, hunting again",
		  c->id.pid, d->dir == EV_DIR_WRITE ? "request" : "response");
	d->sync = H2_SYNC_HUNT;
	d->fh_len = 0;
	if (d->blk.open)
		h2_hd_break(c, d, d->blk.sid, "framing lost");
	d->blk.open = false;
	d->blk.len = 0;
	for (size_t i = 0; i < c->nstreams; i++) {
		struct h2_stream *s = c->streams[i];

		if (!s->ended[d->dir])
			h2_flag(s->ex, true, "framing lost");
	}
}

static int h2_header_step(struct h2_conn *c, struct h2_dir *d,
			  const uint8_t *p, size_t n, size_t *used)
{
	size_t take = H2_FRAME_HDR_LEN - d->fh_len;

	if (take > n)
		take = n;
	memcpy(d->fh + d->fh_len, p, take);
	d->fh_len += take;
	*used = take;
	if (d->fh_len < H2_FRAME_HDR_LEN)
		return 0;

	h2_frame_decode(&d->f, d->fh);
	if (d->sync == H2_SYNC_HUNT && !h2_hunt_accept(c, d)) {
		d->fh_len = 0;
		return 0;
	}
	if (d->joined && h2_sync_doubtful(d)) {
		h2_rehunt(c, d);
		return 0;
	}
	return h2_frame_begin(c, d);
}

/* DATA payload bytes [f_off, f_off + n): the body part goes to its
 * stream, the pad length and padding do not (RFC 9113 section 6.1). */
static int h2_data_bytes(struct h2_conn *c, struct h2_dir *d,
			 const uint8_t *p, size_t n)
{
	uint32_t pos = d->f_off;
	struct h2_stream *s;
	size_t k;

	if ((d->f.flags & H2_F_PADDED) && pos == 0) {
		/* A pad longer than the frame is an error: no body. */
		d->data_end = p[0] < d->f.len ? d->f.len - p[0] : 1;
		p++;
		n--;
		pos++;
	}
	if (pos >= d->data_end || n == 0)
		return 0;
	k = d->data_end - pos;
	if (k > n)
		k = n;

	s = h2_stream_find(c, d->f.sid);
	if (!s || s->ended[d->dir])
		return 0;
	return h2_body_feed(c, s, d->dir, p, k);
}

static int h2_payload_step(struct h2_conn *c, struct h2_dir *d,
			   const uint8_t *p, size_t n, size_t *used)
{
	size_t take = d->f.len - d->f_off;
	int rc = 0;

	if (take > n)
		take = n;
	if (d->f.type == H2_DATA) {
		rc = h2_data_bytes(c, d, p, take);
	} else if (d->f_off < d->keep_want) {
		size_t k = d->keep_want - d->f_off;

		memcpy(d->keep + d->f_off, p, k < take ? k : take);
	}
	d->f_off += (uint32_t)take;
	*used = take;
	if (rc || d->f_off < d->f.len)
		return rc;
	return h2_frame_end(c, d);
}

/* The client's preface (RFC 9113 section 3.4). Without it the
 * connection began before we looked: hunt for a frame start. */
static size_t h2_preface_step(struct h2_dir *d, const uint8_t *p,
			      size_t n)
{
	size_t i = 0;

	while (i < n && d->preface_off < H2_PREFACE_LEN) {
		if (p[i] != (uint8_t)H2_PREFACE[d->preface_off]) {
			d->sync = H2_SYNC_HUNT;
			d->joined = true;
			/* Nothing matched: the same bytes may be a frame. */
			return d->preface_off == 0 ? 0 : i + 1;
		}
		i++;
		d->preface_off++;
	}
	if (d->preface_off == H2_PREFACE_LEN)
		d->sync = H2_SYNC_OK;
	return i;
}

static int h2_dir_step(struct h2_conn *c, struct h2_dir *d,
		       const uint8_t *p, size_t n, size_t *used)
{
	*used = 0;
	switch (d->sync) {
	case H2_SYNC_PREFACE:
		*used = h2_preface_step(d, p, n);
		return 0;
	case H2_SYNC_HUNT:
		/* Writes and reads begin at frame starts far more often
		 * than anywhere else; mid-feed we have no such hint. */
		if (d->fh_len == 0 && !d->fresh) {
			*used = n;
			return 0;
		}
		return h2_header_step(c, d, p, n, used);
	case H2_SYNC_OK:
		if (d->fh_len < H2_FRAME_HDR_LEN)
			return h2_header_step(c, d, p, n, used);
		return h2_payload_step(c, d, p, n, used);
	default:
		*used = n;
		return 0;
	}
}

/* ---- public ---- */

static int h2_dir_init(struct h2_dir *d, enum ev_dir dir)
{
	d->dir = dir;
	d->sync = dir == EV_DIR_WRITE ? H2_SYNC_PREFACE : H2_SYNC_HUNT;
	d->hd_table_max = H2_HPACK_TABLE_DEFAULT;
	return nghttp2_hd_inflate_new(&d->hd) == 0 ? 0 : -ENOMEM;
}

struct h2_conn *h2_conn_new(const struct exchange_sink *sink,
			    const struct ev_conn_id *conn)
{
	struct h2_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (sink)
		c->sink = *sink;
	if (conn)
		c->id = *conn;
	if (h2_dir_init(&c->dir[EV_DIR_WRITE], EV_DIR_WRITE) ||
	    h2_dir_init(&c->dir[EV_DIR_READ], EV_DIR_READ)) {
		h2_conn_free(c);
		return NULL;
	}
	return c;
}

int h2_conn_feed(struct h2_conn *c, enum ev_dir dir, const uint8_t *data,
		 size_t len, const struct ev_task *task)
{
	struct h2_dir *d;
	size_t off = 0;
	int rc = 0;

	if (!c || (dir != EV_DIR_WRITE && dir != EV_DIR_READ))
		return -EINVAL;
	if (c->closed || !data)
		return 0;
	d = &c->dir[dir];
	c->task = task;
	d->fresh = true;

	while (off < len && rc == 0) {
		size_t used;

		rc = h2_dir_step(c, d, data + off, len - off, &used);
		off += used;
		if (used)
			d->fresh = false;
	}
	c->task = NULL;
	return rc;
}

void h2_conn_gap(struct h2_conn *c, enum ev_dir dir)
{
	struct h2_dir *d;

	if (!c || (dir != EV_DIR_WRITE && dir != EV_DIR_READ))
		return;
	d = &c->dir[dir];
	if (d->sync == H2_SYNC_LOST)
		return;
	log_debug("http2: pid %u: %s bytes lost, direction abandoned",
		  c->id.pid, dir == EV_DIR_WRITE ? "request" : "response");
	d->sync = H2_SYNC_LOST;
	d->blk.open = false;

	/* Framing and HPACK state are gone for good in this direction:
	 * requests still being sent lost bytes; responses cannot end. */
	for (size_t i = 0; i < c->nstreams; i++) {
		struct h2_stream *s = c->streams[i];

		if (dir == EV_DIR_WRITE && !s->ended[EV_DIR_WRITE])
			h2_flag(s->ex, true, "request bytes lost");
	}
	if (dir == EV_DIR_READ) {
		for (size_t i = 0; i < c->nstreams; i++)
			c->streams[i]->ex->capture_gap = true;
		h2_emit_above(c, 0, "response bytes lost");
	}
}

void h2_conn_close(struct h2_conn *c, uint64_t ts_ns, const char *why)
{
	struct ev_task t = { .ts_ns = ts_ns };

	if (!c)
		return;
	c->closed = true;
	c->dir[EV_DIR_WRITE].sync = H2_SYNC_LOST;
	c->dir[EV_DIR_READ].sync = H2_SYNC_LOST;
	c->task = &t;
	h2_emit_above(c, 0, why ? why : "connection closed");
	c->task = NULL;
}

void h2_conn_free(struct h2_conn *c)
{
	if (!c)
		return;
	while (c->nstreams)
		h2_stream_drop(c, c->nstreams - 1);
	free(c->streams);
	for (int i = 0; i < 2; i++) {
		struct h2_dir *d = &c->dir[i];

		if (d->hd)
			nghttp2_hd_inflate_del(d->hd);
		free(d->keep);
		free(d->blk.buf);
	}
	free(c);
}
