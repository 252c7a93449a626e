/* SPDX-License-Identifier: MIT */
/*
 * The glue from capture events to exchanges. Connections are keyed by
 * (pid, SSL pointer); the client's first bytes on one tell HTTP/2 (the
 * connection preface) from HTTP/1.x (a request line) from anything
 * else, which is ignored. Before an exchange reaches the sink the
 * pipeline adds where it went (SNI, peer), who made it (exe, user,
 * container) and masks credential headers and key= parameters.
 */
#ifndef LLMTAP_PIPELINE_H
#define LLMTAP_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "exchange.h"

/* A connection with no event for this long is closed as incomplete. */
#define PIPELINE_IDLE_NS (5ull * 60 * 1000000000ull)

/*
 * Open connections kept; a new one past this ends the least recently
 * used as incomplete ("evicted: too many connections"). Per connection
 * the pipeline itself keeps a few hundred bytes; the parsers keep:
 * HTTP/1.1 one header block per direction (H1_HEAD_MAX, 64 KiB) and
 * up to H1_PENDING_MAX (200) waiting requests, each body cut at
 * EXCHANGE_BODY_LIMIT (8 MiB), plus one response body: about 1.6 GiB
 * at worst, only for a client pipelining 200 huge bodies. HTTP/2
 * bodies share H2_CONN_BODY_BUDGET (64 MiB); add 2 HPACK tables
 * (256 KiB each), one header block (256 KiB) and the header fields of
 * up to H2_MAX_STREAMS open streams (256 KiB each at most). Typical
 * keep-alive connections between calls hold a few KiB.
 */
#define PIPELINE_CONNS_MAX 16384
#define PIPELINE_EVICT_NOTE "evicted: too many connections"

struct pipeline_opts {
	struct exchange_sink sink;
	/* Cap on open connections; 0 means PIPELINE_CONNS_MAX. */
	size_t conns_max;
	/* Replay: the pids are not this machine's, so nothing is read
	 * from /proc; the exe comes from exec events only. */
	bool no_procfs;
};

struct pipeline_stats {
	uint64_t conns;	/* connections seen */
	uint64_t exchanges;	/* exchanges handed to the sink */
	uint64_t parse_errors;	/* connections that stopped parsing */
	uint64_t gaps;	/* lost-bytes notices given to parsers */
	uint64_t non_http;	/* connections that were not HTTP */
	uint64_t evicted;	/* ended to stay under the cap */
};

struct pipeline;

/* opts is copied. NULL when out of memory. */
struct pipeline *pipeline_new(const struct pipeline_opts *opts);

/* Closes every connection (pending exchanges go to the sink as
 * incomplete), logs the evictions if there were any, then frees. */
void pipeline_free(struct pipeline *p);

/* The callbacks capture and replay deliver events to. */
struct ev_sink pipeline_ev_sink(struct pipeline *p);

/* Closes connections idle for PIPELINE_IDLE_NS as of now_ns (the
 * events' clock) and forgets processes with none left. */
void pipeline_tick(struct pipeline *p, uint64_t now_ns);

void pipeline_get_stats(const struct pipeline *p, struct pipeline_stats *st);

/*
 * The container id in the text of a /proc/PID/cgroup file: a 64-hex id
 * on a docker, containerd, cri-o or podman (libpod) line. Writes it,
 * or "" when there is none, to out; returns 0 or -ENOENT.
 */
int pipeline_container_id(const char *cgroup, char *out, size_t len);

#endif /* LLMTAP_PIPELINE_H */
