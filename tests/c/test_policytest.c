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

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(code_lines), cmocka_unit_test(safe_paths)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
