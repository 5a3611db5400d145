/* stats.c: aggregation kernels over packed double arrays (see stats.h for
 * the conventions: NaN is missing, empty input is a status, strict
 * left-to-right sums, in-place selection with a progress tick). */
#include "kernels/stats.h"

#include <math.h>
#include <string.h>

typedef ptrdiff_t idx_t;

enum {
  TICK_EVERY = 1 << 16,     /* element steps between two tick callbacks */
  SMALL_SORT = 16,          /* ranges sorted by insertion */
  MW_EXACT_MAX_K = 1 << 16  /* largest half-range of U for the exact test */
};

/* 2^52: exact-test counts stay integers below 2^53 in a double. */
static const double MW_EXACT_MAX_COUNT = 4503599627370496.0;

const char *ub_stats_reason(ub_stats_status st) {
  switch (st) {
  case UB_STATS_OK: return "ok";
  case UB_STATS_EMPTY: return "empty series";
  case UB_STATS_TOO_FEW: return "needs at least 2 points";
  case UB_STATS_NO_TIMESTAMPS: return "series has no timestamps";
  case UB_STATS_ZERO_SPAN: return "first and last points have the same timestamp";
  case UB_STATS_ZERO_BASELINE: return "baseline is zero";
  case UB_STATS_BAD_ARGUMENT: return "bad argument";
  }
  return "unknown status";
}

int ub_pct_method_from_name(const char *name) {
  if (!name) return -1;
  if (strcmp(name, "nearest") == 0) return UB_PCT_NEAREST;
  if (strcmp(name, "linear") == 0) return UB_PCT_LINEAR;
  if (strcmp(name, "keptn") == 0) return UB_PCT_KEPTN;
  return -1;
}

static void tick_add(ub_tick *t, size_t work) {
  if (!t || !t->fn) return;
  t->work += work;
  if (t->work >= TICK_EVERY) {
    t->work = 0;
    t->fn(t->ctx);
  }
}

/* ---- linear kernels ---------------------------------------------------- */

/* The linear kernels walk the array in chunks of one cache line and ask
 * for the line PREFETCH_AHEAD values ahead: a sum is one dependent chain of
 * additions, so without the hint it stalls on every DRAM miss instead of
 * running at memory bandwidth (bench/bench_stats.c measures both). */
enum { CHUNK = 8, PREFETCH_AHEAD = 256 };
#if defined(__GNUC__)
#define PREFETCH(v, i, n) \
  do { if ((i) + PREFETCH_AHEAD < (n)) __builtin_prefetch((v) + (i) + PREFETCH_AHEAD); } while (0)
#else
#define PREFETCH(v, i, n) ((void)0)
#endif

size_t ub_stats_count(const double *v, size_t n) {
  size_t c = 0, i = 0;
  for (; i + CHUNK <= n; i += CHUNK) {
    PREFETCH(v, i, n);
    for (size_t j = i; j < i + CHUNK; j++) c += v[j] == v[j];
  }
  for (; i < n; i++) c += v[i] == v[i];
  return c;
}

/* Adding +0.0 in place of a missing point leaves the sum bit-identical to
 * skipping it: starting from +0.0 under round-to-nearest the running sum
 * is never -0.0, and s + 0.0 == s for every other s. This keeps the loop
 * free of branches while preserving strict left-to-right order. */
static void add_present(double x, double *s, size_t *c) {
  int present = x == x;
  *c += (size_t)present;
  *s += present ? x : 0.0;
}

static double sum_present(const double *v, size_t n, size_t *count) {
  double s = 0.0;
  size_t c = 0, i = 0;
  for (; i + CHUNK <= n; i += CHUNK) {
    PREFETCH(v, i, n);
    for (size_t j = i; j < i + CHUNK; j++) add_present(v[j], &s, &c);
  }
  for (; i < n; i++) add_present(v[i], &s, &c);
  *count = c;
  return s;
}

ub_stats_status ub_stats_sum(const double *v, size_t n, double *out) {
  size_t c;
  double s = sum_present(v, n, &c);
  if (c == 0) return UB_STATS_EMPTY;
  *out = s;
  return UB_STATS_OK;
}

ub_stats_status ub_stats_mean(const double *v, size_t n, double *out) {
  size_t c;
  double s = sum_present(v, n, &c);
  if (c == 0) return UB_STATS_EMPTY;
  *out = s / (double)c;
  return UB_STATS_OK;
}

/* Minimum (sign = 1) or maximum (sign = -1) over four independent lanes;
 * NaN compares false, so missing points never replace a lane's value. The
 * order of comparisons cannot change the result (only -0.0 against +0.0
 * may come out either way; they compare equal). */
static ub_stats_status extreme(const double *v, size_t n, double sign, double *out) {
  double lane[4] = {INFINITY, INFINITY, INFINITY, INFINITY};
  size_t c = 0, i = 0;
  for (; i + CHUNK <= n; i += CHUNK) {
    PREFETCH(v, i, n);
    for (size_t j = i; j < i + CHUNK; j++) {
      double x = sign * v[j];
      c += x == x;
      lane[j & 3] = x < lane[j & 3] ? x : lane[j & 3];
    }
  }
  for (; i < n; i++) {
    double x = sign * v[i];
    c += x == x;
    lane[0] = x < lane[0] ? x : lane[0];
  }
  if (c == 0) return UB_STATS_EMPTY;
  double m = lane[0];
  for (int k = 1; k < 4; k++) m = lane[k] < m ? lane[k] : m;
  *out = sign * m;
  return UB_STATS_OK;
}

ub_stats_status ub_stats_min(const double *v, size_t n, double *out) {
  return extreme(v, n, 1.0, out);
}

ub_stats_status ub_stats_max(const double *v, size_t n, double *out) {
  return extreme(v, n, -1.0, out);
}

/* Second pass of the variance: squared deviations from mean, their plain
 * sum (the rounding error of the mean) and whether every present value
 * equals first. */
typedef struct deviations {
  double ss, sd;
  int all_equal;
} deviations;

static void add_deviation(double x, double mean, double first, deviations *acc) {
  int present = x == x;
  double d = present ? x - mean : 0.0;
  acc->ss += d * d;
  acc->sd += d;
  acc->all_equal &= !present | (x == first);
}

/* Corrected two-pass algorithm: (sum d^2 - (sum d)^2 / c) over c or c - 1
 * with d = x - mean. Values that are all equal give exactly 0. */
ub_stats_status ub_stats_variance(const double *v, size_t n, int population,
                                  double *out) {
  size_t c;
  double mean = sum_present(v, n, &c), first = 0.0;
  if (c == 0) return UB_STATS_EMPTY;
  if (c == 1 && !population) return UB_STATS_TOO_FEW;
  mean /= (double)c;
  (void)ub_stats_first(v, n, &first, NULL);
  deviations acc = {0.0, 0.0, 1};
  size_t i = 0;
  for (; i + CHUNK <= n; i += CHUNK) {
    PREFETCH(v, i, n);
    for (size_t j = i; j < i + CHUNK; j++) add_deviation(v[j], mean, first, &acc);
  }
  for (; i < n; i++) add_deviation(v[i], mean, first, &acc);
  if (acc.all_equal) {
    *out = 0.0;
    return UB_STATS_OK;
  }
  double var = (acc.ss - acc.sd * acc.sd / (double)c) / (double)(population ? c : c - 1);
  *out = var < 0.0 ? 0.0 : var;
  return UB_STATS_OK;
}

ub_stats_status ub_stats_stddev(const double *v, size_t n, int population,
                                double *out) {
  double var;
  ub_stats_status st = ub_stats_variance(v, n, population, &var);
  if (st != UB_STATS_OK) return st;
  *out = sqrt(var);
  return UB_STATS_OK;
}

ub_stats_status ub_stats_first(const double *v, size_t n, double *out,
                               size_t *index) {
  for (size_t i = 0; i < n; i++) {
    if (v[i] == v[i]) {
      *out = v[i];
      if (index) *index = i;
      return UB_STATS_OK;
    }
  }
  return UB_STATS_EMPTY;
}

ub_stats_status ub_stats_last(const double *v, size_t n, double *out,
                              size_t *index) {
  for (size_t i = n; i-- > 0;) {
    if (v[i] == v[i]) {
      *out = v[i];
      if (index) *index = i;
      return UB_STATS_OK;
    }
  }
  return UB_STATS_EMPTY;
}

/* Finds the first and last present points; TOO_FEW when they coincide. */
static ub_stats_status ends(const double *v, size_t n, size_t *i0, size_t *i1) {
  double a, b;
  if (ub_stats_first(v, n, &a, i0) != UB_STATS_OK) return UB_STATS_EMPTY;
  (void)ub_stats_last(v, n, &b, i1);
  return *i0 == *i1 ? UB_STATS_TOO_FEW : UB_STATS_OK;
}

ub_stats_status ub_stats_delta(const double *v, size_t n, double *out) {
  size_t i0, i1;
  ub_stats_status st = ends(v, n, &i0, &i1);
  if (st != UB_STATS_OK) return st;
  *out = v[i1] - v[i0];
  return UB_STATS_OK;
}

ub_stats_status ub_stats_rate(const double *v, const int64_t *ts, size_t n,
                              double *out) {
  if (!ts) return UB_STATS_NO_TIMESTAMPS;
  size_t i0, i1;
  ub_stats_status st = ends(v, n, &i0, &i1);
  if (st != UB_STATS_OK) return st;
  double minutes = ((double)ts[i1] - (double)ts[i0]) / 60000.0;
  if (minutes == 0.0) return UB_STATS_ZERO_SPAN;
  *out = (v[i1] - v[i0]) / minutes;
  return UB_STATS_OK;
}

ub_stats_status ub_stats_relchange(double value, double baseline, double *out) {
  if (isnan(value) || isnan(baseline)) return UB_STATS_BAD_ARGUMENT;
  if (baseline == 0.0) return UB_STATS_ZERO_BASELINE;
  *out = (value - baseline) / fabs(baseline);
  return UB_STATS_OK;
}

size_t ub_stats_gather(const double *v, size_t n, double *dst) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++) {
    if ((i & (CHUNK - 1)) == 0) PREFETCH(v, i, n);
    double x = v[i];
    dst[c] = x;
    c += x == x;
  }
  return c;
}

/* ---- sorting and selection --------------------------------------------- */

static void swap_d(double *a, double *b) {
  double t = *a;
  *a = *b;
  *b = t;
}

static void sift_down(double *x, size_t root, size_t n) {
  for (;;) {
    size_t child = 2 * root + 1;
    if (child >= n) return;
    if (child + 1 < n && x[child] < x[child + 1]) child++;
    if (!(x[root] < x[child])) return;
    swap_d(&x[root], &x[child]);
    root = child;
  }
}

/* The O(n log n) backstop of the selection and sort loops. */
void ub_stats_heap_sort(double *x, size_t n, ub_tick *tick) {
  for (size_t i = n / 2; i-- > 0;) sift_down(x, i, n);
  for (size_t end = n; end-- > 1;) {
    swap_d(&x[0], &x[end]);
    sift_down(x, 0, end);
    if ((end & 1023) == 0) tick_add(tick, 1024);
  }
}

static void insertion_sort(double *x, size_t n) {
  for (size_t i = 1; i < n; i++) {
    double v = x[i];
    size_t j = i;
    for (; j > 0 && v < x[j - 1]; j--) x[j] = x[j - 1];
    x[j] = v;
  }
}

static double median_of_3(double a, double b, double c) {
  if (a < b) {
    if (b < c) return b;
    return a < c ? c : a;
  }
  if (a < c) return a;
  return b < c ? c : b;
}

/* Branch-free partition of x[lo..hi]: moves the values < pivot (or <=
 * pivot with or_equal) to the front and returns the index where the rest
 * starts. Every value is swapped with x[store], and store advances only
 * when the value belongs to the front; invariant: x[lo..store) belong to
 * the front, x[store..i) do not. Without data-dependent branches it runs
 * several times faster than a Hoare scan on unpredictable data. */
static idx_t partition_front(double *x, idx_t lo, idx_t hi, double pivot,
                             int or_equal) {
  idx_t store = lo;
  if (or_equal) {
    for (idx_t i = lo; i <= hi; i++) {
      double v = x[i];
      x[i] = x[store];
      x[store] = v;
      store += v <= pivot;
    }
  } else {
    for (idx_t i = lo; i <= hi; i++) {
      double v = x[i];
      x[i] = x[store];
      x[store] = v;
      store += v < pivot;
    }
  }
  return store;
}

/* Splits x[lo..hi] around pivot (a value present in the range) into
 * x[lo..*lt) < pivot and x[*ge..hi] >= pivot with progress guaranteed:
 * both parts are smaller than the range. When nothing is below the pivot
 * (it is the minimum), the block equal to it is split off as well:
 * x[lo..*ge) == pivot then, with *ge > lo. */
static void split(double *x, idx_t lo, idx_t hi, double pivot, idx_t *lt,
                  idx_t *ge) {
  idx_t store = partition_front(x, lo, hi, pivot, 0);
  *lt = store;
  *ge = store > lo ? store : partition_front(x, lo, hi, pivot, 1);
}

static unsigned log2_floor(size_t n) {
  unsigned l = 0;
  while (n >>= 1) l++;
  return l;
}

/* Deterministic xorshift: replaces the median-of-3 positions after a bad
 * split, so inputs built against first/middle/last pivots stay linear. */
static size_t next_random(uint64_t *state) {
  uint64_t s = *state;
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  *state = s;
  return (size_t)s;
}

static double choose_pivot(const double *x, idx_t lo, idx_t hi, int random,
                           uint64_t *state) {
  size_t span = (size_t)(hi - lo + 1);
  if (!random) return median_of_3(x[lo], x[lo + (hi - lo) / 2], x[hi]);
  return median_of_3(x[lo + (idx_t)(next_random(state) % span)],
                     x[lo + (idx_t)(next_random(state) % span)],
                     x[lo + (idx_t)(next_random(state) % span)]);
}

double ub_stats_select(double *x, size_t m, size_t k, ub_tick *tick) {
  if (k >= m) return NAN;
  idx_t lo = 0, hi = (idx_t)m - 1, target = (idx_t)k;
  unsigned partitions_left = 4 * log2_floor(m) + 16;
  uint64_t state = 0x9E3779B97F4A7C15ull ^ m;
  int random = 0;
  while (hi > lo) {
    if (hi - lo + 1 <= SMALL_SORT) {
      insertion_sort(x + lo, (size_t)(hi - lo + 1));
      break;
    }
    if (partitions_left-- == 0) {
      ub_stats_heap_sort(x + lo, (size_t)(hi - lo + 1), tick);
      break;
    }
    tick_add(tick, (size_t)(hi - lo + 1));
    idx_t lt, ge, before = hi - lo + 1;
    split(x, lo, hi, choose_pivot(x, lo, hi, random, &state), &lt, &ge);
    if (target < lt) hi = lt - 1;
    else if (target >= ge) lo = ge;
    else break; /* lt <= target < ge only for the block equal to the pivot */
    random = (hi - lo + 1) > before / 4 * 3;
  }
  return x[k];
}

static void sort_range(double *x, idx_t lo, idx_t hi, unsigned depth,
                       ub_tick *tick) {
  while (hi - lo + 1 > SMALL_SORT) {
    if (depth-- == 0) {
      ub_stats_heap_sort(x + lo, (size_t)(hi - lo + 1), tick);
      return;
    }
    tick_add(tick, (size_t)(hi - lo + 1));
    idx_t lt, ge;
    split(x, lo, hi, median_of_3(x[lo], x[lo + (hi - lo) / 2], x[hi]), &lt, &ge);
    if (lt - lo < hi - ge) { /* recurse into the smaller part, loop on the other */
      sort_range(x, lo, lt - 1, depth, tick);
      lo = ge;
    } else {
      sort_range(x, ge, hi, depth, tick);
      hi = lt - 1;
    }
  }
  if (hi > lo) insertion_sort(x + lo, (size_t)(hi - lo + 1));
}

void ub_stats_sort(double *x, size_t m, ub_tick *tick) {
  if (m < 2) return;
  sort_range(x, 0, (idx_t)m - 1, 2 * log2_floor(m) + 2, tick);
}

/* ---- percentiles --------------------------------------------------------- */

static double min_of(const double *x, size_t n) {
  double m = x[0];
  for (size_t i = 1; i < n; i++) m = x[i] < m ? x[i] : m;
  return m;
}

/* lower + frac * (upper - lower) where lower is the (lo+1)-th smallest and
 * upper the next one. Equal or infinite ends return the end itself. */
static double interpolate(double *x, size_t m, size_t lo, double frac,
                          ub_tick *tick) {
  double lower = ub_stats_select(x, m, lo, tick);
  if (frac == 0.0 || lo + 1 >= m) return lower;
  double upper = min_of(x + lo + 1, m - lo - 1);
  if (upper == lower || isinf(lower)) return lower;
  if (isinf(upper)) return upper;
  return lower + frac * (upper - lower);
}

static double nearest_rank(double *x, size_t m, double p, ub_tick *tick) {
  double r = ceil(p * (double)m / 100.0);
  size_t rank = r < 1.0 ? 1 : (size_t)r;
  if (rank > m) rank = m;
  return ub_stats_select(x, m, rank - 1, tick);
}

static double linear_rank(double *x, size_t m, double p, ub_tick *tick) {
  double h = p * (double)(m - 1) / 100.0;
  double lo = floor(h);
  return interpolate(x, m, (size_t)lo, h - lo, tick);
}

/* docs/reference/keptn-slo.md §6.3, with p/100 computed first so that p = 90 reproduces
 * Keptn's p = 0.9 bit for bit. */
static double keptn_rank(double *x, size_t m, double p, ub_tick *tick) {
  double pos = p / 100.0 * (double)(m + 1);
  if (pos < 1.0) return ub_stats_select(x, m, 0, tick);
  if (pos >= (double)m) return ub_stats_select(x, m, m - 1, tick);
  double whole = floor(pos);
  return interpolate(x, m, (size_t)whole - 1, pos - whole, tick);
}

ub_stats_status ub_stats_percentile_inplace(double *x, size_t m, double p,
                                            ub_pct_method method,
                                            ub_tick *tick, double *out) {
  if (!(p >= 0.0 && p <= 100.0)) return UB_STATS_BAD_ARGUMENT;
  if (m == 0) return UB_STATS_EMPTY;
  switch (method) {
  case UB_PCT_NEAREST: *out = nearest_rank(x, m, p, tick); return UB_STATS_OK;
  case UB_PCT_LINEAR: *out = linear_rank(x, m, p, tick); return UB_STATS_OK;
  case UB_PCT_KEPTN: *out = keptn_rank(x, m, p, tick); return UB_STATS_OK;
  }
  return UB_STATS_BAD_ARGUMENT;
}

ub_stats_status ub_stats_median_inplace(double *x, size_t m, ub_tick *tick,
                                        double *out) {
  if (m == 0) return UB_STATS_EMPTY;
  if (m % 2 == 1) {
    *out = ub_stats_select(x, m, m / 2, tick);
    return UB_STATS_OK;
  }
  double a = ub_stats_select(x, m, m / 2 - 1, tick);
  double b = min_of(x + m / 2, m / 2);
  double mid = a == b ? a : (a + b) / 2.0;
  if (isinf(mid) && isfinite(a) && isfinite(b)) mid = a / 2.0 + b / 2.0;
  *out = mid;
  return UB_STATS_OK;
}

/* ---- Mann-Whitney U -------------------------------------------------------- */

size_t ub_stats_mw_table_len(size_t n1, size_t n2) {
  if (n1 == 0 || n2 == 0) return 0;
  size_t small = n1 < n2 ? n1 : n2, large = n1 < n2 ? n2 : n1;
  if (large > (size_t)2 * MW_EXACT_MAX_K / small) return 0;
  double count = 1.0; /* C(large + i, i), grows monotonically */
  for (size_t i = 1; i <= small; i++) {
    count = count * (double)(large + i) / (double)i;
    if (count > MW_EXACT_MAX_COUNT) return 0;
  }
  return n1 * n2 / 2 + 1;
}

/* Sum of ranks of a in the pooled sample (average ranks for ties) and the
 * tie term sum(t^3 - t) over tie groups. a and b are sorted. */
static double rank_sum(const double *a, size_t n1, const double *b, size_t n2,
                       double *tie_term) {
  size_t i = 0, j = 0;
  double ranked = 0.0, r1 = 0.0, tt = 0.0;
  while (i < n1 || j < n2) {
    double v = (j >= n2 || (i < n1 && a[i] <= b[j])) ? a[i] : b[j];
    size_t ca = 0, cb = 0;
    while (i < n1 && a[i] == v) { i++; ca++; }
    while (j < n2 && b[j] == v) { j++; cb++; }
    double t = (double)(ca + cb);
    r1 += (double)ca * (ranked + (t + 1.0) / 2.0);
    if (t > 1.0) tt += t * t * t - t;
    ranked += t;
  }
  *tie_term = tt;
  return r1;
}

/* Counts of U = 0..K for sizes (n1, n2) without ties: coefficients of the
 * Gaussian binomial [n1+n2 choose n1]_q = prod (1 - q^(large+i)) /
 * (1 - q^i), as power series truncated after q^K. Every intermediate is an
 * integer below 2^53 (ub_stats_mw_table_len checks the total). */
static void mw_counts(size_t n1, size_t n2, double *c, size_t K) {
  size_t small = n1 < n2 ? n1 : n2, large = n1 < n2 ? n2 : n1;
  memset(c, 0, (K + 1) * sizeof *c);
  c[0] = 1.0;
  for (size_t i = 1; i <= small; i++) {
    size_t d = large + i;
    for (size_t k = K; k >= d && k <= K; k--) c[k] -= c[k - d];
    for (size_t k = i; k <= K; k++) c[k] += c[k - i];
  }
}

static double mw_exact_p(size_t n1, size_t n2, double u_min, double *table) {
  size_t K = n1 * n2 / 2;
  mw_counts(n1, n2, table, K);
  double below = 0.0, total;
  size_t umin = (size_t)u_min;
  for (size_t k = 0; k <= umin && k <= K; k++) below += table[k];
  double half = 0.0;
  for (size_t k = 0; k < K; k++) half += table[k];
  /* symmetric distribution: counts of k and n1*n2 - k are equal */
  total = (n1 * n2) % 2 == 0 ? 2.0 * half + table[K] : 2.0 * (half + table[K]);
  double p = 2.0 * below / total;
  return p > 1.0 ? 1.0 : p;
}

static void mw_normal(ub_mw_result *r, double tie_term) {
  double n1 = (double)r->n1, n2 = (double)r->n2, n = n1 + n2;
  double var = n1 * n2 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)));
  r->z = 0.0;
  r->p = 1.0;
  if (!(var > 0.0)) return; /* every value equal: no evidence either way */
  double d = r->u - n1 * n2 / 2.0;
  double z = (fabs(d) - 0.5) / sqrt(var);
  if (z < 0.0) z = 0.0;
  double p = erfc(z / 1.4142135623730951);
  r->p = p > 1.0 ? 1.0 : p;
  r->z = d < 0.0 ? -z : z;
}

ub_stats_status ub_stats_mannwhitney(double *a, size_t n1, double *b, size_t n2,
                                     double *table, ub_tick *tick,
                                     ub_mw_result *out) {
  if (n1 == 0 || n2 == 0) return UB_STATS_EMPTY;
  ub_stats_sort(a, n1, tick);
  ub_stats_sort(b, n2, tick);
  double tie_term;
  double r1 = rank_sum(a, n1, b, n2, &tie_term);
  double pairs = (double)n1 * (double)n2;
  ub_mw_result r = {0};
  r.n1 = n1;
  r.n2 = n2;
  r.u = r1 - (double)n1 * ((double)n1 + 1.0) / 2.0;
  r.u_b = pairs - r.u;
  r.ties = tie_term > 0.0;
  r.effect = 2.0 * r.u / pairs - 1.0;
  r.cles = r.u / pairs;
  if (!r.ties && table && ub_stats_mw_table_len(n1, n2) > 0) {
    r.exact = 1;
    r.p = mw_exact_p(n1, n2, r.u < r.u_b ? r.u : r.u_b, table);
  } else {
    mw_normal(&r, tie_term);
  }
  *out = r;
  return UB_STATS_OK;
}
