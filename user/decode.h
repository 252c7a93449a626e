/* SPDX-License-Identifier: MIT */
/*
 * Streaming Content-Encoding decoder (RFC 9110 section 8.4): gzip,
 * deflate (zlib-wrapped or raw), br, zstd and identity, alone or
 * stacked ("gzip, br"). Input arrives in pieces of any size; decoded
 * bytes go to a callback in pieces of at most DECODE_PIECE bytes, so
 * memory stays bounded whatever the input claims.
 */
#ifndef LLMTAP_DECODE_H
#define LLMTAP_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decoded bytes per body before the decoder gives up with -EFBIG:
 * a few KiB of gzip can claim gigabytes (a decompression bomb). */
#define DECODE_OUT_LIMIT (16u << 20)

/* Largest piece handed to the output callback. */
#define DECODE_PIECE 16384

/* Codings one Content-Encoding header may stack. */
#define DECODE_MAX_LAYERS 4

/* Receives decoded bytes; a nonzero return stops decoder_feed, which
 * returns that value. */
typedef int (*decoder_out_fn)(void *ctx, const uint8_t *data, size_t len);

/*
 * A decoder for a Content-Encoding header value; NULL, "" and
 * "identity" pass bytes through. An unknown coding still gives a
 * decoder, one whose every feed fails with -ENOTSUP. NULL only when
 * out of memory.
 */
struct decoder *decoder_new(const char *content_encoding);
void decoder_free(struct decoder *d);

/* Lowers (or raises) the decoded-byte limit of a fresh decoder. */
void decoder_set_limit(struct decoder *d, uint64_t limit);

/*
 * Decodes len bytes of in and passes what comes out to out. Returns 0,
 * or a negative errno: -ENOTSUP (unknown coding), -EBADMSG (corrupt
 * input), -EFBIG (past the limit), -ENOMEM. After an error the decoder
 * stays failed and every later feed returns the same error.
 */
int decoder_feed(struct decoder *d, const uint8_t *in, size_t len,
		 decoder_out_fn out, void *ctx);

/*
 * The body ended: returns 0 if every coding reached its end (or is
 * identity), -EPIPE if the encoded stream stopped part-way, or the
 * error that failed the decoder.
 */
int decoder_finish(struct decoder *d, decoder_out_fn out, void *ctx);

/* Whether the decoder changes bytes at all (false for identity). */
bool decoder_is_identity(const struct decoder *d);

/* Decoded bytes produced so far. */
uint64_t decoder_out_bytes(const struct decoder *d);

#endif /* LLMTAP_DECODE_H */
