/* SPDX-License-Identifier: MIT */
/*
 * Stored calls as a time series for the dashboard's charts: per step
 * of time, requests, errors, cost, tokens and the p95 latency.
 */
#ifndef LLMTAP_STORE_SERIES_H
#define LLMTAP_STORE_SERIES_H

#include <stdint.h>

#include <jansson.h>

#include "store.h"

/* Points one series may have: a day by the minute. */
#define STORE_SERIES_MAX_POINTS 1440

/*
 * npoints steps of step_s seconds from since_s (seconds since the
 * epoch), each counting the calls that started in it, under f (its
 * user_id, model, provider and process; its times are ignored):
 *   {"since": S, "step_s", "points": [{"t": START_S, "requests",
 *    "errors", "error_rate", "cost_usd", "input_tokens",
 *    "output_tokens", "cached_input_tokens", "p95_ms" (or null)}]}
 * An error is a status of 400 or more or an error object, as the live
 * metrics count it. NULL after logging why.
 */
json_t *store_series(struct store *s, const struct store_filter *f,
		     uint64_t since_s, uint64_t step_s, unsigned npoints);

#endif /* LLMTAP_STORE_SERIES_H */
