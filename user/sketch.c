// SPDX-License-Identifier: MIT
/*
 * DDSketch with a dense, bounded bin array. Bin i holds the values in
 * (gamma^(i-1), gamma^i]; its representative 2 gamma^i / (gamma + 1)
 * is within a = (gamma - 1) / (gamma + 1) of each of them.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sketch.h"

#define SK_GAMMA ((1.0 + SKETCH_REL_ERROR) / (1.0 - SKETCH_REL_ERROR))

struct sketch {
	uint64_t *bins;	/* bins[j] counts bin index offset + j */
	int32_t offset;
	uint32_t nbins;	/* 0: no bins yet */
	uint64_t zeros;	/* values below SKETCH_MIN_VALUE */
	uint64_t count;
	double sum, min, max;
};

struct sketch *sketch_new(void)
{
	struct sketch *s = calloc(1, sizeof(*s));

	if (s)
		sketch_reset(s);
	return s;
}

void sketch_free(struct sketch *s)
{
	if (!s)
		return;
	free(s->bins);
	free(s);
}

void sketch_reset(struct sketch *s)
{
	free(s->bins);
	memset(s, 0, sizeof(*s));
	s->min = INFINITY;
	s->max = -INFINITY;
}

static int32_t sk_key(double v)
{
	return (int32_t)ceil(log(v) / log(SK_GAMMA));
}

static double sk_value(int32_t key)
{
	return 2.0 * pow(SK_GAMMA, key) / (SK_GAMMA + 1.0);
}

/* Makes the bins cover [lo, hi], joined with what they cover already.
 * When that is more than SKETCH_MAX_BINS, the lowest bins fold into the
 * lowest one kept: low values lose precision before high ones, since
 * the quantiles watched (p50 to p99) sit high. */
static int sk_fit(struct sketch *s, int32_t lo, int32_t hi)
{
	int32_t old_hi = s->offset + (int32_t)s->nbins - 1;
	uint64_t *nb;
	uint32_t j;

	if (s->nbins) {
		if (lo >= s->offset && hi <= old_hi)
			return 0;
		lo = lo < s->offset ? lo : s->offset;
		hi = hi > old_hi ? hi : old_hi;
	}
	if ((int64_t)hi - lo + 1 > SKETCH_MAX_BINS)
		lo = hi - SKETCH_MAX_BINS + 1;
	nb = calloc((size_t)(hi - lo + 1), sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	for (j = 0; j < s->nbins; j++) {
		int32_t key = s->offset + (int32_t)j;

		nb[(key < lo ? lo : key) - lo] += s->bins[j];
	}
	free(s->bins);
	s->bins = nb;
	s->offset = lo;
	s->nbins = (uint32_t)(hi - lo + 1);
	return 0;
}

/* The bin a key counts in: itself, or the lowest after a collapse. */
static uint64_t *sk_bin(struct sketch *s, int32_t key)
{
	if (key < s->offset)
		key = s->offset;
	return &s->bins[key - s->offset];
}

static void sk_note(struct sketch *s, uint64_t n, double sum, double min,
		    double max)
{
	s->count += n;
	s->sum += sum;
	if (min < s->min)
		s->min = min;
	if (max > s->max)
		s->max = max;
}

int sketch_add(struct sketch *s, double v)
{
	int32_t key;

	if (!isfinite(v) || v < 0)
		return -EINVAL;
	if (v < SKETCH_MIN_VALUE) {
		s->zeros++;
		sk_note(s, 1, v, v, v);
		return 0;
	}
	key = sk_key(v);
	if (sk_fit(s, key, key))
		return -ENOMEM;
	(*sk_bin(s, key))++;
	sk_note(s, 1, v, v, v);
	return 0;
}

int sketch_merge(struct sketch *dst, const struct sketch *src)
{
	uint32_t j;

	if (!src->count)
		return 0;
	if (src->nbins &&
	    sk_fit(dst, src->offset, src->offset + (int32_t)src->nbins - 1))
		return -ENOMEM;
	for (j = 0; j < src->nbins; j++)
		*sk_bin(dst, src->offset + (int32_t)j) += src->bins[j];
	dst->zeros += src->zeros;
	sk_note(dst, src->count, src->sum, src->min, src->max);
	return 0;
}

static double sk_clamp(const struct sketch *s, double v)
{
	if (v < s->min)
		return s->min;
	return v > s->max ? s->max : v;
}

double sketch_quantile(const struct sketch *s, double q)
{
	double rank;
	uint64_t seen;
	uint32_t j;

	if (!s->count || !(q >= 0 && q <= 1))
		return NAN;
	rank = floor(q * (double)(s->count - 1));
	seen = s->zeros;
	if ((double)seen > rank)
		return s->min;
	for (j = 0; j < s->nbins; j++) {
		seen += s->bins[j];
		if ((double)seen > rank)
			return sk_clamp(s, sk_value(s->offset + (int32_t)j));
	}
	return s->max;
}

uint64_t sketch_count(const struct sketch *s)
{
	return s->count;
}

double sketch_sum(const struct sketch *s)
{
	return s->sum;
}

double sketch_min(const struct sketch *s)
{
	return s->count ? s->min : NAN;
}

double sketch_max(const struct sketch *s)
{
	return s->count ? s->max : NAN;
}
