/* bench_stats.c: nanoseconds per point of every stats kernel for 10^3 to
 * 10^7 points, each compared, in the same run, with
 *   (a) the same statistic in plain Lua on a Lua table (embedded lua_State),
 *   (b) a plain C loop that only reads the array (the memory-bandwidth floor).
 * Data: uniform random doubles with 1% missing points (NaN in C, nil holes
 * in Lua). A block repeats a call until it lasts about 5 ms; every row runs
 * rounds of (read-only block, kernel block, Lua block) back to back and
 * prints medians: times over the rounds, ratios over the per-round ratios,
 * so load from other processes shifts both sides of a ratio alike. Kernels that select (median,
 * percentiles) include copying the present values to the scratch buffer,
 * as the Lua binding does. Build with -DCMAKE_BUILD_TYPE=Release.
 *
 * usage: bench_stats [max_points]   (default 10000000) */
#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lualib/lseries.h"
#include "kernels/stats.h"
#include "bench_util.h"

typedef struct bench_data {
  const double *values;
  size_t n;
  double *scratch; /* room for n + n/2 + 1 doubles */
} bench_data;

typedef double (*c_kernel)(const bench_data *d);

static volatile double sink; /* keeps results alive */

/* ---- C kernels as the binding runs them -------------------------------- */

static double k_floor(const bench_data *d) {
  uint64_t acc = 0;
  for (size_t i = 0; i < d->n; i++) {
    uint64_t bits;
    memcpy(&bits, &d->values[i], sizeof bits);
    acc ^= bits;
  }
  return (double)acc;
}

static double k_count(const bench_data *d) { return (double)ub_stats_count(d->values, d->n); }

#define LINEAR(name, call)                          \
  static double name(const bench_data *d) {         \
    double out = 0;                                 \
    (void)call;                                     \
    return out;                                     \
  }
LINEAR(k_sum, ub_stats_sum(d->values, d->n, &out))
LINEAR(k_mean, ub_stats_mean(d->values, d->n, &out))
LINEAR(k_min, ub_stats_min(d->values, d->n, &out))
LINEAR(k_max, ub_stats_max(d->values, d->n, &out))
LINEAR(k_variance, ub_stats_variance(d->values, d->n, 0, &out))

static double k_median(const bench_data *d) {
  double out = 0;
  size_t m = ub_stats_gather(d->values, d->n, d->scratch);
  (void)ub_stats_median_inplace(d->scratch, m, NULL, &out);
  return out;
}

static double pct(const bench_data *d, ub_pct_method method) {
  double out = 0;
  size_t m = ub_stats_gather(d->values, d->n, d->scratch);
  (void)ub_stats_percentile_inplace(d->scratch, m, 90, method, NULL, &out);
  return out;
}
static double k_p90_nearest(const bench_data *d) { return pct(d, UB_PCT_NEAREST); }
static double k_p90_linear(const bench_data *d) { return pct(d, UB_PCT_LINEAR); }
static double k_p90_keptn(const bench_data *d) { return pct(d, UB_PCT_KEPTN); }

static double k_mannwhitney(const bench_data *d) {
  size_t half = d->n / 2;
  size_t n1 = ub_stats_gather(d->values, half, d->scratch);
  size_t n2 = ub_stats_gather(d->values + half, d->n - half, d->scratch + n1);
  ub_mw_result r;
  if (ub_stats_mannwhitney(d->scratch, n1, d->scratch + n1, n2, NULL, NULL, &r) != UB_STATS_OK)
    return NAN;
  return r.p;
}

/* ---- plain Lua equivalents ---------------------------------------------- */

static const char *LUA_KERNELS =
    "local K = {}\n"
    "function K.count(t, n) local c = 0 for i = 1, n do if t[i] ~= nil then c = c + 1 end end return c end\n"
    "function K.sum(t, n) local s = 0.0 for i = 1, n do local v = t[i] if v ~= nil then s = s + v end end return s end\n"
    "function K.mean(t, n) local s, c = 0.0, 0\n"
    "  for i = 1, n do local v = t[i] if v ~= nil then s = s + v; c = c + 1 end end return s / c end\n"
    "function K.min(t, n) local m = math.huge\n"
    "  for i = 1, n do local v = t[i] if v ~= nil and v < m then m = v end end return m end\n"
    "function K.max(t, n) local m = -math.huge\n"
    "  for i = 1, n do local v = t[i] if v ~= nil and v > m then m = v end end return m end\n"
    "function K.variance(t, n) local m = K.mean(t, n) local ss, c = 0.0, 0\n"
    "  for i = 1, n do local v = t[i] if v ~= nil then ss = ss + (v - m) ^ 2; c = c + 1 end end\n"
    "  return ss / (c - 1) end\n"
    "local function sorted(t, from, to) local xs, m = {}, 0\n"
    "  for i = from, to do local v = t[i] if v ~= nil then m = m + 1; xs[m] = v end end\n"
    "  table.sort(xs) return xs, m end\n"
    "function K.median(t, n) local xs, m = sorted(t, 1, n)\n"
    "  if m % 2 == 1 then return xs[(m + 1) // 2] end return (xs[m // 2] + xs[m // 2 + 1]) / 2 end\n"
    "function K.p90_nearest(t, n) local xs, m = sorted(t, 1, n)\n"
    "  return xs[math.max(1, math.ceil(90 * m / 100))] end\n"
    "function K.p90_linear(t, n) local xs, m = sorted(t, 1, n)\n"
    "  local h = 90 * (m - 1) / 100 local lo = math.floor(h)\n"
    "  return xs[lo + 1] + (h - lo) * (xs[lo + 2] - xs[lo + 1]) end\n"
    "function K.p90_keptn(t, n) local xs, m = sorted(t, 1, n) local pos = 0.9 * (m + 1)\n"
    "  if pos < 1 then return xs[1] end if pos >= m then return xs[m] end local f = math.floor(pos)\n"
    "  return xs[f] + (pos - f) * (xs[f + 1] - xs[f]) end\n"
    "function K.mannwhitney(t, n) local half = n // 2\n"
    "  local a, n1 = sorted(t, 1, half) local b, n2 = sorted(t, half + 1, n)\n"
    "  local i, j, ranked, r1 = 1, 1, 0, 0.0\n"
    "  while i <= n1 or j <= n2 do\n"
    "    local v if j > n2 or (i <= n1 and a[i] <= b[j]) then v = a[i] else v = b[j] end\n"
    "    local ca, cb = 0, 0\n"
    "    while i <= n1 and a[i] == v do i = i + 1; ca = ca + 1 end\n"
    "    while j <= n2 and b[j] == v do j = j + 1; cb = cb + 1 end\n"
    "    r1 = r1 + ca * (ranked + (ca + cb + 1) / 2); ranked = ranked + ca + cb\n"
    "  end\n"
    "  return r1 - n1 * (n1 + 1) / 2 end\n"
    "function K.mod_mean(s) return s:mean() end\n"
    "function K.mod_p90_linear(s) return s:percentile(90, 'linear') end\n"
    "return K\n";

typedef struct lua_bench {
  lua_State *L;
  int kernels;  /* registry refs */
  int table;
  int series;
} lua_bench;

static void die(const char *what, const char *why) {
  fprintf(stderr, "bench_stats: %s: %s\n", what, why);
  exit(1);
}

static void lua_setup(lua_bench *lb, const double *v, size_t n) {
  lua_State *L = luaL_newstate();
  if (!L) die("lua", "cannot create a state");
  luaL_openlibs(L);
  luaL_requiref(L, "unbreakable.stats", luaopen_unbreakable_stats, 0);
  lua_pop(L, 1);
  if (luaL_dostring(L, LUA_KERNELS) != LUA_OK) die("lua kernels", lua_tostring(L, -1));
  lb->kernels = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    if (isnan(v[i])) continue;
    lua_pushnumber(L, v[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lb->table = luaL_ref(L, LUA_REGISTRYINDEX);
  ub_series *s = ub_lua_newseries(L, n, 0);
  memcpy(s->values, v, n * sizeof *v);
  lb->series = luaL_ref(L, LUA_REGISTRYINDEX);
  lb->L = L;
}

/* One call of kernel name: on the table (t, n) or, for mod_*, the series. */
static void lua_call_kernel(lua_bench *lb, const char *name, size_t n) {
  lua_State *L = lb->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, lb->kernels);
  lua_getfield(L, -1, name);
  int nargs = 1;
  if (strncmp(name, "mod_", 4) == 0) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, lb->series);
  } else {
    lua_rawgeti(L, LUA_REGISTRYINDEX, lb->table);
    lua_pushinteger(L, (lua_Integer)n);
    nargs = 2;
  }
  if (lua_pcall(L, nargs, 1, 0) != LUA_OK) die(name, lua_tostring(L, -1));
  sink = lua_tonumber(L, -1);
  lua_pop(L, 2);
}

/* ---- timing -------------------------------------------------------------- */

typedef struct runner {
  c_kernel c;           /* C kernel, or NULL */
  const char *lua_name; /* Lua kernel name, or NULL */
  const bench_data *d;
  lua_bench *lb;
} runner;

static void run_once(const runner *r) {
  if (r->c) sink = r->c(r->d);
  else lua_call_kernel(r->lb, r->lua_name, r->d->n);
}

/* Calls per timed block so that a block lasts about 5 ms (at least one). */
static long calibrate(const runner *r) {
  double t0 = ub_clock_seconds();
  run_once(r); /* also the warm-up */
  double one = ub_clock_seconds() - t0;
  long inner = one > 0 ? (long)(5e-3 / one) : 1000;
  return inner < 1 ? 1 : inner;
}

/* Seconds per call over one block of inner calls. */
static double time_block(const runner *r, long inner) {
  double start = ub_clock_seconds();
  for (long i = 0; i < inner; i++) run_once(r);
  return (ub_clock_seconds() - start) / (double)inner;
}

typedef struct row_timing {
  double kernel_s, lua_s, floor_s; /* medians, seconds per call */
  double lua_ratio, floor_ratio;   /* medians of per-round ratios */
} row_timing;

enum { MAX_ROUNDS = 15 };

/* Rounds of (read-only block, kernel block[, Lua block]) back to back: each
 * ratio compares blocks measured moments apart, so a change of load on the
 * shared machine between rows or sizes does not skew it. lua may be NULL. */
static row_timing time_row(const runner *kernel, const runner *lua,
                           const runner *floor_r, int rounds, int lua_rounds) {
  double tk[MAX_ROUNDS], tl[MAX_ROUNDS], tf[MAX_ROUNDS], rl[MAX_ROUNDS], rf[MAX_ROUNDS];
  long ik = calibrate(kernel), il = lua ? calibrate(lua) : 0, iff = calibrate(floor_r);
  if (rounds > MAX_ROUNDS) rounds = MAX_ROUNDS;
  if (lua_rounds > rounds) lua_rounds = rounds;
  for (int b = 0; b < rounds; b++) {
    tf[b] = time_block(floor_r, iff);
    tk[b] = time_block(kernel, ik);
    rf[b] = tk[b] / tf[b];
    if (lua && b < lua_rounds) {
      tl[b] = time_block(lua, il);
      rl[b] = tl[b] / tk[b];
    }
  }
  row_timing t = {0};
  t.kernel_s = bench_median(tk, rounds);
  t.floor_s = bench_median(tf, rounds);
  t.floor_ratio = bench_median(rf, rounds);
  if (lua) {
    t.lua_s = bench_median(tl, lua_rounds);
    t.lua_ratio = bench_median(rl, lua_rounds);
  }
  return t;
}

typedef struct kernel_row {
  const char *name;
  c_kernel c;
  const char *lua;    /* same statistic in plain Lua */
  int sorts_in_lua;   /* the Lua version sorts: fewer repetitions */
} kernel_row;

static const kernel_row ROWS[] = {
    {"count", k_count, "count", 0},
    {"sum", k_sum, "sum", 0},
    {"mean", k_mean, "mean", 0},
    {"min", k_min, "min", 0},
    {"max", k_max, "max", 0},
    {"variance", k_variance, "variance", 0},
    {"median", k_median, "median", 1},
    {"p90 nearest", k_p90_nearest, "p90_nearest", 1},
    {"p90 linear", k_p90_linear, "p90_linear", 1},
    {"p90 keptn", k_p90_keptn, "p90_keptn", 1},
    {"mannwhitney", k_mannwhitney, "mannwhitney", 1},
};

static void print_row(const char *name, const row_timing *t, size_t n) {
  printf("%-22s %10.3f %12.2f %11.1fx %14.2f\n", name, t->kernel_s * 1e9 / (double)n,
         t->lua_s * 1e9 / (double)n, t->lua_ratio, t->floor_ratio);
}

static void bench_size(size_t n, const double *v, double *scratch, int quick) {
  bench_data d = {v, n, scratch};
  lua_bench lb;
  lua_setup(&lb, v, n);
  int big = n >= 10000000;
  int rounds = big ? 5 : 9, lua_rounds = big ? 3 : n >= 1000000 ? 5 : 9;
  if (quick) rounds = lua_rounds = 3;
  runner floor_r = {k_floor, NULL, &d, &lb};
  row_timing fl = time_row(&floor_r, NULL, &floor_r, rounds, 0);
  printf("\nn = %zu  (medians of %d rounds; Lua: %d rounds, %s for sorting kernels)\n", n,
         rounds, lua_rounds, big ? "1 round" : "the same");
  printf("%-22s %10s %12s %12s %14s\n", "kernel", "ns/point", "Lua ns/point", "Lua / C",
         "C / read floor");
  printf("%-22s %10.3f %12s %12s %14.2f\n", "read-only C loop", fl.kernel_s * 1e9 / (double)n,
         "-", "-", 1.0);
  for (size_t k = 0; k < sizeof ROWS / sizeof ROWS[0]; k++) {
    runner cr = {ROWS[k].c, NULL, &d, &lb}, lr = {NULL, ROWS[k].lua, &d, &lb};
    row_timing t = time_row(&cr, &lr, &floor_r, rounds,
                            ROWS[k].sorts_in_lua && big ? 1 : lua_rounds);
    print_row(ROWS[k].name, &t, n);
  }
  /* the same kernels called from Lua through the module */
  const struct { const char *name, *mod, *lua; int sorts; } via[] = {
      {"mean via module", "mod_mean", "mean", 0},
      {"p90 linear via module", "mod_p90_linear", "p90_linear", 1}};
  for (size_t k = 0; k < 2; k++) {
    runner mr = {NULL, via[k].mod, &d, &lb}, lr = {NULL, via[k].lua, &d, &lb};
    row_timing t = time_row(&mr, &lr, &floor_r, rounds, via[k].sorts && big ? 1 : lua_rounds);
    print_row(via[k].name, &t, n);
  }
  fflush(stdout);
  lua_close(lb.L);
}

int main(int argc, char **argv) {
  int quick = bench_quick_mode(&argc, argv);
  size_t max_n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : quick ? 1000 : 10000000;
  if (max_n < 1000) max_n = 1000;
  double *v = malloc(max_n * sizeof *v), *scratch = malloc((max_n + 1) * sizeof *v);
  if (!v || !scratch) die("memory", "cannot allocate the arrays");
  uint64_t state = 0x2545F4914F6CDD1Dull;
  for (size_t i = 0; i < max_n; i++) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    v[i] = (state % 100 == 0) ? NAN : (double)(state >> 11) * 0x1p-53 * 1e6;
  }
  printf("bench_stats: ns per point (lower is better); 'Lua / C' = how many times\n"
         "faster the C kernel is than the same statistic in plain Lua on a table;\n"
         "'C / read floor' = C kernel time over a C loop that only reads the array.\n");
  for (size_t n = 1000; n <= max_n; n *= 10) bench_size(n, v, scratch, quick);
  free(v);
  free(scratch);
  return 0;
}
