/* SPDX-License-Identifier: MIT */
/*
 * In-memory aggregates over the llm_call records of this run: counts,
 * errors, tokens, cost, latency and time-to-first-token quantiles, per
 * sliding window (1m, 10m, 1h, 1d) and since start, grouped by any
 * attribute of a call. The HTTP API serves them; alerts evaluate them.
 *
 * A call is an error when its HTTP status is 400 or more or it carries
 * an error object; an incomplete call (connection cut, process killed)
 * is counted apart, and is an error only if one of those holds too.
 *
 * Memory is bounded. Each distinct combination of attributes (a
 * series) keeps ring buffers of time slots: 60 x 1 s, 60 x 10 s,
 * 60 x 1 min and 96 x 15 min. Past METRICS_MAX_SERIES combinations,
 * new calls fold into series whose finer attributes read "other"
 * (session and properties first, then user and executable, then the
 * process, at last provider and model), and are counted as folded.
 *
 * Thread-safe: one lock, so the capture thread can add while the API
 * thread queries.
 */
#ifndef LLMTAP_METRICS_H
#define LLMTAP_METRICS_H

#include <stdint.h>

#include <jansson.h>

#define METRICS_MAX_SERIES 4096
/* Series of folded attributes allowed past METRICS_MAX_SERIES. */
#define METRICS_FOLD_RESERVE 512
/* Properties per call a series keeps (the rest are ignored). */
#define METRICS_MAX_PROPS 16
/* The group name of folded attributes. */
#define METRICS_OTHER "other"

enum metrics_window {
	METRICS_1M,
	METRICS_10M,
	METRICS_1H,
	METRICS_1D,
	METRICS_TOTAL,
	METRICS_NWINDOWS,
};

/* Which calls a query counts. NULL fields, and uid -1, match any. */
struct metrics_filter {
	const char *provider;
	const char *model;
	const char *process;	/* comm or exe */
	const char *user_id;
	const char *session;
	int64_t uid;
	const char *prop_name;	/* with prop_value: properties[name] */
	const char *prop_value;
};

struct metrics_stats {
	uint64_t records;
	uint64_t series;
	uint64_t folded;	/* records counted under "other" */
};

struct metrics;

struct metrics *metrics_new(void);	/* NULL when out of memory */
void metrics_free(struct metrics *m);	/* accepts NULL */

/* Counts one llm_call record (only read) at now_s, seconds since the
 * epoch. 0, -EINVAL when rec is not an object, or -ENOMEM. */
int metrics_add(struct metrics *m, const json_t *rec, uint64_t now_s);

/*
 * The groups of a window at now_s, as a new JSON array in *out, most
 * requests first. by is "provider", "model", "process" (comm), "exe",
 * "uid", "user", "user_id", "session", "container", "property:NAME",
 * or NULL / "all" for one group of everything. Each group:
 *   {"group": VALUE, "requests", "errors", "error_rate", "incomplete",
 *    "input_tokens", "output_tokens", "cached_input_tokens",
 *    "reasoning_tokens", "cache_write_tokens", "cost_usd",
 *    "latency_ms": {"p50","p90","p95","p99"} or null,
 *    "ttft_ms": the same}
 * VALUE is null for calls without the attribute. Returns 0, -EINVAL
 * for an unknown by or window, or -ENOMEM.
 */
int metrics_query_filtered(struct metrics *m, const char *by,
			   enum metrics_window w,
			   const struct metrics_filter *f, uint64_t now_s,
			   json_t **out);
/* The same without a filter. */
int metrics_query(struct metrics *m, const char *by,
		  enum metrics_window w, uint64_t now_s, json_t **out);

/* "1m", "10m", "1h", "1d", "total" to a window; -EINVAL otherwise. */
int metrics_window_parse(const char *name);
const char *metrics_window_name(enum metrics_window w);
/* Whether a query may group by this. */
int metrics_by_valid(const char *by);

void metrics_stats(struct metrics *m, struct metrics_stats *out);

#endif /* LLMTAP_METRICS_H */
