/* test_dt_cli.c: `unbreakable dt` run in-process. Without arguments it is
 * a cmocka test of the command's usage and replay paths; with arguments
 * ("dt CALL ...") it is the command itself, so end-to-end scripts can
 * drive the client before the main binary wires the command in. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

int ub_cmd_dt(int argc, char **argv);

static int run(int argc, const char **argv) { return ub_cmd_dt(argc, (char **)argv); }

static void test_usage_errors(void **state) {
  (void)state;
  const char *no_call[] = {"dt"};
  assert_int_equal(run(1, no_call), 2);
  const char *odd[] = {"dt", "metrics", "m", "--from"};
  assert_int_equal(run(4, odd), 2);
  unsetenv("DT_TENANT_URL");
  const char *no_url[] = {"dt", "metrics", "m"};
  assert_int_equal(run(3, no_url), 2);
}

static void test_replay_answers_without_network(void **state) {
  (void)state;
  char path[] = "/tmp/ub_dt_cli_recXXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  const char rec[] =
      "{\"version\":1,\"exchanges\":[{\"method\":\"GET\",\"target\":\"/api/v2/metrics/query?metricSelector=m"
      "&from=1\",\"status\":200,\"attempts\":1,\"content_type\":\"application/json\",\"error\":null,"
      "\"body\":\"{\\\"totalCount\\\":1,\\\"resolution\\\":\\\"Inf\\\",\\\"result\\\":[{\\\"metricId\\\":\\\"m\\\","
      "\\\"data\\\":[{\\\"dimensions\\\":[],\\\"dimensionMap\\\":{},\\\"timestamps\\\":[5],\\\"values\\\":[2.5]}]}]}\"}]}";
  assert_int_equal(write(fd, rec, sizeof rec - 1), (ssize_t)(sizeof rec - 1));
  close(fd);
  const char *ok[] = {"dt", "--replay", path, "metrics", "m", "--from", "1"};
  assert_int_equal(run(7, ok), 0);
  const char *missing[] = {"dt", "--replay", path, "metrics", "m", "--from", "2"};
  assert_int_equal(run(7, missing), 3);
  unlink(path);
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "dt")) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = ub_cmd_dt(argc - 1, argv + 1);
    curl_global_cleanup();
    return rc;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_usage_errors),
      cmocka_unit_test(test_replay_answers_without_network),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
