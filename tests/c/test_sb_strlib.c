/* test_sb_strlib.c: the budgeted string.rep, table.concat, table.move and
 * table.sort (sb_strlib.c, sb_tablib.c) against stock Lua 5.4 in a second
 * state (and table.insert/remove, which loop over a length that __len may
 * make up): results, error messages and the order of metamethod calls; sorts
 * of random arrays; inconsistent comparators terminate; long loops are
 * stopped by a test budget function and by the real sandbox. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <lauxlib.h>
#include <lualib.h>

#include "util/buf.h"
#include "sandbox/sandbox.h"
#include "sandbox/sb_strlib.h"

#include "stock_compare.h"

/* ---- two states: stock and ours (stock_compare.h) ---- */

/* Helpers both states see: a deterministic generator and a list printer. */
static const char prelude[] =
  "function lcg(seed) local x = seed return function(n)\n"
  "  x = (x * 1103515245 + 12345) % 2147483648 return x % n end end\n"
  "function list(t, n) local r = {} for i = 1, n or #t do r[i] = tostring(rawget(t, i)) end\n"
  "  return table.concat(r, ',') end\n";

static int setup_states(void **state) {
  return stock_compare_setup(state, prelude);
}

/* ---- installation ---- */

static lua_CFunction field_function(lua_State *L, const char *lib, const char *name) {
  lua_getglobal(L, lib);
  lua_getfield(L, -1, name);
  lua_CFunction f = lua_tocfunction(L, -1);
  lua_pop(L, 2);
  return f;
}

static void test_install_replaces_only_the_listed_functions(void **state) {
  (void)state;
  static const char *const replaced[][2] = {
    {"string", "find"}, {"string", "match"}, {"string", "gmatch"}, {"string", "gsub"},
    {"string", "rep"},  {"table", "concat"}, {"table", "insert"},  {"table", "move"},
    {"table", "remove"}, {"table", "sort"}};
  static const char *const kept[][2] = {
    {"string", "format"}, {"string", "sub"}, {"table", "unpack"}, {"table", "pack"}};
  lua_State *stock = stock_compare_state(0, prelude), *L = stock_compare_state(1, prelude);
  for (size_t i = 0; i < sizeof replaced / sizeof replaced[0]; i++) {
    lua_CFunction f = field_function(L, replaced[i][0], replaced[i][1]);
    assert_non_null(f);
    assert_ptr_not_equal(f, field_function(stock, replaced[i][0], replaced[i][1]));
  }
  for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
    assert_ptr_equal(field_function(L, kept[i][0], kept[i][1]),
                     field_function(stock, kept[i][0], kept[i][1]));
  /* index 0 skips a library; the stack is left as it was */
  lua_close(L);
  L = luaL_newstate();
  luaL_openlibs(L);
  lua_getglobal(L, "table");
  int top = lua_gettop(L);
  sb_strlib_install(L, 0, -1);
  assert_int_equal(lua_gettop(L), top);
  assert_ptr_equal(field_function(L, "string", "find"), field_function(stock, "string", "find"));
  assert_ptr_not_equal(field_function(L, "table", "sort"), field_function(stock, "table", "sort"));
  lua_close(L);
  lua_close(stock);
}

/* ---- string.rep ---- */

static void test_rep_like_stock(void **state) {
  static const char *const chunks[] = {
    "return string.rep('ab', 3, ',')", "return string.rep('', 5, 'x')",
    "return string.rep('x', 0)", "return string.rep('x', -1, 'y')",
    "return string.rep('abc', 1, '--')", "return string.rep('x', 2^31)",
    "return string.rep('xx', 2^30)", "return string.rep('x', 2^30, 'y')",
    "return string.rep()", "return string.rep('x', 1.5)", "return string.rep('x', '3')",
    "return string.rep('x', 3, {})", "return ('ab'):rep(2)", "return string.rep(12, 2, 3)",
    "return string.rep('abcdefg', 300000)", "return string.rep('x', 3000000, 'yz')",
    "return string.rep(('q'):rep(2000000) .. 'r', 2, '|')",
    "return string.rep('a\\0b', 5, '\\0')",
  };
  stock_compare_chunks(*state, chunks, sizeof chunks / sizeof chunks[0]);
}

static void test_rep_empty_never_loops(void **state) {
  states *st = *state;
  set_budget_limit(st->ours, 0);
  /* stock Lua loops 1e18 times here */
  assert_string_equal(ours(st, "return #string.rep('', 1e18)"), "0");
  assert_string_equal(ours(st, "return #string.rep('', math.maxinteger, '')"), "0");
  assert_int_equal(budget_calls(st->ours), 0);
  assert_string_equal(ours(st, "return string.rep('', 3, '-')"), "--");
}

/* ---- table.concat and table.move ---- */

static void test_concat_like_stock(void **state) {
  static const char *const chunks[] = {
    "return table.concat({1, 2.5, 'x'}, ', ')", "return table.concat({})",
    "return table.concat({}, ', ', 3, 1)", "return table.concat({'a', 'b'}, 3)",
    "return table.concat({[math.maxinteger] = 'a'}, ',', math.maxinteger, math.maxinteger)",
    "return table.concat({[math.mininteger] = 'a', [math.mininteger + 1] = 'b'}, ',', math.mininteger, math.mininteger + 1)",
    "return table.concat({1, {}, 3})", "return table.concat({1, nil, 3}, '', 1, 3)",
    "return table.concat({}, {})", "return table.concat(1)", "return table.concat({'a'}, '', 1.5)",
    "return table.concat({'a', 'b', 'c'}, '-', 2)", "return table.concat({'a', 'b', 'c'}, '-', -1, 2)",
    "local log = {} local t = setmetatable({}, {__index = function(_, i) log[#log + 1] = i return 'v' .. i end,\n"
    "  __len = function() log[#log + 1] = 'len' return 3 end})\n"
    "return table.concat(t, ','), table.concat(log, ' ')",
    "local t = setmetatable({}, {__index = function(_, i) return i end}) return table.concat(t, ',', -2, 2)",
    ("local u = setmetatable({}, {__index = function(_, i) return 'x' end, __len = function() return 2 end})\n"
     "return table.concat(u)"),
  };
  stock_compare_chunks(*state, chunks, sizeof chunks / sizeof chunks[0]);
}

static void test_move_like_stock(void **state) {
  static const char *const chunks[] = {
    "return list(table.move({1, 2, 3}, 1, 3, 2))",
    "return list(table.move({1, 2, 3, 4, 5}, 2, 5, 1))",
    "return list(table.move({1, 2, 3}, 1, 3, 3))",
    "local d = {9} return list(table.move({1, 2, 3}, 1, 3, 2, d)), list(d)",
    "return list(table.move({1, 2}, 3, 1, 1))",
    "return table.move({}, -1, math.maxinteger, 1)",
    "return table.move({}, 1, 3, math.maxinteger)",
    "return table.move({}, 1, 2)", "return table.move(1, 1, 1, 1)",
    "return table.move({}, 1, 1, 1, 2)",
    "return list(table.move({}, math.maxinteger - 2, math.maxinteger, 1), 3)",
    "return list(table.move({[math.mininteger] = 'a'}, math.mininteger, math.mininteger, 1))",
    "local log = {}\n"
    "local src = setmetatable({}, {__index = function(_, k) log[#log + 1] = 'r' .. k return k * 10 end})\n"
    "local dst = setmetatable({}, {__newindex = function(t, k, v) log[#log + 1] = 'w' .. k .. '=' .. v rawset(t, k, v) end})\n"
    "table.move(src, 1, 5, 3, dst) return table.concat(log, ' ')",
    "local log, data = {}, {1, 2, 3, 4, 5}\n"
    "local t = setmetatable({}, {__index = function(_, k) log[#log + 1] = 'r' .. k return data[k] end,\n"
    "  __newindex = function(_, k, v) log[#log + 1] = 'w' .. k data[k] = v end})\n"
    "table.move(t, 1, 4, 2) return table.concat(log, ' '), list(data)",
  };
  stock_compare_chunks(*state, chunks, sizeof chunks / sizeof chunks[0]);
}

/* ---- table.insert and table.remove ---- */

static void test_insert_remove_like_stock(void **state) {
  static const char *const chunks[] = {
    "local t = {1, 2, 3} table.insert(t, 4) return list(t)",
    "local t = {1, 2, 3} table.insert(t, 1, 0) return list(t)",
    "local t = {1, 2, 3} table.insert(t, 4, 9) return list(t)",
    "local t = {1, 2, 3} table.insert(t, 2, nil) return list(t, 4)",
    "return table.insert({}, 5, 1)", "return table.insert({}, 0, 1)",
    "return table.insert({}, 1, 2, 3)", "return table.insert({})", "return table.insert(1, 2)",
    "return table.insert({}, 1.5, 2)",
    "local t = {1, 2, 3} return table.remove(t), list(t, 3)",
    "local t = {1, 2, 3} return table.remove(t, 1), list(t, 3)",
    "local t = {1, 2, 3} return table.remove(t, 4), list(t, 3)",
    "return table.remove({})", "return table.remove({}, 0)", "return table.remove({}, 5)",
    "return table.remove({1}, -1)", "return table.remove({[0] = 'z'}, 0)",
    "local log, data = {}, {1, 2, 3, 4}\n"
    "local t = setmetatable({}, {__index = function(_, k) log[#log + 1] = 'r' .. k return data[k] end,\n"
    "  __newindex = function(_, k, v) log[#log + 1] = 'w' .. k data[k] = v end,\n"
    "  __len = function() log[#log + 1] = 'len' return #data end})\n"
    "table.insert(t, 2, 'x') local r = table.remove(t, 1)\n"
    "return r, table.concat(log, ' '), list(data)",
  };
  stock_compare_chunks(*state, chunks, sizeof chunks / sizeof chunks[0]);
}

/* ---- table.sort ---- */

static void test_sort_like_stock(void **state) {
  static const char *const chunks[] = {
    "local t = {} table.sort(t) return list(t)", "local t = {5} table.sort(t) return list(t)",
    "local t = {2, 1} table.sort(t) return list(t)",
    "local r = {} for _, n in ipairs{3, 7, 12, 13, 14, 25, 100, 1000, 5000} do\n"
    "  local g, t = lcg(n), {} for i = 1, n do t[i] = g(n // 2 + 1) end\n"
    "  table.sort(t) r[#r + 1] = list(t) end return table.concat(r, ';')",
    "local g, t = lcg(7), {} for i = 1, 3000 do t[i] = g(1000) / 7 end table.sort(t) return list(t)",
    "local g, t = lcg(9), {} for i = 1, 2000 do t[i] = ('k' .. g(500)) end table.sort(t) return list(t)",
    "local g, t = lcg(3), {} for i = 1, 2000 do t[i] = g(300) end\n"
    "table.sort(t, function(a, b) return a > b end) return list(t)",
    "local t = {} for i = 1, 1000 do t[i] = i end table.sort(t) return list(t)",
    /* longer than SORT_ON_STACK_MAX: sorted in place with a scratch table */
    "local g, t = lcg(13), {} for i = 1, 140000 do t[i] = g(100000) end table.sort(t) return list(t)",
    "local g, t = lcg(17), {} for i = 1, 140000 do t[i] = g(1000) end\n"
    "table.sort(t, function(a, b) return a > b end) return list(t)",
    "local t = {} for i = 1, 1000 do t[i] = -i end table.sort(t) return list(t)",
    "local g, t = lcg(5), {} for i = 1, 500 do t[i] = {k = g(20), i = i} end\n"
    "table.sort(t, function(a, b) return a.k < b.k end)\n"
    "local r = {} for i = 1, #t do r[i] = t[i].k end return table.concat(r, ',')",
    "local g, data = lcg(11), {} for i = 1, 300 do data[i] = g(1000) end\n"
    "local t = setmetatable({}, {__index = data, __newindex = data, __len = function() return #data end})\n"
    "table.sort(t) return list(data), rawlen(t)",
    "return table.sort({1, 2, 3}, 3)", "return table.sort(1)",
    "return table.sort(setmetatable({}, {__len = function() return math.maxinteger end}))",
    "return table.sort({1, 'x'})", "return table.sort({3, 2, 1}, function(a, b) error('boom') end)",
    "return table.sort({3, 2, 1}, function(a, b) error({}) end)",
  };
  stock_compare_chunks(*state, chunks, sizeof chunks / sizeof chunks[0]);
}

/* Sorts with a broken comparator must end, with an error or with the same
 * elements in some order. */
static void test_sort_inconsistent_comparators(void **state) {
  states *st = *state;
  assert_error(st, "local t = {} for i = 1, 100 do t[i] = i end\n"
                   "table.sort(t, function(a, b) return true end)",
               "invalid order function for sorting");
  assert_error(st, "local t = {3, 1, 2, 2, 5} table.sort(t, function(a, b) return a <= b end)",
               "invalid order function for sorting");
  assert_string_equal(ours(st, "local t = {3, 1, 2, 5} table.sort(t, function(a, b) return a <= b end)\n"
                               "return list(t)"), "1,2,3,5");
  static const char multiset_kept[] =
    "local g, t, sum = lcg(%d), {}, 0 for i = 1, 400 do t[i] = g(50) sum = sum + t[i] end\n"
    "local ok = pcall(table.sort, t, function(a, b) return g(3) == 0 end)\n"
    "local after = 0 for i = 1, 400 do after = after + t[i] end\n"
    "return #t, after == sum";
  for (int seed = 1; seed <= 20; seed++) {
    char src[512];
    snprintf(src, sizeof src, multiset_kept, seed);
    assert_string_equal(ours(st, src), "400|true");
  }
  /* the same on an array sorted in place (longer than SORT_ON_STACK_MAX) */
  assert_error(st, "local t = {} for i = 1, 140000 do t[i] = i end\n"
                   "table.sort(t, function(a, b) return true end)",
               "invalid order function for sorting");
  assert_string_equal(ours(st, "local g, t, sum = lcg(99), {}, 0 for i = 1, 140000 do t[i] = g(50) sum = sum + t[i] end\n"
                               "pcall(table.sort, t, function(a, b) return g(3) == 0 end)\n"
                               "local after = 0 for i = 1, 140000 do after = after + t[i] end\n"
                               "return #t, after == sum"), "140000|true");
  /* a comparator that empties the table while sorting: it ends, no crash */
  for (int n = 100; n <= 200000; n *= 2000) { /* on the stack, then in the table */
    char src[256];
    snprintf(src, sizeof src, "local t = {} for i = 1, %d do t[i] = %d - i end\n"
             "return (pcall(table.sort, t, function(a, b) t[#t] = nil return a < b end))", n, n);
    const char *got = ours(st, src);
    assert_true(strcmp(got, "true") == 0 || strcmp(got, "false") == 0);
  }
  /* the table is left as it was when the order function is found invalid */
  assert_string_equal(ours(st, "local t = {3, 1, 2, 2} pcall(table.sort, t, function(a, b) return a <= b end)\n"
                               "return list(t)"), "3,1,2,2");
}

/* ---- budget ---- */

static void test_budget_stops_long_loops(void **state) {
  states *st = *state;
  set_budget_limit(st->ours, 20);
  assert_error(st, "table.move({}, 1, 1e12, 2)", "budget exceeded");
  set_budget_limit(st->ours, 20);
  assert_error(st, "return table.concat(setmetatable({}, {__index = function() return '' end}), '', 1, 1e12)",
               "budget exceeded");
  set_budget_limit(st->ours, 20);
  assert_error(st, "table.insert(setmetatable({}, {__len = function() return 1e15 end}), 1, 'x')",
               "budget exceeded");
  set_budget_limit(st->ours, 20);
  assert_error(st, "table.remove(setmetatable({}, {__len = function() return 1e15 end}), 1)",
               "budget exceeded");
  set_budget_limit(st->ours, 5);
  assert_error(st, "local t = {} for i = 1, 20000 do t[i] = -i end table.sort(t)", "budget exceeded");
  set_budget_limit(st->ours, 10);
  assert_error(st, "return #string.rep('x', 1e8)", "budget exceeded");
  /* without a limit, the work is checked about every 1000 steps */
  set_budget_limit(st->ours, 0);
  assert_string_equal(ours(st, "local t = {} for i = 1, 10000 do t[i] = -i end table.sort(t) return t[1]"),
                      "-10000");
  assert_true(budget_calls(st->ours) >= 10000 / 1024);
}

static void test_sandbox_stops_move_and_rep(void **state) {
  (void)state;
  sb_limits lim;
  sb_default_limits(&lim);
  lim.seconds = 0.2;
  sandbox *sb = sb_new(&lim, "/tmp");
  assert_non_null(sb);
  static const char bomb[] = "return pcall(table.move, {}, 1, 1e15, 2)";
  sb_policy p = {"move.lua", bomb, sizeof bomb - 1, "/tmp"};
  assert_int_equal(sb_run_policy(sb, &p, NULL, NULL, NULL), SB_ELIMIT);
  assert_int_equal(sb_killed(sb), SB_KILL_TIMEOUT);
  static const char big_rep[] = "return pcall(string.rep, 'x', 2^30)";
  sb_policy m = {"bigrep.lua", big_rep, sizeof big_rep - 1, "/tmp"};
  assert_int_equal(sb_run_policy(sb, &m, NULL, NULL, NULL), SB_ELIMIT);
  assert_int_equal(sb_killed(sb), SB_KILL_MEMORY);
  static const char empty_rep[] = "assert(string.rep('', 1e18) == '') return true";
  sb_policy q = {"rep.lua", empty_rep, sizeof empty_rep - 1, "/tmp"};
  assert_int_equal(sb_run_policy(sb, &q, NULL, NULL, NULL), SB_OK);
  sb_free(sb);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_install_replaces_only_the_listed_functions),
    cmocka_unit_test(test_rep_like_stock),
    cmocka_unit_test(test_rep_empty_never_loops),
    cmocka_unit_test(test_concat_like_stock),
    cmocka_unit_test(test_move_like_stock),
    cmocka_unit_test(test_insert_remove_like_stock),
    cmocka_unit_test(test_sort_like_stock),
    cmocka_unit_test(test_sort_inconsistent_comparators),
    cmocka_unit_test(test_budget_stops_long_loops),
    cmocka_unit_test(test_sandbox_stops_move_and_rep),
  };
  return cmocka_run_group_tests(tests, setup_states, stock_compare_teardown);
}
