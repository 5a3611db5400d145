/* test_serve.c: the pieces of `serve` that decide on their own: spec names
 * under --specs, the callback allow-list, the job token's seal, the
 * TaskCompleted ids of both hub rules, the verdict-to-status mapping, how
 * a worker's answer is read, the worker frames and the ledger's pending
 * callbacks. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "azure/ado.h"
#include "ledger/ledger.h"
#include "ledger_downgrade.h"
#include "serve/serve.h"
#include "util/spec_path.h"
#include "serve/serve_frame.h"

static char root[4096];

static void write_file(const char *dir, const char *name, const char *text) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static int setup_specs(void **state) {
  (void)state;
  char tmpl[] = "/tmp/ub-serve-specs-XXXXXX", out[] = "/tmp/ub-serve-out-XXXXXX";
  assert_non_null(mkdtemp(tmpl));
  assert_non_null(mkdtemp(out));
  assert_non_null(realpath(tmpl, root));
  char sub[4200], link[4200], target[4200];
  snprintf(sub, sizeof sub, "%s/gates", root);
  assert_int_equal(mkdir(sub, 0700), 0);
  write_file(root, "a.json", "{}");
  write_file(sub, "p.lua", "return {}");
  write_file(out, "secret.lua", "return {}");
  snprintf(target, sizeof target, "%s/secret.lua", out);
  snprintf(link, sizeof link, "%s/gates/link.lua", root);
  assert_int_equal(symlink(target, link), 0);
  return 0;
}

static void test_spec_names_stay_inside(void **state) {
  (void)state;
  char out[4096], err[600];
  assert_int_equal(ub_spec_path(root, "a.json", out, sizeof out, err, sizeof err), 0);
  assert_int_equal(ub_spec_path(root, "gates/p.lua", out, sizeof out, err, sizeof err), 0);
  const char *bad[] = {"", "/etc/passwd", "../a.json", "gates/../a.json", "gates//p.lua", "./a.json",
                       "gates/link.lua", "gates", "missing.json", "gates\\p.lua", NULL};
  for (int i = 0; bad[i]; i++) {
    err[0] = '\0';
    assert_int_equal(ub_spec_path(root, bad[i], out, sizeof out, err, sizeof err), -1);
    assert_true(err[0] != '\0');
  }
}

static void test_callback_allow_list(void **state) {
  (void)state;
  serve_config c;
  memset(&c, 0, sizeof c);
  char a[] = "https://dev.azure.com/", b[] = "https://*.visualstudio.com/";
  c.allow[0] = a, c.allow[1] = b, c.nallow = 2;
  assert_true(serve_callback_allowed(&c, "https://dev.azure.com/myorg/"));
  assert_true(serve_callback_allowed(&c, "https://myaccount.visualstudio.com/"));
  assert_false(serve_callback_allowed(&c, "https://dev.azure.com.evil.example/"));
  assert_false(serve_callback_allowed(&c, "https://evil.example/https://dev.azure.com/"));
  assert_false(serve_callback_allowed(&c, "https://a.b.visualstudio.com/"));
  assert_false(serve_callback_allowed(&c, "https://.visualstudio.com/"));
  assert_false(serve_callback_allowed(&c, "https://dev.azure.com@evil.example/"));
  assert_false(serve_callback_allowed(&c, "http://dev.azure.com/"));
  assert_false(serve_callback_allowed(&c, "https://dev.azure.com/ x"));
  /* the review's SSRF variants (all held): userinfo, suffix and label tricks,
   * ports, trailing dots, IDN bytes, encoded separators, controls */
  assert_true(serve_callback_allowed(&c, "HTTPS://DEV.AZURE.COM/myorg/"));
  const char *refused[] = {
    "https://dev.azure.com@evil/", "https://x:y@dev.azure.com/", "https://dev.azure.com%40evil/",
    "https://dev.azure.com.evil/", "https://dev.azure.com./", "https://dev.azure.com:8443/",
    "https://dev.azure.com\\@evil/", "https://evil.com/x.visualstudio.com/",
    "https://evil.com#.visualstudio.com/", "https://evil.com?.visualstudio.com/",
    "https://x.visualstudio.com.evil/", "https://x.visualstudio.com:444/", "https://x.visualstudio.com./",
    "https://\xd0\xb5vil.visualstudio.com/", "https://x%2eevil.visualstudio.com/",
    "https://dev.azure.com\t/", "https://dev.azure.com/\r\nHost: evil/", "//dev.azure.com/",
    "https:/dev.azure.com/", "", NULL};
  for (int i = 0; refused[i]; i++) {
    if (serve_callback_allowed(&c, refused[i])) fail_msg("allowed: %s", refused[i]);
  }
}

static void test_seal_round_trip_and_tamper(void **state) {
  (void)state;
  unsigned char key[32], other[32];
  serve_seal_key("a-serve-token-of-enough-length", key);
  serve_seal_key("another-serve-token-entirely", other);
  unsigned char *sealed;
  size_t len;
  assert_int_equal(serve_seal(key, "job-token", &sealed, &len), 0);
  assert_null(memmem(sealed, len, "job-token", 9));
  char *plain = serve_unseal(key, sealed, len);
  assert_string_equal(plain, "job-token");
  free(plain);
  assert_null(serve_unseal(other, sealed, len));
  sealed[len / 2] ^= 1;
  assert_null(serve_unseal(key, sealed, len));
  free(sealed);
}

static void test_task_completed_ids(void **state) {
  (void)state;
  ado_plan p = {"https://dev.azure.com/o/", "proj", "release", "plan", "JOB", "tl", "TASK"};
  const char *job, *task;
  ado_completed_ids(&p, 3, &job, &task);
  assert_string_equal(job, "JOB");
  assert_string_equal(task, "TASK");
  p.hub_name = "Gates";
  ado_completed_ids(&p, 12, &job, &task);
  assert_string_equal(job, "TASK");
  assert_string_equal(task, ADO_EMPTY_GUID);
  ado_completed_ids(&p, 13, &job, &task);
  assert_string_equal(job, "JOB");
  assert_string_equal(task, "TASK");
}

static void test_status_mapping_fails_closed(void **state) {
  (void)state;
  serve_gate_result r;
  serve_gate_result_init(&r);
  assert_string_equal(serve_status_of(&r, 0), "error"); /* the worker died */
  /* rc (the gate's exit status), verdict, then the status without and with fail_on_warning */
  const struct { int rc; const char *verdict, *status, *strict; } cases[] = {
    {0, "pass", "success", "success"}, {0, "warning", "success", "failure"},
    {1, "warning", "error", "failure"}, {1, "fail", "failure", "failure"},
    {4, "inconclusive", "inconclusive", "inconclusive"}, {3, "error", "error", "error"},
    {0, "", "error", "error"}, {0, "bogus", "error", "error"}, {0, "PASS", "error", "error"},
    /* the policy decided, then the run failed (the decision was not recorded): never a pass */
    {3, "pass", "error", "error"}, {3, "warning", "error", "error"}, {2, "pass", "error", "error"},
    {1, "pass", "error", "error"}, {4, "pass", "error", "error"}, {7, "fail", "error", "error"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    r.rc = cases[i].rc;
    snprintf(r.verdict, sizeof r.verdict, "%s", cases[i].verdict);
    assert_string_equal(serve_status_of(&r, 0), cases[i].status);
    assert_string_equal(serve_status_of(&r, 1), cases[i].strict);
  }
  r.rc = 0;
  snprintf(r.verdict, sizeof r.verdict, "pass");
  snprintf(r.error, sizeof r.error, "the policy failed");
  assert_string_equal(serve_status_of(&r, 0), "error");
  serve_gate_result_free(&r);
}

/* A pool of one fake worker (a shell script) that answers `answer` to any
 * request; fills r with what the server read from it. */
static void read_worker_answer(const char *answer, serve_gate_result *r) {
  char dir[] = "/tmp/ub-serve-worker-XXXXXX", exe[4200], err[300];
  assert_non_null(mkdtemp(dir));
  snprintf(exe, sizeof exe, "%s/worker", dir);
  FILE *f = fopen(exe, "w");
  assert_non_null(f);
  size_t n = strlen(answer);
  fprintf(f, "#!/bin/sh\nprintf '\\%03o\\%03o\\%03o\\%03o%%s' '%s' >&4\nexec cat <&3 >/dev/null\n",
          (unsigned)(n >> 24) & 0xff, (unsigned)(n >> 16) & 0xff, (unsigned)(n >> 8) & 0xff, (unsigned)n & 0xff,
          answer);
  fclose(f);
  assert_int_equal(chmod(exe, 0700), 0);
  serve_pool *p = serve_pool_new(exe, 1, err, sizeof err);
  assert_non_null(p);
  serve_pool_run(p, 0, "{}", 60, NULL, r);
  serve_pool_free(p);
  unlink(exe);
  rmdir(dir);
}

/* The status the server would give for a worker that answers `answer`. */
static const char *status_of_worker_answer(const char *answer, char *status, size_t size) {
  serve_gate_result r;
  serve_gate_result_init(&r);
  read_worker_answer(answer, &r);
  snprintf(status, size, "%s", serve_status_of(&r, 0));
  serve_gate_result_free(&r);
  return status;
}

static void test_worker_answers_are_read_closed(void **state) {
  (void)state;
  char status[32];
  const char *good[] = {
    "{\"rc\":0,\"verdict\":\"pass\"}",
    "{\"rc\":0.0,\"verdict\":\"pass\"}",         /* a whole number written as a float */
    "{\"verdict_json\":{\"a\":[1,{\"rc\":3}]},\"rc\":0,\"messages\":\"m\",\"verdict\":\"pass\"}",
    NULL};
  for (int i = 0; good[i]; i++)
    assert_string_equal(status_of_worker_answer(good[i], status, sizeof status), "success");
  /* a verdict as deep as the worker encodes one (100) is an answer, not a damaged frame */
  char deep[512];
  snprintf(deep, sizeof deep, "{\"rc\":0,\"verdict\":\"pass\",\"verdict_json\":{\"a\":%.*s1%.*s}}", 98,
           "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", 98,
           "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
  assert_string_equal(status_of_worker_answer(deep, status, sizeof status), "success");
  const char *bad[] = {
    "{\"rc\":0,\"rc\":0,\"verdict\":\"pass\"}",     /* said twice */
    "{\"rc\":0,\"verdict\":\"pass\"} {}",          /* more after the answer */
    "{\"rc\":0,\"verdict\":\"pass\",\"x\":[1,",       /* cut short */
    "{\"rc\":0,\"verdict\":[\"pass\"]}",             /* a verdict that is not text */
    "{\"verdict\":\"pass\"}",                    /* no exit status */
    "{\"rc\":0.5,\"verdict\":\"pass\"}",         /* not a whole number */
    "{\"rc\":4294967296,\"verdict\":\"pass\"}",  /* 0 once cut to an int */
    "{\"rc\":\"0\",\"verdict\":\"pass\"}",       /* not a number */
    "{\"rc\":3,\"verdict\":\"pass\"}",           /* decided, then failed */
    "{\"rc\":0,\"verdict\":\"Pass\"}",           /* an unknown verdict */
    "{\"rc\\u0000\":0,\"verdict\":\"pass\"}",       /* a key that is not "rc" (a NUL in it) */
    "{\"rc\":3,\"rc\\u0000\":0,\"verdict\":\"pass\"}", /* ... said after the real one */
    "[0]", "not json", NULL};
  for (int i = 0; bad[i]; i++) assert_string_equal(status_of_worker_answer(bad[i], status, sizeof status), "error");
}

/* An answer found damaged is refused whole: nothing read before the
 * damage (a summary, messages, an evaluation id to link a report to)
 * reaches the server's answer. */
static void test_a_damaged_worker_answer_leaves_nothing(void **state) {
  (void)state;
  serve_gate_result r;
  serve_gate_result_init(&r);
  read_worker_answer("{\"evaluation\":7,\"summary\":\"all good\",\"messages\":\"hello\","
                     "\"dt_requests\":3,\"rc\":0,\"verdict\":\"pass\",\"x\":[1,", &r);
  assert_int_equal(r.rc, -1);
  assert_string_equal(r.verdict, "error");
  assert_int_equal(r.evaluation, 0);
  assert_string_equal(r.summary, "");
  assert_int_equal(r.messages.len, 0);
  assert_int_equal(r.dt_requests, 0);
  serve_gate_result_free(&r);
}

/* serve_json_field names a member by its whole key: "objectives\u0000x"
 * (a policy's verdict may hold one) is not "objectives". */
static void test_json_field_keys_are_whole(void **state) {
  (void)state;
  ub_buf out;
  ub_buf_init(&out);
  const char *json = "{\"objectives\\u0000x\":1,\"objectives\":[2]}";
  serve_json_field(&out, json, strlen(json), "objectives");
  assert_string_equal(out.data, "[2]");
  ub_buf_reset(&out);
  json = "{\"objectives\\u0000\":1}";
  serve_json_field(&out, json, strlen(json), "objectives");
  assert_string_equal(out.data, "null");
  ub_buf_free(&out);
}

static void test_frames(void **state) {
  (void)state;
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  assert_int_equal(serve_frame_write(fds[1], "{\"a\":1}", 7), 0);
  assert_int_equal(serve_frame_write(fds[1], "{}", 2), 0);
  close(fds[1]);
  serve_frame_reader r;
  serve_frame_reader_init(&r);
  ub_buf out;
  ub_buf_init(&out);
  assert_int_equal(serve_frame_read(fds[0], &r, &out, 0), 1);
  assert_string_equal(out.data, "{\"a\":1}");
  assert_int_equal(serve_frame_read(fds[0], &r, &out, 0), 1);
  assert_string_equal(out.data, "{}");
  assert_int_equal(serve_frame_read(fds[0], &r, &out, 0), -1);
  ub_buf_free(&out);
  serve_frame_reader_free(&r);
  close(fds[0]);
}

static void test_ledger_pending_callbacks(void **state) {
  (void)state;
  char path[4200], err[600];
  snprintf(path, sizeof path, "%s/ledger.db", root);
  ub_ledger *l = ledger_open(path, err, sizeof err);
  assert_non_null(l);
  unsigned char sealed[] = {1, 2, 3};
  ledger_callback c = {.plan_url = "https://dev.azure.com/o/", .project_id = "p", .hub_name = "gates",
                       .plan_id = "pl", .job_id = "j", .timeline_id = "t", .task_instance_id = "ti",
                       .token_sealed = sealed, .token_sealed_len = 3, .request_json = "{}",
                       .deadline_ms = 123};
  int64_t id1, id2;
  assert_int_equal(ledger_callback_put(l, &c, &id1), LEDGER_OK);
  assert_int_equal(ledger_callback_put(l, &c, &id2), LEDGER_OK);
  assert_int_equal(ledger_callback_attempt(l, id1, "HTTP 503"), LEDGER_OK);
  assert_int_equal(ledger_callback_finish(l, id2, "completed", "succeeded", NULL), LEDGER_OK);
  assert_int_equal(ledger_callback_finish(l, id2, "failed", NULL, "again"), LEDGER_NOT_FOUND);
  ledger_callback *v;
  size_t n;
  assert_int_equal(ledger_callbacks_pending(l, &v, &n), LEDGER_OK);
  assert_int_equal(n, 1);
  assert_int_equal(v[0].id, id1);
  assert_int_equal(v[0].attempts, 1);
  assert_string_equal(v[0].last_error, "HTTP 503");
  assert_int_equal(v[0].token_sealed_len, 3);
  assert_int_equal(v[0].deadline_ms, 123);
  ledger_callbacks_free(v, n);
  ledger_close(l);
}

/* A ledger of schema 2 (before serve) gains pending_callbacks when it is
 * opened, keeping what it held. */
static void test_ledger_migrates_version_2(void **state) {
  (void)state;
  char path[4200], err[600];
  snprintf(path, sizeof path, "%s/old.db", root);
  assert_int_equal(ledger_downgrade(path, "DROP TABLE pending_callbacks; DELETE FROM schema_migrations WHERE version >= 3;"
                                          "PRAGMA user_version = 2;"), 0);
  ub_ledger *l = ledger_open(path, err, sizeof err);
  assert_non_null(l);
  ledger_callback c = {.plan_url = "u", .project_id = "p", .hub_name = "h", .plan_id = "pl", .job_id = "j",
                       .timeline_id = "t", .task_instance_id = "ti", .request_json = "{}", .deadline_ms = 1};
  int64_t id;
  assert_int_equal(ledger_callback_put(l, &c, &id), LEDGER_OK);
  ledger_close(l);
}

/* serve opens the ledger from several threads of one process while its
 * workers write it. Opening one more connection must keep the locks of
 * the others (a close() of any descriptor of the file drops them all);
 * else another process that closes its connection takes itself for the
 * last one and check-points and deletes the WAL under them: the ledger
 * then reads as "not a database" and recent rows are lost. */
static void test_ledger_opens_keep_the_process_locks(void **state) {
  (void)state;
  char dir[] = "/tmp/ub-serve-locks-XXXXXX", path[4200], wal[4300], err[600];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/ledger.db", dir);
  snprintf(wal, sizeof wal, "%s-wal", path);
  ub_ledger *kept = ledger_open(path, err, sizeof err);
  assert_non_null(kept);
  ub_ledger *other = ledger_open(path, err, sizeof err); /* as serve's routes and callbacks do */
  assert_non_null(other);
  ledger_close(other);
  /* another process (this test run again: SQLite must not cross a fork)
   * tries what only a ledger nobody holds allows */
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    execl("/proc/self/exe", "test_serve", "--leave-wal", path, (char *)NULL);
    _exit(127);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 1); /* refused: this process still holds the ledger */
  struct stat st;
  assert_int_equal(stat(wal, &st), 0); /* still there: this process has a connection open */
  ledger_close(kept);
}

/* The other process of test_ledger_opens_keep_the_process_locks: takes
 * the ledger out of WAL mode, which needs every other connection gone.
 * 0 when it could, 1 when the ledger is held. */
static int leave_wal(const char *path) {
  sqlite3 *db = NULL;
  int rc = sqlite3_open(path, &db) == SQLITE_OK &&
           sqlite3_exec(db, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) == SQLITE_OK;
  sqlite3_stmt *st = NULL;
  int left = rc && sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK &&
             sqlite3_step(st) == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "delete") == 0;
  sqlite3_finalize(st);
  sqlite3_close(db);
  return left ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--leave-wal") == 0) return leave_wal(argv[2]);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_spec_names_stay_inside),
    cmocka_unit_test(test_callback_allow_list),
    cmocka_unit_test(test_seal_round_trip_and_tamper),
    cmocka_unit_test(test_task_completed_ids),
    cmocka_unit_test(test_status_mapping_fails_closed),
    cmocka_unit_test(test_worker_answers_are_read_closed),
    cmocka_unit_test(test_a_damaged_worker_answer_leaves_nothing),
    cmocka_unit_test(test_json_field_keys_are_whole),
    cmocka_unit_test(test_frames),
    cmocka_unit_test(test_ledger_pending_callbacks),
    cmocka_unit_test(test_ledger_migrates_version_2),
    cmocka_unit_test(test_ledger_opens_keep_the_process_locks),
  };
  return cmocka_run_group_tests(tests, setup_specs, NULL);
}
