// SPDX-License-Identifier: MIT
/*
 * The scrubber: a filter between capture and the recorder that masks
 * credentials in place. Every data event is copied, masked at the same
 * length and passed on with its metadata untouched.
 *
 * HTTP/1.x is masked by a byte-at-a-time state machine, so a header
 * name or value split across chunks is handled without buffering.
 * HTTP/2 needs more: header values live inside HPACK (RFC 7541), which
 * only a decoder that saw every earlier block can read. So each
 * direction follows the frames (RFC 9113 section 4), holds the events
 * of a header block back until the block is complete, decodes it with
 * nghttp2's inflater to learn where each field's representation lies,
 * masks the secret ones inside their HPACK strings and releases the
 * events in their order.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nghttp2/nghttp2.h>

#include "log.h"
#include "scrub.h"

#define SCRUB_N(a) (sizeof(a) / sizeof((a)[0]))
#define SCRUB_MASK '*'

/* Longer than any secret header name or method, so a longer token
 * can be skipped at once. */
#define SCRUB_NAME_MAX 24
#define SCRUB_BUCKETS 16384u

#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN (sizeof(H2_PREFACE) - 1)
#define H2_FRAME_HDR 9
#define H2_SETTING_LEN 6
#define H2_SETTINGS_HEADER_TABLE_SIZE 0x1
/* A bigger table than this asked by SETTINGS is not followed. */
#define H2_TABLE_MAX (1u << 20)

/* Frame types and flags, RFC 9113 section 6. */
enum {
	H2_DATA = 0x0,
	H2_HEADERS = 0x1,
	H2_SETTINGS = 0x4,
	H2_PUSH_PROMISE = 0x5,
	H2_CONTINUATION = 0x9,
};

#define H2_F_ACK 0x1
#define H2_F_END_HEADERS 0x4
#define H2_F_PADDED 0x8
#define H2_F_PRIORITY 0x20
#define H2_PRIORITY_LEN 5
#define H2_PROMISED_LEN 4

static const char *const scrub_hdrs[] = {
	"authorization", "proxy-authorization", "x-api-key", "api-key",
	"x-goog-api-key", "cookie", "set-cookie",
};

static const char *const scrub_params[] = {
	"key", "api_key", "access_token",
};

/* ---- lists ---- */

struct scrub_hnode {
	struct scrub_hnode *next, **pprev;
};

struct scrub_link {
	struct scrub_link *prev, *next;
};

#define scrub_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

static void scrub_hadd(struct scrub_hnode **head, struct scrub_hnode *n)
{
	n->next = *head;
	if (n->next)
		n->next->pprev = &n->next;
	*head = n;
	n->pprev = head;
}

static void scrub_hdel(struct scrub_hnode *n)
{
	*n->pprev = n->next;
	if (n->next)
		n->next->pprev = n->pprev;
}

static void scrub_link_init(struct scrub_link *l)
{
	l->prev = l;
	l->next = l;
}

static void scrub_link_del(struct scrub_link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	scrub_link_init(l);
}

static void scrub_link_tail(struct scrub_link *head, struct scrub_link *l)
{
	l->prev = head->prev;
	l->next = head;
	head->prev->next = l;
	head->prev = l;
}

/* ---- state ---- */

/* One event waiting in a connection's queue. */
struct scrub_item {
	struct scrub_item *next;
	uint64_t seq;
	bool is_conn;
	bool scanned;
	union {
		struct ev_data data;
		struct ev_conn conn;
	} ev;
	uint8_t buf[];
};

enum scrub_h1_state {
	H1_LINE,	/* at the start of a line */
	H1_NAME,	/* in a header name or method */
	H1_VALUE_SP,	/* after a secret name's colon */
	H1_VALUE,	/* in a secret value: masking */
	H1_SKIP,	/* nothing to do until the next line */
	H1_TARGET,	/* in a request target, before '?' */
	H1_PNAME,	/* in a query parameter name */
	H1_PVALUE,	/* in a secret parameter value: masking */
	H1_PSKIP,	/* in another parameter's value */
};

struct scrub_h1 {
	uint8_t st;
	uint8_t nlen;
	bool upper;	/* the token so far could be a method */
	char name[SCRUB_NAME_MAX];
};

/* Where block bytes sit in held events. */
struct scrub_seg {
	struct scrub_item *it;
	uint32_t it_off;
	uint32_t len;
};

struct scrub_h2 {
	uint32_t preface_left;
	uint8_t hdr[H2_FRAME_HDR];
	uint8_t hdr_have;
	uint8_t type;
	uint8_t flags;
	uint32_t left;	/* payload bytes of the frame still to come */
	bool need_padlen;
	uint32_t pre_left;	/* priority or promised id bytes */
	uint32_t frag_left;	/* header block fragment bytes */
	bool in_block;	/* between HEADERS and END_HEADERS */
	bool holding;	/* events from hold_seq on wait for the block */
	bool gave_up;	/* no HPACK any more: blocks masked whole */
	bool lost;	/* a gap broke framing: everything masked */
	uint64_t hold_seq;
	uint32_t table_max;
	nghttp2_hd_inflater *hd;
	uint8_t *blk;
	size_t blk_len, blk_cap;
	struct scrub_seg *segs;
	size_t nseg, seg_cap;
	uint8_t set[H2_SETTING_LEN];
	uint8_t set_have;
};

struct scrub_dir {
	struct scrub_h1 h1;
	struct scrub_h2 h2;
	bool seen;
	uint64_t call_len, call_end;	/* of the last call, to see gaps */
};

enum scrub_proto {
	SCRUB_UNKNOWN,
	SCRUB_H1,
	SCRUB_H2,
};

struct scrub_conn {
	struct ev_conn_id id;
	struct scrub_hnode by_id;
	struct scrub_hnode by_pid;
	struct scrub_link lru;
	enum scrub_proto proto;
	int det_dir;	/* the direction that decides the protocol */
	uint32_t det_have;	/* preface bytes matched so far */
	struct scrub_dir dir[2];
	struct scrub_item *qhead, *qtail;
	size_t qbytes, qcount;
	uint64_t next_seq;
};

struct scrub {
	struct ev_sink down;
	struct scrub_hnode *by_id[SCRUB_BUCKETS];
	struct scrub_hnode *by_pid[SCRUB_BUCKETS];
	struct scrub_link lru;
	size_t nconns;
	struct scrub_stats st;
	bool warned_give_up, warned_evict, warned_lost, warned_nomem;
};

/* ---- names ---- */

static bool scrub_in_list(const char *const *list, size_t n,
			  const char *s, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		if (strlen(list[i]) == len &&
		    strncasecmp(list[i], s, len) == 0)
			return true;
	}
	return false;
}

static bool scrub_hdr_secret(const char *s, size_t len)
{
	return scrub_in_list(scrub_hdrs, SCRUB_N(scrub_hdrs), s, len);
}

static bool scrub_param_secret(const char *s, size_t len)
{
	return scrub_in_list(scrub_params, SCRUB_N(scrub_params), s, len);
}

/* RFC 9110 section 5.6.2 token characters. */
static bool scrub_is_tchar(uint8_t b)
{
	if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') ||
	    (b >= '0' && b <= '9'))
		return true;
	return b && strchr("!#$%&'*+-.^_`|~", b);
}

/* ---- HTTP/1.x ---- */

static void h1_name_char(struct scrub_h1 *h, uint8_t b)
{
	if (b == ':') {
		h->st = scrub_hdr_secret(h->name, h->nlen) ? H1_VALUE_SP :
							     H1_SKIP;
		return;
	}
	if (b == ' ') {
		h->st = h->nlen && h->upper ? H1_TARGET : H1_SKIP;
		return;
	}
	if (!scrub_is_tchar(b) || h->nlen == SCRUB_NAME_MAX) {
		h->st = H1_SKIP;
		return;
	}
	h->name[h->nlen++] = (char)b;
	if (b < 'A' || b > 'Z')
		h->upper = false;
}

static void h1_pname_char(struct scrub_h1 *h, uint8_t b)
{
	if (b == '=') {
		h->st = scrub_param_secret(h->name, h->nlen) ? H1_PVALUE :
							       H1_PSKIP;
		return;
	}
	if (b == '&') {
		h->nlen = 0;
		return;
	}
	if (b == ' ' || b == '#' || b == '\r') {
		h->st = H1_SKIP;
		return;
	}
	/* Too long for a secret name: its value is not one of ours. */
	if (h->nlen == SCRUB_NAME_MAX) {
		h->st = H1_PSKIP;
		return;
	}
	h->name[h->nlen++] = (char)b;
}

/* Ends of a parameter value; returns true when the byte is part of
 * the value. */
static bool h1_pvalue_char(struct scrub_h1 *h, uint8_t b)
{
	if (b == '&') {
		h->st = H1_PNAME;
		h->nlen = 0;
		return false;
	}
	if (b == ' ' || b == '#' || b == '\r') {
		h->st = H1_SKIP;
		return false;
	}
	return true;
}

/* One byte through the machine; true when it was masked. */
static bool h1_byte(struct scrub_h1 *h, uint8_t *c)
{
	uint8_t b = *c;

	if (b == '\n') {
		h->st = H1_LINE;
		return false;
	}
	switch (h->st) {
	case H1_LINE:
		h->nlen = 0;
		h->upper = true;
		h->st = H1_NAME;
		h1_name_char(h, b);
		return false;
	case H1_NAME:
		h1_name_char(h, b);
		return false;
	case H1_VALUE_SP:
		if (b == ' ' || b == '\t')
			return false;
		h->st = H1_VALUE;
		/* fallthrough */
	case H1_VALUE:
		if (b == '\r') {
			h->st = H1_SKIP;
			return false;
		}
		*c = SCRUB_MASK;
		return true;
	case H1_TARGET:
		if (b == '?') {
			h->st = H1_PNAME;
			h->nlen = 0;
		} else if (b == ' ' || b == '\r') {
			h->st = H1_SKIP;
		}
		return false;
	case H1_PNAME:
		h1_pname_char(h, b);
		return false;
	case H1_PVALUE:
		if (!h1_pvalue_char(h, b))
			return false;
		*c = SCRUB_MASK;
		return true;
	case H1_PSKIP:
		h1_pvalue_char(h, b);
		return false;
	}
	return false;
}

static size_t h1_scan(struct scrub_h1 *h, uint8_t *p, size_t n)
{
	size_t masked = 0;

	for (size_t i = 0; i < n; i++)
		masked += h1_byte(h, &p[i]);
	return masked;
}

/* Masks secret query parameter values in a request target. */
static size_t scrub_path_mask(uint8_t *p, size_t n)
{
	struct scrub_h1 h = { .st = H1_TARGET };

	return h1_scan(&h, p, n);
}

/* ---- HPACK representations, RFC 7541 section 6 ---- */

/* Where a literal field's value string lies in its representation. */
struct hpack_rep {
	bool indexed;
	size_t val_hdr;	/* the byte with the H bit */
	size_t val_off;
	size_t val_len;
	bool huff;
};

/* An integer with an N-bit prefix, section 5.1. */
static int hpack_int(const uint8_t *p, size_t n, size_t *i, int prefix,
		     uint64_t *out)
{
	uint64_t max = (1u << prefix) - 1;
	uint64_t v;
	int shift = 0;

	if (*i >= n)
		return -EPROTO;
	v = p[(*i)++] & max;
	if (v < max) {
		*out = v;
		return 0;
	}
	for (;;) {
		uint8_t b;

		if (*i >= n || shift > 56)
			return -EPROTO;
		b = p[(*i)++];
		v += (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80))
			break;
	}
	*out = v;
	return 0;
}

/* A string, section 5.2: H bit, 7-bit prefix length, bytes. */
static int hpack_str(const uint8_t *p, size_t n, size_t *i,
		     struct hpack_rep *r)
{
	uint64_t len;

	if (*i >= n)
		return -EPROTO;
	r->val_hdr = *i;
	r->huff = p[*i] & 0x80;
	if (hpack_int(p, n, i, 7, &len) || len > n - *i)
		return -EPROTO;
	r->val_off = *i;
	r->val_len = (size_t)len;
	*i += (size_t)len;
	return 0;
}

/* Parses the field representation at p, past any size updates. */
static int hpack_parse(const uint8_t *p, size_t n, struct hpack_rep *r)
{
	uint64_t v;
	size_t i = 0;

	memset(r, 0, sizeof(*r));
	while (i < n && (p[i] & 0xe0) == 0x20) {
		if (hpack_int(p, n, &i, 5, &v))
			return -EPROTO;
	}
	if (i >= n)
		return -EPROTO;
	if (p[i] & 0x80) {
		r->indexed = true;
		return 0;
	}
	if (hpack_int(p, n, &i, p[i] & 0x40 ? 6 : 4, &v))
		return -EPROTO;
	/* Name index 0: a literal name comes first. */
	if (v == 0 && hpack_str(p, n, &i, r))
		return -EPROTO;
	return hpack_str(p, n, &i, r);
}

/* ---- events out ---- */

static void scrub_emit(struct scrub *s, struct scrub_item *it)
{
	if (it->is_conn) {
		if (s->down.on_conn)
			s->down.on_conn(s->down.ctx, &it->ev.conn);
		return;
	}
	if (s->down.on_data)
		s->down.on_data(s->down.ctx, &it->ev.data);
}

static bool scrub_item_ready(const struct scrub_conn *c,
			     const struct scrub_item *it)
{
	const struct scrub_h2 *h;

	if (it->is_conn)
		return true;
	if (!it->scanned)
		return false;
	h = &c->dir[it->ev.data.dir == EV_DIR_READ].h2;
	return !(h->holding && it->seq >= h->hold_seq);
}

/* Passes on queued events from the head while nothing holds them. */
static void scrub_release(struct scrub *s, struct scrub_conn *c)
{
	while (c->qhead && scrub_item_ready(c, c->qhead)) {
		struct scrub_item *it = c->qhead;

		c->qhead = it->next;
		if (!c->qhead)
			c->qtail = NULL;
		c->qcount--;
		if (!it->is_conn)
			c->qbytes -= it->ev.data.len;
		scrub_emit(s, it);
		free(it);
	}
}

static void scrub_enqueue(struct scrub_conn *c, struct scrub_item *it)
{
	it->seq = c->next_seq++;
	if (c->qtail)
		c->qtail->next = it;
	else
		c->qhead = it;
	c->qtail = it;
	c->qcount++;
	if (!it->is_conn)
		c->qbytes += it->ev.data.len;
}

/* ---- HTTP/2 header blocks ---- */

static void h2_fill(struct scrub *s, uint8_t *p, size_t n)
{
	memset(p, SCRUB_MASK, n);
	s->st.masked_bytes += n;
}

static void h2_block_reset(struct scrub_h2 *h)
{
	h->blk_len = 0;
	h->nseg = 0;
	h->holding = false;
}

/* Stops decoding HPACK in this direction: the held part of the block
 * is masked whole, and so will every later fragment be. Replay cannot
 * decode this direction's later headers; that is the price of the
 * bound on what is held. */
static void h2_give_up(struct scrub *s, struct scrub_h2 *h,
		       const char *why)
{
	for (size_t i = 0; i < h->nseg; i++)
		h2_fill(s, h->segs[i].it->buf + h->segs[i].it_off,
			h->segs[i].len);
	h2_block_reset(h);
	if (h->gave_up)
		return;
	h->gave_up = true;
	if (h->hd)
		nghttp2_hd_inflate_del(h->hd);
	h->hd = NULL;
	s->st.gave_up++;
	if (!s->warned_give_up)
		log_warn("scrub: %s; masking whole HTTP/2 header blocks of "
			 "that direction from now on (logged once)", why);
	s->warned_give_up = true;
}

static void h2_mask_value(struct scrub *s, uint8_t *blk,
			  const struct hpack_rep *r)
{
	/* Raw '*' bytes: same length prefix, so the same block length. */
	blk[r->val_hdr] &= 0x7f;
	h2_fill(s, blk + r->val_off, r->val_len);
}

/* The string nghttp2's deflater makes of a :path value: Huffman when
 * that is shorter, raw otherwise. Its bytes are enc[r->val_off...]. */
static int h2_encode_path(const uint8_t *v, size_t n, uint8_t *enc,
			  size_t cap, struct hpack_rep *r)
{
	nghttp2_nv nv = { (uint8_t *)":path", (uint8_t *)v, 5, n,
			  NGHTTP2_NV_FLAG_NO_INDEX };
	nghttp2_hd_deflater *d;
	ssize_t len;

	if (nghttp2_hd_deflate_new(&d, 0))
		return -ENOMEM;
	len = nghttp2_hd_deflate_hd(d, enc, cap, &nv, 1);
	nghttp2_hd_deflate_del(d);
	if (len < 0)
		return -ENOSPC;
	return hpack_parse(enc, (size_t)len, r);
}

/* The masked bytes of v become k '*' then '0's. */
static void h2_path_fill(uint8_t *v, const uint8_t *mask, size_t n,
			 size_t k)
{
	for (size_t i = 0; i < n; i++) {
		if (mask[i] != SCRUB_MASK || v[i] == SCRUB_MASK)
			continue;
		v[i] = k ? SCRUB_MASK : '0';
		k -= k ? 1 : 0;
	}
}

/*
 * A Huffman :path cannot be masked in part byte by byte, so it is
 * encoded again with the parameter value replaced by as many
 * characters: '*' (8 bits) and '0' (5 bits), mixed so the string comes
 * out exactly as long as the original. Same characters count, so the
 * same table entry size, and the path stays readable on replay.
 * Returns 0, or a negative errno when no mix fits.
 */
static int h2_recode_path(uint8_t *blk, const struct hpack_rep *r,
			  const uint8_t *v, const uint8_t *mask, size_t n,
			  size_t masked)
{
	size_t cap = 4 * n + 64;
	uint8_t *buf = malloc(n + cap);
	int err = -ENOSPC;

	if (!buf)
		return -ENOMEM;
	for (size_t k = masked + 1; k-- > 0;) {
		struct hpack_rep e;

		memcpy(buf, v, n);
		h2_path_fill(buf, mask, n, k);
		if (h2_encode_path(buf, n, buf + n, cap, &e) ||
		    e.val_len != r->val_len)
			continue;
		blk[r->val_hdr] = (blk[r->val_hdr] & 0x7f) |
				  (e.huff ? 0x80 : 0);
		memcpy(blk + r->val_off, buf + n + e.val_off, e.val_len);
		err = 0;
		break;
	}
	free(buf);
	return err;
}

/* A :path literal with a secret parameter: only the parameter value
 * is masked, in place when the string is raw, else by recoding it;
 * when that fails, the whole string. */
static void h2_mask_path(struct scrub *s, uint8_t *blk,
			 const struct hpack_rep *r, const nghttp2_nv *nv)
{
	uint8_t *mask;
	size_t n;

	if (!r->huff) {
		s->st.masked_bytes +=
			scrub_path_mask(blk + r->val_off, r->val_len);
		return;
	}
	mask = malloc(nv->valuelen + 1);
	if (!mask) {
		h2_mask_value(s, blk, r);
		return;
	}
	memcpy(mask, nv->value, nv->valuelen);
	n = scrub_path_mask(mask, nv->valuelen);
	if (n && h2_recode_path(blk, r, nv->value, mask, nv->valuelen, n))
		h2_mask_value(s, blk, r);
	else
		s->st.masked_bytes += n;
	free(mask);
}

/*
 * One decoded field whose representation is blk[start, end). Only
 * literals are masked: an indexed field's value comes from a table
 * entry that was masked when its literal was inserted. Masking keeps
 * replay decoding correct because a masked value decodes to as many
 * bytes as its string has, never more than the original decoded to
 * (Huffman codes of the ASCII characters keys and cookies use are at
 * most 8 bits), so a replaying decoder's entries are never bigger than
 * the encoder's: its table evicts no earlier and so holds every entry
 * the encoder refers to, at the same index.
 */
static void h2_field(struct scrub *s, uint8_t *blk, size_t start,
		     size_t end, const nghttp2_nv *nv)
{
	bool secret = scrub_hdr_secret((const char *)nv->name, nv->namelen);
	bool path = nv->namelen == 5 && memcmp(nv->name, ":path", 5) == 0;
	struct hpack_rep r;

	if (!secret && !path)
		return;
	if (hpack_parse(blk + start, end - start, &r) || r.indexed)
		return;
	r.val_hdr += start;
	r.val_off += start;
	if (secret)
		h2_mask_value(s, blk, &r);
	else
		h2_mask_path(s, blk, &r, nv);
}

/* Decodes the whole block, masking secret fields in it. */
static int h2_walk(struct scrub *s, struct scrub_h2 *h)
{
	/* An empty block has no buffer yet: NULL + 0 is undefined. */
	static const uint8_t empty[1];
	const uint8_t *blk = h->blk ? h->blk : empty;
	size_t pos = 0;

	for (;;) {
		int flags = 0;
		nghttp2_nv nv;
		ssize_t rv;

		rv = nghttp2_hd_inflate_hd2(h->hd, &nv, &flags, blk + pos,
					    h->blk_len - pos, 1);
		if (rv < 0)
			return -EPROTO;
		if (flags & NGHTTP2_HD_INFLATE_EMIT)
			h2_field(s, h->blk, pos, pos + (size_t)rv, &nv);
		pos += (size_t)rv;
		if (flags & NGHTTP2_HD_INFLATE_FINAL)
			break;
		if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && pos == h->blk_len)
			break;
	}
	nghttp2_hd_inflate_end_headers(h->hd);
	return 0;
}

/* Copies the masked block back into the held events. */
static void h2_scatter(struct scrub_h2 *h)
{
	size_t off = 0;

	for (size_t i = 0; i < h->nseg; i++) {
		struct scrub_seg *g = &h->segs[i];

		memcpy(g->it->buf + g->it_off, h->blk + off, g->len);
		off += g->len;
	}
}

static void h2_block_end(struct scrub *s, struct scrub_h2 *h)
{
	h->in_block = false;
	if (h->gave_up || h->lost) {
		h2_block_reset(h);
		return;
	}
	if (h2_walk(s, h)) {
		h2_give_up(s, h, "HPACK decoding failed");
		return;
	}
	h2_scatter(h);
	h2_block_reset(h);
}

static int h2_grow(void **p, size_t *cap, size_t want, size_t size)
{
	size_t n = *cap ? *cap : 16;
	void *q;

	if (want <= *cap)
		return 0;
	while (n < want)
		n *= 2;
	q = realloc(*p, n * size);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

/* Fragment bytes it->buf[off, off + n): held for the block's end. */
static void h2_fragment(struct scrub *s, struct scrub_h2 *h,
			struct scrub_item *it, size_t off, size_t n)
{
	if (h->gave_up || h->lost) {
		h2_fill(s, it->buf + off, n);
		return;
	}
	if (h2_grow((void **)&h->blk, &h->blk_cap, h->blk_len + n, 1) ||
	    h2_grow((void **)&h->segs, &h->seg_cap, h->nseg + 1,
		    sizeof(*h->segs))) {
		h2_give_up(s, h, "out of memory");
		h2_fill(s, it->buf + off, n);
		return;
	}
	memcpy(h->blk + h->blk_len, it->buf + off, n);
	h->blk_len += n;
	h->segs[h->nseg++] = (struct scrub_seg){ it, (uint32_t)off,
						 (uint32_t)n };
	if (!h->holding) {
		h->holding = true;
		h->hold_seq = it->seq;
	}
}

/* ---- HTTP/2 frames ---- */

static uint32_t h2_be(const uint8_t *p, int n)
{
	uint32_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static bool h2_is_block_frame(uint8_t type)
{
	return type == H2_HEADERS || type == H2_PUSH_PROMISE ||
	       type == H2_CONTINUATION;
}

/* The other side's encoder may use as big a table as this side says
 * (RFC 7541 section 4.2); it still announces the size it picks. */
static void h2_setting(struct scrub_h2 *other, const uint8_t *e)
{
	uint32_t v = h2_be(e + 2, 4);

	if (h2_be(e, 2) != H2_SETTINGS_HEADER_TABLE_SIZE || !other->hd)
		return;
	if (v > H2_TABLE_MAX)
		v = H2_TABLE_MAX;
	if (v > other->table_max &&
	    nghttp2_hd_inflate_change_table_size(other->hd, v) == 0)
		other->table_max = v;
}

static void h2_settings_bytes(struct scrub_h2 *h, struct scrub_h2 *other,
			      const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h->set[h->set_have++] = p[i];
		if (h->set_have < H2_SETTING_LEN)
			continue;
		h2_setting(other, h->set);
		h->set_have = 0;
	}
}

/* The sizes around a block fragment, once the pad length is known. */
static void h2_frag_bounds(struct scrub_h2 *h, uint32_t pad)
{
	if (h->pre_left > h->left) {
		h->pre_left = h->left;
		pad = 0;
	}
	if (pad > h->left - h->pre_left)
		pad = h->left - h->pre_left;
	h->frag_left = h->left - h->pre_left - pad;
}

static void h2_frame_end(struct scrub *s, struct scrub_h2 *h)
{
	h->hdr_have = 0;
	if (h->in_block && h2_is_block_frame(h->type) &&
	    h->flags & H2_F_END_HEADERS)
		h2_block_end(s, h);
}

static void h2_frame_begin(struct scrub *s, struct scrub_h2 *h)
{
	h->left = h2_be(h->hdr, 3);
	h->type = h->hdr[3];
	h->flags = h->hdr[4];
	h->need_padlen = false;
	h->pre_left = 0;
	h->frag_left = 0;
	h->set_have = 0;

	/* A block cut short by another frame is a protocol error; decode
	 * what came, the inflater decides. */
	if (h->in_block && h->type != H2_CONTINUATION)
		h2_block_end(s, h);

	if (h->type == H2_HEADERS || h->type == H2_PUSH_PROMISE) {
		h->in_block = true;
		h->need_padlen = h->flags & H2_F_PADDED;
		if (h->type == H2_HEADERS && h->flags & H2_F_PRIORITY)
			h->pre_left = H2_PRIORITY_LEN;
		if (h->type == H2_PUSH_PROMISE)
			h->pre_left = H2_PROMISED_LEN;
	}
	/* With PADDED, the sizes wait for the pad length byte. */
	if (!h->left)
		h->need_padlen = false;
	if (h->in_block && !h->need_padlen)
		h2_frag_bounds(h, 0);
}

/* Payload bytes of a HEADERS, PUSH_PROMISE or CONTINUATION frame. */
static size_t h2_block_bytes(struct scrub *s, struct scrub_h2 *h,
			     struct scrub_item *it, size_t off, size_t n)
{
	size_t k;

	if (h->need_padlen) {
		h->need_padlen = false;
		h->left--;
		h2_frag_bounds(h, it->buf[off]);
		return 1;
	}
	if (h->pre_left) {
		k = n < h->pre_left ? n : h->pre_left;
		h->pre_left -= (uint32_t)k;
		h->left -= (uint32_t)k;
		return k;
	}
	k = n < h->left ? n : h->left;
	if (h->frag_left) {
		k = n < h->frag_left ? n : h->frag_left;
		h2_fragment(s, h, it, off, k);
		h->frag_left -= (uint32_t)k;
	}
	h->left -= (uint32_t)k;
	return k;
}

static size_t h2_payload(struct scrub *s, struct scrub_conn *c,
			 struct scrub_h2 *h, struct scrub_item *it,
			 size_t off, size_t n)
{
	struct scrub_h2 *other = &c->dir[it->ev.data.dir != EV_DIR_READ].h2;
	size_t k;

	if (h->in_block && h2_is_block_frame(h->type)) {
		k = h2_block_bytes(s, h, it, off, n);
	} else {
		k = n < h->left ? n : h->left;
		if (h->type == H2_SETTINGS && !(h->flags & H2_F_ACK))
			h2_settings_bytes(h, other, it->buf + off, k);
		h->left -= (uint32_t)k;
	}
	if (!h->left)
		h2_frame_end(s, h);
	return k;
}

static size_t h2_head_bytes(struct scrub *s, struct scrub_h2 *h,
			    const uint8_t *p, size_t n)
{
	size_t k = H2_FRAME_HDR - h->hdr_have;

	if (k > n)
		k = n;
	memcpy(h->hdr + h->hdr_have, p, k);
	h->hdr_have += (uint8_t)k;
	if (h->hdr_have < H2_FRAME_HDR)
		return k;
	h2_frame_begin(s, h);
	if (!h->left)
		h2_frame_end(s, h);
	return k;
}

static void h2_scan(struct scrub *s, struct scrub_conn *c,
		    struct scrub_h2 *h, struct scrub_item *it)
{
	size_t off = 0, len = it->ev.data.len;

	if (h->lost) {
		h2_fill(s, it->buf, len);
		return;
	}
	while (off < len) {
		size_t k;

		if (h->preface_left) {
			k = len - off < h->preface_left ? len - off :
							  h->preface_left;
			h->preface_left -= (uint32_t)k;
		} else if (h->hdr_have < H2_FRAME_HDR) {
			k = h2_head_bytes(s, h, it->buf + off, len - off);
		} else {
			k = h2_payload(s, c, h, it, off, len - off);
		}
		off += k;
	}
}

/*
 * Bytes the capture missed (a cut call, a ring buffer drop). Inside a
 * DATA-like payload they are skipped; anywhere else the framing is
 * lost, and with it any way to find header blocks: the direction is
 * masked whole from then on, since a secret must not slip through.
 */
static void h2_gap(struct scrub *s, struct scrub_h2 *h, uint64_t gap)
{
	bool plain = !h->preface_left && h->hdr_have == H2_FRAME_HDR &&
		     !(h->in_block && h2_is_block_frame(h->type)) &&
		     h->type != H2_SETTINGS;

	if (h->lost)
		return;
	if (plain && gap <= h->left) {
		h->left -= (uint32_t)gap;
		if (!h->left)
			h2_frame_end(s, h);
		return;
	}
	h2_give_up(s, h, "capture gap inside HTTP/2 framing");
	h->lost = true;
	s->st.lost_sync++;
	if (!s->warned_lost)
		log_warn("scrub: HTTP/2 framing lost to a capture gap; "
			 "masking the rest of that direction (logged once)");
	s->warned_lost = true;
}

static void h2_dir_init(struct scrub *s, struct scrub_h2 *h,
			uint32_t preface)
{
	h->preface_left = preface;
	if (nghttp2_hd_inflate_new(&h->hd)) {
		h->hd = NULL;
		h2_give_up(s, h, "out of memory");
		return;
	}
	h->table_max = NGHTTP2_DEFAULT_HEADER_TABLE_SIZE;
}

static void h2_dir_free(struct scrub_h2 *h)
{
	if (h->hd)
		nghttp2_hd_inflate_del(h->hd);
	free(h->blk);
	free(h->segs);
}

/* ---- connections ---- */

/* Bytes missing between the last event of a direction and this one. */
static uint64_t scrub_dir_gap(struct scrub_dir *d, const struct ev_data *ev)
{
	uint64_t gap = 0;

	if (d->seen && ev->offset == 0 && d->call_len > d->call_end)
		gap = d->call_len - d->call_end;
	else if (d->seen && ev->offset > d->call_end)
		gap = ev->offset - d->call_end;
	d->seen = true;
	d->call_len = ev->call_len;
	d->call_end = ev->offset + ev->len;
	return gap;
}

/* The state of an event's direction; anything but a read counts as a
 * write, so a stray value cannot index past the pair. */
static int scrub_dir_idx(const struct ev_data *ev)
{
	return ev->dir == EV_DIR_READ;
}

static void scrub_scan_item(struct scrub *s, struct scrub_conn *c,
			    struct scrub_item *it)
{
	struct scrub_dir *d = &c->dir[scrub_dir_idx(&it->ev.data)];
	uint64_t gap = scrub_dir_gap(d, &it->ev.data);

	it->scanned = true;
	if (c->proto == SCRUB_H1) {
		s->st.masked_bytes += h1_scan(&d->h1, it->buf,
					      it->ev.data.len);
		return;
	}
	if (gap)
		h2_gap(s, &d->h2, gap);
	h2_scan(s, c, &d->h2, it);
}

static void scrub_decide(struct scrub *s, struct scrub_conn *c,
			 enum scrub_proto proto)
{
	c->proto = proto;
	if (proto == SCRUB_H2) {
		h2_dir_init(s, &c->dir[c->det_dir].h2, H2_PREFACE_LEN);
		h2_dir_init(s, &c->dir[!c->det_dir].h2, 0);
	}
	for (struct scrub_item *it = c->qhead; it; it = it->next) {
		if (!it->is_conn && !it->scanned)
			scrub_scan_item(s, c, it);
	}
}

/* HTTP/2 when the first bytes of a direction are the client preface:
 * written by a client, read by a server. */
static void scrub_detect(struct scrub *s, struct scrub_conn *c,
			 const struct scrub_item *it)
{
	const struct ev_data *ev = &it->ev.data;

	if (c->det_dir < 0)
		c->det_dir = ev->dir == EV_DIR_READ;
	if ((ev->dir == EV_DIR_READ) != c->det_dir)
		return;
	for (size_t i = 0; i < ev->len; i++) {
		if (it->buf[i] != (uint8_t)H2_PREFACE[c->det_have]) {
			scrub_decide(s, c, SCRUB_H1);
			return;
		}
		if (++c->det_have == H2_PREFACE_LEN) {
			scrub_decide(s, c, SCRUB_H2);
			return;
		}
	}
}

static size_t scrub_bucket(uint32_t pid, uint64_t ssl)
{
	uint64_t h = (ssl ^ ((uint64_t)pid << 32 | pid)) *
		     0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 40) & (SCRUB_BUCKETS - 1);
}

static struct scrub_conn *scrub_find(struct scrub *s,
				     const struct ev_conn_id *id)
{
	struct scrub_hnode *n = s->by_id[scrub_bucket(id->pid, id->ssl)];

	for (; n; n = n->next) {
		struct scrub_conn *c = scrub_of(n, struct scrub_conn, by_id);

		if (c->id.pid == id->pid && c->id.ssl == id->ssl)
			return c;
	}
	return NULL;
}

/* Everything held goes out: unknown becomes HTTP/1.x, an open block is
 * masked whole. */
static void scrub_conn_flush(struct scrub *s, struct scrub_conn *c)
{
	if (c->proto == SCRUB_UNKNOWN)
		scrub_decide(s, c, SCRUB_H1);
	for (int i = 0; i < 2; i++) {
		if (c->dir[i].h2.holding)
			h2_give_up(s, &c->dir[i].h2,
				   "header block unfinished at flush");
	}
	scrub_release(s, c);
}

static void scrub_conn_drop(struct scrub *s, struct scrub_conn *c)
{
	scrub_conn_flush(s, c);
	scrub_hdel(&c->by_id);
	scrub_hdel(&c->by_pid);
	scrub_link_del(&c->lru);
	h2_dir_free(&c->dir[0].h2);
	h2_dir_free(&c->dir[1].h2);
	free(c);
	s->nconns--;
}

static void scrub_evict(struct scrub *s)
{
	struct scrub_conn *c = scrub_of(s->lru.next, struct scrub_conn, lru);

	scrub_conn_drop(s, c);
	s->st.evicted++;
	if (!s->warned_evict)
		log_warn("scrub: more than %u connections, dropping the "
			 "least recently used (logged once)",
			 SCRUB_CONNS_MAX);
	s->warned_evict = true;
}

static struct scrub_conn *scrub_conn_new(struct scrub *s,
					 const struct ev_conn_id *id)
{
	struct scrub_conn *c;

	if (s->nconns >= SCRUB_CONNS_MAX)
		scrub_evict(s);
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->id = *id;
	c->det_dir = -1;
	scrub_hadd(&s->by_id[scrub_bucket(id->pid, id->ssl)], &c->by_id);
	scrub_hadd(&s->by_pid[scrub_bucket(id->pid, 0)], &c->by_pid);
	scrub_link_tail(&s->lru, &c->lru);
	s->nconns++;
	return c;
}

static struct scrub_conn *scrub_get(struct scrub *s,
				    const struct ev_conn_id *id)
{
	struct scrub_conn *c = scrub_find(s, id);

	if (!c)
		return scrub_conn_new(s, id);
	scrub_link_del(&c->lru);
	scrub_link_tail(&s->lru, &c->lru);
	return c;
}

/* Past the bounds, nothing stays held: see h2_give_up. */
static void scrub_bound(struct scrub *s, struct scrub_conn *c)
{
	if (c->qbytes <= SCRUB_HOLD_MAX && c->qcount <= SCRUB_HOLD_EVENTS_MAX)
		return;
	if (c->proto == SCRUB_UNKNOWN)
		scrub_decide(s, c, SCRUB_H1);
	for (int i = 0; i < 2; i++) {
		if (c->dir[i].h2.holding)
			h2_give_up(s, &c->dir[i].h2,
				   "header block held past the bound");
	}
}

/* ---- the sink ---- */

/* Without memory the event cannot be masked, and a secret must not
 * leave: it is dropped, with one warning. */
static void scrub_nomem(struct scrub *s)
{
	s->st.dropped++;
	if (!s->warned_nomem)
		log_warn("scrub: out of memory, dropping events "
			 "(logged once)");
	s->warned_nomem = true;
}

static struct scrub_item *scrub_item_data(const struct ev_data *ev)
{
	struct scrub_item *it = calloc(1, sizeof(*it) + ev->len);

	if (!it)
		return NULL;
	it->ev.data = *ev;
	if (ev->len)
		memcpy(it->buf, ev->data, ev->len);
	it->ev.data.data = it->buf;
	return it;
}

static void scrub_on_data(void *ctx, const struct ev_data *ev)
{
	struct scrub *s = ctx;
	struct scrub_conn *c = scrub_get(s, &ev->conn);
	struct scrub_item *it = c ? scrub_item_data(ev) : NULL;

	if (!it) {
		scrub_nomem(s);
		return;
	}
	scrub_enqueue(c, it);
	if (c->proto == SCRUB_UNKNOWN)
		scrub_detect(s, c, it);
	else
		scrub_scan_item(s, c, it);
	scrub_bound(s, c);
	scrub_release(s, c);
}

static void scrub_pass_conn(struct scrub *s, const struct ev_conn *ev)
{
	if (s->down.on_conn)
		s->down.on_conn(s->down.ctx, ev);
}

/* A close first lets out what the connection held, then forgets it:
 * the SSL pointer may be reused by a new connection. Other connection
 * events keep their place behind held data. */
static void scrub_on_conn(void *ctx, const struct ev_conn *ev)
{
	struct scrub *s = ctx;
	struct scrub_conn *c = scrub_find(s, &ev->conn);
	struct scrub_item *it;

	if (c && ev->op == EV_CONN_CLOSE) {
		scrub_conn_drop(s, c);
		c = NULL;
	}
	if (!c || !c->qhead) {
		scrub_pass_conn(s, ev);
		return;
	}
	it = calloc(1, sizeof(*it));
	if (!it) {
		scrub_pass_conn(s, ev);
		return;
	}
	it->is_conn = true;
	it->ev.conn = *ev;
	scrub_enqueue(c, it);
}

static void scrub_drop_pid(struct scrub *s, uint32_t pid)
{
	struct scrub_hnode *n = s->by_pid[scrub_bucket(pid, 0)];

	while (n) {
		struct scrub_conn *c = scrub_of(n, struct scrub_conn, by_pid);

		n = n->next;
		if (c->id.pid == pid)
			scrub_conn_drop(s, c);
	}
}

/* An exit or an exec ends every connection of the process. */
static void scrub_on_proc(void *ctx, const struct ev_proc *ev)
{
	struct scrub *s = ctx;

	scrub_drop_pid(s, ev->task.pid);
	if (s->down.on_proc)
		s->down.on_proc(s->down.ctx, ev);
}

static void scrub_on_loss(void *ctx, const struct ev_loss *ev)
{
	struct scrub *s = ctx;

	if (s->down.on_loss)
		s->down.on_loss(s->down.ctx, ev);
}

/* ---- API ---- */

struct scrub *scrub_new(const struct ev_sink *downstream)
{
	struct scrub *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->down = *downstream;
	scrub_link_init(&s->lru);
	return s;
}

struct ev_sink scrub_sink(struct scrub *s)
{
	return (struct ev_sink){
		.ctx = s,
		.on_data = scrub_on_data,
		.on_conn = scrub_on_conn,
		.on_proc = scrub_on_proc,
		.on_loss = scrub_on_loss,
	};
}

void scrub_flush(struct scrub *s)
{
	struct scrub_link *l;

	if (!s)
		return;
	for (l = s->lru.next; l != &s->lru; l = l->next)
		scrub_conn_flush(s, scrub_of(l, struct scrub_conn, lru));
}

void scrub_get_stats(const struct scrub *s, struct scrub_stats *st)
{
	*st = s->st;
}

void scrub_free(struct scrub *s)
{
	if (!s)
		return;
	while (s->lru.next != &s->lru)
		scrub_conn_drop(s, scrub_of(s->lru.next, struct scrub_conn,
					    lru));
	free(s);
}
