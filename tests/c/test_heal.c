/* test_heal.c: the parts of self-healing that need no network: payload
 * validation (each bad field named), the test notification, recording with
 * (PID, State) as the idempotency key, the group-commit batch, the healing
 * queue's order, and which URLs may carry a token. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "heal/heal.h"
#include "ledger/ledger.h"
#include "ledger_downgrade.h"

static const char OPEN[] =
    "{\"State\":\"OPEN\",\"ProblemID\":\"P-22013995\",\"PID\":\"-58_1641224100000V2\","
    "\"ProblemTitle\":\"Response time degradation\",\"Tags\":\"app:checkout\","
    "\"ImpactedEntities\":[{\"type\":\"SERVICE\",\"name\":\"checkout\",\"entity\":\"SERVICE-1\"}],"
    "\"ProblemDetails\":{\"id\":\"-58_1641224100000V2\",\"startTime\":1641224100000}}";

static int parse(const char *body, heal_problem *p, char *err, size_t n) {
  return heal_parse_payload(body, strlen(body), p, err, n);
}

static void accepts_the_payload(void **state) {
  (void)state;
  heal_problem p;
  char err[300];
  assert_int_equal(parse(OPEN, &p, err, sizeof err), 0);
  assert_string_equal(p.state, "OPEN");
  assert_string_equal(p.pid, "-58_1641224100000V2");
  assert_string_equal(p.problem_id, "P-22013995");
  assert_int_equal(p.start_ms, 1641224100000LL);
  assert_false(p.is_test);
}

static void refuses_each_bad_field_by_name(void **state) {
  (void)state;
  static const struct { const char *body, *named; } cases[] = {
    {"{\"PID\":\"1\",\"ImpactedEntities\":[]}", "State"},
    {"{\"State\":\"OPEN\",\"ImpactedEntities\":[]}", "PID"},
    {"{\"State\":\"open\",\"PID\":\"1\",\"ImpactedEntities\":[]}", "State"},
    {"{\"State\":\"OPEN\",\"PID\":\"\",\"ImpactedEntities\":[]}", "PID"},
    {"{\"State\":\"OPEN\",\"PID\":1,\"ImpactedEntities\":[]}", "PID"},
    {"{\"State\":\"OPEN\",\"PID\":\"1\"}", "ImpactedEntities"},
    {"{\"State\":\"OPEN\",\"PID\":\"1\",\"ImpactedEntities\":\"[{}]\"}", "ImpactedEntities"},
    {"{\"State\":\"OPEN\",\"PID\":\"1\",\"ImpactedEntities\":[{\"name\":\"x\"}]}", "ImpactedEntities[0]"},
    {"{\"State\":\"OPEN\",\"PID\":\"1\",\"ImpactedEntities\":[],\"Tags\":[1]}", "Tags"},
    {"{\"State\":\"OPEN\",\"PID\":\"a\\nb\",\"ImpactedEntities\":[]}", "PID"},
    {"{\"State\":\"OPEN\",\"PID\":\"1\",\"ImpactedEntities\":{ImpactedEntities}}", "not JSON"},
    {"[1,2]", "object"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    heal_problem p;
    char err[300] = "";
    assert_int_equal(parse(cases[i].body, &p, err, sizeof err), -1);
    if (!strstr(err, cases[i].named)) fail_msg("case %zu: '%s' does not name %s", i, err, cases[i].named);
  }
}

static void knows_the_test_notification(void **state) {
  (void)state;
  heal_problem p;
  char err[300];
  assert_int_equal(parse("{\"State\":\"OPEN\",\"PID\":\"99999\",\"ProblemTitle\":\"x\",\"ImpactedEntities\":"
                         "[{\"entity\":\"HOST-XXXXXXXXXXXXX\"}]}", &p, err, sizeof err), 0);
  assert_true(p.is_test);
  assert_int_equal(parse("{\"State\":\"OPEN\",\"PID\":\"7\",\"ProblemTitle\":\"" HEAL_TEST_TITLE "\","
                         "\"ImpactedEntities\":[]}", &p, err, sizeof err), 0);
  assert_true(p.is_test);
  /* a real problem with PID 99999 is not a test */
  assert_int_equal(parse("{\"State\":\"OPEN\",\"PID\":\"99999\",\"ProblemTitle\":\"x\",\"ImpactedEntities\":"
                         "[{\"entity\":\"SERVICE-1\"}]}", &p, err, sizeof err), 0);
  assert_false(p.is_test);
}

/* The payloads of tests/fixtures/webhook/ (the original template, the
 * proposed extended one with two entities, the test notification). */
static void accepts_the_recorded_payloads(void **state) {
  (void)state;
  static const struct { const char *file, *state; int test; int64_t start; } cases[] = {
    {"unbreakable_OPEN_example_constructed.json", "OPEN", 0, 0},
    {"unbreakable_RESOLVED_example_constructed.json", "RESOLVED", 0, 0},
    {"unbreakable-extended_OPEN_two-entities_constructed.json", "OPEN", 0, 1641224100000LL},
    {"unbreakable_test-notification_constructed.json", "OPEN", 1, 0},
  };
  const char *dir = getenv("UB_TESTS");
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char path[4200], err[300];
    size_t len;
    snprintf(path, sizeof path, "%s/fixtures/webhook/%s", dir ? dir : "tests", cases[i].file);
    char *body = ub_read_all(path, 1 << 20, &len, err, sizeof err);
    if (!body) fail_msg("%s", err);
    heal_problem p;
    if (heal_parse_payload(body, len, &p, err, sizeof err) != 0) fail_msg("%s: %s", cases[i].file, err);
    assert_string_equal(p.state, cases[i].state);
    assert_int_equal(p.is_test, cases[i].test);
    assert_int_equal(p.start_ms, cases[i].start);
    free(body);
  }
}

static char *temp_ledger(void) {
  char *path = strdup("/tmp/ub-test-heal-XXXXXX");
  int fd = mkstemp(path);
  close(fd);
  unlink(path);
  return path;
}

static void drop(char *path) {
  char side[300];
  unlink(path);
  snprintf(side, sizeof side, "%s-wal", path);
  unlink(side);
  snprintf(side, sizeof side, "%s-shm", path);
  unlink(side);
  free(path);
}

static void records_once_per_pid_and_state(void **state) {
  (void)state;
  char *path = temp_ledger(), err[600];
  ub_ledger *l = ledger_open(path, err, sizeof err);
  assert_non_null(l);
  heal_problem p;
  assert_int_equal(parse(OPEN, &p, err, sizeof err), 0);
  int64_t a = 0, b = 0, c = 0;
  int dup = -1;
  assert_int_equal(heal_record(l, &p, OPEN, strlen(OPEN), &a, &dup), LEDGER_OK);
  assert_false(dup);
  assert_int_equal(heal_record(l, &p, OPEN, strlen(OPEN), &b, &dup), LEDGER_OK);
  assert_true(dup);
  assert_int_equal(a, b);
  snprintf(p.state, sizeof p.state, "RESOLVED");
  assert_int_equal(heal_record(l, &p, OPEN, strlen(OPEN), &c, &dup), LEDGER_OK);
  assert_false(dup);
  assert_true(c != a);
  /* the queue: oldest pending first */
  ledger_action n;
  assert_int_equal(ledger_action_next(l, "problem", "pending", &n), LEDGER_OK);
  assert_int_equal(n.id, a);
  assert_string_equal(n.payload_json, OPEN);
  ledger_action_free(&n);
  assert_int_equal(ledger_action_update(l, a, "handled", NULL), LEDGER_OK);
  assert_int_equal(ledger_action_next(l, "problem", "pending", &n), LEDGER_OK);
  assert_int_equal(n.id, c);
  ledger_action_free(&n);
  assert_int_equal(ledger_action_update(l, c, "handled", NULL), LEDGER_OK);
  assert_int_equal(ledger_action_next(l, "problem", "pending", &n), LEDGER_NOT_FOUND);
  ledger_close(l);
  drop(path);
}

static void a_batch_dedupes_inside_itself(void **state) {
  (void)state;
  char *path = temp_ledger(), err[600];
  ub_ledger *l = ledger_open(path, err, sizeof err);
  assert_non_null(l);
  heal_intake v[3];
  memset(v, 0, sizeof v);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(parse(OPEN, &v[i].p, err, sizeof err), 0);
    v[i].body = OPEN;
  }
  snprintf(v[2].p.pid, sizeof v[2].p.pid, "other");
  assert_int_equal(heal_record_many(l, v, 3), LEDGER_OK);
  assert_false(v[0].duplicate);
  assert_true(v[1].duplicate);
  assert_int_equal(v[0].id, v[1].id);
  assert_false(v[2].duplicate);
  ledger_action *rows = NULL;
  size_t n = 0;
  assert_int_equal(ledger_actions_recent(l, "problem", 0, &rows, &n), LEDGER_OK);
  assert_int_equal(n, 2);
  ledger_actions_free(rows, n);
  ledger_close(l);
  drop(path);
}

/* A ledger of schema 3 (serve before self-healing) gains the queue's index
 * when opened, keeping what it held. */
static void a_version_3_ledger_migrates(void **state) {
  (void)state;
  char *path = temp_ledger(), err[600];
  assert_int_equal(ledger_downgrade(path, "DROP INDEX actions_by_state; DELETE FROM schema_migrations WHERE version = 4;"
                                          "PRAGMA user_version = 3;"), 0);
  ub_ledger *l = ledger_open(path, err, sizeof err);
  assert_non_null(l);
  ledger_close(l);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM sqlite_schema WHERE name = 'actions_by_state'),"
                                          " (SELECT count(*) FROM schema_migrations WHERE version = 4)", -1, &st, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), 1);
  assert_int_equal(sqlite3_column_int(st, 1), 1);
  sqlite3_finalize(st);
  sqlite3_close(db);
  drop(path);
}

static void tokens_go_only_over_tls_or_loopback(void **state) {
  (void)state;
  assert_true(heal_url_allowed("https://dev.azure.com/org"));
  assert_true(heal_url_allowed("http://127.0.0.1:8080"));
  assert_true(heal_url_allowed("http://localhost:1/x"));
  assert_true(heal_url_allowed("http://[::1]:9"));
  assert_false(heal_url_allowed("http://dev.azure.com/org"));
  assert_false(heal_url_allowed("http://localhost.evil.example/"));
  assert_false(heal_url_allowed("http://10.0.0.1/"));
  assert_false(heal_url_allowed("ftp://dev.azure.com/"));
  assert_false(heal_url_allowed("https://"));
  /* credentials belong in AZURE_DEVOPS_TOKEN, never in a URL the context, reads and logs show */
  assert_false(heal_url_allowed("https://user:pat-secret@dev.azure.com/org"));
  assert_false(heal_url_allowed("http://x@127.0.0.1:8080"));
  assert_true(heal_url_allowed("https://dev.azure.com/org/a@b"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(accepts_the_payload),
      cmocka_unit_test(refuses_each_bad_field_by_name),
      cmocka_unit_test(knows_the_test_notification),
      cmocka_unit_test(accepts_the_recorded_payloads),
      cmocka_unit_test(records_once_per_pid_and_state),
      cmocka_unit_test(a_batch_dedupes_inside_itself),
      cmocka_unit_test(a_version_3_ledger_migrates),
      cmocka_unit_test(tokens_go_only_over_tls_or_loopback),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
