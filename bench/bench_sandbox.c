/* bench_sandbox.c: cost of one policy evaluation. Compares, in the same
 * run: (a) a reused sandbox (new globals per evaluation, compiled chunk
 * cached), (b) a fresh sandbox per evaluation, (c) the floor of a bare
 * luaL_newstate + lua_close. Prints medians in microseconds.
 * Target (issue 2): (a) under 50 us per evaluation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lualib/bindings.h"
#include "cli/cli.h"
#include "sandbox/sandbox.h"
#include "bench_util.h"

#define ROUNDS 15
#define PER_ROUND 200

static const char policy[] =
  "local json = require 'unbreakable.json'\n"
  "return function(input)\n"
  "  local total = 0\n"
  "  for i = 1, 10 do total = total + i end\n"
  "  return { verdict = total == 55 and 'pass' or 'fail' }\n"
  "end\n";

static int take_verdict(lua_State *L, void *ud) {
  (void)ud;
  if (lua_type(L, -1) != LUA_TTABLE) return luaL_error(L, "no table");
  return 0;
}

static const sb_policy the_policy = {"bench.lua", policy, sizeof policy - 1, NULL};

static double reused(sandbox *sb) {
  double t0 = ub_clock_seconds() * 1e6;
  for (int i = 0; i < PER_ROUND; i++)
    if (sb_run_policy(sb, &the_policy, NULL, take_verdict, NULL) != SB_OK) {
      fprintf(stderr, "policy failed: %s\n", sb_error(sb));
      exit(1);
    }
  return (ub_clock_seconds() * 1e6 - t0) / PER_ROUND;
}

static double fresh(void) {
  double t0 = ub_clock_seconds() * 1e6;
  for (int i = 0; i < PER_ROUND; i++) {
    sandbox *sb = sb_new(NULL, ub_stdlib_dir());
    ub_grant_defaults(sb);
    if (sb_run_policy(sb, &the_policy, NULL, take_verdict, NULL) != SB_OK) exit(1);
    sb_free(sb);
  }
  return (ub_clock_seconds() * 1e6 - t0) / PER_ROUND;
}

static double bare_state(void) {
  double t0 = ub_clock_seconds() * 1e6;
  for (int i = 0; i < PER_ROUND; i++) {
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    lua_close(L);
  }
  return (ub_clock_seconds() * 1e6 - t0) / PER_ROUND;
}

int main(void) {
  double a[ROUNDS], b[ROUNDS], c[ROUNDS];
  sandbox *sb = sb_new(NULL, ub_stdlib_dir());
  ub_grant_defaults(sb);
  reused(sb); /* warm up */
  for (int r = 0; r < ROUNDS; r++) {
    a[r] = reused(sb);
    b[r] = fresh();
    c[r] = bare_state();
  }
  sb_free(sb);
  double ma = bench_median(a, ROUNDS), mb = bench_median(b, ROUNDS), mc = bench_median(c, ROUNDS);
  printf("policy evaluation, median of %d rounds x %d evaluations\n", ROUNDS, PER_ROUND);
  printf("  reused sandbox (pool of one):   %8.2f us/eval   (target < 50 us)\n", ma);
  printf("  fresh sandbox per evaluation:   %8.2f us/eval   (%.1fx the reused one)\n", mb, mb / ma);
  printf("  bare luaL_newstate+openlibs+close: %5.2f us      (floor of a fresh state)\n", mc);
  printf("  reused / bare state ratio: %.2f\n", ma / mc);
  return 0;
}
