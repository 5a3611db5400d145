/* test_options.c: the one option parser of every command (cli/options.c):
 * checked numbers (NaN, inf, hex, blanks, garbage and ranges refused),
 * empty paths refused, repeatable options, "--name=value", positional
 * arguments anywhere or ending the options, help. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cli/cli.h"
#include "cli/options.h"

static void test_numbers(void **state) {
  (void)state;
  char why[128];
  double v;
  static const char *const bad[] = {"nan", "NaN", "inf", "-inf", "infinity", "1e999", "0x10", " 5",
                                    "5 ", "+5", "5x", "", ".", "-", "1e", "--1", "1.2.3"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_int_equal(ub_parse_number(bad[i], -1e9, 1e9, 0, 0, &v, why, sizeof why), -1);
  assert_int_equal(ub_parse_number("2.5", 1, 10, 0, 0, &v, why, sizeof why), 0);
  assert_true(v == 2.5);
  assert_int_equal(ub_parse_number("1e3", 1, 1e4, 1, 0, &v, why, sizeof why), 0);
  assert_true(v == 1000);
  assert_int_equal(ub_parse_number("1e-300", 1, 10, 0, 0, &v, why, sizeof why), -1);
  assert_non_null(strstr(why, "minimum of 1"));
  assert_int_equal(ub_parse_number("0", 0, 10, 0, 1, &v, why, sizeof why), -1);
  assert_non_null(strstr(why, "more than 0"));
  assert_int_equal(ub_parse_number("11", 0, 10, 0, 0, &v, why, sizeof why), -1);
  assert_non_null(strstr(why, "maximum of 10"));
  assert_int_equal(ub_parse_number("1.5", 0, 10, 1, 0, &v, why, sizeof why), -1);
  assert_non_null(strstr(why, "whole"));
}

static void test_ids(void **state) {
  (void)state;
  long long id;
  assert_int_equal(ub_parse_id("42", &id), 0);
  assert_int_equal(id, 42);
  static const char *const bad[] = {"0", "-1", "1.5", "x", "", "1e400", "99999999999999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) assert_int_equal(ub_parse_id(bad[i], &id), -1);
}

typedef struct parsed {
  double window;
  const char *ledger, *format;
  int flag;
  ub_opt_list tags;
} parsed;

static int parse(parsed *p, int argc, char **argv, const char **pos, int *npos, int stop, int *rest) {
  const ub_opt opts[] = {
    UB_NUMBER("window", &p->window, 1, 100, .unit = "(minutes)"),
    UB_PATH("ledger", &p->ledger),
    UB_STRING("format", &p->format),
    UB_FLAG("flag", &p->flag),
    UB_LIST("tag", &p->tags),
    UB_OPTS_END};
  const ub_opt_spec spec = {"test", "help text\n", opts, stop};
  return ub_opts_parse(&spec, argc, argv, pos, 2, npos, rest);
}

static void test_parse(void **state) {
  (void)state;
  parsed p;
  memset(&p, 0, sizeof p);
  char *argv[] = {"cmd", "ID", "--window=5", "--tag", "a", "--flag", "--tag", "b", "--format", "",
                  "--", "--ledger"};
  const char *pos[2];
  int npos;
  assert_int_equal(parse(&p, 12, argv, pos, &npos, 0, NULL), 0);
  assert_true(p.window == 5);
  assert_int_equal(p.flag, 1);
  assert_string_equal(p.format, "");          /* a string may be empty, a path may not */
  assert_int_equal((int)p.tags.n, 2);
  assert_string_equal(p.tags.items[1], "b");
  assert_int_equal(npos, 2);
  assert_string_equal(pos[0], "ID");
  assert_string_equal(pos[1], "--ledger");    /* after "--", only positional arguments */
  ub_opt_list_free(&p.tags);
}

static void test_usage_errors(void **state) {
  (void)state;
  char *empty_path[] = {"cmd", "--ledger", ""};
  char *bad_number[] = {"cmd", "--window", "nan"};
  char *under[] = {"cmd", "--window", "1e-300"};
  char *unknown[] = {"cmd", "--nope"};
  char *missing[] = {"cmd", "--window"};
  char *flag_value[] = {"cmd", "--flag=1"};
  char *too_many[] = {"cmd", "a", "b", "c"};
  char **cases[] = {empty_path, bad_number, under, unknown, missing, flag_value, too_many};
  int counts[] = {3, 3, 3, 2, 2, 2, 4};
  for (size_t i = 0; i < sizeof counts / sizeof *counts; i++) {
    parsed p;
    memset(&p, 0, sizeof p);
    const char *pos[2];
    int npos;
    assert_int_equal(parse(&p, counts[i], cases[i], pos, &npos, 0, NULL), UB_EXIT_USAGE);
    ub_opt_list_free(&p.tags);
  }
}

static void test_stop_at_positional_and_help(void **state) {
  (void)state;
  parsed p;
  memset(&p, 0, sizeof p);
  char *argv[] = {"cmd", "--window", "3", "CALL", "--other", "x"};
  int rest;
  assert_int_equal(parse(&p, 6, argv, NULL, NULL, 1, &rest), 0);
  assert_int_equal(rest, 3);
  char *help[] = {"cmd", "--window", "3", "-h"};
  assert_int_equal(parse(&p, 4, help, NULL, NULL, 0, NULL), UB_OPTS_HELP);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_numbers), cmocka_unit_test(test_ids), cmocka_unit_test(test_parse),
    cmocka_unit_test(test_usage_errors), cmocka_unit_test(test_stop_at_positional_and_help)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
