/* SPDX-License-Identifier: MIT */
/*
 * A mergeable quantile sketch for latencies (DDSketch: Masson, Rim and
 * Lee, VLDB 2019). Values fall into logarithmic bins whose bounds grow
 * by gamma = (1 + a) / (1 - a), so any quantile is returned within a
 * relative error a of the true one. Two sketches merge exactly: the
 * merge equals the sketch of the union.
 *
 * Memory is bounded: at most SKETCH_MAX_BINS bins. Past that the
 * lowest bins are collapsed into one, so only the low quantiles of a
 * range wider than about 10^8 lose their guarantee.
 */
#ifndef LLMTAP_SKETCH_H
#define LLMTAP_SKETCH_H

#include <stdint.h>

#define SKETCH_REL_ERROR 0.01
#define SKETCH_MAX_BINS 1024
/* Values below this (and 0) share one exact "zero" bin. */
#define SKETCH_MIN_VALUE 1e-9

struct sketch;

struct sketch *sketch_new(void);	/* NULL when out of memory */
void sketch_free(struct sketch *s);	/* accepts NULL */
void sketch_reset(struct sketch *s);	/* empty again; keeps no bins */

/* Adds one value. -EINVAL for a negative, NaN or infinite value (not
 * added), -ENOMEM when a bin could not be made. */
int sketch_add(struct sketch *s, double v);
/* Adds every value of src to dst. 0 or -ENOMEM. */
int sketch_merge(struct sketch *dst, const struct sketch *src);

/* The q-quantile (0 <= q <= 1): the value of rank floor(q * (n - 1))
 * in sorted order, within SKETCH_REL_ERROR. NaN when empty. */
double sketch_quantile(const struct sketch *s, double q);

uint64_t sketch_count(const struct sketch *s);
double sketch_sum(const struct sketch *s);
double sketch_min(const struct sketch *s);	/* NaN when empty */
double sketch_max(const struct sketch *s);	/* NaN when empty */

#endif /* LLMTAP_SKETCH_H */
