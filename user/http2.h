/* SPDX-License-Identifier: MIT */
/*
 * HTTP/2 seen from the client side of one TLS connection (RFC 9113).
 * The client's bytes (EV_DIR_WRITE) are the connection preface and
 * its frames; the server's bytes (EV_DIR_READ) are frames. Each
 * stream becomes one http_exchange, handed to the sink when the
 * response ends, the stream is reset, or the connection goes away.
 *
 * Feeding is incremental: frames may be split at any byte and many
 * may arrive in one call. A connection joined mid-way, or one that
 * lost bytes, degrades to what can still be decoded and flags the
 * exchanges it touches; it never reads past what it was given.
 */
#ifndef LLMTAP_HTTP2_H
#define LLMTAP_HTTP2_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "exchange.h"

struct h2_conn;

/* Returns NULL on allocation failure. sink is copied; conn too. */
struct h2_conn *h2_conn_new(const struct exchange_sink *sink,
			    const struct ev_conn_id *conn);

/* Parses len bytes that moved in direction dir at task->ts_ns.
 * Returns 0, or a negative errno (-ENOMEM) when state could not be
 * kept; a protocol error is not an error here: the direction is
 * marked broken, the affected exchanges flagged, and 0 returned. */
int h2_conn_feed(struct h2_conn *c, enum ev_dir dir, const uint8_t *data,
		 size_t len, const struct ev_task *task);

/* Bytes were lost in direction dir: framing sync is gone for it. */
void h2_conn_gap(struct h2_conn *c, enum ev_dir dir);

/* The connection ended: every open stream is emitted incomplete with
 * note why. Safe to call more than once. */
void h2_conn_close(struct h2_conn *c, uint64_t ts_ns, const char *why);

/* Frees without emitting; call h2_conn_close first to flush. */
void h2_conn_free(struct h2_conn *c);

#endif /* LLMTAP_HTTP2_H */
