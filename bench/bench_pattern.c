/* bench_pattern.c: time per call of the budgeted string functions
 * (sb_strlib.c) against stock Lua 5.4's, measured in the same run and the
 * same lua_State, for typical patterns on 1 KiB to 1 MiB subjects, plus
 * table.sort. Prints the median of 5 rounds and the ratio ours/stock
 * (goal: within ~1.5x). Usage: bench_pattern [rounds] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lualib.h>

#include "sandbox/sb_strlib.h"
#include "bench_util.h"

#define ROUND_SECONDS 0.01

typedef struct bench_case {
  const char *name;
  const char *code; /* chunk called with (lib, subject) */
} bench_case;

static const bench_case cases[] = {
  {"find plain (absent)", "local lib, s = ... return lib.find(s, 'needle')"},
  {"find %d+", "local lib, s = ... return lib.find(s, '%d+', 2)"},
  {"match trim", "local lib, s = ... return lib.match(s, '^%s*(.-)%s*$')"},
  {"match key=value", "local lib, s = ... return lib.match(s, '(%w+)=(%w+);$')"},
  {"gsub %s+", "local lib, s = ... return lib.gsub(s, '%s+', ' ')"},
  {"gsub (%w+)=(%w+)", "local lib, s = ... return lib.gsub(s, '(%w+)=(%w+)', '%2=%1')"},
  {"gmatch %a+", "local lib, s = ... local n = 0 for w in lib.gmatch(s, '%a+') do n = n + 1 end return n"},
  {"gmatch [^;]+", "local lib, s = ... local n = 0 for w in lib.gmatch(s, '[^;]+') do n = n + 1 end return n"},
  {"find %f[%w]%w+@", "local lib, s = ... return lib.find(s, '%f[%w]%w+@%w+%.com')"},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static const size_t sizes[] = {1024, 16384, 262144, 1048576};
#define N_SIZES (sizeof sizes / sizeof sizes[0])

/* Text with words, numbers, spaces and key=value pairs; no "needle". */
static char *make_subject(size_t n) {
  static const char *const words[] = {"alpha ", "beta  ", "gamma\t", "x=12;", "delta ",
                                      "k=v;", "epsilon ", "  zeta ", "eta=7; ", "theta "};
  char *s = malloc(n + 1);
  if (!s) return NULL;
  size_t len = 0;
  unsigned seed = 12345;
  while (len < n) {
    seed = seed * 1103515245u + 12345u;
    const char *w = words[(seed >> 16) % 10];
    size_t lw = strlen(w);
    if (lw > n - len) lw = n - len;
    memcpy(s + len, w, lw);
    len += lw;
  }
  s[n] = '\0';
  return s;
}

/* Calls the chunk at index fn with (lib, subject) iterations times;
 * returns seconds per call. */
static double time_calls(lua_State *L, int fn, int lib, int subject, long iterations) {
  double t0 = ub_clock_seconds();
  for (long i = 0; i < iterations; i++) {
    lua_pushvalue(L, fn);
    lua_pushvalue(L, lib);
    lua_pushvalue(L, subject);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
      fprintf(stderr, "bench_pattern: %s\n", lua_tostring(L, -1));
      exit(1);
    }
  }
  return (ub_clock_seconds() - t0) / (double)iterations;
}

/* Median seconds per call of stock and ours, rounds alternating. */
static void measure(lua_State *L, int fn, int stock, int ours, int subject,
                    int rounds, double *stock_s, double *ours_s) {
  double a[64], b[64];
  double once = time_calls(L, fn, stock, subject, 1);
  long iterations = (long)(ROUND_SECONDS / (once > 1e-9 ? once : 1e-9)) + 1;
  for (int r = 0; r < rounds; r++) {
    a[r] = time_calls(L, fn, stock, subject, iterations);
    b[r] = time_calls(L, fn, ours, subject, iterations);
  }
  *stock_s = bench_median(a, rounds);
  *ours_s = bench_median(b, rounds);
}

/* table.sort on 10^5 pseudo-random integers and on a sorted array, the
 * copy of the input included in both timings. */
static void bench_sort(lua_State *L, int rounds) {
  static const char setup[] =
    "local x, r, s = 7, {}, {} for i = 1, 100000 do x = (x * 1103515245 + 12345) % 2147483648\n"
    "  r[i] = x % 1000000 s[i] = i end return r, s";
  static const char code[] =
    "local lib, src = ... local t = table.move(src, 1, #src, 1, {}) lib.sort(t)";
  int base = lua_gettop(L);
  lua_getglobal(L, "table"); /* stock */
  lua_newtable(L);           /* ours */
  sb_strlib_install(L, 0, base + 2);
  if (luaL_dostring(L, setup) != LUA_OK || luaL_loadstring(L, code) != LUA_OK) exit(1);
  const char *names[] = {"sort 1e5 random", "sort 1e5 sorted"};
  for (int k = 0; k < 2; k++) {
    double stock_s, ours_s;
    measure(L, base + 5, base + 1, base + 2, base + 3 + k, rounds, &stock_s, &ours_s);
    printf("%-22s %9s %13.0f %13.0f %7.2f\n", names[k], "", stock_s * 1e9, ours_s * 1e9,
           ours_s / stock_s);
  }
  lua_settop(L, base);
}

int main(int argc, char **argv) {
  int quick = bench_quick_mode(&argc, argv);
  int rounds = argc > 1 ? atoi(argv[1]) : quick ? 1 : 5;
  if (rounds < 1 || rounds > 64) rounds = 5;
  lua_State *L = luaL_newstate();
  if (!L) return 1;
  luaL_openlibs(L);
  lua_getglobal(L, "string"); /* 1: stock string library */
  lua_newtable(L);            /* 2: ours: stock copy with replacements */
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_settable(L, 2);
  }
  sb_strlib_install(L, 2, 0);
  double ratios[N_CASES * N_SIZES + 1];
  int n_ratios = 0;
  printf("%-22s %9s %13s %13s %7s\n", "case", "subject", "stock ns", "ours ns", "ratio");
  for (size_t s = 0; s < N_SIZES; s++) {
    char *subject = make_subject(sizes[s]);
    if (!subject) return 1;
    lua_pushlstring(L, subject, sizes[s]); /* 3 */
    free(subject);
    for (size_t c = 0; c < N_CASES; c++) {
      if (luaL_loadstring(L, cases[c].code) != LUA_OK) return 1; /* 4 */
      double stock_s, ours_s;
      measure(L, 4, 1, 2, 3, rounds, &stock_s, &ours_s);
      ratios[n_ratios++] = ours_s / stock_s;
      printf("%-22s %8zuK %13.0f %13.0f %7.2f\n", cases[c].name, sizes[s] / 1024,
             stock_s * 1e9, ours_s * 1e9, ours_s / stock_s);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  printf("median ratio ours/stock over %d cases: %.2f (rounds: %d)\n", n_ratios,
         bench_median(ratios, n_ratios), rounds);
  bench_sort(L, rounds);
  lua_close(L);
  return 0;
}
