/* bench_util.h: the clock and the median every benchmark program uses. */
#ifndef UB_BENCH_UTIL_H
#define UB_BENCH_UTIL_H

#include <stdlib.h>
#include <time.h>

#include "util/clock.h" /* ub_clock_seconds(): the one monotonic clock */

static inline int bench_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median of v[0..n-1] (sorts v in place). */
static inline double bench_median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif
