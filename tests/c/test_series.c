/* test_series.c: the packed series layout and copy helpers (series.c) and
 * the host API of the series userdata (lseries.c): filling from C, labels
 * owned by the userdata, and every byte going through the Lua allocator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lualib/lseries.h"
#include "sandbox/sandbox.h"
#include "kernels/series.h"

static ub_series *new_block(size_t n, int with_ts, void **block) {
  size_t bytes = ub_series_block_size(n, with_ts);
  assert_true(bytes > 0);
  *block = malloc(bytes);
  assert_non_null(*block);
  return ub_series_layout(*block, n, with_ts);
}

static void layout_puts_arrays_inside_the_block(void **state) {
  (void)state;
  void *block;
  ub_series *s = new_block(5, 1, &block);
  size_t bytes = ub_series_block_size(5, 1);
  assert_int_equal(bytes, ub_series_block_size(5, 0) + 5 * sizeof(int64_t));
  assert_int_equal(s->len, 5);
  assert_true((char *)s->values >= (char *)block + sizeof(ub_series));
  assert_int_equal((uintptr_t)s->values % sizeof(double), 0);
  assert_ptr_equal(s->timestamps, (int64_t *)(void *)(s->values + 5));
  assert_true((char *)(s->timestamps + 5) <= (char *)block + bytes);
  assert_null(s->entity);
  ub_series_fill_missing(s);
  for (size_t i = 0; i < 5; i++) {
    assert_true(isnan(s->values[i]));
    assert_int_equal(s->timestamps[i], 0);
  }
  free(block);
  void *b2;
  ub_series *no_ts = new_block(3, 0, &b2);
  assert_null(no_ts->timestamps);
  free(b2);
  assert_int_equal(ub_series_block_size(UB_SERIES_MAX_LEN + 1, 1), 0);
}

static void window_is_half_open_and_keeps_order(void **state) {
  (void)state;
  void *b1, *b2;
  ub_series *s = new_block(5, 1, &b1);
  const double v[] = {1, NAN, 3, 4, 5};
  const int64_t ts[] = {30, 10, 20, 40, 10};
  memcpy(s->values, v, sizeof v);
  memcpy(s->timestamps, ts, sizeof ts);
  assert_int_equal(ub_series_window_count(s, 10, 30), 3); /* 10, 20, 10; not 30 */
  assert_int_equal(ub_series_window_count(s, 30, 30), 0);
  assert_int_equal(ub_series_window_count(s, 50, 10), 0);
  ub_series *w = new_block(3, 1, &b2);
  ub_series_copy_window(s, 10, 30, w);
  assert_true(isnan(w->values[0]));
  assert_true(w->values[1] == 3.0 && w->values[2] == 5.0);
  assert_true(w->timestamps[0] == 10 && w->timestamps[1] == 20 && w->timestamps[2] == 10);
  free(b1);
  free(b2);
}

static void present_scaled_and_pooled_copies(void **state) {
  (void)state;
  void *b1, *b2, *b3;
  ub_series *s = new_block(4, 1, &b1);
  const double v[] = {NAN, 2, NAN, 8};
  const int64_t ts[] = {1, 2, 3, 4};
  memcpy(s->values, v, sizeof v);
  memcpy(s->timestamps, ts, sizeof ts);
  ub_series *p = new_block(2, 1, &b2);
  assert_int_equal(ub_series_copy_present(s, p), 2);
  assert_true(p->values[0] == 2.0 && p->values[1] == 8.0);
  assert_true(p->timestamps[0] == 2 && p->timestamps[1] == 4);
  ub_series *pool = new_block(7, 1, &b3);
  ub_series_fill_missing(pool);
  ub_series_copy_into(s, pool, 0);
  ub_series_copy_into(p, pool, 4);
  ub_series_copy_into(s, pool, 5); /* does not fit: ignored */
  const double want[] = {NAN, 2, NAN, 8, 2, 8, NAN};
  for (int i = 0; i < 7; i++) {
    if (isnan(want[i])) assert_true(isnan(pool->values[i]));
    else assert_true(pool->values[i] == want[i]);
  }
  assert_int_equal(pool->timestamps[5], 4);
  ub_series_copy_scaled(s, 0.001, s); /* µs to ms, in place */
  assert_true(isnan(s->values[0]) && isnan(s->values[2]));
  assert_true(s->values[1] == 0.002 && s->values[3] == 0.008);
  assert_int_equal(s->timestamps[3], 4);
  free(b1);
  free(b2);
  free(b3);
}

/* ---- host API through a Lua state -------------------------------------- */

typedef struct counting_alloc {
  size_t in_use;
} counting_alloc;

static void *count_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  counting_alloc *c = ud;
  if (ptr) c->in_use -= osize;
  if (nsize == 0) {
    free(ptr);
    return NULL;
  }
  void *p = realloc(ptr, nsize);
  if (p) c->in_use += nsize;
  else if (ptr) c->in_use += osize;
  return p;
}

static lua_State *new_state(counting_alloc *c) {
  lua_State *L = lua_newstate(count_alloc, c);
  assert_non_null(L);
  luaL_openlibs(L);
  luaL_requiref(L, "stats", luaopen_unbreakable_stats, 1);
  lua_pop(L, 1);
  return L;
}

static void run_lua(lua_State *L, const char *code) {
  if (luaL_dostring(L, code) != LUA_OK) {
    print_error("Lua: %s\n", lua_tostring(L, -1));
    fail();
  }
}

static void host_fills_a_series_without_lua_tables(void **state) {
  (void)state;
  counting_alloc c = {0};
  lua_State *L = new_state(&c);
  ub_series *s = ub_lua_newseries(L, 4, 1);
  assert_true(isnan(s->values[0]));
  const double v[] = {100, NAN, 300, 200};
  for (int i = 0; i < 4; i++) {
    s->values[i] = v[i];
    s->timestamps[i] = 1700000000000 + 60000 * i;
  }
  char entity[32];
  strcpy(entity, "SERVICE-1234");
  ub_lua_series_setlabels(L, -1, entity, "builtin:service.response.time", "MicroSecond");
  memset(entity, 'X', sizeof entity - 1); /* the series keeps its own copy */
  lua_gc(L, LUA_GCCOLLECT);
  assert_string_equal(s->entity, "SERVICE-1234");
  assert_ptr_equal(ub_lua_toseries(L, -1), s);
  assert_ptr_equal(ub_lua_checkseries(L, -1), s);
  lua_setglobal(L, "s");
  lua_pushinteger(L, 3);
  assert_null(ub_lua_toseries(L, -1));
  lua_pop(L, 1);
  run_lua(L,
          "assert(#s == 4 and s[1] == 100 and s[2] == nil and s[5] == nil)\n"
          "assert(s.entity == 'SERVICE-1234' and s.unit == 'MicroSecond')\n"
          "assert(s:timestamp(4) == 1700000180000)\n"
          "assert(stats.mean(s) == 200 and s:count() == 3)\n"
          "assert(s:rate() == (200 - 100) / 3)\n"
          "assert(tostring(s) == 'series(n=4, missing=1, entity=SERVICE-1234, "
          "metric=builtin:service.response.time, unit=MicroSecond, "
          "from=1700000000000, to=1700000180000)')\n"
          "local ms = s:scale(0.001, 'MilliSecond')\n"
          "assert(ms[3] == 0.3 and ms.unit == 'MilliSecond' and ms.entity == 'SERVICE-1234')\n");
  lua_close(L);
  assert_int_equal(c.in_use, 0);
}

static int check_non_series(lua_State *L) {
  ub_lua_checkseries(L, 1);
  return 0;
}

static void checkseries_raises_on_other_values(void **state) {
  (void)state;
  counting_alloc c = {0};
  lua_State *L = new_state(&c);
  lua_pushcfunction(L, check_non_series);
  lua_newtable(L);
  assert_int_equal(lua_pcall(L, 1, 0, 0), LUA_ERRRUN);
  assert_non_null(strstr(lua_tostring(L, -1), "series expected"));
  lua_close(L);
}

static void all_memory_comes_from_the_lua_allocator(void **state) {
  (void)state;
  counting_alloc c = {0};
  lua_State *L = new_state(&c);
  lua_gc(L, LUA_GCCOLLECT);
  size_t before = c.in_use;
  ub_series *s = ub_lua_newseries(L, 100000, 1);
  for (size_t i = 0; i < s->len; i++) s->values[i] = (double)(i % 977);
  size_t with_series = c.in_use;
  assert_true(with_series - before >= 100000 * (sizeof(double) + sizeof(int64_t)));
  lua_setglobal(L, "big");
  run_lua(L, "p1 = stats.percentile(big, 90)");
  size_t with_scratch = c.in_use;
  assert_true(with_scratch - with_series >= 100000 * sizeof(double)); /* one scratch */
  run_lua(L, "p2 = stats.median(big); p3 = big:percentile(99, 'nearest')");
  assert_true(c.in_use < with_scratch + 4096); /* reused, not reallocated */
  run_lua(L, "big = nil");
  lua_gc(L, LUA_GCCOLLECT);
  assert_true(c.in_use < before + 4096); /* series and weak scratch reclaimed */
  lua_close(L);
  assert_int_equal(c.in_use, 0);
}

/* ---- inside the policy sandbox ------------------------------------------ */

typedef struct host_call {
  size_t n;
  double result;
} host_call;

/* 0 .. n-1 with every 10th point (i % 10 == 9) missing, one per minute */
static int push_series(lua_State *L, void *ud) {
  host_call *h = ud;
  ub_series *s = ub_lua_newseries(L, h->n, 1);
  for (size_t i = 0; i < h->n; i++) {
    s->values[i] = i % 10 == 9 ? NAN : (double)i;
    s->timestamps[i] = 60000 * (int64_t)i;
  }
  ub_lua_series_setlabels(L, -1, "SERVICE-1", "builtin:service.response.time", "MicroSecond");
  return 1;
}

static int take_number(lua_State *L, void *ud) {
  ((host_call *)ud)->result = luaL_checknumber(L, -1);
  return 0;
}

static sb_status run_policy(double seconds, size_t memory, const char *src, host_call *h,
                            sb_kill *killed) {
  sb_limits lim;
  sb_default_limits(&lim);
  lim.seconds = seconds;
  lim.memory = memory;
  sandbox *sb = sb_new(&lim, "/nonexistent");
  assert_non_null(sb);
  assert_int_equal(sb_grant(sb, "unbreakable.stats", luaopen_unbreakable_stats), 0);
  sb_policy p = {"stats_policy.lua", src, strlen(src), "/nonexistent"};
  sb_status st = sb_run_policy(sb, &p, push_series, take_number, h);
  if (st != SB_OK) print_message("sandbox: %s\n", sb_error(sb));
  *killed = sb_killed(sb);
  sb_free(sb);
  return st;
}

static void policy_aggregates_a_host_series(void **state) {
  (void)state;
  host_call h = {1000, 0};
  sb_kill killed;
  const char *src =
      "local stats = require 'unbreakable.stats'\n"
      "return function(s)\n"
      "  assert(#s == 1000 and s[10] == nil and s.entity == 'SERVICE-1')\n"
      "  assert(s:count() == 900 and select(2, s:slice(0, 0):mean()) == 'empty series')\n"
      "  return s:percentile(90, 'keptn')\n"
      "end\n";
  assert_int_equal(run_policy(2.0, 64u << 20, src, &h, &killed), SB_OK);
  /* 900 present values; pos = 0.9 * 901 = 810.9: between the 810th (898)
   * and the 811th (900) smallest */
  assert_true(fabs(h.result - 899.8) < 1e-9);
}

static void series_memory_counts_against_the_cap(void **state) {
  (void)state;
  host_call h = {1000000, 0}; /* 16 MB of values and timestamps */
  sb_kill killed;
  const char *src = "return function(s) return #s end\n";
  assert_int_equal(run_policy(2.0, 4u << 20, src, &h, &killed), SB_ELIMIT);
  assert_int_equal(killed, SB_KILL_MEMORY);
  assert_int_equal(run_policy(2.0, 64u << 20, src, &h, &killed), SB_OK);
  assert_true(h.result == 1e6);
}

/* Sorting 4 * 10^6 values takes far longer than 20 ms: the budget checks
 * inside the kernel stop it with the sandbox's deadline. */
static void deadline_reaches_into_long_kernels(void **state) {
  (void)state;
  host_call h = {2000000, 0};
  sb_kill killed;
  const char *src =
      "local stats = require 'unbreakable.stats'\n"
      "return function(s) return stats.mannwhitney(s, s).p end\n";
  assert_int_equal(run_policy(0.02, 512u << 20, src, &h, &killed), SB_ELIMIT);
  assert_int_equal(killed, SB_KILL_TIMEOUT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(layout_puts_arrays_inside_the_block),
      cmocka_unit_test(window_is_half_open_and_keeps_order),
      cmocka_unit_test(present_scaled_and_pooled_copies),
      cmocka_unit_test(host_fills_a_series_without_lua_tables),
      cmocka_unit_test(checkseries_raises_on_other_values),
      cmocka_unit_test(all_memory_comes_from_the_lua_allocator),
      cmocka_unit_test(policy_aggregates_a_host_series),
      cmocka_unit_test(series_memory_counts_against_the_cap),
      cmocka_unit_test(deadline_reaches_into_long_kernels),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
