// SPDX-License-Identifier: MIT
/*
 * Content-Encoding decoding, one layer per coding. Layers are chained
 * through dec_push(): what layer i produces is fed to layer i + 1, and
 * what the last layer produces goes to the caller, counted against the
 * limit. Every layer decodes into a DECODE_PIECE stack buffer, so the
 * heap holds only the libraries' own state.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <brotli/decode.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "decode.h"

/* RFC 9659 section 3: HTTP zstd decoders need windows of at most
 * 8 MiB, and a frame asking for more must not make us allocate it. */
#define DEC_ZSTD_WINDOW_LOG 23

/* zlib window bits: +16 reads a gzip wrapper, negative means raw. */
#define DEC_ZLIB_BITS 15
#define DEC_GZIP_BITS (DEC_ZLIB_BITS + 16)
#define DEC_RAW_BITS (-DEC_ZLIB_BITS)

/* First byte of a gzip member (RFC 1952 section 2.3.1). */
#define DEC_GZIP_ID1 0x1f

/* Longest coding name we look at, e.g. "identity". */
#define DEC_NAME_MAX 16

enum dec_kind {
	DEC_GZIP,
	DEC_DEFLATE,
	DEC_BR,
	DEC_ZSTD,
};

struct dec_layer {
	enum dec_kind kind;
	bool seen_input;
	bool ended;	/* the coded stream reached its end */
	bool ignore_rest;	/* bytes after the end are not ours */
	bool z_ready;	/* z was initialised */
	z_stream z;
	uint8_t peek[2];	/* deflate: the header bytes seen so far */
	size_t npeek;
	BrotliDecoderState *br;
	ZSTD_DCtx *zs;
};

struct decoder {
	struct dec_layer layers[DECODE_MAX_LAYERS];	/* decoding order */
	size_t nlayers;
	int err;
	uint64_t limit;
	uint64_t produced;
	decoder_out_fn out;	/* valid during one feed or finish */
	void *ctx;
};

static int dec_push(struct decoder *d, size_t i, const uint8_t *in,
		    size_t len);

/* ---- zlib: gzip and deflate ---- */

static int dec_zlib_init(struct dec_layer *l, int bits)
{
	int rc = inflateInit2(&l->z, bits);

	if (rc != Z_OK)
		return rc == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
	l->z_ready = true;
	return 0;
}

/* RFC 1950 section 2.2: CM = 8 and the header is a multiple of 31. */
static bool dec_is_zlib_header(const uint8_t h[2])
{
	return (h[0] & 0x0f) == Z_DEFLATED && (h[0] >> 4) <= 7 &&
	       ((h[0] << 8) | h[1]) % 31 == 0;
}

/* A gzip body may hold several members back to back (RFC 1952 2.2);
 * anything else after the end is ignored, as browsers do. */
static void dec_zlib_after_end(struct dec_layer *l)
{
	if (l->kind == DEC_GZIP && l->z.next_in[0] == DEC_GZIP_ID1) {
		inflateReset(&l->z);
		l->ended = false;
		return;
	}
	l->ignore_rest = true;
	l->z.avail_in = 0;
}

static int dec_zlib_run(struct decoder *d, size_t i, const uint8_t *in,
			size_t len)
{
	struct dec_layer *l = &d->layers[i];
	uint8_t buf[DECODE_PIECE];
	size_t n;
	int rc, prc;

	l->z.next_in = (Bytef *)in;
	l->z.avail_in = len;
	for (;;) {
		if (l->ended && l->z.avail_in > 0)
			dec_zlib_after_end(l);
		if (l->ended || l->ignore_rest)
			return 0;

		l->z.next_out = buf;
		l->z.avail_out = sizeof(buf);
		rc = inflate(&l->z, Z_NO_FLUSH);
		n = sizeof(buf) - l->z.avail_out;
		if (rc == Z_MEM_ERROR)
			return -ENOMEM;
		if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
			return -EBADMSG;

		prc = n ? dec_push(d, i + 1, buf, n) : 0;
		if (prc)
			return prc;
		if (rc == Z_STREAM_END) {
			l->ended = true;
			continue;
		}
		/* Stop when stuck, or when all input is in and the
		 * output had room, so nothing is left inside zlib. */
		if (rc == Z_BUF_ERROR || (!l->z.avail_in && l->z.avail_out))
			return 0;
	}
}

/* "deflate" is zlib-wrapped by the RFC but raw from some servers: the
 * first two bytes tell which, and they may come in separate feeds. */
static int dec_deflate_feed(struct decoder *d, size_t i, const uint8_t *in,
			    size_t len)
{
	struct dec_layer *l = &d->layers[i];
	int rc;

	if (l->z_ready)
		return dec_zlib_run(d, i, in, len);

	while (l->npeek < sizeof(l->peek) && len > 0) {
		l->peek[l->npeek++] = *in++;
		len--;
	}
	if (l->npeek < sizeof(l->peek))
		return 0;

	rc = dec_zlib_init(l, dec_is_zlib_header(l->peek) ? DEC_ZLIB_BITS :
							      DEC_RAW_BITS);
	if (rc)
		return rc;
	rc = dec_zlib_run(d, i, l->peek, sizeof(l->peek));
	if (rc || len == 0)
		return rc;
	return dec_zlib_run(d, i, in, len);
}

/* ---- brotli ---- */

static int dec_br_run(struct decoder *d, size_t i, const uint8_t *in,
		      size_t len)
{
	struct dec_layer *l = &d->layers[i];
	uint8_t buf[DECODE_PIECE];
	BrotliDecoderResult r;
	size_t avail_out, n;
	uint8_t *next_out;
	int prc;

	if (l->ended)
		return 0;
	for (;;) {
		next_out = buf;
		avail_out = sizeof(buf);
		r = BrotliDecoderDecompressStream(l->br, &len, &in, &avail_out,
						  &next_out, NULL);
		if (r == BROTLI_DECODER_RESULT_ERROR)
			return -EBADMSG;

		n = sizeof(buf) - avail_out;
		prc = n ? dec_push(d, i + 1, buf, n) : 0;
		if (prc)
			return prc;
		if (r == BROTLI_DECODER_RESULT_SUCCESS) {
			l->ended = true;
			return 0;
		}
		if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT)
			return 0;
	}
}

/* ---- zstd ---- */

static int dec_zstd_error(size_t ret)
{
	switch (ZSTD_getErrorCode(ret)) {
	case ZSTD_error_memory_allocation:
		return -ENOMEM;
	case ZSTD_error_frameParameter_windowTooLarge:
		return -EFBIG;
	default:
		return -EBADMSG;
	}
}

static int dec_zstd_run(struct decoder *d, size_t i, const uint8_t *in,
			size_t len)
{
	struct dec_layer *l = &d->layers[i];
	uint8_t buf[DECODE_PIECE];
	ZSTD_inBuffer ib = { in, len, 0 };
	ZSTD_outBuffer ob;
	size_t ret;
	int prc;

	for (;;) {
		ob = (ZSTD_outBuffer){ buf, sizeof(buf), 0 };
		ret = ZSTD_decompressStream(l->zs, &ob, &ib);
		if (ZSTD_isError(ret))
			return dec_zstd_error(ret);

		prc = ob.pos ? dec_push(d, i + 1, buf, ob.pos) : 0;
		if (prc)
			return prc;
		/* 0 means a frame just ended; another may follow. */
		l->ended = ret == 0;
		if (ib.pos == ib.size && ob.pos < ob.size)
			return 0;
	}
}

/* ---- the chain ---- */

/* Hands bytes on in pieces of at most DECODE_PIECE, as decode.h
 * promises: the identity coding passes its input through unsplit. */
static int dec_emit_piece(struct decoder *d, const uint8_t *in,
			  size_t len)
{
	uint64_t room = d->limit - d->produced;

	if (len > room) {
		if (room > 0 && d->out)
			d->out(d->ctx, in, room);
		d->produced = d->limit;
		return -EFBIG;
	}
	d->produced += len;
	return d->out ? d->out(d->ctx, in, len) : 0;
}

static int dec_emit(struct decoder *d, const uint8_t *in, size_t len)
{
	int rc = 0;

	while (len && !rc) {
		size_t n = len < DECODE_PIECE ? len : DECODE_PIECE;

		rc = dec_emit_piece(d, in, n);
		in += n;
		len -= n;
	}
	return rc;
}

static int dec_push(struct decoder *d, size_t i, const uint8_t *in,
		    size_t len)
{
	struct dec_layer *l;

	if (i == d->nlayers)
		return dec_emit(d, in, len);

	l = &d->layers[i];
	l->seen_input = true;
	switch (l->kind) {
	case DEC_GZIP:
		return dec_zlib_run(d, i, in, len);
	case DEC_DEFLATE:
		return dec_deflate_feed(d, i, in, len);
	case DEC_BR:
		return dec_br_run(d, i, in, len);
	case DEC_ZSTD:
		return dec_zstd_run(d, i, in, len);
	}
	return -EINVAL;
}

/* ---- set-up ---- */

static int dec_layer_init(struct dec_layer *l, enum dec_kind kind)
{
	l->kind = kind;
	switch (kind) {
	case DEC_GZIP:
		return dec_zlib_init(l, DEC_GZIP_BITS);
	case DEC_DEFLATE:
		return 0;	/* waits for the header bytes */
	case DEC_BR:
		l->br = BrotliDecoderCreateInstance(NULL, NULL, NULL);
		return l->br ? 0 : -ENOMEM;
	case DEC_ZSTD:
		l->zs = ZSTD_createDCtx();
		if (!l->zs)
			return -ENOMEM;
		ZSTD_DCtx_setParameter(l->zs, ZSTD_d_windowLogMax,
				       DEC_ZSTD_WINDOW_LOG);
		return 0;
	}
	return -EINVAL;
}

static void dec_layer_fini(struct dec_layer *l)
{
	if (l->z_ready)
		inflateEnd(&l->z);
	if (l->br)
		BrotliDecoderDestroyInstance(l->br);
	ZSTD_freeDCtx(l->zs);
}

/* Maps one coding name; 1 for identity (no layer), -1 if unknown.
 * "x-gzip" is gzip by RFC 9110 section 8.4.1.3. */
static int dec_kind_of(const char *name, enum dec_kind *kind)
{
	static const struct {
		const char *name;
		enum dec_kind kind;
	} names[] = {
		{ "gzip", DEC_GZIP }, { "x-gzip", DEC_GZIP },
		{ "deflate", DEC_DEFLATE }, { "br", DEC_BR },
		{ "zstd", DEC_ZSTD },
	};

	if (name[0] == '\0' || strcasecmp(name, "identity") == 0)
		return 1;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(name, names[i].name) == 0) {
			*kind = names[i].kind;
			return 0;
		}
	}
	return -1;
}

/* Copies the next comma-separated token of *s, trimmed, into name. */
static void dec_next_name(const char **s, char *name, size_t size)
{
	const char *p = *s;
	size_t n = 0;

	while (*p == ' ' || *p == '\t')
		p++;
	while (*p && *p != ',') {
		if (*p != ' ' && *p != '\t' && n + 1 < size)
			name[n++] = *p;
		else if (*p != ' ' && *p != '\t')
			name[0] = '?';	/* too long: no such coding */
		p++;
	}
	name[n] = '\0';
	*s = *p ? p + 1 : p;
}

/* Codings are listed in the order they were applied (RFC 9110 8.4);
 * they are undone from the last one. */
static int dec_parse(struct decoder *d, const char *enc)
{
	enum dec_kind kinds[DECODE_MAX_LAYERS];
	char name[DEC_NAME_MAX];
	enum dec_kind kind = DEC_GZIP;
	size_t n = 0;
	int rc;

	while (*enc) {
		dec_next_name(&enc, name, sizeof(name));
		rc = dec_kind_of(name, &kind);
		if (rc < 0)
			return -ENOTSUP;
		if (rc == 1)
			continue;
		if (n == DECODE_MAX_LAYERS)
			return -ENOTSUP;
		kinds[n++] = kind;
	}

	for (size_t i = 0; i < n; i++) {
		rc = dec_layer_init(&d->layers[i], kinds[n - 1 - i]);
		d->nlayers = i + 1;
		if (rc)
			return rc;
	}
	return 0;
}

struct decoder *decoder_new(const char *content_encoding)
{
	struct decoder *d = calloc(1, sizeof(*d));
	int rc;

	if (!d)
		return NULL;
	d->limit = DECODE_OUT_LIMIT;
	if (!content_encoding)
		return d;

	rc = dec_parse(d, content_encoding);
	if (rc == -ENOMEM) {
		decoder_free(d);
		return NULL;
	}
	d->err = rc;
	return d;
}

void decoder_free(struct decoder *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nlayers; i++)
		dec_layer_fini(&d->layers[i]);
	free(d);
}

void decoder_set_limit(struct decoder *d, uint64_t limit)
{
	d->limit = limit;
}

int decoder_feed(struct decoder *d, const uint8_t *in, size_t len,
		 decoder_out_fn out, void *ctx)
{
	if (d->err)
		return d->err;
	if (len == 0)
		return 0;

	d->out = out;
	d->ctx = ctx;
	d->err = dec_push(d, 0, in, len);
	d->out = NULL;
	return d->err;
}

static bool dec_layer_done(const struct dec_layer *l)
{
	return !l->seen_input || l->ended || l->ignore_rest;
}

int decoder_finish(struct decoder *d, decoder_out_fn out, void *ctx)
{
	if (d->err)
		return d->err;

	/* Each layer that saw input must have seen its stream end. */
	for (size_t i = 0; i < d->nlayers; i++) {
		if (!dec_layer_done(&d->layers[i]))
			return -EPIPE;
	}
	return 0;
}

bool decoder_is_identity(const struct decoder *d)
{
	return d->nlayers == 0 && d->err == 0;
}

uint64_t decoder_out_bytes(const struct decoder *d)
{
	return d->produced;
}
