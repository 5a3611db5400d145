/* stats.h: aggregation kernels over packed double arrays (pure C, no Lua).
 *
 * kernels/ owns the numeric heart: the packed series layout (series.h) and
 * the statistics over it (stats.h). Pure C with no allocation of its own;
 * it may call nothing but libc and libm. lualib/ exposes it to policies.
 *
 * Conventions shared by every kernel (docs/stats.md says the same for
 * policy authors):
 * - A NaN value is a missing point. Kernels skip missing points; they never
 *   count them as zero.
 * - A kernel that has no point to work on returns UB_STATS_EMPTY and leaves
 *   *out untouched: there is no silent 0. ub_stats_count() is the exception:
 *   0 is a real count.
 * - Sums accumulate strictly left to right in double (no reassociation, no
 *   compensation), so a mean equals Python's sum(values) / len(values) bit
 *   for bit.
 * - The selection and sorting kernels work in place on an array that holds
 *   present values only (see ub_stats_gather) and may call a tick callback
 *   every few ten thousand element steps so a host can enforce a deadline
 *   (the callback may longjmp: the kernels hold no resources). */
#ifndef UB_STATS_H
#define UB_STATS_H

#include <stddef.h>
#include <stdint.h>

typedef enum ub_stats_status {
  UB_STATS_OK = 0,
  UB_STATS_EMPTY,          /* no present point */
  UB_STATS_TOO_FEW,        /* present points, but fewer than the kernel needs */
  UB_STATS_NO_TIMESTAMPS,  /* the kernel needs timestamps */
  UB_STATS_ZERO_SPAN,      /* first and last point share a timestamp */
  UB_STATS_ZERO_BASELINE,  /* relative change against a baseline of 0 */
  UB_STATS_BAD_ARGUMENT    /* p outside [0, 100], NaN input, unknown method */
} ub_stats_status;

/* A short English reason for a status ("empty series", ...). */
const char *ub_stats_reason(ub_stats_status st);

/* Progress callback for long kernels; fn may be NULL. work is internal. */
typedef struct ub_tick {
  void (*fn)(void *ctx);
  void *ctx;
  size_t work;
} ub_tick;

/* Percentile definitions (docs/stats.md §Percentile). */
typedef enum ub_pct_method {
  UB_PCT_NEAREST = 0,  /* nearest rank: smallest x with rank >= ceil(p/100*n) */
  UB_PCT_LINEAR,       /* interpolation at h = p/100*(n-1) (numpy default) */
  UB_PCT_KEPTN         /* Keptn lighthouse: pos = p/100*(n+1), clamped */
} ub_pct_method;

/* Name to method ("nearest", "linear", "keptn"); -1 if unknown. */
int ub_pct_method_from_name(const char *name);

/* Linear kernels over v[0..n), missing points skipped. */
size_t ub_stats_count(const double *v, size_t n);
ub_stats_status ub_stats_sum(const double *v, size_t n, double *out);
ub_stats_status ub_stats_mean(const double *v, size_t n, double *out);
ub_stats_status ub_stats_min(const double *v, size_t n, double *out);
ub_stats_status ub_stats_max(const double *v, size_t n, double *out);
/* Sample variance (divides by count - 1, needs 2 points) or, with
 * population set, population variance (divides by count). Two passes:
 * mean first, then the sum of squared deviations. */
ub_stats_status ub_stats_variance(const double *v, size_t n, int population,
                                  double *out);
ub_stats_status ub_stats_stddev(const double *v, size_t n, int population,
                                double *out);
/* First / last present value and its index. */
ub_stats_status ub_stats_first(const double *v, size_t n, double *out,
                               size_t *index);
ub_stats_status ub_stats_last(const double *v, size_t n, double *out,
                              size_t *index);
/* last - first present value; needs 2 present points. */
ub_stats_status ub_stats_delta(const double *v, size_t n, double *out);
/* delta per minute between the timestamps (ms) of the first and last
 * present points. ts may be NULL (UB_STATS_NO_TIMESTAMPS). */
ub_stats_status ub_stats_rate(const double *v, const int64_t *ts, size_t n,
                              double *out);
/* (value - baseline) / |baseline|; both must be numbers (not NaN). */
ub_stats_status ub_stats_relchange(double value, double baseline, double *out);

/* Copies the present values of v[0..n) to dst (room for n) in order and
 * returns how many there were. */
size_t ub_stats_gather(const double *v, size_t n, double *dst);

/* In-place kernels on x[0..m) holding present values only (no NaN). They
 * reorder x. Expected O(m), worst case O(m log m). */
double ub_stats_select(double *x, size_t m, size_t k, ub_tick *tick);
ub_stats_status ub_stats_percentile_inplace(double *x, size_t m, double p,
                                            ub_pct_method method,
                                            ub_tick *tick, double *out);
/* Middle value, or the mean of the two middle values for even m. */
ub_stats_status ub_stats_median_inplace(double *x, size_t m, ub_tick *tick,
                                        double *out);
/* Ascending sort, O(m log m) worst case. */
void ub_stats_sort(double *x, size_t m, ub_tick *tick);
/* Heapsort: the O(m log m) backstop of select and sort when partitions go
 * badly (exposed so tests can check it directly). */
void ub_stats_heap_sort(double *x, size_t m, ub_tick *tick);

/* Two-sided Mann-Whitney U test of a against b (docs/stats.md). */
typedef struct ub_mw_result {
  double u;        /* U of a: pairs (ai, bj) with ai > bj, ties count 1/2 */
  double u_b;      /* n1 * n2 - u */
  double p;        /* two-sided p-value */
  double z;        /* normal score (continuity corrected, signed); 0 if exact */
  double effect;   /* rank-biserial correlation 2u/(n1 n2) - 1, in [-1, 1] */
  double cles;     /* common-language effect size u / (n1 n2) = P(a > b) */
  size_t n1, n2;
  int exact;       /* 1: exact distribution, 0: normal approximation */
  int ties;        /* 1 if any value occurs more than once in the pool */
} ub_mw_result;

/* Doubles of the table the exact test needs for present counts n1, n2;
 * 0 when the exact distribution is out of reach (normal approximation). */
size_t ub_stats_mw_table_len(size_t n1, size_t n2);
/* a[0..n1) and b[0..n2) hold present values and are sorted in place.
 * table has ub_stats_mw_table_len(n1, n2) doubles (may be NULL when that
 * is 0, or to force the normal approximation). */
ub_stats_status ub_stats_mannwhitney(double *a, size_t n1, double *b, size_t n2,
                                     double *table, ub_tick *tick,
                                     ub_mw_result *out);

#endif
