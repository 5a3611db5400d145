/* test_pattern.c: the budgeted pattern functions (string.find, match,
 * gmatch, gsub from sb_strlib.c/lpattern.c) against stock Lua 5.4 in a
 * second state, case by case and on thousands of random cases with a fixed
 * seed; hand-computed results for each pattern feature; and proof that
 * catastrophic patterns are stopped, by a test budget function and by the
 * real sandbox. */
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

/* Snippets run identically in both states with globals S, P, I. */
static const char *const snippets[] = {
  "return string.find(S, P, I)",
  "return string.find(S, P, I, true)",
  "return string.match(S, P, I)",
  "local r = {} for a, b in string.gmatch(S, P, I) do\n"
  "  r[#r + 1] = tostring(a) .. '/' .. tostring(b) end\n"
  "return #r, table.concat(r, ' ')",
  "return string.gsub(S, P, '<%0>')",
  "return string.gsub(S, P, '[%1]', I)",
  "return string.gsub(S, P, function(a, b) if b then return a .. '+' .. b end end)",
  "return string.gsub(S, P, {a = 'A', b = false, [1] = 'one', x = 7})",
};
#define N_SNIPPETS (sizeof snippets / sizeof snippets[0])

/* Compiles the snippets into the global SNIPPETS of L. */
static void load_snippets(lua_State *L) {
  lua_createtable(L, (int)N_SNIPPETS, 0);
  for (size_t i = 0; i < N_SNIPPETS; i++) {
    assert_int_equal(luaL_loadstring(L, snippets[i]), LUA_OK);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setglobal(L, "SNIPPETS");
}

static int setup_states(void **state) {
  stock_compare_setup(state, NULL);
  states *st = *state;
  load_snippets(st->stock);
  load_snippets(st->ours);
  return 0;
}

/* Runs snippet k with S, P, I set; describes its results or its error. */
static void run_snippet(lua_State *L, size_t k, const char *s, size_t ls,
                        const char *p, size_t lp, lua_Integer init, ub_buf *out) {
  int base = lua_gettop(L);
  lua_pushlstring(L, s, ls);
  lua_setglobal(L, "S");
  lua_pushlstring(L, p, lp);
  lua_setglobal(L, "P");
  lua_pushinteger(L, init);
  lua_setglobal(L, "I");
  lua_getglobal(L, "SNIPPETS");
  lua_rawgeti(L, -1, (lua_Integer)k + 1);
  lua_remove(L, -2);
  ub_buf_reset(out);
  if (lua_pcall(L, 0, LUA_MULTRET, 0) != LUA_OK) {
    ub_buf_puts(out, "error: ");
    ub_buf_puts(out, lua_tostring(L, -1) ? lua_tostring(L, -1) : "(not a string)");
  } else {
    stock_compare_describe(L, base + 1, out);
  }
  lua_settop(L, base);
}

/* Runs every snippet in both states; fails with the case on a difference. */
static void compare_case(states *st, const char *s, size_t ls, const char *p,
                         size_t lp, lua_Integer init) {
  ub_buf a, b, what;
  ub_buf_init(&a);
  ub_buf_init(&b);
  ub_buf_init(&what);
  for (size_t k = 0; k < N_SNIPPETS; k++) {
    run_snippet(st->stock, k, s, ls, p, lp, init, &a);
    run_snippet(st->ours, k, s, ls, p, lp, init, &b);
    ub_buf_reset(&what);
    ub_buf_printf(&what, "snippet %zu, subject \"%.*s\", pattern \"%.*s\", init %lld",
                  k, (int)ls, s, (int)lp, p, (long long)init);
    stock_compare_outputs(what.data, &a, &b);
  }
  ub_buf_free(&a);
  ub_buf_free(&b);
  ub_buf_free(&what);
}

/* ---- differential tests ---- */

static const char *const subjects[] = {
  "", "a", "abc", "hello world", "  x = 10, y=20 ", "a.b-c+d", "aaa",
  "(foo(bar))baz", "THE (quick) fox", "x=1;y=2;", "[[]]", "%d%%", "aaab",
  "ab\nc", "key: \"value\", 'other'", "\t\r\n \x01\x7f\xff\x80", "1e10 0x1F -3.5",
};

static const char *const patterns[] = {
  "", "a", "^a", "a$", "^$", ".", "a*", "a+", "a-", "a?", "%a+", "%d+", "%s*",
  "%w+", "(%w+)=(%w+)", "()", "()a()", "%bxy", "%b()", "%b[]", "%f[%a]%a+",
  "%f[%w]", "%f[%W]", "%f[%z]", "[a-c]+", "[^a-c]+", "[%a_][%w_]*", "(a)(b)?",
  "(a*)%1", "((a)b)", "(.)%1", "%.", "[]]", "[^]]", "[a-]", "%", "[a", "(",
  ")", "a)", "(a", "%1", "%b", "%ba", "%f", "%fa", "%0", "(()", "[%", "x*$",
  "^(%s*)(.-)(%s*)$", "%z", "%Z+", "[%z]", "%u%l", "%p+", "%c", "%g+", "%x+",
  "%X", "$a", "a$b", "^^", "(a)%2", "a.-b", ".-", "(.-)", "%s*(%S+)%s*",
  "[+-]?%d+", "%-", "%%", "[%]]", "[a%-z]", "(%a)(%a)(%a)", "[]", "[^]",
  "[\x80-\xff]+", "%C+", "%L+", "%P", "%U", "%D%S", "[%w%s]+", "(%d+)%.?(%d*)",
  "([\"'])(.-)%1", "%f[%S].-%f[%s]", "(()b)%2", "(h)(e)(l)(l)(o)", "x+-",
  "[", "%f[", "[^", "[a-z", "(()())", ".-$", "^.-$",
};

static void test_differential_table(void **state) {
  states *st = *state;
  static const lua_Integer inits[] = {1, 2, 0, -1, -3, 5, 100, -100};
  for (size_t i = 0; i < sizeof subjects / sizeof subjects[0]; i++)
    for (size_t j = 0; j < sizeof patterns / sizeof patterns[0]; j++)
      for (size_t k = 0; k < sizeof inits / sizeof inits[0]; k++)
        compare_case(st, subjects[i], strlen(subjects[i]), patterns[j],
                     strlen(patterns[j]), inits[k]);
  /* embedded NULs */
  static const char nul_subject[] = "a\0b(\0(c";
  static const char *const nul_patterns[] = {"\0", "\0(", "b(\0", "%z(", "[\0]+", "\0*c"};
  static const size_t nul_lengths[] = {1, 2, 3, 3, 5, 3};
  for (size_t j = 0; j < sizeof nul_lengths / sizeof nul_lengths[0]; j++)
    compare_case(st, nul_subject, sizeof nul_subject - 1, nul_patterns[j], nul_lengths[j], 1);
}

typedef struct rng {
  uint64_t s;
} rng;

static uint32_t rng_next(rng *r) {
  r->s ^= r->s << 13;
  r->s ^= r->s >> 7;
  r->s ^= r->s << 17;
  return (uint32_t)(r->s >> 32);
}

static const char *const atoms[] = {
  "a", "b", "x", " ", "1", ".", "%a", "%d", "%s", "%w", "%A", "[ab]", "[^a]",
  "[a-c]", "[%d(]", "(", ")", "()", "*", "+", "-", "?", "^", "$", "%b()",
  "%f[%a]", "%f[%A]", "%1", "%2", "%", "[", "]", "%%", ".-", "(a*)", "(.)",
};

static size_t random_pattern(rng *r, char *out, size_t cap) {
  size_t len = 0, n = 1 + rng_next(r) % 6;
  for (size_t i = 0; i < n; i++) {
    const char *atom = atoms[rng_next(r) % (sizeof atoms / sizeof atoms[0])];
    size_t la = strlen(atom);
    if (len + la >= cap) break;
    memcpy(out + len, atom, la);
    len += la;
  }
  return len;
}

static size_t random_subject(rng *r, char *out, size_t cap) {
  static const char alphabet[] = "ab x1().ab";
  size_t n = rng_next(r) % 15;
  if (n >= cap) n = cap - 1;
  for (size_t i = 0; i < n; i++) out[i] = alphabet[rng_next(r) % (sizeof alphabet - 1)];
  return n;
}

static void test_differential_random(void **state) {
  states *st = *state;
  rng r = {0x9e3779b97f4a7c15ULL};
  char s[32], p[64];
  for (int i = 0; i < 3000; i++) {
    size_t ls = random_subject(&r, s, sizeof s);
    size_t lp = random_pattern(&r, p, sizeof p);
    lua_Integer init = (lua_Integer)(rng_next(&r) % 20) - 4;
    compare_case(st, s, ls, p, lp, init);
  }
}

/* Argument errors name the function the same way as stock. */
static void test_differential_arguments(void **state) {
  states *st = *state;
  static const char *const chunks[] = {
    "return string.find()", "return string.find('a')", "return string.find('a', 'a', 1.5)",
    "return string.find('a', 'a', '2')", "return string.find(123, 2)",
    "return string.gsub('abc', 'b')", "return string.gsub('abc', 'b', 5)",
    "return string.gsub('abc', 'b', 'x', 1.5)", "return string.gsub('abc', 'b', true)",
    "return pcall(string.gsub, 'abc', 'b')", "return pcall(string.match, {}, 'b')",
    "return string.gmatch('x')", "return string.gmatch('x', 'x', {})",
    "return ('abc'):find('b')", "return ('abc'):gsub('b', 'x')",
    "return string.gsub('abc', '(b)', {b = {}})",
    "return string.gsub('abc', 'b', function() return {} end)",
    "return string.gsub('abc', '(b)', function(x) return 1.5 end)",
    "return string.gsub('abc', 'b', 'x', -1)",
    "return string.find(('a'):rep(300), ('a?'):rep(199))",
    "return string.find(('a'):rep(300), ('a?'):rep(200))",
    "return string.find(('a'):rep(300), ('a*'):rep(250))",
    "return string.find(('a'):rep(40), ('(a)'):rep(32))",
    "return string.find(('a'):rep(40), ('(a)'):rep(33))",
    "return string.match(('a'):rep(40), ('()'):rep(33))",
    "local it = string.gmatch('abab', 'ab') it() it() return it(), it()",
    ("local co = coroutine.wrap(function(it) return it() end)\n"
     "local it = string.gmatch('a1b2', '%a(%d)') return co(it), it()"),
  };
  stock_compare_chunks(st, chunks, sizeof chunks / sizeof chunks[0]);
}

/* ---- hand-computed results in our state ---- */


static void test_gsub_replacements(void **state) {
  states *st = *state;
  assert_string_equal(ours(st, "return string.gsub('hello world', '(%w+)', '<%1>')"), "<hello> <world>|2");
  assert_string_equal(ours(st, "return string.gsub('hello world', '%w+', '%0 %0', 1)"), "hello hello world|1");
  assert_string_equal(ours(st, "return string.gsub('abc', '%w', '%%')"), "%%%|3");
  assert_string_equal(ours(st, "return string.gsub('abc', '%w', 5)"), "555|3");
  assert_string_equal(ours(st, "return string.gsub('$name is $age', '%$(%w+)', {name = 'Ann', age = 42})"), "Ann is 42|2");
  assert_string_equal(ours(st, "return string.gsub('a b c', '%a', function(c) if c ~= 'b' then return c:upper() end end)"), "A b C|3");
  assert_string_equal(ours(st, "return string.gsub('a b', '%a', {a = false})"), "a b|2");
  assert_string_equal(ours(st, "return string.gsub('k=v', '(%w)=(%w)', function(k, v) return v .. '=' .. k end)"), "v=k|1");
  assert_string_equal(ours(st, "return string.gsub('abc', '', '-')"), "-a-b-c-|4");
  assert_string_equal(ours(st, "return string.gsub('abc', 'b*', '-')"), "-a-c-|3");
  assert_string_equal(ours(st, "return string.gsub('aaa', 'a', 'b', 0)"), "aaa|0");
  assert_string_equal(ours(st, "return string.gsub('aaa', '^a', 'b')"), "baa|1");
  assert_string_equal(ours(st, "return string.gsub('abc', '()', '%1')"), "1a2b3c4|4");
  assert_string_equal(ours(st, "return string.gsub('abc', '%w', '%1')"), "abc|3");
  assert_string_equal(ours(st, "local t = setmetatable({}, {__index = function(_, k) return k:upper() end})\n"
                               "return string.gsub('ab', '%a', t)"), "AB|2");
  assert_error(st, "return string.gsub('abc', '(a)', '%2')", "invalid capture index %2");
  assert_error(st, "return string.gsub('abc', 'a', '%x')", "invalid use of '%' in replacement string");
  assert_error(st, "return string.gsub('abc', 'a', 'x%')", "invalid use of '%' in replacement string");
  assert_error(st, "return string.gsub('abc', 'a', {a = {}})", "invalid replacement value (a table)");
  assert_non_null(strstr(ours(st, "return string.gsub('abc', 'a')"), "(string/function/table expected, got no value)"));
}

static void test_gmatch(void **state) {
  states *st = *state;
  assert_string_equal(ours(st, "local r = '' for k, v in string.gmatch('a=1, b=2', '(%w+)=(%w+)') do r = r .. k .. v .. ';' end return r"),
                      "a1;b2;");
  assert_string_equal(ours(st, "local it = string.gmatch('abab', '()ab', 2) return it(), it()"), "3");
  assert_string_equal(ours(st, "local r = '' for m in string.gmatch('abc', 'b*') do r = r .. '[' .. m .. ']' end return r"),
                      "[][b][]");
  assert_string_equal(ours(st, "local n = 0 for m in string.gmatch('abc', '') do n = n + 1 end return n"), "4");
  assert_string_equal(ours(st, "local it = string.gmatch('^a^a', '^a') return it(), it(), it()"), "^a|^a");
  assert_string_equal(ours(st, "local it = string.gmatch('abc', '.', 10) return it()"), "");
  assert_string_equal(ours(st, "local it = string.gmatch('abc', '.', -1) return it()"), "c");
}

static void test_frontier_and_balance(void **state) {
  states *st = *state;
  assert_string_equal(ours(st, "return string.find('THE (quick) fox', '%f[%a]%a+', 5)"), "6|10");
  assert_string_equal(ours(st, "return string.gsub('the cat sat', '%f[%w]%w+', 'X')"), "X X X|3");
  assert_string_equal(ours(st, "return string.find('hello', '%f[%A]')"), "6|5");
  assert_string_equal(ours(st, "return string.find('hello', '%f[%a]')"), "1|0");
  assert_string_equal(ours(st, "return string.match('x = f(a(b)c) + 1', '%b()')"), "(a(b)c)");
  assert_string_equal(ours(st, "return string.find('((', '%b()')"), "nil");
  assert_string_equal(ours(st, "return string.match('[[x]]y', '%b[]')"), "[[x]]");
  assert_string_equal(ours(st, "return string.match(\"'a'b'\", \"%b''\")"), "'a'");
}

static void test_captures_and_anchors(void **state) {
  states *st = *state;
  assert_string_equal(ours(st, "return string.match([[say \"hi\" and 'yo']], [[([\"'])(.-)%1]])"), "\"|hi");
  assert_string_equal(ours(st, "return string.find('abcabc', '(abc)%1')"), "1|6|abc");
  assert_string_equal(ours(st, "return string.match('xyyx', '(.)(.)%2%1')"), "x|y");
  assert_string_equal(ours(st, "return string.match('hello', '()ll()')"), "3|5");
  assert_string_equal(ours(st, "return string.find('abc', '()')"), "1|0|1");
  assert_string_equal(ours(st, "return string.find('abc', '^b')"), "nil");
  assert_string_equal(ours(st, "return string.find('abc', '^b', 2)"), "2|2");
  assert_string_equal(ours(st, "return string.find('a$c', '$c')"), "2|3");
  assert_string_equal(ours(st, "return string.match('abc', 'c$')"), "c");
  assert_string_equal(ours(st, "return string.match('abc', 'b$')"), "nil");
  assert_string_equal(ours(st, "return string.find('a+b', '+', 1, true)"), "2|2");
  assert_string_equal(ours(st, "return string.find('abc', '', 4)"), "4|3");
  assert_string_equal(ours(st, "return string.find('abc', '', 5)"), "nil");
  assert_string_equal(ours(st, "return string.match('  key = value ', '^%s*(%w+)%s*=%s*(%w+)%s*$')"), "key|value");
}

/* Long needles: memchr/memcmp would be quadratic; the search switches to
 * a linear one and still finds the first occurrence. */
static void test_plain_find_long_needles(void **state) {
  states *st = *state;
  assert_string_equal(ours(st, "return string.find(('a'):rep(300000) .. 'b', ('a'):rep(100000) .. 'b', 1, true)"),
                      "200001|300001");
  assert_string_equal(ours(st, "return string.find(('a'):rep(300000) .. 'b', ('a'):rep(100000) .. 'b')"),
                      "200001|300001");
  assert_string_equal(ours(st, "return string.find(('a'):rep(300000), ('a'):rep(100000) .. 'b', 1, true)"), "nil");
  assert_string_equal(ours(st, "return string.find('xxabcabc', 'abc', 4, true)"), "6|8");
  assert_string_equal(ours(st, "return string.find('abc', 'abcd', 1, true)"), "nil");
  assert_string_equal(ours(st, "return string.find('abc', 'c', -1, true)"), "3|3");
}

static void test_pattern_errors(void **state) {
  states *st = *state;
  assert_error(st, "return string.find('abc', '%')", "malformed pattern (ends with '%')");
  assert_error(st, "return string.find('abc', '[a')", "malformed pattern (missing ']')");
  assert_error(st, "return string.find('abc', '%fa')", "missing '[' after '%f' in pattern");
  assert_error(st, "return string.find('abc', '%ba')", "malformed pattern (missing arguments to '%b')");
  assert_error(st, "return string.match('abc', 'a)')", "invalid pattern capture");
  assert_error(st, "return string.match('abc', '(a')", "unfinished capture");
  assert_error(st, "return string.match('abc', '(a)%2')", "invalid capture index %2");
  assert_error(st, "return string.match(('a'):rep(40), ('(a)'):rep(33))", "too many captures");
  assert_error(st, "return string.find(('a'):rep(250), ('a?'):rep(250))", "pattern too complex");
  /* no special character: a plain search, like stock */
  assert_string_equal(ours(st, "return string.find('abc', 'a)')"), "nil");
}

/* ---- budget ---- */

static void test_budget_stops_backtracking(void **state) {
  states *st = *state;
  set_budget_limit(st->ours, 50);
  assert_string_equal(ours(st, "return pcall(string.find, ('a'):rep(200), 'a-a-a-a-b')"), "false|budget exceeded");
  assert_int_equal(budget_calls(st->ours), 51);
  set_budget_limit(st->ours, 20);
  assert_error(st, "return string.match(('a'):rep(5000), '(.-)%1b')", "budget exceeded");
  set_budget_limit(st->ours, 20);
  assert_error(st, "return string.gsub(('x'):rep(1e6), 'x', 'y')", "budget exceeded");
  set_budget_limit(st->ours, 20);
  assert_error(st, "local n = 0 for _ in string.gmatch(('x'):rep(1e6), '.') do n = n + 1 end return n",
               "budget exceeded");
  set_budget_limit(st->ours, 0);
  /* ordinary matches cost about one step per character tried */
  assert_string_equal(ours(st, "return string.find(('a'):rep(10000) .. 'b', 'a*b')"), "1|10001");
  assert_true(budget_calls(st->ours) >= 10000 / LP_STEP_INTERVAL);
  assert_true(budget_calls(st->ours) <= 4 * 10000 / LP_STEP_INTERVAL);
}

static sb_status run_in_sandbox(sandbox *sb, const char *src) {
  sb_policy p = {"catastrophic.lua", src, strlen(src), "/tmp"};
  return sb_run_policy(sb, &p, NULL, NULL, NULL);
}

static void test_sandbox_kills_catastrophic_patterns(void **state) {
  (void)state;
  sb_limits lim;
  sb_default_limits(&lim);
  lim.seconds = 0.2;
  sandbox *sb = sb_new(&lim, "/tmp");
  assert_non_null(sb);
  static const char *const bombs[] = {
    "return string.find(('a'):rep(200), 'a-a-a-a-b')",
    "return pcall(string.find, ('a'):rep(200), 'a-a-a-a-b')",
    "return ('a'):rep(200):match('.-.-.-.-.-b')",
    "return string.gsub(('a'):rep(300), 'a*a*a*a*b', '')",
    "for m in string.gmatch(('a'):rep(300), '(a-)(a-)(a-)b') do end",
  };
  for (size_t i = 0; i < sizeof bombs / sizeof bombs[0]; i++) {
    assert_int_equal(run_in_sandbox(sb, bombs[i]), SB_ELIMIT);
    assert_int_equal(sb_killed(sb), SB_KILL_TIMEOUT);
  }
  assert_int_equal(run_in_sandbox(sb, "return string.find('hello', 'l+')"), SB_OK);
  sb_free(sb);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_differential_table),
    cmocka_unit_test(test_differential_random),
    cmocka_unit_test(test_differential_arguments),
    cmocka_unit_test(test_gsub_replacements),
    cmocka_unit_test(test_gmatch),
    cmocka_unit_test(test_frontier_and_balance),
    cmocka_unit_test(test_captures_and_anchors),
    cmocka_unit_test(test_plain_find_long_needles),
    cmocka_unit_test(test_pattern_errors),
    cmocka_unit_test(test_budget_stops_backtracking),
    cmocka_unit_test(test_sandbox_kills_catastrophic_patterns),
  };
  return cmocka_run_group_tests(tests, setup_states, stock_compare_teardown);
}
