/* SPDX-License-Identifier: MIT */
/*
 * One HTTP/1.x connection seen from the client: the bytes it writes
 * are requests, the bytes it reads are responses (RFC 9112). Each
 * response is paired with the oldest request still waiting for one,
 * which is also right for pipelined requests. A finished pair goes to
 * the sink as one http_exchange and is freed when the callback
 * returns.
 *
 * Bytes may arrive in pieces of any size in either direction; the
 * parser keeps at most one header block (H1_HEAD_MAX) per direction.
 * Interim responses (100 Continue, 103) are skipped: ts_resp_start is
 * the first byte of the final response. Body segments carry the time
 * of the feed their bytes came in, so SSE events keep their timing.
 */
#ifndef LLMTAP_HTTP1_H
#define LLMTAP_HTTP1_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "exchange.h"

/* Largest header block (start line, fields, blank line) or trailer
 * section we collect; past it the connection stops parsing. */
#define H1_HEAD_MAX (64u << 10)

/* Requests waiting for their responses; past it the connection stops
 * parsing: something is badly off when 200 responses are missing. */
#define H1_PENDING_MAX 200

struct h1_conn;

/* sink is copied; conn identifies the connection in every exchange.
 * NULL only when out of memory. */
struct h1_conn *h1_conn_new(const struct exchange_sink *sink,
			    const struct ev_conn_id *conn);

/*
 * Parses len bytes that went in direction dir; task says who moved
 * them and when (task->ts_ns timestamps the bytes). Returns 0, or a
 * negative errno once the bytes are not HTTP/1.x (-EPROTO), a limit is
 * hit (-E2BIG, -ENOBUFS) or memory runs out (-ENOMEM). After an error
 * the pending exchanges have been emitted as incomplete and every
 * later feed returns -EPROTO. After a protocol switch (101, CONNECT)
 * feeds are ignored and return 0.
 */
int h1_conn_feed(struct h1_conn *c, enum ev_dir dir, const uint8_t *data,
		 size_t len, const struct ev_task *task);

/*
 * Bytes in direction dir were lost before the next feed. The message
 * being parsed in that direction is marked capture_gap (a response is
 * emitted as incomplete at once); parsing resumes at the next feed
 * that starts like a message start line.
 */
void h1_conn_gap(struct h1_conn *c, enum ev_dir dir);

/*
 * The connection ended at ts_ns. A response delimited by the close is
 * complete; every other pending exchange is emitted as incomplete with
 * note why. Later feeds are ignored.
 */
void h1_conn_close(struct h1_conn *c, uint64_t ts_ns, const char *why);

/* Frees without emitting: h1_conn_close first hands them on. */
void h1_conn_free(struct h1_conn *c);

#endif /* LLMTAP_HTTP1_H */
