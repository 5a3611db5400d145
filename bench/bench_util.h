/* bench_util.h: the clock, the median and the short mode every benchmark
 * program uses. */
#ifndef UB_BENCH_UTIL_H
#define UB_BENCH_UTIL_H

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/clock.h" /* ub_clock_seconds(): the one monotonic clock */

/* The short mode: "--quick" among the arguments (taken out of argv) or
 * UB_BENCH_QUICK=1. It runs every part of the benchmark with the fewest
 * rounds and the smallest sizes, so that ctest (label "bench") proves the
 * program still runs to completion and prints its ratio lines; its figures
 * are not to be quoted and never asserted. */
static inline int bench_quick_mode(int *argc, char **argv) {
  int quick = 0, kept = 1;
  for (int i = 1; i < *argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) quick = 1;
    else argv[kept++] = argv[i];
  }
  *argc = kept;
  argv[kept] = NULL;
  const char *env = getenv("UB_BENCH_QUICK");
  return quick || (env && strcmp(env, "1") == 0);
}


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
