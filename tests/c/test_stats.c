/* test_stats.c: the C aggregation kernels against hand-computed values:
 * missing points, empty input, one point, all-equal, negative values,
 * percentile definitions, selection on hostile orders, Mann-Whitney and
 * 10^7 points. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/stats.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* cmocka 1.1.5 compares floats in single precision: use doubles. */
static void near_at(double got, double want, double tol, const char *file,
                    int line) {
  if (fabs(got - want) <= tol || (got == want)) return;
  print_error("%s:%d: got %.17g, want %.17g (tolerance %g)\n", file, line, got,
              want, tol);
  _fail(file, line);
}
#define assert_near(got, want, tol) near_at((got), (want), (tol), __FILE__, __LINE__)
#define assert_exact(got, want) near_at((got), (want), 0.0, __FILE__, __LINE__)

static double pct(const double *v, size_t n, double p, ub_pct_method m) {
  double *x = malloc((n ? n : 1) * sizeof *x);
  assert_non_null(x);
  size_t k = ub_stats_gather(v, n, x);
  double out = NAN;
  assert_int_equal(ub_stats_percentile_inplace(x, k, p, m, NULL, &out), UB_STATS_OK);
  free(x);
  return out;
}

static double median(const double *v, size_t n) {
  double *x = malloc((n ? n : 1) * sizeof *x);
  assert_non_null(x);
  size_t k = ub_stats_gather(v, n, x);
  double out = NAN;
  assert_int_equal(ub_stats_median_inplace(x, k, NULL, &out), UB_STATS_OK);
  free(x);
  return out;
}

static void missing_points_are_skipped(void **state) {
  (void)state;
  const double v[] = {1, NAN, 2, 4, NAN};
  double out;
  size_t at;
  assert_int_equal(ub_stats_count(v, 5), 3);
  assert_int_equal(ub_stats_sum(v, 5, &out), UB_STATS_OK);
  assert_exact(out, 7.0);
  assert_int_equal(ub_stats_mean(v, 5, &out), UB_STATS_OK);
  assert_exact(out, 7.0 / 3.0);
  assert_int_equal(ub_stats_min(v, 5, &out), UB_STATS_OK);
  assert_exact(out, 1.0);
  assert_int_equal(ub_stats_max(v, 5, &out), UB_STATS_OK);
  assert_exact(out, 4.0);
  assert_exact(median(v, 5), 2.0);
  /* sample variance of 1, 2, 4: mean 7/3, squared deviations sum 14/3 */
  assert_int_equal(ub_stats_variance(v, 5, 0, &out), UB_STATS_OK);
  assert_near(out, 7.0 / 3.0, 1e-15);
  assert_int_equal(ub_stats_last(v, 5, &out, &at), UB_STATS_OK);
  assert_exact(out, 4.0);
  assert_int_equal(at, 3);
}

static void empty_input_is_a_status_not_zero(void **state) {
  (void)state;
  const double none[] = {NAN, NAN, NAN};
  for (size_t n = 0; n <= 3; n += 3) {
    double out = 12345.0, x[3];
    size_t at;
    assert_int_equal(ub_stats_count(none, n), 0);
    assert_int_equal(ub_stats_sum(none, n, &out), UB_STATS_EMPTY);
    assert_int_equal(ub_stats_mean(none, n, &out), UB_STATS_EMPTY);
    assert_int_equal(ub_stats_min(none, n, &out), UB_STATS_EMPTY);
    assert_int_equal(ub_stats_max(none, n, &out), UB_STATS_EMPTY);
    assert_int_equal(ub_stats_variance(none, n, 0, &out), UB_STATS_EMPTY);
    assert_int_equal(ub_stats_stddev(none, n, 1, &out), UB_STATS_EMPTY);
    assert_int_equal(ub_stats_first(none, n, &out, &at), UB_STATS_EMPTY);
    assert_int_equal(ub_stats_last(none, n, &out, &at), UB_STATS_EMPTY);
    assert_int_equal(ub_stats_delta(none, n, &out), UB_STATS_EMPTY);
    size_t m = ub_stats_gather(none, n, x);
    assert_int_equal(m, 0);
    assert_int_equal(ub_stats_percentile_inplace(x, m, 50, UB_PCT_LINEAR, NULL, &out),
                     UB_STATS_EMPTY);
    assert_int_equal(ub_stats_median_inplace(x, m, NULL, &out), UB_STATS_EMPTY);
    assert_exact(out, 12345.0); /* untouched */
  }
  assert_string_equal(ub_stats_reason(UB_STATS_EMPTY), "empty series");
}

static void one_point(void **state) {
  (void)state;
  const double v[] = {NAN, 5.0};
  const int64_t ts[] = {0, 60000};
  double out;
  assert_int_equal(ub_stats_sum(v, 2, &out), UB_STATS_OK);
  assert_exact(out, 5.0);
  assert_int_equal(ub_stats_mean(v, 2, &out), UB_STATS_OK);
  assert_exact(out, 5.0);
  assert_exact(median(v, 2), 5.0);
  for (int m = UB_PCT_NEAREST; m <= UB_PCT_KEPTN; m++) {
    assert_exact(pct(v, 2, 0, (ub_pct_method)m), 5.0);
    assert_exact(pct(v, 2, 37.5, (ub_pct_method)m), 5.0);
    assert_exact(pct(v, 2, 100, (ub_pct_method)m), 5.0);
  }
  assert_int_equal(ub_stats_variance(v, 2, 0, &out), UB_STATS_TOO_FEW);
  assert_int_equal(ub_stats_variance(v, 2, 1, &out), UB_STATS_OK);
  assert_exact(out, 0.0);
  assert_int_equal(ub_stats_delta(v, 2, &out), UB_STATS_TOO_FEW);
  assert_int_equal(ub_stats_rate(v, ts, 2, &out), UB_STATS_TOO_FEW);
}

static void all_equal_values(void **state) {
  (void)state;
  double v[64];
  for (size_t i = 0; i < N_OF(v); i++) v[i] = 0.1;
  double out;
  assert_int_equal(ub_stats_variance(v, N_OF(v), 0, &out), UB_STATS_OK);
  assert_exact(out, 0.0);
  assert_int_equal(ub_stats_stddev(v, N_OF(v), 1, &out), UB_STATS_OK);
  assert_exact(out, 0.0);
  assert_exact(median(v, N_OF(v)), 0.1);
  for (int m = UB_PCT_NEAREST; m <= UB_PCT_KEPTN; m++)
    for (double p = 0; p <= 100; p += 12.5)
      assert_exact(pct(v, N_OF(v), p, (ub_pct_method)m), 0.1);
}

static void negative_values(void **state) {
  (void)state;
  const double v[] = {-5, -1, -3, -2, -4};
  double out;
  assert_int_equal(ub_stats_sum(v, 5, &out), UB_STATS_OK);
  assert_exact(out, -15.0);
  assert_int_equal(ub_stats_mean(v, 5, &out), UB_STATS_OK);
  assert_exact(out, -3.0);
  assert_int_equal(ub_stats_min(v, 5, &out), UB_STATS_OK);
  assert_exact(out, -5.0);
  assert_int_equal(ub_stats_max(v, 5, &out), UB_STATS_OK);
  assert_exact(out, -1.0);
  assert_exact(median(v, 5), -3.0);
  /* deviations -2 2 0 1 -1: squares sum to 10 */
  assert_int_equal(ub_stats_variance(v, 5, 0, &out), UB_STATS_OK);
  assert_exact(out, 2.5);
  assert_int_equal(ub_stats_variance(v, 5, 1, &out), UB_STATS_OK);
  assert_exact(out, 2.0);
  assert_int_equal(ub_stats_stddev(v, 5, 0, &out), UB_STATS_OK);
  assert_exact(out, sqrt(2.5));
  assert_exact(pct(v, 5, 25, UB_PCT_LINEAR), -4.0);
  assert_int_equal(ub_stats_delta(v, 5, &out), UB_STATS_OK);
  assert_exact(out, 1.0); /* -4 - -5 */
}

static void sums_are_strictly_left_to_right(void **state) {
  (void)state;
  const double cancel[] = {1e16, 1.0, -1e16};
  const double tenths[] = {0.1, 0.2, NAN, 0.3};
  double out;
  /* (1e16 + 1) rounds to 1e16; compensated summation would give 1 */
  assert_int_equal(ub_stats_sum(cancel, 3, &out), UB_STATS_OK);
  assert_exact(out, 0.0);
  /* Python: sum([0.1, 0.2, 0.3]) == 0.6000000000000001, / 3 == 0.20000000000000004 */
  assert_int_equal(ub_stats_sum(tenths, 4, &out), UB_STATS_OK);
  assert_exact(out, 0.6000000000000001);
  assert_int_equal(ub_stats_mean(tenths, 4, &out), UB_STATS_OK);
  assert_exact(out, 0.20000000000000004);
  const double negzero[] = {-0.0, NAN};
  assert_int_equal(ub_stats_sum(negzero, 2, &out), UB_STATS_OK);
  assert_false(signbit(out)); /* Python: 0 + -0.0 == 0.0 */
}

/* vals = 0..10 (docs/reference/keptn-slo.md §6.3), given out of order */
static const double ZERO_TO_TEN[] = {7, 3, 10, 0, 5, 1, 9, 2, 8, 6, 4};

static void percentile_keptn_definition(void **state) {
  (void)state;
  assert_exact(pct(ZERO_TO_TEN, 11, 50, UB_PCT_KEPTN), 5.0);
  assert_near(pct(ZERO_TO_TEN, 11, 90, UB_PCT_KEPTN), 9.8, 1e-12);
  assert_exact(pct(ZERO_TO_TEN, 11, 95, UB_PCT_KEPTN), 10.0);
  assert_exact(pct(ZERO_TO_TEN, 11, 0, UB_PCT_KEPTN), 0.0);
  assert_exact(pct(ZERO_TO_TEN, 11, 5, UB_PCT_KEPTN), 0.0); /* pos 0.6 < 1 */
  assert_exact(pct(ZERO_TO_TEN, 11, 100, UB_PCT_KEPTN), 10.0);
  const double three[] = {520, 480, 500};
  assert_exact(pct(three, 3, 50, UB_PCT_KEPTN), 500.0);
  assert_exact(pct(three, 3, 90, UB_PCT_KEPTN), 520.0); /* pos 3.6 >= 3 */
  const double four[] = {4, 1, 3, 2};
  assert_exact(pct(four, 4, 50, UB_PCT_KEPTN), 2.5); /* pos 2.5 */
  /* Keptn's own arithmetic: 9 + (0.9 * 12 - 10) * (10 - 9) */
  assert_exact(pct(ZERO_TO_TEN, 11, 90, UB_PCT_KEPTN), 9.0 + (0.9 * 12.0 - 10.0));
}

static void percentile_linear_definition(void **state) {
  (void)state;
  assert_exact(pct(ZERO_TO_TEN, 11, 90, UB_PCT_LINEAR), 9.0);
  assert_exact(pct(ZERO_TO_TEN, 11, 95, UB_PCT_LINEAR), 9.5);
  assert_exact(pct(ZERO_TO_TEN, 11, 25, UB_PCT_LINEAR), 2.5);
  assert_exact(pct(ZERO_TO_TEN, 11, 0, UB_PCT_LINEAR), 0.0);
  assert_exact(pct(ZERO_TO_TEN, 11, 100, UB_PCT_LINEAR), 10.0);
  const double w[] = {50, 15, 40, 20, 35};
  assert_near(pct(w, 5, 40, UB_PCT_LINEAR), 29.0, 1e-12); /* h 1.6: 20 + .6*15 */
  const double four[] = {4, 1, 3, 2};
  assert_exact(pct(four, 4, 50, UB_PCT_LINEAR), 2.5);
  assert_exact(median(four, 4), 2.5);
}

static void percentile_nearest_rank_definition(void **state) {
  (void)state;
  /* the usual nearest-rank example: 15 20 35 40 50 */
  const double w[] = {50, 15, 40, 20, 35};
  assert_exact(pct(w, 5, 0, UB_PCT_NEAREST), 15.0);
  assert_exact(pct(w, 5, 5, UB_PCT_NEAREST), 15.0);
  assert_exact(pct(w, 5, 30, UB_PCT_NEAREST), 20.0);
  assert_exact(pct(w, 5, 40, UB_PCT_NEAREST), 20.0);
  assert_exact(pct(w, 5, 50, UB_PCT_NEAREST), 35.0);
  assert_exact(pct(w, 5, 100, UB_PCT_NEAREST), 50.0);
  assert_exact(pct(ZERO_TO_TEN, 11, 90, UB_PCT_NEAREST), 9.0); /* rank ceil(9.9) */
  /* p * n / 100 is an exact integer here: no ceil(7.000000001) = 8 */
  const double ten[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  assert_exact(pct(ten, 10, 70, UB_PCT_NEAREST), 7.0);
  assert_exact(pct(ten, 10, 10, UB_PCT_NEAREST), 1.0);
}

static void percentile_rejects_bad_p(void **state) {
  (void)state;
  double x[] = {1, 2, 3}, out = 42;
  const double bad[] = {-1, 100.5, NAN, INFINITY};
  for (size_t i = 0; i < N_OF(bad); i++)
    assert_int_equal(ub_stats_percentile_inplace(x, 3, bad[i], UB_PCT_LINEAR, NULL, &out),
                     UB_STATS_BAD_ARGUMENT);
  assert_int_equal(ub_stats_percentile_inplace(x, 3, 50, (ub_pct_method)7, NULL, &out),
                   UB_STATS_BAD_ARGUMENT);
  assert_exact(out, 42.0);
  assert_int_equal(ub_pct_method_from_name("keptn"), UB_PCT_KEPTN);
  assert_int_equal(ub_pct_method_from_name("Linear"), -1);
}

static void infinities_do_not_become_nan(void **state) {
  (void)state;
  const double v[] = {-INFINITY, 1, INFINITY};
  assert_exact(pct(v, 3, 25, UB_PCT_LINEAR), -INFINITY);
  assert_exact(pct(v, 3, 75, UB_PCT_LINEAR), INFINITY);
  const double big[] = {1e308, 1.5e308};
  assert_exact(median(big, 2), 1.25e308);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

typedef void (*fill_fn)(double *x, size_t n);
static void fill_sorted(double *x, size_t n) { for (size_t i = 0; i < n; i++) x[i] = (double)i; }
static void fill_reverse(double *x, size_t n) { for (size_t i = 0; i < n; i++) x[i] = (double)(n - i); }
static void fill_equal(double *x, size_t n) { for (size_t i = 0; i < n; i++) x[i] = 7.0; }
static void fill_organ(double *x, size_t n) { for (size_t i = 0; i < n; i++) x[i] = (double)(i < n / 2 ? i : n - i); }
static void fill_few(double *x, size_t n) { for (size_t i = 0; i < n; i++) x[i] = (double)(rng() % 3); }
static void fill_random(double *x, size_t n) { for (size_t i = 0; i < n; i++) x[i] = (double)(rng() % 1000003) - 500000.0; }

static void check_selection(const double *orig, size_t n) {
  double *x = malloc(n * sizeof *x), *ref = malloc(n * sizeof *x);
  assert_non_null(x);
  assert_non_null(ref);
  memcpy(ref, orig, n * sizeof *ref);
  qsort(ref, n, sizeof *ref, cmp_double);
  for (int trial = 0; trial < 12; trial++) {
    size_t k = trial == 0 ? 0 : trial == 1 ? n - 1 : (size_t)(rng() % n);
    memcpy(x, orig, n * sizeof *x);
    double got = ub_stats_select(x, n, k, NULL);
    assert_exact(got, ref[k]);
    for (size_t i = 0; i < k; i++) assert_true(x[i] <= got);
    for (size_t i = k + 1; i < n; i++) assert_true(x[i] >= got);
  }
  memcpy(x, orig, n * sizeof *x);
  ub_stats_sort(x, n, NULL);
  assert_memory_equal(x, ref, n * sizeof *x);
  memcpy(x, orig, n * sizeof *x);
  ub_stats_heap_sort(x, n, NULL);
  assert_memory_equal(x, ref, n * sizeof *x);
  free(x);
  free(ref);
}

static void selection_matches_sorting_on_hostile_orders(void **state) {
  (void)state;
  const fill_fn fills[] = {fill_sorted, fill_reverse, fill_equal, fill_organ, fill_few, fill_random};
  const size_t sizes[] = {1, 2, 3, 15, 16, 17, 100, 1001, 20000};
  double *orig = malloc(20000 * sizeof *orig);
  assert_non_null(orig);
  for (size_t f = 0; f < N_OF(fills); f++) {
    for (size_t s = 0; s < N_OF(sizes); s++) {
      fills[f](orig, sizes[s]);
      check_selection(orig, sizes[s]);
    }
  }
  free(orig);
}

static void first_last_delta_rate(void **state) {
  (void)state;
  const double v[] = {NAN, 10, NAN, 16, NAN};
  const int64_t ts[] = {0, 60000, 120000, 180000, 240000};
  const int64_t same[] = {0, 60000, 90000, 60000, 0};
  double out;
  size_t at;
  assert_int_equal(ub_stats_first(v, 5, &out, &at), UB_STATS_OK);
  assert_exact(out, 10.0);
  assert_int_equal(at, 1);
  assert_int_equal(ub_stats_delta(v, 5, &out), UB_STATS_OK);
  assert_exact(out, 6.0);
  assert_int_equal(ub_stats_rate(v, ts, 5, &out), UB_STATS_OK);
  assert_exact(out, 3.0); /* 6 over 2 minutes */
  assert_int_equal(ub_stats_rate(v, NULL, 5, &out), UB_STATS_NO_TIMESTAMPS);
  assert_int_equal(ub_stats_rate(v, same, 5, &out), UB_STATS_ZERO_SPAN);
}

static void relative_change(void **state) {
  (void)state;
  double out;
  assert_int_equal(ub_stats_relchange(110, 100, &out), UB_STATS_OK);
  assert_exact(out, 0.1);
  assert_int_equal(ub_stats_relchange(90, -100, &out), UB_STATS_OK);
  assert_exact(out, 1.9); /* against |baseline|: -100 to 90 is an increase */
  assert_int_equal(ub_stats_relchange(5, 0, &out), UB_STATS_ZERO_BASELINE);
  assert_int_equal(ub_stats_relchange(0, 0, &out), UB_STATS_ZERO_BASELINE);
  assert_int_equal(ub_stats_relchange(NAN, 1, &out), UB_STATS_BAD_ARGUMENT);
}

static ub_mw_result mw(const double *a, size_t n1, const double *b, size_t n2,
                       int allow_exact) {
  double *x = malloc((n1 + n2 + 1) * sizeof *x);
  size_t tl = ub_stats_mw_table_len(n1, n2);
  double *table = tl && allow_exact ? malloc(tl * sizeof *table) : NULL;
  assert_non_null(x);
  memcpy(x, a, n1 * sizeof *x);
  memcpy(x + n1, b, n2 * sizeof *x);
  ub_mw_result r;
  assert_int_equal(ub_stats_mannwhitney(x, n1, x + n1, n2, table, NULL, &r), UB_STATS_OK);
  free(table);
  free(x);
  return r;
}

static void mannwhitney_exact_small_samples(void **state) {
  (void)state;
  const double low[] = {1, 2, 3}, high[] = {6, 4, 5};
  ub_mw_result r = mw(low, 3, high, 3, 1);
  assert_true(r.exact);
  assert_exact(r.u, 0.0);
  assert_exact(r.u_b, 9.0);
  assert_exact(r.p, 0.1); /* 2 * 1/C(6,3) */
  assert_exact(r.effect, -1.0);
  assert_exact(r.cles, 0.0);
  r = mw(high, 3, low, 3, 1);
  assert_exact(r.u, 9.0);
  assert_exact(r.p, 0.1);
  assert_exact(r.effect, 1.0);
  /* 1 3 5 vs 2 4 6: U = 3; counts of U for 3x3: 1 1 2 3 3 3 3 2 1 1 */
  const double odd[] = {1, 3, 5}, even[] = {2, 4, 6};
  r = mw(odd, 3, even, 3, 1);
  assert_exact(r.u, 3.0);
  assert_exact(r.p, 0.7); /* 2 * (1+1+2+3)/20 */
  assert_near(r.effect, -1.0 / 3.0, 1e-15);
  const double five_lo[] = {1, 2, 3, 4, 5}, five_hi[] = {6, 7, 8, 9, 10};
  r = mw(five_lo, 5, five_hi, 5, 1);
  assert_near(r.p, 2.0 / 252.0, 1e-15);
  assert_int_equal(ub_stats_mw_table_len(3, 3), 5);
  assert_int_equal(ub_stats_mw_table_len(0, 3), 0);
  assert_int_equal(ub_stats_mw_table_len(1000, 1000), 0);
}

static void mannwhitney_normal_with_ties(void **state) {
  (void)state;
  /* pooled ranks: 1 | 2 2 2 -> 3 | 3 3 -> 5.5 | 4 -> 7 | 5 -> 8
   * R1 = 1 + 3 + 3 + 5.5 = 12.5, U = 12.5 - 10 = 2.5, ties 24 + 6 = 30
   * var = 16/12 * (9 - 30/56), z = (5.5 - 0.5)/sqrt(var) */
  const double a[] = {1, 2, 2, 3}, b[] = {2, 3, 4, 5};
  ub_mw_result r = mw(a, 4, b, 4, 1);
  assert_false(r.exact);
  assert_true(r.ties);
  assert_exact(r.u, 2.5);
  assert_exact(r.u_b, 13.5);
  assert_near(r.z, -1.4883513944689681, 1e-12);
  assert_near(r.p, 0.13665824773814753, 1e-12);
  assert_near(r.effect, 2 * 2.5 / 16 - 1, 1e-15);
}

static void mannwhitney_normal_large_and_degenerate(void **state) {
  (void)state;
  double a[300], b[300];
  for (int i = 0; i < 300; i++) {
    a[i] = i;
    b[i] = i + 0.5;
  }
  /* U = sum of i = 44850, mu 45000, var = 90000/12 * 601 */
  ub_mw_result r = mw(a, 300, b, 300, 1);
  assert_false(r.exact);
  assert_exact(r.u, 44850.0);
  assert_near(r.p, 0.9438623019928581, 1e-12);
  const double same[] = {3, 3, 3, 3};
  r = mw(same, 4, same, 4, 1);
  assert_exact(r.u, 8.0);
  assert_exact(r.p, 1.0);
  assert_exact(r.effect, 0.0);
  /* small sample forced to the normal approximation: U 0 of 9 */
  const double low[] = {1, 2, 3}, high[] = {4, 5, 6};
  r = mw(low, 3, high, 3, 0);
  assert_false(r.exact);
  assert_near(r.p, erfc((4.5 - 0.5) / sqrt(9.0 / 12.0 * 7.0) / sqrt(2.0)), 1e-15);
  double x[1] = {1}, out_dummy[1] = {0};
  ub_mw_result untouched;
  assert_int_equal(ub_stats_mannwhitney(x, 1, out_dummy, 0, NULL, NULL, &untouched),
                   UB_STATS_EMPTY);
}

static void count_ticks(void *ctx) { (*(int *)ctx)++; }

static void long_kernels_tick(void **state) {
  (void)state;
  size_t n = 1000000;
  double *x = malloc(n * sizeof *x);
  assert_non_null(x);
  fill_random(x, n);
  int ticks = 0;
  ub_tick t = {count_ticks, &ticks, 0};
  ub_stats_sort(x, n, &t);
  assert_true(ticks >= 10); /* n log n steps, one tick per 65536 */
  for (size_t i = 1; i < n; i++) assert_true(x[i - 1] <= x[i]);
  free(x);
}

/* 1..10^7 shuffled, every 1000th point preceded by a missing one */
static void ten_million_points(void **state) {
  (void)state;
  size_t n = 10000000, len = n + n / 1000;
  double *v = malloc(len * sizeof *v), *x = malloc(len * sizeof *x);
  assert_non_null(v);
  assert_non_null(x);
  for (size_t i = 0; i < n; i++) x[i] = (double)(i + 1);
  for (size_t i = n - 1; i > 0; i--) {
    size_t j = (size_t)(rng() % (i + 1));
    double t = x[i]; x[i] = x[j]; x[j] = t;
  }
  for (size_t i = 0, o = 0; i < n; i++) {
    if (i % 1000 == 0) v[o++] = NAN;
    v[o++] = x[i];
  }
  double out;
  assert_int_equal(ub_stats_count(v, len), n);
  assert_int_equal(ub_stats_sum(v, len, &out), UB_STATS_OK);
  assert_exact(out, 50000005000000.0); /* integers: exact in any order */
  assert_int_equal(ub_stats_mean(v, len, &out), UB_STATS_OK);
  assert_exact(out, 5000000.5);
  assert_int_equal(ub_stats_min(v, len, &out), UB_STATS_OK);
  assert_exact(out, 1.0);
  assert_int_equal(ub_stats_max(v, len, &out), UB_STATS_OK);
  assert_exact(out, 1e7);
  /* variance of 1..N: N (N + 1) / 12 */
  assert_int_equal(ub_stats_variance(v, len, 0, &out), UB_STATS_OK);
  assert_near(out, 1e7 * (1e7 + 1) / 12.0, 1e-12 * out);
  assert_exact(median(v, len), 5000000.5);
  assert_exact(pct(v, len, 90, UB_PCT_NEAREST), 9000000.0);
  assert_near(pct(v, len, 90, UB_PCT_LINEAR), 9000000.1, 1e-6); /* h 8999999.1 */
  assert_near(pct(v, len, 90, UB_PCT_KEPTN), 9000000.9, 1e-6);  /* pos 9000000.9 */
  free(v);
  free(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(missing_points_are_skipped),
      cmocka_unit_test(empty_input_is_a_status_not_zero),
      cmocka_unit_test(one_point),
      cmocka_unit_test(all_equal_values),
      cmocka_unit_test(negative_values),
      cmocka_unit_test(sums_are_strictly_left_to_right),
      cmocka_unit_test(percentile_keptn_definition),
      cmocka_unit_test(percentile_linear_definition),
      cmocka_unit_test(percentile_nearest_rank_definition),
      cmocka_unit_test(percentile_rejects_bad_p),
      cmocka_unit_test(infinities_do_not_become_nan),
      cmocka_unit_test(selection_matches_sorting_on_hostile_orders),
      cmocka_unit_test(first_last_delta_rate),
      cmocka_unit_test(relative_change),
      cmocka_unit_test(mannwhitney_exact_small_samples),
      cmocka_unit_test(mannwhitney_normal_with_ties),
      cmocka_unit_test(mannwhitney_normal_large_and_degenerate),
      cmocka_unit_test(long_kernels_tick),
      cmocka_unit_test(ten_million_points),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
