/* test_policytest.c: the pieces of `unbreakable test` and bundles that are
 * easiest to get wrong: which Lua lines count for coverage, and which
 * bundle entry paths are safe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bundle/bundle.h"
#include "policytest/policytest.h"

static void expect_lines(const char *src, const char *want) {
  size_t n = 0;
  unsigned char *code = pt_code_lines(src, strlen(src), &n);
  assert_non_null(code);
  char got[64] = {0};
  for (size_t i = 0; i < n && i < sizeof got - 1; i++) got[i] = code[i] ? 'x' : '.';
  assert_string_equal(got, want);
  free(code);
}

static void code_lines(void **state) {
  (void)state;
  expect_lines("local x = 1\n\n-- comment\nreturn x\n", "x..x.");
  expect_lines("if a then\n  b()\nelse\n  c()\nend\n", "xx.x..");
  expect_lines("--[[ long\ncomment ]] x = 1\n", ".x.");
  expect_lines("local s = [[\nlong\nstring]]\n", "x.x.");
  expect_lines("local function f(a)\n  return a\nend\n", ".x..");
  expect_lines("return function(ctx)\n  return {\n    verdict = \"pass\",\n  }\nend\n", ".xx...");
  expect_lines("function M.f()\n  return 1\nend\n", "xx..");
  expect_lines("local t = { -- open\n  \"a --not a comment\",\n}\n", "xx..");
  expect_lines("#!/usr/bin/lua\nprint(1)\n", ".x.");
}

static void safe_paths(void **state) {
  (void)state;
  const char *good[] = {"policy.lua", "lib/util.lua", "a/b/c.json", "x-y_z.1.lua", NULL};
  const char *bad[] = {"", "/etc/passwd", "../x.lua", "a/../../x", "a/./b", "./a", "a//b", "a/",
                       "a\\b", "a b.lua", "tab\tname", "caf\xc3\xa9.lua", "a/..", ".", "..", NULL};
  for (int i = 0; good[i]; i++) assert_true(ub_bundle_safe_path(good[i]));
  for (int i = 0; bad[i]; i++) {
    if (ub_bundle_safe_path(bad[i])) fail_msg("accepted unsafe path '%s'", bad[i]);
  }
  char longest[600];
  memset(longest, 'a', sizeof longest - 1);
  longest[sizeof longest - 1] = '\0';
  assert_false(ub_bundle_safe_path(longest));
}

static sb_status run_named(sandbox *sb, const char *name, const char *src) {
  sb_policy p = {name, src, strlen(src), NULL};
  return sb_run_policy(sb, &p, NULL, NULL, NULL);
}

static sb_status run_source(sandbox *sb, const char *src) {
  sb_policy p = {"/virtual/policy.lua", src, strlen(src), NULL};
  return sb_run_policy(sb, &p, NULL, NULL, NULL);
}

/* The line hook records the lines that ran, and the limits still hold
 * while it is on (the count events keep coming). */
static void line_hook_and_limits(void **state) {
  (void)state;
  sb_limits lim;
  sb_default_limits(&lim);
  lim.instructions = 200000;
  sandbox *sb = sb_new(&lim, getenv("UB_STDLIB"));
  assert_non_null(sb);
  pt_coverage *cov = pt_coverage_new();
  sb_set_line_hook(sb, pt_coverage_hook, cov);
  assert_int_equal(run_source(sb, "local x = 1\nif x > 2 then\n  x = 3\nend\nreturn x\n"), SB_OK);
  ub_buf b;
  ub_buf_init(&b);
  pt_coverage_lcov(cov, &b);
  assert_non_null(strstr(b.data, "SF:/virtual/policy.lua\n"));
  assert_non_null(strstr(b.data, "DA:1,1\n"));
  assert_non_null(strstr(b.data, "DA:2,1\n"));
  assert_null(strstr(b.data, "DA:3,1\n")); /* not run */
  assert_non_null(strstr(b.data, "DA:5,1\n"));
  ub_buf_free(&b);
  /* lines run inside a coroutine are covered too */
  assert_int_equal(run_named(sb, "/virtual/co.lua",
                             "local co = coroutine.wrap(function()\n  coroutine.yield(1)\n"
                             "  local a = 2\n  return a\nend)\nco()\nreturn co()\n"), SB_OK);
  ub_buf_init(&b);
  pt_coverage_lcov(cov, &b);
  const char *co = strstr(b.data, "SF:/virtual/co.lua\n");
  assert_non_null(co);
  assert_non_null(strstr(co, "DA:3,1\n")); /* after a yield: a resumed coroutine */
  assert_non_null(strstr(co, "DA:4,1\n"));
  ub_buf_free(&b);
  assert_int_equal(run_source(sb, "while true do end\n"), SB_ELIMIT);
  assert_int_equal(sb_killed(sb), SB_KILL_INSTRUCTIONS);
  assert_int_equal(run_source(sb, "local t = {}\nfor i = 1, 10 do t[i] = i end\nreturn #t\n"), SB_OK);
  sb_free(sb);
  pt_coverage_free(cov);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(code_lines), cmocka_unit_test(safe_paths),
                                     cmocka_unit_test(line_hook_and_limits)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
