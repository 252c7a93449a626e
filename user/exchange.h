/* SPDX-License-Identifier: MIT */
/*
 * One HTTP request/response pair rebuilt from a connection's plaintext:
 * the hand-off between the HTTP stages (http1, http2) and the provider
 * stage. A producer fills it, passes it to an exchange_sink, and frees
 * it after the callback returns; the sink only borrows it.
 */
#ifndef LLMTAP_EXCHANGE_H
#define LLMTAP_EXCHANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"

/* A decoded body is kept up to this many bytes; the rest is counted
 * in wire_len and the body is marked truncated. */
#define EXCHANGE_BODY_LIMIT (8u << 20)
/* What all bodies held at once may take, process-wide: past it a body
 * is cut as if at its limit, and counted. Many connections each
 * pipelining large bodies cannot then take memory without end. */
#define EXCHANGE_BODIES_BUDGET ((size_t)512 << 20)

struct hdr {
	char *name;	/* as received; compare with strcasecmp */
	char *value;
};

struct hdr_list {
	struct hdr *v;
	size_t n;
	size_t cap;
};

/* Where each arrival of body bytes starts, and when it arrived: the
 * provider stage needs it for time to first token. */
struct body_seg {
	uint64_t ts_ns;
	size_t off;
	size_t len;
};

struct body {
	uint8_t *data;	/* decoded bytes, NUL-terminated for convenience */
	size_t len;
	size_t cap;
	struct body_seg *segs;
	size_t nsegs;
	size_t segcap;
	uint64_t wire_len;	/* bytes on the wire, before decoding */
	bool truncated;	/* more than EXCHANGE_BODY_LIMIT, or capture cut */
	bool over_budget;	/* cut by EXCHANGE_BODIES_BUDGET */
	/* Bytes of cap counted in the budget: those of body_append. A
	 * body built another way (a copy) must leave it 0. */
	size_t budgeted;
	bool decode_error;	/* content-encoding could not be undone */
};

struct proc_info {
	char exe[EV_PATH_LEN];
	char user[64];	/* OS user name of uid, "" if unknown */
	char container[80];	/* container id from the cgroup, "" if none */
};

struct http_exchange {
	/* Who, filled by the producer from the request's first chunk. */
	struct ev_task task;
	struct ev_conn_id conn;
	int http_version;	/* 11 or 20 */
	uint32_t stream_id;	/* HTTP/2 stream, 0 for HTTP/1.1 */

	/* Where, filled by the pipeline before the sink sees it. */
	char sni[EV_HOST_LEN];	/* TLS server name, "" if not seen */
	char peer[64];	/* "addr:port", "" if not known */
	struct proc_info proc;

	/* Request. */
	char *method;
	char *path;	/* with the query string */
	char *authority;	/* Host or :authority, NULL if absent */
	struct hdr_list req_headers;
	struct body req_body;
	uint64_t ts_req_start;
	uint64_t ts_req_end;

	/* Response; status 0 when none arrived. */
	int status;
	struct hdr_list resp_headers;
	struct body resp_body;
	uint64_t ts_resp_start;
	uint64_t ts_resp_end;

	/* Not all of it was seen: the connection closed, the stream was
	 * reset, the process exited, or capture began mid-way. */
	bool incomplete;
	bool capture_gap;	/* bytes were lost or cut inside it */
	char note[128];	/* why it is incomplete, "" otherwise */
};

struct exchange_sink {
	void *ctx;
	void (*on_exchange)(void *ctx, struct http_exchange *ex);
};

struct http_exchange *exchange_new(void);
void exchange_free(struct http_exchange *ex);

int hdr_list_add(struct hdr_list *l, const char *name, size_t nlen,
		 const char *value, size_t vlen);
/* Replaces a header's value (e.g. to mask it). 0 or -ENOMEM. */
int hdr_set_value(struct hdr *h, const char *value, size_t vlen);
const char *hdr_list_get(const struct hdr_list *l, const char *name);
void hdr_list_clear(struct hdr_list *l);

/* Bodies cut by EXCHANGE_BODIES_BUDGET since the start, and the bytes
 * all bodies hold now. */
uint64_t exchange_bodies_cut(void);
size_t exchange_bodies_held(void);
/* Sets the budget (EXCHANGE_BODIES_BUDGET until then); for tests. */
void exchange_set_bodies_budget(size_t bytes);

/* Appends decoded bytes that arrived at ts_ns; past the limit or the
 * budget only sets truncated. Returns 0 or -ENOMEM. */
int body_append(struct body *b, const uint8_t *data, size_t len,
		uint64_t ts_ns);
void body_clear(struct body *b);

#endif /* LLMTAP_EXCHANGE_H */
