// SPDX-License-Identifier: MIT
/*
 * The quantile sketch against exact quantiles of random data: every
 * quantile within 1% relative error, merges equal to the sketch of the
 * union, and the bin bound holding on very wide ranges.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "sketch.h"

#define N_VALUES 20000
/* Floating point rounding at a bin's edge may add a hair. */
#define TOLERANCE (SKETCH_REL_ERROR * (1 + 1e-6))

static const double quantiles[] = { 0,   0.01, 0.1,	 0.25, 0.5,
				    0.75, 0.9, 0.95, 0.99, 0.999, 1 };

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* xorshift64: reproducible data without rand()'s global state. */
static double rnd01(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (double)(rng_state >> 11) / (double)(1ull << 53);
}

/* Latency-like: log-normal around 800 ms, a few zeros. */
static double rnd_latency(void)
{
	double u1 = rnd01() + 1e-12, u2 = rnd01();
	double z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);

	if (rnd01() < 0.01)
		return 0;
	return exp(log(800) + 1.2 * z);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void check_quantiles(const struct sketch *s, double *v, size_t n)
{
	size_t i;

	qsort(v, n, sizeof(*v), cmp_double);
	for (i = 0; i < sizeof(quantiles) / sizeof(*quantiles); i++) {
		double q = quantiles[i];
		double exact = v[(size_t)floor(q * (double)(n - 1))];
		double got = sketch_quantile(s, q);

		if (fabs(got - exact) > TOLERANCE * exact)
			fail_msg("q%.3f: got %.9g, exact %.9g", q, got, exact);
	}
}

static void test_quantiles_random(void **state)
{
	static double v[N_VALUES];
	struct sketch *s = sketch_new();
	double sum = 0;
	size_t i;

	for (i = 0; i < N_VALUES; i++) {
		v[i] = rnd_latency();
		sum += v[i];
		assert_int_equal(sketch_add(s, v[i]), 0);
	}
	assert_int_equal(sketch_count(s), N_VALUES);
	assert_true(fabs(sketch_sum(s) - sum) < 1e-6 * sum);
	check_quantiles(s, v, N_VALUES);
	sketch_free(s);
}

static void test_uniform_small_values(void **state)
{
	static double v[N_VALUES];
	struct sketch *s = sketch_new();
	size_t i;

	for (i = 0; i < N_VALUES; i++) {
		v[i] = 0.001 + rnd01() * 0.05;
		assert_int_equal(sketch_add(s, v[i]), 0);
	}
	check_quantiles(s, v, N_VALUES);
	sketch_free(s);
}

static int sketch_equal(const struct sketch *a, const struct sketch *b)
{
	size_t i;

	if (sketch_count(a) != sketch_count(b) ||
	    sketch_min(a) != sketch_min(b) || sketch_max(a) != sketch_max(b))
		return 0;
	for (i = 0; i < sizeof(quantiles) / sizeof(*quantiles); i++)
		if (sketch_quantile(a, quantiles[i]) !=
		    sketch_quantile(b, quantiles[i]))
			return 0;
	return fabs(sketch_sum(a) - sketch_sum(b)) <= 1e-9 * sketch_sum(a);
}

static void test_merge_equals_union(void **state)
{
	struct sketch *a = sketch_new(), *b = sketch_new();
	struct sketch *all = sketch_new(), *empty = sketch_new();
	size_t i;

	for (i = 0; i < N_VALUES; i++) {
		/* Different ranges, so the merge has to widen a's bins. */
		double x = i % 3 ? rnd_latency() : rnd01() * 1e6;

		sketch_add(i % 3 ? a : b, x);
		sketch_add(all, x);
	}
	assert_int_equal(sketch_merge(a, b), 0);
	assert_true(sketch_equal(a, all));
	/* Merging into an empty sketch copies; merging nothing changes
	 * nothing. */
	assert_int_equal(sketch_merge(empty, all), 0);
	assert_true(sketch_equal(empty, all));
	sketch_reset(b);
	assert_int_equal(sketch_merge(a, b), 0);
	assert_true(sketch_equal(a, all));
	sketch_free(a);
	sketch_free(b);
	sketch_free(all);
	sketch_free(empty);
}

static void test_empty_and_bad_values(void **state)
{
	struct sketch *s = sketch_new();

	assert_true(isnan(sketch_quantile(s, 0.5)));
	assert_true(isnan(sketch_min(s)));
	assert_int_equal(sketch_add(s, -1), -EINVAL);
	assert_int_equal(sketch_add(s, NAN), -EINVAL);
	assert_int_equal(sketch_add(s, INFINITY), -EINVAL);
	assert_int_equal(sketch_count(s), 0);
	assert_int_equal(sketch_add(s, 0), 0);
	assert_int_equal(sketch_add(s, 5), 0);
	assert_true(sketch_quantile(s, 0) == 0);
	assert_true(fabs(sketch_quantile(s, 1) - 5) <= 5 * TOLERANCE);
	assert_true(isnan(sketch_quantile(s, 1.5)));
	sketch_reset(s);
	assert_int_equal(sketch_count(s), 0);
	sketch_free(s);
	sketch_free(NULL);
}

/* 1e-3 to 1e12 needs about 1730 bins: the lowest collapse (the 1024
 * kept reach down to about 1e3), the high quantiles keep their
 * guarantee. */
static void test_bin_bound(void **state)
{
	struct sketch *s = sketch_new();
	static double v[N_VALUES];
	size_t i;

	for (i = 0; i < N_VALUES; i++) {
		v[i] = pow(10, -3 + 15 * rnd01());
		sketch_add(s, v[i]);
	}
	qsort(v, N_VALUES, sizeof(*v), cmp_double);
	for (i = 0; i < 3; i++) {
		double q = (double[]){ 0.5, 0.9, 0.99 }[i];
		double exact = v[(size_t)floor(q * (N_VALUES - 1))];

		assert_true(fabs(sketch_quantile(s, q) - exact) <=
			    TOLERANCE * exact);
	}
	/* The minimum is still exact, and the lowest quantile is only
	 * raised by the collapse, never made up. */
	assert_true(sketch_min(s) == v[0]);
	assert_true(sketch_quantile(s, 0.001) >= v[N_VALUES / 1000]);
	sketch_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quantiles_random),
		cmocka_unit_test(test_uniform_small_values),
		cmocka_unit_test(test_merge_equals_union),
		cmocka_unit_test(test_empty_and_bad_values),
		cmocka_unit_test(test_bin_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
