/* SPDX-License-Identifier: MIT */
/*
 * Prometheus metrics: counters since start (never windows; Prometheus
 * takes rates itself), rendered in the text exposition format 0.0.4.
 *
 *   llmtap_requests_total, llmtap_errors_total, llmtap_incomplete_total
 *   llmtap_tokens_total{type=input|output|cached|reasoning|cache_write}
 *   llmtap_cost_usd_total
 *   llmtap_request_duration_seconds, llmtap_ttft_seconds (histograms)
 *     each with the labels provider, model, process (comm);
 *   llmtap_capture_ringbuf_drops_total,
 *   llmtap_capture_truncated_calls_total,
 *   llmtap_capture_read_failures_total;
 *   llmtap_connections_evicted_total;
 *   llmtap_store_dropped_total, llmtap_bodies_cut_total;
 *   llmtap_label_sets_folded_total.
 *
 * Label sets are bounded: the first PROM_MAX_LABEL_SETS seen get their
 * own series; later calls count under model="other", process="other"
 * (and provider="other" once those are full too), and each such call
 * adds one to llmtap_label_sets_folded_total.
 *
 * Thread-safe: one lock, taken by adds and by rendering.
 */
#ifndef LLMTAP_PROM_H
#define LLMTAP_PROM_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define PROM_MAX_LABEL_SETS 100
/* Folded label sets (one per provider) allowed past the limit. */
#define PROM_FOLD_RESERVE 32
#define PROM_OTHER "other"
#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct prom_totals {
	uint64_t calls;
	uint64_t ringbuf_drops;
	uint64_t truncated_calls;
	uint64_t read_failures;
	uint64_t conns_evicted;	/* past the pipeline's --max-conns */
	uint64_t store_dropped;	/* calls the store could not keep */
	uint64_t bodies_cut;	/* bodies cut by the memory budget */
	uint64_t folded;	/* calls counted under a folded label set */
};

struct prom;

struct prom *prom_new(void);	/* NULL when out of memory */
void prom_free(struct prom *p);	/* accepts NULL */

/* Counts one llm_call record (only read). 0 or -EINVAL when rec is
 * not an object. */
int prom_add(struct prom *p, const json_t *rec);
/* Adds capture losses (deltas, as struct ev_loss carries them). */
void prom_add_losses(struct prom *p, uint64_t ringbuf_drops,
		     uint64_t truncated_calls, uint64_t read_failures);
/* Losses past capture, each counted where it happens. */
enum prom_loss {
	PROM_LOSS_EVICTED,	/* connections past --max-conns */
	PROM_LOSS_STORE_DROPPED,	/* calls the store could not keep */
	PROM_LOSS_BODIES_CUT,	/* bodies cut by the memory budget */
};

/* Adds n losses of one kind (a delta, like the above). */
void prom_add_loss(struct prom *p, enum prom_loss what, uint64_t n);

/* The exposition text, NUL-terminated, for the caller to free(); its
 * length in *len. NULL when out of memory. */
char *prom_render(struct prom *p, size_t *len);

void prom_totals(struct prom *p, struct prom_totals *out);

#endif /* LLMTAP_PROM_H */
