/* SPDX-License-Identifier: MIT */
/*
 * Masking credentials in capture events before they are written, in
 * place and at the same length, so a recording stays byte-exact in
 * everything else: chunk lengths, offsets, HTTP/1.1 and HTTP/2 framing.
 *
 * Masked: the values of Authorization, Proxy-Authorization, x-api-key,
 * api-key, x-goog-api-key, Cookie and Set-Cookie headers, and of the
 * key=, api_key= and access_token= query parameters of request lines
 * and HTTP/2 :path values. HTTP/1.x is masked byte by byte as it
 * streams; HTTP/2 header blocks are held back until complete, walked
 * with nghttp2's HPACK inflater, and masked inside their HPACK strings.
 */
#ifndef LLMTAP_SCRUB_H
#define LLMTAP_SCRUB_H

#include <stdint.h>

#include "event.h"

/* Connections tracked at once; the least recently used goes first. */
#define SCRUB_CONNS_MAX 65536
/* Bytes a connection may hold back waiting for a header block's end;
 * past it the direction stops decoding HPACK and masks whole blocks. */
#define SCRUB_HOLD_MAX (256u << 10)
/* Events a connection may hold back, for the same reason. */
#define SCRUB_HOLD_EVENTS_MAX 4096

struct scrub;

struct scrub_stats {
	uint64_t masked_bytes;	/* bytes replaced by '*' or the fallback */
	uint64_t evicted;	/* connections dropped for room */
	uint64_t gave_up;	/* directions that stopped decoding HPACK */
	uint64_t lost_sync;	/* HTTP/2 directions cut by a capture gap */
	uint64_t dropped;	/* events dropped for want of memory */
};

/* A filter that passes every event to downstream, data masked. The
 * sink is copied. NULL on ENOMEM. */
struct scrub *scrub_new(const struct ev_sink *downstream);

/* Events in, masked events out to downstream, in the same order per
 * connection; events of different connections may be reordered while
 * one holds an HTTP/2 header block back. */
struct ev_sink scrub_sink(struct scrub *s);

/* Emits everything held back. An unfinished header block is masked
 * whole, and its direction stops decoding HPACK: meant for shutdown. */
void scrub_flush(struct scrub *s);

void scrub_get_stats(const struct scrub *s, struct scrub_stats *st);

/* Flushes, then frees. Accepts NULL. */
void scrub_free(struct scrub *s);

#endif /* LLMTAP_SCRUB_H */
