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

#define ROUNDS 15      /* at most; --quick runs 3 */

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

static double reused(sandbox *sb, int per_round) {
  double t0 = ub_clock_seconds() * 1e6;
  for (int i = 0; i < per_round; i++)
    if (sb_run_policy(sb, &the_policy, NULL, take_verdict, NULL) != SB_OK) {
      fprintf(stderr, "policy failed: %s\n", sb_error(sb));
      exit(1);
    }
  return (ub_clock_seconds() * 1e6 - t0) / per_round;
}

static double fresh(int per_round) {
  double t0 = ub_clock_seconds() * 1e6;
  for (int i = 0; i < per_round; i++) {
    sandbox *sb = sb_new(NULL, ub_stdlib_dir());
    ub_grant_defaults(sb);
    if (sb_run_policy(sb, &the_policy, NULL, take_verdict, NULL) != SB_OK) exit(1);
    sb_free(sb);
  }
  return (ub_clock_seconds() * 1e6 - t0) / per_round;
}

static double bare_state(int per_round) {
  double t0 = ub_clock_seconds() * 1e6;
  for (int i = 0; i < per_round; i++) {
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    lua_close(L);
  }
  return (ub_clock_seconds() * 1e6 - t0) / per_round;
}

int main(int argc, char **argv) {
  int quick = bench_quick_mode(&argc, argv);
  int rounds = quick ? 3 : ROUNDS, per_round = quick ? 20 : 200;
  double a[ROUNDS], b[ROUNDS], c[ROUNDS];
  sandbox *sb = sb_new(NULL, ub_stdlib_dir());
  ub_grant_defaults(sb);
  reused(sb, per_round); /* warm up */
  for (int r = 0; r < rounds; r++) {
    a[r] = reused(sb, per_round);
    b[r] = fresh(per_round);
    c[r] = bare_state(per_round);
  }
  sb_free(sb);
  double ma = bench_median(a, rounds), mb = bench_median(b, rounds), mc = bench_median(c, rounds);
  printf("policy evaluation, median of %d rounds x %d evaluations\n", rounds, per_round);
  printf("  reused sandbox (pool of one):   %8.2f us/eval   (target < 50 us)\n", ma);
  printf("  fresh sandbox per evaluation:   %8.2f us/eval   (%.1fx the reused one)\n", mb, mb / ma);
  printf("  bare luaL_newstate+openlibs+close: %5.2f us      (floor of a fresh state)\n", mc);
  printf("  reused / bare state ratio: %.2f\n", ma / mc);
  return 0;
}
