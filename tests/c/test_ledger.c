/* test_ledger.c: the decision ledger: digests, redaction, schema and file
 * checks (foreign, corrupt, newer files), evaluations round trip, history,
 * baselines, invalidation, events, actions, and several processes writing
 * at once.
 * One suite, two back ends: with UB_TEST_DATABASE_URL set (ctest runs it as
 * c.test_ledger_pg under tests/sim/pg_server.py) every test runs on its own
 * fresh PostgreSQL schema instead of a fresh SQLite file; the checks of the
 * file itself (WAL, permissions, corruption, SQLite migrations) are skipped
 * there and PostgreSQL's own (foreign schema, concurrent migration, no
 * password in errors) run instead.
 * Also a helper for the e2e scripts (not a test):
 *   test_ledger --write-fixture DB      records the report fixtures
 *   test_ledger --write-many DB N TAG   records N small evaluations */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sqlite3.h>

#include "store/store.h"

#include "util/digest.h"
#include "ledger/ledger.h"
#include "ledger/ledger_internal.h"
#include "ledger/ledger_redact.h"
#include "ledger_fixture.h"
#include "report/report_html.h"
#include "report/report_units.h"

/* ---- helpers ------------------------------------------------------------ */

typedef struct fixture {
  char dir[64];
  char path[512];        /* the SQLite file, or the URL of a fresh PostgreSQL schema */
  char schema[64];       /* PostgreSQL: the schema, "" on SQLite */
} fixture;

/* The PostgreSQL server of this run, or NULL: run on SQLite files. */
static const char *pg_url(void) {
  const char *url = getenv("UB_TEST_DATABASE_URL");
  return url && *url ? url : NULL;
}

/* Runs sql on the database of url (one statement, no rows); 0 on success. */
static int pg_admin(const char *url, const char *sql) {
  char err[256];
  store *db = store_open_pg(url, err, sizeof err);
  int rc = db && store_errclass_of(db) == STORE_E_NONE && store_exec(db, sql) == STORE_OK ? 0 : -1;
  if (rc != 0) print_error("postgres: %s: %s\n", sql, db ? store_errmsg(db) : err);
  store_close(db);
  return rc;
}

/* A URL whose connections use schema only (search_path). */
static void schema_url(char *out, size_t len, const char *url, const char *schema) {
  snprintf(out, len, "%s%soptions=-csearch_path%%3D%s", url, strchr(url, '?') ? "&" : "?", schema);
}

static int setup_pg_schema(fixture *f) {
  static int counter;
  snprintf(f->schema, sizeof f->schema, "t_%ld_%d", (long)getpid(), ++counter);
  char sql[128];
  snprintf(sql, sizeof sql, "CREATE SCHEMA %s", f->schema);
  if (pg_admin(pg_url(), sql) != 0) return -1;
  schema_url(f->path, sizeof f->path, pg_url(), f->schema);
  return 0;
}

static int setup_dir(void **state) {
  fixture *f = calloc(1, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "/tmp/ub-ledger-test-XXXXXX");
  if (!mkdtemp(f->dir)) return -1;
  snprintf(f->path, sizeof f->path, "%s/sub/ledger.db", f->dir);
  *state = f;
  return pg_url() ? setup_pg_schema(f) : 0;
}

static int teardown_dir(void **state) {
  fixture *f = *state;
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  int rc = system(cmd);
  if (f->schema[0]) {
    snprintf(cmd, sizeof cmd, "DROP SCHEMA %s CASCADE", f->schema);
    if (pg_admin(pg_url(), cmd) != 0) rc = -1;
  }
  free(f);
  return rc == 0 ? 0 : -1;
}

/* A check of the SQLite file itself: skipped on PostgreSQL. */
#define SQLITE_FILE_ONLY()   \
  do {                       \
    if (pg_url()) skip();    \
  } while (0)
#define PG_ONLY()            \
  do {                       \
    if (!pg_url()) skip();   \
  } while (0)

static ub_ledger *open_ok(const char *path) {
  char err[512] = "";
  ub_ledger *l = ledger_open(path, err, sizeof err);
  if (!l) print_error("ledger_open: %s\n", err);
  assert_non_null(l);
  return l;
}

static char *redact_str(const char *in, const char *secret) {
  ub_buf out;
  const char *secrets[] = {secret};
  ub_buf_init(&out);
  int n = ledger_redact(in, strlen(in), secrets, secret ? 1 : 0, &out);
  assert_true(n >= 0);
  ub_buf_puts(&out, "");
  return out.data;
}

static void assert_redacts(const char *in, const char *secret, const char *want) {
  char *got = redact_str(in, secret);
  assert_string_equal(got, want);
  free(got);
}

/* Runs one SQL statement on the file directly, returning the first
 * column of the first row as an integer (or -1). */
static long long sql_int(const char *path, const char *sql) {
  char err[256];
  store *db = store_is_pg_target(path) ? store_open_pg(path, err, sizeof err)
                                       : store_open_sqlite(path, 5000, err, sizeof err);
  store_stmt *st;
  long long v = -1;
  assert_non_null(db);
  assert_int_equal(store_errclass_of(db), STORE_E_NONE);
  if (store_prepare(db, sql, &st) == STORE_OK) {
    if (store_step(st) == STORE_ROW) v = store_column_int64(st, 0);
    store_finalize(st);
  }
  store_close(db);
  return v;
}

static void write_file(const char *path, const void *data, size_t len) {
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(data, 1, len, fp), len);
  fclose(fp);
}

/* 1 when needle occurs in the bytes of file path (missing file: 0). */
static int file_contains(const char *path, const char *needle) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return 0;
  ub_buf b;
  char chunk[65536];
  size_t n;
  ub_buf_init(&b);
  while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0) ub_buf_append(&b, chunk, n);
  fclose(fp);
  size_t k = strlen(needle);
  int found = 0;
  for (size_t i = 0; !found && k && i + k <= b.len; i++) found = memcmp(b.data + i, needle, k) == 0;
  ub_buf_free(&b);
  return found;
}

static int64_t record(ub_ledger *l, const char *service, const char *stage, const char *kind,
                      const char *verdict) {
  int64_t id = 0;
  ledger_eval_start s = {.requested_by = "cli:test@host", .service = service, .stage = stage,
                         .kind = kind, .spec = {"spec.json", "{}", 2},
                         .policy = {"p.lua", "return 1", 8}, .ctx_json = "{}"};
  assert_int_equal(ledger_begin_evaluation(l, &s, &id), LEDGER_OK);
  if (verdict) {
    ledger_eval_result r = {.status = "finished", .verdict = verdict, .verdict_json = "{}"};
    assert_int_equal(ledger_finish_evaluation(l, id, &r), LEDGER_OK);
  }
  return id;
}

/* ---- digest and redaction -------------------------------------------------- */

static void sha256_known_vectors(void **state) {
  (void)state;
  char hex[65];
  assert_int_equal(ub_sha256_hex("", 0, hex), 0);
  assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert_int_equal(ub_sha256_hex("abc", 3, hex), 0);
  assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert_true(ub_is_sha256_hex(hex));
  assert_false(ub_is_sha256_hex("BA7816BF"));
}

static void redact_removes_every_secret_form(void **state) {
  (void)state;
  assert_redacts("GET /x?q=1 with abc123XYZ inside", "abc123XYZ", "GET /x?q=1 with *** inside");
  assert_redacts("Authorization: Api-Token s3cr3t-value\r\n", NULL, "Authorization: Api-Token ***\r\n");
  assert_redacts("authorization: bearer eyJhbGciOi.x.y", NULL, "authorization: bearer ***");
  assert_redacts("Authorization: Basic dXNlcjpwYXNz", NULL, "Authorization: Basic ***");
  assert_redacts("basic OnBhdDEyMw==", NULL, "basic ***");
  assert_redacts("https://fn.azurewebsites.net/api/gate?code=Zm9v%3D%3D&x=1", NULL,
                 "https://fn.azurewebsites.net/api/gate?code=***&x=1");
  assert_redacts("/api/v1/events?Api-Token=abc&x=2", NULL, "/api/v1/events?Api-Token=***&x=2");
  assert_redacts("{\"token\": \"abc\", \"authToken\":\"a\\\"b\", \"dynatraceToken\" : 42}", NULL,
                 "{\"token\": \"***\", \"authToken\":\"***\", \"dynatraceToken\" : \"***\"}");
  assert_redacts("{\"apiToken\":null,\"password\":\"pw\"}", NULL,
                 "{\"apiToken\":null,\"password\":\"***\"}");
  assert_redacts("token dt0c01.ABCDEFG.HIJKLMN end", NULL, "token dt0c01.*** end");
}

/* A registered secret also goes when it is written with JSON escapes,
 * percent-encoded, or inside base64 (Basic credentials ":secret" and
 * "user:secret" without the "Basic" word); a Dynatrace token whose dot is
 * encoded keeps only its prefix. */
static void redact_removes_encoded_secrets(void **state) {
  (void)state;
  const char *secret = "s3cr/t+Tok=en42";
  assert_redacts("{\"echo\":\"s3cr\\/t+Tok=en42\"}", secret, "{\"echo\":\"***\"}");
  assert_redacts("x s3cr\\u002ft\\u002BTok=en42 y", secret, "x *** y");
  assert_redacts("/x?q=s3cr%2Ft%2BTok%3Den42&y=1", secret, "/x?q=***&y=1");
  assert_redacts("{\"auth\":\"OnMzY3IvdCtUb2s9ZW40Mg==\"}", secret, "{\"auth\":\"On***g==\"}");
  assert_redacts("X-Auth: dXNlcjpzM2NyL3QrVG9rPWVuNDI=", secret, "X-Auth: dXNlcjp***I=");
  assert_redacts("X-Auth: YWI6czNjci90K1Rvaz1lbjQy", secret, "X-Auth: YWI6***");
  assert_redacts("x ab%41cd\\/y z", "ab%41cd\\/y", "x *** z"); /* a secret holding escapes */
  assert_redacts("t dt0c01%2EABCDEFG.HIJKLMN e", NULL, "t dt0c01%2E*** e");
  assert_redacts("t dt0c01\\u002eABCDEFG\\u002eHIJKLMN e", NULL, "t dt0c01\\u002e*** e");
}

static void redact_keeps_ordinary_text(void **state) {
  (void)state;
  assert_redacts("service Basic checkout, Basic Checkout, Basic auth", NULL,
                 "service Basic checkout, Basic Checkout, Basic auth");
  const char *text = "{\"error\":{\"code\":400,\"message\":\"Token is missing\"},"
                     "\"nextPageKey\":\"abc\",\"barcode=1\":2} ?encode=3 dt0c01";
  assert_redacts(text, NULL, text);
  assert_redacts(text, "", text);
  char *empty = redact_str("", "x");
  assert_string_equal(empty, "");
  free(empty);
}

/* ---- paths and opening --------------------------------------------------------- */

static void resolve_path_precedence(void **state) {
  (void)state;
  char out[256], err[256];
  setenv("HOME", "/home/u", 1);
  unsetenv("XDG_DATA_HOME");
  unsetenv("UB_LEDGER");
  assert_int_equal(ledger_resolve_path(NULL, out, sizeof out, err, sizeof err), 0);
  assert_string_equal(out, "/home/u/.local/share/unbreakable/ledger.db");
  setenv("XDG_DATA_HOME", "/data", 1);
  assert_int_equal(ledger_resolve_path(NULL, out, sizeof out, err, sizeof err), 0);
  assert_string_equal(out, "/data/unbreakable/ledger.db");
  setenv("UB_LEDGER", "/env/l.db", 1);
  assert_int_equal(ledger_resolve_path(NULL, out, sizeof out, err, sizeof err), 0);
  assert_string_equal(out, "/env/l.db");
  assert_int_equal(ledger_resolve_path("/flag.db", out, sizeof out, err, sizeof err), 0);
  assert_string_equal(out, "/flag.db");
  unsetenv("UB_LEDGER");
  unsetenv("XDG_DATA_HOME");
  unsetenv("HOME");
  assert_int_equal(ledger_resolve_path(NULL, out, sizeof out, err, sizeof err), -1);
  assert_non_null(strstr(err, "--ledger"));
}

static void open_creates_private_wal_file(void **state) {
  SQLITE_FILE_ONLY();
  fixture *f = *state;
  ub_ledger *l = open_ok(f->path);
  ledger_close(l);
  struct stat st;
  assert_int_equal(stat(f->path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(sql_int(f->path, "PRAGMA user_version"), LEDGER_SCHEMA_VERSION);
  assert_int_equal(sql_int(f->path, "PRAGMA application_id"), 0x55424c44);
  assert_int_equal(sql_int(f->path, "SELECT count(*) FROM schema_migrations"), LEDGER_SCHEMA_VERSION);
  /* WAL is persistent: a plain connection sees it. */
  sqlite3 *db;
  sqlite3_stmt *q;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(q), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
  sqlite3_finalize(q);
  sqlite3_close(db);
  /* Reopening an existing ledger keeps its records. */
  l = open_ok(f->path);
  int64_t id = record(l, "s", "t", "monspec", "pass");
  ledger_close(l);
  l = open_ok(f->path);
  ledger_evaluation e;
  assert_int_equal(ledger_get_evaluation(l, id, &e), LEDGER_OK);
  ledger_evaluation_free(&e);
  ledger_close(l);
}

static void expect_open_error(const char *path, const char *fragment) {
  char err[512] = "";
  ub_ledger *l = ledger_open(path, err, sizeof err);
  assert_null(l);
  if (!strstr(err, fragment) || getenv("UB_TEST_VERBOSE")) print_error("error was: %s\n", err);
  assert_non_null(strstr(err, fragment));
  assert_non_null(strstr(err, path));
}

static void foreign_files_get_clear_errors(void **state) {
  SQLITE_FILE_ONLY();
  fixture *f = *state;
  char path[192];
  snprintf(path, sizeof path, "%s/text.db", f->dir);
  write_file(path, "hello", 5);
  expect_open_error(path, "not an SQLite database");
  snprintf(path, sizeof path, "%s/random.db", f->dir);
  char noise[8192];
  for (size_t i = 0; i < sizeof noise; i++) noise[i] = (char)(i * 7919 % 251);
  write_file(path, noise, sizeof noise);
  expect_open_error(path, "not an SQLite database");
  /* An SQLite file of another application. */
  snprintf(path, sizeof path, "%s/other.db", f->dir);
  assert_int_equal(sql_int(path, "CREATE TABLE notes(x)"), -1);
  expect_open_error(path, "not an unbreakable ledger");
  assert_int_equal(sql_int(path, "PRAGMA application_id = 1234"), -1);
  expect_open_error(path, "another application");
  /* A ledger from a newer build. */
  ledger_close(open_ok(f->path));
  assert_int_equal(sql_int(f->path, "PRAGMA user_version = 99"), -1);
  expect_open_error(f->path, "newer unbreakable");
}

static void corrupt_ledger_gets_clear_error(void **state) {
  SQLITE_FILE_ONLY();
  fixture *f = *state;
  ub_ledger *l = open_ok(f->path);
  for (int i = 0; i < 40; i++) record(l, "svc", "stage", "monspec", "pass");
  ledger_close(l);
  /* Fold the WAL into the file, then scribble over the b-tree pages. */
  assert_int_equal(sql_int(f->path, "PRAGMA wal_checkpoint(TRUNCATE)"), 0);
  struct stat st;
  assert_int_equal(stat(f->path, &st), 0);
  assert_true(st.st_size > 4 * 4096);
  int fd = open(f->path, O_WRONLY);
  assert_true(fd >= 0);
  char junk[4096];
  memset(junk, 0x5a, sizeof junk);
  for (off_t page = 1; page * 4096 < st.st_size; page++)
    assert_int_equal(pwrite(fd, junk, sizeof junk, page * 4096), (ssize_t)sizeof junk);
  close(fd);
  expect_open_error(f->path, "corrupt");
  /* The schema page itself (after the 100-byte file header). */
  fd = open(f->path, O_WRONLY);
  assert_true(fd >= 0);
  assert_int_equal(pwrite(fd, junk, 4096 - 100, 100), 4096 - 100);
  close(fd);
  expect_open_error(f->path, "corrupt");
  /* Cut short in the middle of a page. */
  assert_int_equal(truncate(f->path, 4096 + 1000), 0);
  expect_open_error(f->path, "corrupt");
}

/* ---- evaluations --------------------------------------------------------------- */

static void evaluation_round_trip_for_replay(void **state) {
  fixture *f = *state;
  ub_ledger *l = open_ok(f->path);
  int64_t id = fixture_record_monspec(l);
  assert_true(id > 0);
  /* Added out of order: read back by seq. */
  ledger_request late = {.seq = 0, .binding = "dynatrace.entities", .method = "GET",
                         .url = "/api/v2/entities", .status = 500,
                         .error = "HTTP 500", .duration_ms = 1.5};
  assert_int_equal(ledger_add_request(l, id, &late), LEDGER_ERROR); /* finished: closed */
  assert_non_null(strstr(ledger_error(l), "already finished"));
  assert_int_equal(ledger_add_request(l, id + 1000, &late), LEDGER_NOT_FOUND);
  ledger_evaluation e;
  assert_int_equal(ledger_get_evaluation(l, id, &e), LEDGER_OK);
  assert_string_equal(e.kind, "monspec");
  assert_string_equal(e.service, "carts");
  assert_string_equal(e.stage, "staging");
  assert_string_equal(e.status, "finished");
  assert_string_equal(e.verdict, "fail");
  assert_false(e.has_score);
  assert_string_equal(e.spec.name, "monspec/carts.json");
  assert_int_equal(e.spec.len, sizeof FIXTURE_MONSPEC - 1);
  assert_memory_equal(e.spec.data, FIXTURE_MONSPEC, e.spec.len);
  assert_string_equal(e.policy.data, FIXTURE_POLICY);
  assert_null(e.sli.data);
  assert_non_null(strstr(e.ctx.data, "\"dynatraceToken\":\"***\""));
  char digest[65];
  ub_sha256_hex(FIXTURE_MONSPEC, sizeof FIXTURE_MONSPEC - 1, digest);
  assert_string_equal(e.spec.digest, digest);
  assert_int_equal(e.nrequests, 4);
  for (size_t i = 0; i < e.nrequests; i++) {
    assert_int_equal(e.requests[i].seq, (int)i + 1);
    assert_int_equal(e.requests[i].status, 200);
    assert_null(strstr(e.requests[i].url, FIXTURE_TOKEN));
    assert_non_null(strstr(e.requests[i].url, "api-token=***"));
    assert_non_null(strstr(e.requests[i].response_body.data, "\"totalCount\":1"));
  }
  assert_string_equal(e.requests[0].binding, "dynatrace.metrics");
  assert_true(e.created_ms > 0 && e.finished_ms >= e.created_ms);
  ledger_evaluation_free(&e);
  ledger_close(l);
}

static void requests_come_back_in_seq_order(void **state) {
  fixture *f = *state;
  ub_ledger *l = open_ok(f->path);
  int64_t id = record(l, "s", "t", "monspec", NULL);
  const int seqs[] = {3, 1, 2};
  for (int i = 0; i < 3; i++) {
    char body[32];
    snprintf(body, sizeof body, "{\"n\":%d}", seqs[i]);
    ledger_request r = {.seq = seqs[i], .binding = "b", .method = "GET", .url = "/u",
                        .status = 200, .response_body = body, .response_body_len = strlen(body)};
    assert_int_equal(ledger_add_request(l, id, &r), LEDGER_OK);
  }
  ledger_request dup = {.seq = 2, .binding = "b", .method = "GET", .url = "/u"};
  assert_int_equal(ledger_add_request(l, id, &dup), LEDGER_ERROR);
  /* a batch is all or nothing: seq 5 is fine, seq 1 exists, so neither lands */
  ledger_request batch[2] = {{.seq = 5, .binding = "b", .method = "GET", .url = "/v"},
                             {.seq = 1, .binding = "b", .method = "GET", .url = "/w"}};
  assert_int_equal(ledger_add_requests(l, id, batch, 2), LEDGER_ERROR);
  batch[1].seq = 4;
  assert_int_equal(ledger_add_requests(l, id, batch, 2), LEDGER_OK);
  ledger_evaluation e;
  assert_int_equal(ledger_get_evaluation(l, id, &e), LEDGER_OK);
  assert_string_equal(e.status, "running");
  assert_null(e.verdict);
  assert_int_equal(e.nrequests, 5);
  assert_string_equal(e.requests[0].response_body.data, "{\"n\":1}");
  assert_string_equal(e.requests[2].response_body.data, "{\"n\":3}");
  assert_int_equal(e.requests[3].seq, 4);
  assert_string_equal(e.requests[4].url, "/v");
  assert_null(e.requests[4].response_body.data);
  ledger_evaluation_free(&e);
  ledger_close(l);
}

static void content_is_stored_once(void **state) {
  fixture *f = *state;
  ub_ledger *l = open_ok(f->path);
  for (int i = 0; i < 5; i++) record(l, "s", "t", "monspec", "pass");
  ledger_close(l);
  /* spec "{}", ctx "{}" (same content), policy "return 1": 2 blobs. */
  assert_int_equal(sql_int(f->path, "SELECT count(*) FROM blobs"), 2);
  assert_int_equal(sql_int(f->path, "SELECT count(*) FROM evaluation_inputs"), 15);
}

static void nothing_secret_reaches_the_file(void **state) {
  SQLITE_FILE_ONLY();
  fixture *f = *state;
  ub_ledger *l = open_ok(f->path);
  assert_true(fixture_record_monspec(l) > 0);
  ledger_event ev = {.requested_by = "cli:x@y", .api = "v2", .target = "type(SERVICE)",
                     .request_body = "{\"title\":\"deploy " FIXTURE_TOKEN "\"}", .status = 201,
                     .response_body = "{\"reportCount\":1}", .outcome = "ok",
                     .message = "Authorization: Api-Token " FIXTURE_TOKEN};
  assert_int_equal(ledger_record_event(l, &ev, NULL), LEDGER_OK);
  ledger_close(l);
  char wal[600];
  snprintf(wal, sizeof wal, "%s-wal", f->path);
  assert_false(file_contains(f->path, FIXTURE_TOKEN));
  assert_false(file_contains(wal, FIXTURE_TOKEN));
  assert_false(file_contains(f->path, "G3DFPBEJYMODIDAEX454M7YWBUVEFOWKPRVMWFASS64NFH52PX6BNDVFFM572RZM"));
  /* The check itself can fail: the fixture text does reach the file. */
  assert_true(file_contains(f->path, "StagingToProduction") || file_contains(wal, "StagingToProduction"));
}

static void finish_twice_or_unknown_is_refused(void **state) {
  fixture *f = *state;
  ub_ledger *l = open_ok(f->path);
  int64_t id = record(l, "s", "t", "slo", "pass");
  ledger_request req = {.seq = 1, .binding = "dynatrace", .method = "GET", .url = "/api/x",
                        .status = 200, .response_body = "{}", .response_body_len = 2};
  ledger_eval_result r = {.status = "finished", .verdict = "fail", .requests = &req, .nrequests = 1};
  assert_int_equal(ledger_finish_evaluation(l, id, &r), LEDGER_NOT_FOUND);
  assert_int_equal(ledger_finish_evaluation(l, id + 100, &r), LEDGER_NOT_FOUND);
  /* the requests go with the outcome, in one transaction: a refused
   * outcome leaves none of them behind */
  ledger_close(l);
  assert_int_equal(sql_int(f->path, "SELECT count(*) FROM binding_requests"), 0);
  l = open_ok(f->path);
  int64_t id3 = record(l, "s", "t", "slo", NULL);
  assert_int_equal(ledger_finish_evaluation(l, id3, &r), LEDGER_OK);
  ledger_close(l);
  assert_int_equal(sql_int(f->path, "SELECT count(*) FROM binding_requests"), 1);
  l = open_ok(f->path);
  ledger_eval_result bad = {.status = "finished", .verdict = "maybe"};
  int64_t id2 = record(l, "s", "t", "slo", NULL);
  assert_int_equal(ledger_finish_evaluation(l, id2, &bad), LEDGER_ERROR);
  ledger_evaluation e;
  assert_int_equal(ledger_get_evaluation(l, id + 100, &e), LEDGER_NOT_FOUND);
  assert_non_null(strstr(ledger_error(l), "no evaluation"));
  ledger_close(l);
}

/* ---- history, baselines, invalidation ---------------------------------------- */

static void history_filters_newest_first(void **state) {
  fixture *f = *state;
  ub_ledger *l = open_ok(f->path);
  int64_t a = record(l, "carts", "staging", "monspec", "pass");
  int64_t b = record(l, "orders", "staging", "monspec", "fail");
  int64_t c = record(l, "carts", "prod", "slo", "warning");
  int64_t d = record(l, "carts", "staging", "slo", NULL);
  ledger_evaluation *v;
  size_t n;
  ledger_filter all = {0};
  assert_int_equal(ledger_history(l, &all, &v, &n), LEDGER_OK);
  assert_int_equal(n, 4);
  assert_true(v[0].id == d && v[1].id == c && v[2].id == b && v[3].id == a);
  ledger_evaluations_free(v, n);
  ledger_filter carts = {.service = "carts"};
  assert_int_equal(ledger_history(l, &carts, &v, &n), LEDGER_OK);
  assert_int_equal(n, 3);
  ledger_evaluations_free(v, n);
  ledger_filter staging2 = {.service = "carts", .stage = "staging", .limit = 1};
  assert_int_equal(ledger_history(l, &staging2, &v, &n), LEDGER_OK);
  assert_int_equal(n, 1);
  assert_true(v[0].id == d);
  ledger_evaluations_free(v, n);
  ledger_close(l);
}

static void baseline_respects_include_invalidation_and_order(void **state) {
  fixture *f = *state;
  ub_ledger *l = open_ok(f->path);
  int64_t p1 = record(l, "carts", "staging", "slo", "pass");
  int64_t w1 = record(l, "carts", "staging", "slo", "warning");
  int64_t f1 = record(l, "carts", "staging", "slo", "fail");
  int64_t p2 = record(l, "carts", "staging", "slo", "pass");
  record(l, "carts", "prod", "slo", "pass");         /* other stage */
  record(l, "carts", "staging", "monspec", "pass");  /* other kind */
  record(l, "carts", "staging", "slo", NULL);        /* still running */
  int64_t p3 = record(l, "carts", "staging", "slo", "pass");
  ledger_evaluation *v;
  size_t n;
  assert_int_equal(ledger_baseline(l, "carts", "staging", "slo", LEDGER_INCLUDE_PASS, 10, 0, &v, &n), LEDGER_OK);
  assert_int_equal(n, 3);
  assert_true(v[0].id == p3 && v[1].id == p2 && v[2].id == p1);
  ledger_evaluations_free(v, n);

  assert_int_equal(ledger_invalidate(l, p2, "load test ran against the wrong build"), LEDGER_OK);
  assert_int_equal(ledger_baseline(l, "carts", "staging", "slo", LEDGER_INCLUDE_PASS, 2, 0, &v, &n), LEDGER_OK);
  assert_int_equal(n, 2);
  assert_true(v[0].id == p3 && v[1].id == p1);
  ledger_evaluations_free(v, n);

  assert_int_equal(ledger_baseline(l, "carts", "staging", "slo", LEDGER_INCLUDE_PASS_OR_WARN, 10, p3, &v, &n), LEDGER_OK);
  assert_int_equal(n, 2);
  assert_true(v[0].id == w1 && v[1].id == p1);
  ledger_evaluations_free(v, n);

  assert_int_equal(ledger_baseline(l, "carts", "staging", "slo", LEDGER_INCLUDE_ALL, 10, 0, &v, &n), LEDGER_OK);
  assert_int_equal(n, 4);
  assert_true(v[0].id == p3 && v[1].id == f1 && v[2].id == w1 && v[3].id == p1);
  ledger_evaluations_free(v, n);

  assert_int_equal(ledger_baseline(l, "carts", "staging", NULL, LEDGER_INCLUDE_PASS, 10, 0, &v, &n), LEDGER_OK);
  assert_int_equal(n, 3); /* p3, the monspec pass, p1 */
  ledger_evaluations_free(v, n);
  assert_int_equal(ledger_include_parse("pass_or_warn"), LEDGER_INCLUDE_PASS_OR_WARN);
  assert_int_equal(ledger_include_parse("warn"), -1);
  ledger_close(l);
}

static void invalidate_keeps_record_and_first_reason(void **state) {
  fixture *f = *state;
  ub_ledger *l = open_ok(f->path);
  int64_t id = record(l, "carts", "staging", "monspec", "pass");
  assert_int_equal(ledger_invalidate(l, id, ""), LEDGER_ERROR);
  assert_int_equal(ledger_invalidate(l, id + 5, "x"), LEDGER_NOT_FOUND);
  assert_int_equal(ledger_invalidate(l, id, "first reason"), LEDGER_OK);
  assert_int_equal(ledger_invalidate(l, id, "second reason"), LEDGER_OK);
  ledger_evaluation e;
  assert_int_equal(ledger_get_evaluation(l, id, &e), LEDGER_OK);
  assert_int_equal(e.invalidated, 1);
  assert_string_equal(e.invalidated_reason, "first reason");
  assert_true(e.invalidated_ms > 0);
  assert_string_equal(e.verdict, "pass");
  ledger_evaluation_free(&e);
  ledger_close(l);
}

/* ---- events and actions ----------------------------------------------------------- */

/* SQLite statements are kept for reuse once finished: the same SQL
 * prepared while its first statement is still stepping gets a statement
 * of its own, and a reused one comes back reset, with no bindings left. */
static void reused_statements_start_clean(void **state) {
  fixture *f = *state;
  SQLITE_FILE_ONLY();
  char err[256];
  ledger_close(open_ok(f->path));
  store *db = store_open_sqlite(f->path, 5000, err, sizeof err);
  assert_non_null(db);
  assert_int_equal(store_errclass_of(db), STORE_E_NONE);
  const char *sql = "SELECT ?1 UNION ALL SELECT ?1 + 1";
  for (int round = 0; round < 3; round++) {
    store_stmt *a, *b;
    assert_int_equal(store_prepare(db, sql, &a), STORE_OK);
    assert_int_equal(store_bind_int64(a, 1, 10), STORE_OK);
    assert_int_equal(store_step(a), STORE_ROW);
    assert_int_equal(store_column_int64(a, 0), 10);  /* the first row: a reused a starts over */
    assert_int_equal(store_prepare(db, sql, &b), STORE_OK);
    assert_ptr_not_equal(a, b);
    assert_int_equal(store_step(b), STORE_ROW);
    assert_true(store_column_is_null(b, 0));        /* no binding left from an earlier round */
    assert_int_equal(store_reset(b), STORE_OK);
    assert_int_equal(store_bind_int64(b, 1, 20), STORE_OK);
    assert_int_equal(store_step(b), STORE_ROW);
    assert_int_equal(store_column_int64(b, 0), 20);
    assert_int_equal(store_column_int64(a, 0), 10); /* a is untouched */
    assert_int_equal(store_step(a), STORE_ROW);      /* a stopped halfway: finalize resets it */
    store_finalize(a);
    store_finalize(b);
  }
  store_stmt *two;
  assert_int_equal(store_prepare(db, "SELECT 1; SELECT 2", &two), STORE_OK);
  assert_int_equal(store_step(two), STORE_ROW);
  assert_int_equal(store_column_int64(two, 0), 1);
  store_finalize(two);
  assert_int_equal(store_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES (5)"), STORE_OK);
  store_stmt *q;
  assert_int_equal(store_prepare(db, "SELECT x FROM t", &q), STORE_OK);
  assert_int_equal(store_step(q), STORE_ROW);
  store_finalize(q);
  assert_int_equal(store_exec(db, "ALTER TABLE t ADD COLUMN y DEFAULT 6; DROP TABLE t;"
                                  "CREATE TABLE t(x); INSERT INTO t VALUES (7)"), STORE_OK);
  assert_int_equal(store_prepare(db, "SELECT x FROM t", &q), STORE_OK); /* cached, re-prepared */
  assert_int_equal(store_step(q), STORE_ROW);
  assert_int_equal(store_column_int64(q, 0), 7);
  store_finalize(q);
  store_close(db); /* closes the kept statements (LeakSanitizer checks) */
}

/* The freeze check runs on every gate: the actions of a kind and key are
 * found through an index, not by scanning every action ever recorded. */
static void actions_of_a_key_are_an_index_search(void **state) {
  fixture *f = *state;
  SQLITE_FILE_ONLY();
  ledger_close(open_ok(f->path));
  sqlite3 *db;
  sqlite3_stmt *q;
  char plan[1024] = "";
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, "EXPLAIN QUERY PLAN " LEDGER_SQL_ACTIONS_OF_KEY, -1, &q, NULL),
                   SQLITE_OK);
  while (sqlite3_step(q) == SQLITE_ROW) {
    strncat(plan, (const char *)sqlite3_column_text(q, 3), sizeof plan - strlen(plan) - 2);
    strcat(plan, ";");
  }
  sqlite3_finalize(q);
  sqlite3_close(db);
  if (!strstr(plan, "USING INDEX") || strstr(plan, "SCAN actions")) fail_msg("plan: %s", plan);
}

static void events_and_actions(void **state) {
  fixture *f = *state;
  ub_ledger *l = open_ok(f->path);
  int64_t ev_id = 0, a1 = 0, a2 = 0;
  int existed = -1;
  ledger_event ev = {.requested_by = "cli:x@y", .api = "v1", .target = "[Environment]carts",
                     .request_body = "{\"eventType\":\"CUSTOM_DEPLOYMENT\"}", .status = 200,
                     .response_body = "{\"storedEventIds\":[1]}", .outcome = "ok"};
  assert_int_equal(ledger_record_event(l, &ev, &ev_id), LEDGER_OK);
  assert_true(ev_id > 0);
  ledger_event bad = ev;
  bad.outcome = "maybe";
  assert_int_equal(ledger_record_event(l, &bad, NULL), LEDGER_ERROR);

  assert_int_equal(ledger_action_put(l, "rollback", "P-123", "P-123:rollback", "pending",
                                     "{\"release\":42}", &a1, &existed), LEDGER_OK);
  assert_int_equal(existed, 0);
  assert_int_equal(ledger_action_put(l, "rollback", "P-123", "P-123:rollback", "other",
                                     NULL, &a2, &existed), LEDGER_OK);
  assert_int_equal(existed, 1);
  assert_true(a1 == a2);
  assert_int_equal(ledger_action_update(l, a1, "done", NULL), LEDGER_OK);
  assert_int_equal(ledger_action_update(l, a1 + 9, "done", NULL), LEDGER_NOT_FOUND);
  ledger_action a;
  assert_int_equal(ledger_action_get(l, "P-123:rollback", &a), LEDGER_OK);
  assert_string_equal(a.state, "done");
  assert_string_equal(a.payload_json, "{\"release\":42}");
  assert_string_equal(a.kind, "rollback");
  ledger_action_free(&a);
  assert_int_equal(ledger_action_get(l, "nope", &a), LEDGER_NOT_FOUND);
  int64_t a3 = 0;
  assert_int_equal(ledger_action_put(l, "comment", "P-123", "P-123:comment", "sent", NULL, &a3, NULL),
                   LEDGER_OK);
  assert_int_equal(ledger_action_put(l, "comment", "P-999", "P-999:comment", "sent", NULL, &a3, NULL),
                   LEDGER_OK);
  ledger_action *list;
  size_t n;
  assert_int_equal(ledger_action_put(l, "comment", "P-123", "P-123:comment-2", "sent", NULL, &a3, NULL),
                   LEDGER_OK);
  assert_int_equal(ledger_actions_for_key(l, "comment", "P-123", &list, &n), LEDGER_OK);
  assert_int_equal(n, 2);
  assert_string_equal(list[0].idempotency_key, "P-123:comment");   /* oldest first */
  assert_string_equal(list[1].idempotency_key, "P-123:comment-2");
  ledger_actions_free(list, n);
  assert_int_equal(ledger_actions_for_key(l, "rollback", "P-123", &list, &n), LEDGER_OK);
  assert_int_equal(n, 1);
  assert_string_equal(list[0].kind, "rollback");
  ledger_actions_free(list, n);
  assert_int_equal(ledger_actions_for_key(l, "comment", "P-000", &list, &n), LEDGER_OK);
  assert_int_equal(n, 0);
  ledger_actions_free(list, n);
  assert_int_equal(ledger_actions_for_key(l, NULL, "P-123", &list, &n), LEDGER_ERROR);
  ledger_close(l);
  assert_int_equal(sql_int(f->path, "SELECT count(*) FROM deployment_events"), 1);
}

/* ---- concurrency --------------------------------------------------------------------- */

#define WRITERS 4
#define PER_WRITER 40

/* One writer process: PER_WRITER evaluations with two requests each,
 * plus events and actions whose idempotency keys all writers share. */
static int write_many(const char *path, int n, const char *tag) {
  char err[512];
  ub_ledger *l = ledger_open(path, err, sizeof err);
  if (!l) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  for (int i = 0; i < n; i++) {
    int64_t id, action;
    char body[64], idem[32];
    ledger_eval_start s = {.requested_by = tag, .service = "svc", .stage = "stage",
                           .kind = "monspec", .spec = {"spec", "{\"same\":1}", 10},
                           .policy = {"p.lua", tag, strlen(tag)}};
    if (ledger_begin_evaluation(l, &s, &id) != LEDGER_OK) goto fail;
    for (int k = 1; k <= 2; k++) {
      snprintf(body, sizeof body, "{\"writer\":\"%s\",\"i\":%d,\"k\":%d}", tag, i, k);
      ledger_request r = {.seq = k, .binding = "b", .method = "GET", .url = "/q",
                          .status = 200, .response_body = body, .response_body_len = strlen(body)};
      if (ledger_add_request(l, id, &r) != LEDGER_OK) goto fail;
    }
    ledger_eval_result res = {.status = "finished", .verdict = "pass", .verdict_json = "{}"};
    if (ledger_finish_evaluation(l, id, &res) != LEDGER_OK) goto fail;
    ledger_event ev = {.requested_by = tag, .api = "v2", .outcome = "ok", .status = 201};
    if (ledger_record_event(l, &ev, NULL) != LEDGER_OK) goto fail;
    snprintf(idem, sizeof idem, "shared-%d", i % 10);
    if (ledger_action_put(l, "problem", "P", idem, "open", NULL, &action, NULL) != LEDGER_OK)
      goto fail;
  }
  ledger_close(l);
  return 0;
fail:
  fprintf(stderr, "writer %s: %s\n", tag, ledger_error(l));
  ledger_close(l);
  return 1;
}

static void concurrent_writers_lose_nothing(void **state) {
  fixture *f = *state;
  pid_t pids[WRITERS];
  for (int w = 0; w < WRITERS; w++) {
    pids[w] = fork();
    assert_true(pids[w] >= 0);
    if (pids[w] == 0) {
      char tag[32];
      snprintf(tag, sizeof tag, "writer-%d", w);
      _exit(write_many(f->path, PER_WRITER, tag));
    }
  }
  for (int w = 0; w < WRITERS; w++) {
    int status = 0;
    assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
  }
  assert_int_equal(sql_int(f->path, "SELECT count(*) FROM evaluations"), WRITERS * PER_WRITER);
  assert_int_equal(sql_int(f->path, "SELECT count(*) FROM evaluations WHERE status='finished'"),
                   WRITERS * PER_WRITER);
  assert_int_equal(sql_int(f->path, "SELECT count(*) FROM binding_requests"), WRITERS * PER_WRITER * 2);
  assert_int_equal(sql_int(f->path, "SELECT count(*) FROM deployment_events"), WRITERS * PER_WRITER);
  assert_int_equal(sql_int(f->path, "SELECT count(*) FROM actions"), 10);
  for (int w = 0; w < WRITERS; w++) {
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM evaluations WHERE requested_by='writer-%d'", w);
    assert_int_equal(sql_int(f->path, sql), PER_WRITER);
  }
  /* spec shared by all; one policy per writer; 2 bodies per evaluation. */
  assert_int_equal(sql_int(f->path, "SELECT count(*) FROM blobs"),
                   1 + WRITERS + WRITERS * PER_WRITER * 2);
  if (!pg_url())
    assert_int_equal(sql_int(f->path, "SELECT (SELECT * FROM pragma_integrity_check) = 'ok'"), 1);
  ub_ledger *l = open_ok(f->path);
  ledger_close(l);
}



/* Server workers each hold a handle on the same file in one process:
 * opening another must not disturb the locks of the first. */
static void handles_in_one_process_share_the_file(void **state) {
  fixture *f = *state;
  ub_ledger *a = open_ok(f->path);
  int64_t id = record(a, "s", "t", "monspec", NULL);
  ub_ledger *b = open_ok(f->path);
  ledger_request r = {.seq = 1, .binding = "b", .method = "GET", .url = "/u", .status = 200};
  assert_int_equal(ledger_add_request(a, id, &r), LEDGER_OK);
  record(b, "s", "t", "monspec", "pass");
  ledger_close(open_ok(f->path));
  ledger_eval_result res = {.status = "finished", .verdict = "fail"};
  assert_int_equal(ledger_finish_evaluation(a, id, &res), LEDGER_OK);
  ledger_close(a);
  ledger_close(b);
  assert_int_equal(sql_int(f->path, "SELECT count(*) FROM evaluations WHERE status='finished'"), 2);
}

/* Bytes that are not UTF-8 (a hostile URL, a transport error) are
 * recorded, never the reason a write fails: SQLite keeps them as they
 * are, PostgreSQL (text must be UTF-8) gets U+FFFD for each bad byte. */
static void invalid_utf8_is_recorded(void **state) {
  fixture *f = *state;
  ub_ledger *l = open_ok(f->path);
  int64_t id = record(l, "s\xff", "t", "monspec", NULL);
  ledger_request r = {.seq = 1, .binding = "b", .method = "GET", .url = "/q?x=\xc3\x28\xe2\x82",
                      .status = 0, .error = "bad \xf5\x80 bytes"};
  assert_int_equal(ledger_add_request(l, id, &r), LEDGER_OK);
  ledger_evaluation e;
  assert_int_equal(ledger_get_evaluation(l, id, &e), LEDGER_OK);
  if (pg_url()) {
    assert_string_equal(e.service, "s\xef\xbf\xbd");
    assert_string_equal(e.requests[0].url, "/q?x=\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd");
    assert_string_equal(e.requests[0].error, "bad \xef\xbf\xbd\xef\xbf\xbd bytes");
  } else {
    assert_string_equal(e.service, "s\xff");
    assert_string_equal(e.requests[0].url, "/q?x=\xc3\x28\xe2\x82");
  }
  ledger_evaluation_free(&e);
  ledger_close(l);
}

/* ---- PostgreSQL only ---------------------------------------------------------------- */

/* The error names the database (never the URL with its password). */
static void expect_pg_open_error(const char *url, const char *fragment) {
  char err[600] = "";
  ub_ledger *l = ledger_open(url, err, sizeof err);
  if (l) ledger_close(l);
  assert_null(l);
  if (!strstr(err, fragment)) print_error("error was: %s\n", err);
  assert_non_null(strstr(err, fragment));
  assert_non_null(strstr(err, "PostgreSQL database ub on 127.0.0.1:"));
  assert_null(strstr(err, "postgres://"));
}

/* The same schema versions as SQLite, marked as a ledger. */
static void pg_schema_has_the_sqlite_versions(void **state) {
  PG_ONLY();
  fixture *f = *state;
  ledger_close(open_ok(f->path));
  assert_int_equal(sql_int(f->path, "SELECT max(version) FROM schema_migrations"), LEDGER_SCHEMA_VERSION);
  assert_int_equal(sql_int(f->path, "SELECT count(*) FROM schema_migrations"), LEDGER_SCHEMA_VERSION);
  assert_int_equal(sql_int(f->path, "SELECT application_id FROM ledger_info"), 0x55424c44);
  ledger_close(open_ok(f->path));   /* reopening applies nothing */
  assert_int_equal(sql_int(f->path, "SELECT count(*) FROM schema_migrations"), LEDGER_SCHEMA_VERSION);
}

/* A schema with other tables, or written by a newer build, is refused. */
static void pg_foreign_or_newer_schema_is_refused(void **state) {
  PG_ONLY();
  fixture *f = *state;
  char sql[256], url[600];
  snprintf(sql, sizeof sql, "CREATE SCHEMA %s_other; CREATE TABLE %s_other.notes(x int)", f->schema,
           f->schema);
  assert_int_equal(pg_admin(pg_url(), sql), 0);
  char other[96];
  snprintf(other, sizeof other, "%s_other", f->schema);
  schema_url(url, sizeof url, pg_url(), other);
  expect_pg_open_error(url, "not an unbreakable ledger");
  snprintf(sql, sizeof sql, "DROP SCHEMA %s_other CASCADE", f->schema);
  assert_int_equal(pg_admin(pg_url(), sql), 0);
  ledger_close(open_ok(f->path));
  assert_int_equal(sql_int(f->path, "SELECT count(*) FROM (SELECT 1) x"), 1);
  assert_int_equal(pg_admin(f->path, "INSERT INTO schema_migrations VALUES (99, 0)"), 0);
  expect_pg_open_error(f->path, "newer unbreakable");
}

/* Replicas starting at once: every open succeeds and the schema is
 * migrated once (the migration runs under the ledger's advisory lock). */
static void pg_concurrent_opens_migrate_once(void **state) {
  PG_ONLY();
  fixture *f = *state;
  enum { OPENERS = 6 };
  pid_t pids[OPENERS];
  for (int i = 0; i < OPENERS; i++) {
    pids[i] = fork();
    assert_true(pids[i] >= 0);
    if (pids[i] == 0) {
      char err[600];
      ub_ledger *l = ledger_open(f->path, err, sizeof err);
      if (!l) fprintf(stderr, "opener %d: %s\n", i, err);
      ledger_close(l);
      _exit(l ? 0 : 1);
    }
  }
  for (int i = 0; i < OPENERS; i++) {
    int status = 0;
    assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
  }
  assert_int_equal(sql_int(f->path, "SELECT count(*) FROM schema_migrations"), LEDGER_SCHEMA_VERSION);
  assert_int_equal(sql_int(f->path, "SELECT count(*) FROM ledger_info"), 1);
}

/* Connection errors name the host, port and database, never the password. */
static void pg_errors_never_show_the_password(void **state) {
  PG_ONLY();
  (void)state;
  char url[600], err[600] = "";
  const char *at = strchr(pg_url() + strlen("postgres://"), '@');
  const char *colon = strchr(pg_url() + strlen("postgres://"), ':');
  assert_non_null(at);
  assert_non_null(colon);
  /* the right user with a wrong password that looks like a secret */
  snprintf(url, sizeof url, "postgres://ub:Wr0ngS3cretPassw0rd%s", at);
  ub_ledger *l = ledger_open(url, err, sizeof err);
  assert_null(l);
  assert_null(strstr(err, "Wr0ngS3cretPassw0rd"));
  assert_non_null(strstr(err, "127.0.0.1"));
  /* nobody listens on port 1 */
  snprintf(url, sizeof url, "postgres://ub:Wr0ngS3cretPassw0rd@127.0.0.1:1/ub");
  l = ledger_open(url, err, sizeof err);
  assert_null(l);
  assert_null(strstr(err, "Wr0ngS3cretPassw0rd"));
  assert_non_null(strstr(err, "unreachable"));
  assert_non_null(strstr(err, "127.0.0.1:1"));
  /* the password of the real URL never shows in a failure either */
  char password[128];
  snprintf(password, sizeof password, "%.*s", (int)(at - colon - 1), colon + 1);
  snprintf(url, sizeof url, "%.*s/no_such_db", (int)(strrchr(pg_url(), '/') - pg_url()), pg_url());
  l = ledger_open(url, err, sizeof err);
  assert_null(l);
  assert_null(strstr(err, password));
  assert_non_null(strstr(err, "no_such_db"));
}

/* ---- HTML report ------------------------------------------------------------------------ */

static size_t count_of(const char *hay, const char *needle) {
  size_t n = 0;
  for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
  return n;
}


/* ---- abandoned evaluations (review 11, 2.3) ------------------------------- */

/* A process that begins an evaluation and dies without finishing leaves a
 * running row; the next open marks it abandoned, with when and why. A row
 * whose owner is alive (this process) stays running. */
static void dead_owners_rows_are_abandoned(void **state) {
  fixture *f = *state;
  ub_ledger *l = open_ok(f->path);
  int64_t mine = record(l, "svc", "stage", "monspec", NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    char err[600];
    ub_ledger *c = ledger_open(f->path, err, sizeof err);
    int64_t id = 0;
    ledger_eval_start s = {.requested_by = "cli:child@host", .kind = "monspec", .ctx_json = "{}"};
    _exit(c && ledger_begin_evaluation(c, &s, &id) == LEDGER_OK ? 0 : 1);   /* no finish */
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ledger_close(l);
  assert_int_equal(sql_int(f->path, "SELECT count(*) FROM evaluations WHERE status='running'"), 2);
  l = open_ok(f->path);
  ledger_evaluation e;
  assert_int_equal(ledger_get_evaluation(l, mine, &e), LEDGER_OK);
  assert_string_equal(e.status, "running");                  /* this process is alive */
  ledger_evaluation_free(&e);
  assert_int_equal(ledger_get_evaluation(l, mine + 1, &e), LEDGER_OK);
  assert_string_equal(e.status, "abandoned");
  assert_null(e.verdict);
  assert_true(e.finished_ms >= e.created_ms);
  assert_non_null(strstr(e.error, "ended without recording a verdict"));
  ledger_evaluation_free(&e);
  /* an abandoned row cannot be finished later */
  ledger_eval_result r = {.status = "finished", .verdict = "pass", .verdict_json = "{}"};
  assert_int_not_equal(ledger_finish_evaluation(l, mine + 1, &r), LEDGER_OK);
  ledger_close(l);
}

/* The released schema 1, verbatim, with one running row of an unknown
 * owner and one finished row with an input: migration 2 keeps every row,
 * id and reference, and adds the owner columns. */
static void schema_1_migrates_forward(void **state) {
  SQLITE_FILE_ONLY();
  fixture *f = *state;
  sqlite3 *db;
  char sub[sizeof f->dir + 8];
  snprintf(sub, sizeof sub, "%s/sub", f->dir);
  assert_int_equal(mkdir(sub, 0700), 0);
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  const char *v1 =
      "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL);"
      "CREATE TABLE blobs (digest TEXT PRIMARY KEY CHECK (length(digest) = 64),"
      "  size INTEGER NOT NULL, content BLOB NOT NULL, created_ms INTEGER NOT NULL) WITHOUT ROWID;"
      "CREATE TABLE evaluations (id INTEGER PRIMARY KEY AUTOINCREMENT,"
      "  created_ms INTEGER NOT NULL, finished_ms INTEGER, requested_by TEXT NOT NULL, request_meta TEXT,"
      "  service TEXT, stage TEXT, kind TEXT NOT NULL CHECK (kind IN ('monspec','slo')),"
      "  target TEXT, compat TEXT,"
      "  status TEXT NOT NULL CHECK (status IN ('running','finished','error')),"
      "  verdict TEXT CHECK (verdict IS NULL OR verdict IN ('pass','warning','fail','inconclusive','error')),"
      "  score REAL, verdict_json TEXT, timings_json TEXT, error TEXT,"
      "  invalidated INTEGER NOT NULL DEFAULT 0 CHECK (invalidated IN (0,1)),"
      "  invalidated_reason TEXT, invalidated_ms INTEGER);"
      "CREATE INDEX evaluations_by_service ON evaluations(service, stage, id);"
      "CREATE TABLE evaluation_inputs (evaluation_id INTEGER NOT NULL REFERENCES evaluations(id),"
      "  role TEXT NOT NULL CHECK (role IN ('spec','sli','policy','ctx')),"
      "  name TEXT, digest TEXT NOT NULL REFERENCES blobs(digest), PRIMARY KEY (evaluation_id, role));"
      "CREATE TABLE binding_requests (evaluation_id INTEGER NOT NULL REFERENCES evaluations(id),"
      "  seq INTEGER NOT NULL, binding TEXT NOT NULL, method TEXT NOT NULL, url TEXT NOT NULL,"
      "  request_digest TEXT REFERENCES blobs(digest), status INTEGER NOT NULL, response_headers TEXT,"
      "  response_digest TEXT REFERENCES blobs(digest), duration_ms REAL NOT NULL, error TEXT,"
      "  PRIMARY KEY (evaluation_id, seq));"
      "CREATE TABLE deployment_events (id INTEGER PRIMARY KEY AUTOINCREMENT, created_ms INTEGER NOT NULL,"
      "  requested_by TEXT NOT NULL, api TEXT NOT NULL, target TEXT,"
      "  request_digest TEXT REFERENCES blobs(digest), status INTEGER NOT NULL,"
      "  response_digest TEXT REFERENCES blobs(digest),"
      "  outcome TEXT NOT NULL CHECK (outcome IN ('ok','error','dry-run')), message TEXT);"
      "CREATE TABLE actions (id INTEGER PRIMARY KEY AUTOINCREMENT, created_ms INTEGER NOT NULL,"
      "  updated_ms INTEGER NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL,"
      "  idempotency_key TEXT NOT NULL UNIQUE, state TEXT NOT NULL, payload TEXT);"
      "CREATE INDEX actions_by_key ON actions(kind, key);"
      "INSERT INTO schema_migrations VALUES (1, 1);"
      "INSERT INTO blobs VALUES ('" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', 2, '{}', 1);"
      "INSERT INTO evaluations (id, created_ms, finished_ms, requested_by, kind, status, verdict)"
      "  VALUES (7, 1, 2, 'cli:old@host', 'monspec', 'finished', 'pass');"
      "INSERT INTO evaluations (id, created_ms, requested_by, kind, status)"
      "  VALUES (8, 1, 'cli:old@host', 'slo', 'running');"
      "INSERT INTO evaluation_inputs VALUES (7, 'spec', 'm.json',"
      "  '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef');"
      "PRAGMA user_version = 1; PRAGMA application_id = 1430408260;";
  assert_int_equal(sqlite3_exec(db, v1, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  ub_ledger *l = open_ok(f->path);
  ledger_evaluation e;
  assert_int_equal(ledger_get_evaluation(l, 7, &e), LEDGER_OK);
  assert_string_equal(e.verdict, "pass");
  assert_string_equal(e.spec.name, "m.json");
  ledger_evaluation_free(&e);
  /* no owner recorded and started long ago (1970): longer than any run */
  assert_int_equal(ledger_get_evaluation(l, 8, &e), LEDGER_OK);
  assert_string_equal(e.status, "abandoned");
  assert_non_null(strstr(e.error, "longer than any run may last"));
  ledger_evaluation_free(&e);
  int64_t next = record(l, "s", "t", "monspec", "pass");
  assert_true(next > 8);                                     /* ids keep growing */
  ledger_close(l);
  assert_int_equal(sql_int(f->path, "PRAGMA user_version"), LEDGER_SCHEMA_VERSION);
  assert_int_equal(sql_int(f->path, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
  assert_int_equal(sql_int(f->path, "SELECT count(*) FROM evaluations WHERE owner_pid > 0"), 1);
}

/* The queue of replicas: a claimed action is leased to its claimer; only
 * the holder of a live lease renews it, so a replica whose lease expired
 * or was taken learns it before its next call (fencing). On SQLite, one
 * process and no leases, a claim is the oldest pending action and a
 * renewal always holds. */
static void claims_and_renewals_fence_the_lease(void **state) {
  fixture *f = *state;
  ub_ledger *l = open_ok(f->path);
  int64_t id = 0;
  assert_int_equal(ledger_action_put(l, "problem", "P-1", "problem:P-1:OPEN", "pending", "{}", &id, NULL),
                   LEDGER_OK);
  ledger_action a;
  assert_int_equal(ledger_action_claim(l, "problem", "pending", "replica-a", 60000, &a), LEDGER_OK);
  assert_true(a.id == id);
  ledger_action_free(&a);
  assert_int_equal(ledger_action_renew(l, id, "replica-a", 60000), LEDGER_OK);
  if (!pg_url()) {
    ledger_close(l);
    return;
  }
  assert_int_equal(ledger_action_claim(l, "problem", "pending", "replica-b", 60000, &a), LEDGER_NOT_FOUND);
  assert_int_equal(ledger_action_renew(l, id, "replica-b", 60000), LEDGER_NOT_FOUND);
  assert_non_null(strstr(ledger_error(l), "expired or was taken"));
  /* a lease of 1 ms has expired once 20 ms have passed: a takes it, lets it lapse, b takes over */
  assert_int_equal(ledger_action_put(l, "problem", "P-2", "problem:P-2:OPEN", "pending", "{}", &id, NULL),
                   LEDGER_OK);
  assert_int_equal(ledger_action_claim(l, "problem", "pending", "replica-a", 1, &a), LEDGER_OK);
  assert_true(a.id == id);
  ledger_action_free(&a);
  struct timespec pause = {0, 20 * 1000 * 1000};
  nanosleep(&pause, NULL);
  assert_int_equal(ledger_action_renew(l, id, "replica-a", 60000), LEDGER_NOT_FOUND);
  assert_int_equal(ledger_action_claim(l, "problem", "pending", "replica-b", 60000, &a), LEDGER_OK);
  assert_true(a.id == id);
  ledger_action_free(&a);
  assert_int_equal(ledger_action_renew(l, id, "replica-a", 60000), LEDGER_NOT_FOUND);
  assert_int_equal(ledger_action_renew(l, id, "replica-b", 60000), LEDGER_OK);
  ledger_close(l);
}

static void units_are_human(void **state) {
  (void)state;
  char out[48];
  ub_format_value(412539.8, "MicroSecond", out);
  assert_string_equal(out, "412.5 ms");
  ub_format_value(1500000, "MicroSecond", out);
  assert_string_equal(out, "1500 ms");
  ub_format_value(2.53, "Percent", out);
  assert_string_equal(out, "2.53%");
  ub_format_value(1841, "Count", out);
  assert_string_equal(out, "1841");
  ub_format_value(NAN, "MicroSecond", out);
  assert_string_equal(out, "no data");
  ub_format_value(7.5, "Percent (%)", out);
  assert_string_equal(out, "7.5%");
  ub_format_value(40, "PerMinute (count/min)", out);
  assert_string_equal(out, "40/min");
  ub_format_value(310000, "MicroSecond (\xc2\xb5s)", out);
  assert_string_equal(out, "310 ms");
  ub_format_value(5, "Furlong", out);
  assert_string_equal(out, "5 Furlong");
  ub_format_value(-0.0001, NULL, out);
  assert_string_equal(out, "-0.0001");
}

static char *render(const ledger_evaluation *e) {
  ub_buf page;
  ub_buf_init(&page);
  assert_int_equal(report_html_render(e, &page), 0);
  return page.data;
}

static void report_of_recorded_monspec_gate(void **state) {
  fixture *f = *state;
  ub_ledger *l = open_ok(f->path);
  int64_t id = fixture_record_monspec(l);
  ledger_evaluation e;
  assert_int_equal(ledger_get_evaluation(l, id, &e), LEDGER_OK);
  char *html = render(&e);
  assert_true(strncmp(html, "<!DOCTYPE html>", 15) == 0);
  assert_non_null(strstr(html, "Content-Security-Policy\" content=\"default-src 'none'"));
  assert_non_null(strstr(html, "class=\"banner v-fail\""));
  assert_non_null(strstr(html, ">FAIL<"));
  /* microseconds shown as milliseconds, percent and counts as such */
  assert_non_null(strstr(html, "<td class=\"num\">412.5 ms</td><td class=\"num\">398.6 ms</td>"
                               "<td class=\"num\">438.5 ms</td>"));
  assert_non_null(strstr(html, "<td class=\"num\">2.53%</td>"));
  assert_non_null(strstr(html, "2026-11-27 09:00:00 \xe2\x80\x93 09:30:00 UTC"));
  /* three charts (the fourth objective has no data), each with its lines */
  assert_int_equal(count_of(html, "<svg"), 3);
  assert_int_equal(count_of(html, "<line class=\"threshold\" x1"), 3);
  assert_int_equal(count_of(html, "<line class=\"baseline\" x1"), 3);
  assert_int_equal(count_of(html, "<path class=\"bseries\""), 2);
  assert_non_null(strstr(html, "running sum"));
  assert_non_null(strstr(html, "No data: the source window gave no value"));
  assert_non_null(strstr(html, "<code>builtin:service.errors.total.rate:avg</code>"));
  /* self-contained: no script, no fetched resource, no secret */
  assert_null(strstr(html, "<script"));
  assert_null(strstr(html, "src="));
  assert_int_equal(count_of(html, "http://"), count_of(html, "xmlns=\"http://www.w3.org/2000/svg\""));
  assert_null(strstr(html, "https://"));
  assert_null(strstr(html, FIXTURE_TOKEN));
  /* the same record renders the same page */
  char *again = render(&e);
  assert_string_equal(html, again);
  free(again);
  free(html);
  ledger_evaluation_free(&e);
  ledger_close(l);
}

static void report_of_keptn_evaluation(void **state) {
  fixture *f = *state;
  ub_ledger *l = open_ok(f->path);
  int64_t id = fixture_record_slo(l);
  assert_int_equal(ledger_invalidate(l, id, "wrong <build> tested"), LEDGER_OK);
  ledger_evaluation e;
  assert_int_equal(ledger_get_evaluation(l, id, &e), LEDGER_OK);
  char *html = render(&e);
  assert_non_null(strstr(html, "class=\"banner v-warning\""));
  assert_non_null(strstr(html, "score 66.67"));
  assert_non_null(strstr(html, "SLI results (Keptn evaluation)"));
  assert_non_null(strstr(html, "<code>&lt;=+10%</code> (target 550) <strong>violated</strong>"));
  assert_non_null(strstr(html, "<td class=\"crit\">key</td>"));
  assert_non_null(strstr(html, "Invalidated</strong>"));
  assert_non_null(strstr(html, "wrong &lt;build&gt; tested"));
  free(html);
  ledger_evaluation_free(&e);
  ledger_close(l);
}

static void report_escapes_policy_text(void **state) {
  (void)state;
  ledger_evaluation e = {.id = 7, .service = "svc\"><script>", .stage = "s", .kind = "monspec",
                         .status = "finished", .verdict = "fail",
                         .verdict_json = "{\"verdict\":\"<img src=x onerror=alert(1)>\","
                                         "\"objectives\":[{\"name\":\"<script>alert(1)</script>\","
                                         "\"status\":\"pass' onmouseover='x\",\"value\":1,"
                                         "\"series\":{\"values\":[1,null,3]}}]}"};
  char *html = render(&e);
  assert_null(strstr(html, "<script"));
  assert_null(strstr(html, "<img"));
  assert_null(strstr(html, "' onmouseover"));
  assert_non_null(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
  assert_non_null(strstr(html, "class=\"banner v-unknown\""));
  /* a missing point splits the line into two segments */
  assert_int_equal(count_of(html, "<path class=\"series\""), 1);
  free(html);
  /* no series but a value: the number line with value, baseline, threshold */
  e.verdict_json = "{\"verdict\":\"fail\",\"objectives\":[{\"name\":\"p90\",\"value\":720000,"
                   "\"baseline\":250000,\"threshold\":500000,\"unit\":\"MicroSecond (\xc2\xb5s)\"}]}";
  html = render(&e);
  assert_int_equal(count_of(html, "<svg"), 1);
  assert_int_equal(count_of(html, "<circle class=\"dot\""), 1);
  assert_int_equal(count_of(html, "<line class=\"threshold\""), 1);
  assert_non_null(strstr(html, ">value 720 ms<"));
  assert_non_null(strstr(html, ">threshold 500 ms<"));
  free(html);
  /* odd shapes stay bounded: lengths that disagree, time running
   * backwards, a window of 30 days, strings where numbers belong */
  e.verdict_json = "{\"verdict\":\"pass\",\"objectives\":["
                   "{\"name\":\"a\",\"value\":\"12\",\"series\":{\"timestamps\":[1,2],\"values\":[1,2,3]}},"
                   "{\"name\":\"b\",\"value\":2,\"series\":{\"timestamps\":[3000,2000,1000],\"values\":[1,2,3]}},"
                   "{\"name\":\"c\",\"value\":2,\"series\":{\"timestamps\":[1795770000000,1798362000000],"
                   "\"values\":[1,2]}},{\"name\":7,\"series\":[1,2]}]}";
  html = render(&e);
  assert_int_equal(count_of(html, "<svg"), 3);
  assert_true(count_of(html, "class=\"tick\"") < 3 * 40);
  assert_non_null(strstr(html, ">11-27 09:00<"));
  free(html);
  /* an evaluation that ended in an error, without a verdict table */
  ledger_evaluation err = {.id = 8, .service = "s", .stage = "t", .kind = "slo", .status = "error",
                           .error = "Dynatrace answered 401 <Token Authentication failed>"};
  html = render(&err);
  assert_non_null(strstr(html, "class=\"banner v-error\""));
  assert_non_null(strstr(html, ">ERROR<"));
  assert_non_null(strstr(html, "Dynatrace answered 401 &lt;Token Authentication failed&gt;"));
  free(html);
  e.verdict_json = "{\"verdict\": ";
  html = render(&e);
  assert_non_null(strstr(html, "the recorded verdict JSON is unreadable"));
  assert_non_null(strstr(html, ">FAIL<"));
  free(html);
}

/* Bytes that are not well-formed UTF-8 (a sequence cut short or a stray
 * continuation byte); overlong forms are not looked for. */
static size_t bad_utf8(const char *text) {
  size_t bad = 0;
  for (const unsigned char *u = (const unsigned char *)text; *u;) {
    size_t n = *u < 0x80 ? 1 : (*u >> 5) == 6 ? 2 : (*u >> 4) == 14 ? 3 : (*u >> 3) == 30 ? 4 : 0;
    for (size_t k = 1; k < n; k++)
      if ((u[k] & 0xc0) != 0x80) n = 0;
    if (n == 0) bad++;
    u += n ? n : 1;
  }
  return bad;
}

#define E2 "\xc3\xa9"
#define E16 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2 E2

/* Numbers at the ends of the double range give finite coordinates and an
 * axis with ticks. */
static void report_survives_extreme_numbers(void **state) {
  (void)state;
  static const char *const extreme[] = {
    "{\"verdict\":\"fail\",\"objectives\":[{\"name\":\"x\",\"value\":1e308,\"threshold\":-1e308,"
    "\"series\":{\"values\":[1e308,-1e308]}}]}",
    "{\"verdict\":\"fail\",\"objectives\":[{\"name\":\"x\",\"value\":1e308,\"threshold\":-1e308}]}",
    "{\"verdict\":\"fail\",\"objectives\":[{\"name\":\"x\",\"value\":5e-324,\"threshold\":1e-323,"
    "\"series\":{\"values\":[0,5e-324]}}]}"};
  ledger_evaluation e = {.id = 9, .service = "s", .stage = "t", .kind = "monspec",
                         .status = "finished", .verdict = "fail"};
  for (size_t i = 0; i < sizeof extreme / sizeof *extreme; i++) {
    e.verdict_json = (char *)extreme[i];
    char *html = render(&e);
    assert_null(strstr(html, "nan"));
    assert_null(strstr(html, "inf\""));
    assert_true(count_of(html, "class=\"tick\"") >= 2);
    free(html);
  }
  /* times no calendar holds: "?", not the date of a wrapped integer */
  e.verdict_json = "{\"verdict\":\"fail\",\"windows\":{\"source\":{\"from\":1e300,\"to\":-1e300}},"
                   "\"objectives\":[{\"name\":\"x\",\"value\":1,\"series\":{\"timestamps\":[1e300,1e300],"
                   "\"values\":[1,2]}}]}";
  char *html = render(&e);
  assert_non_null(strstr(html, "<dt>Source window</dt><dd>? \xe2\x80\x93 ?</dd>"));
  assert_non_null(strstr(html, "text-anchor=\"middle\">?</text>"));
  assert_null(strstr(html, "-292275055"));
  free(html);
}

/* Long multi-byte text cut to fit a buffer, and bytes stored that are not
 * UTF-8, still give a page that is valid UTF-8. */
static void report_text_stays_utf8(void **state) {
  (void)state;
  ledger_evaluation e = {.id = 9, .service = "s\xffz", .stage = "t\xe2\x82", .kind = "monspec",
                         .status = "finished", .verdict = "fail"};
  e.verdict_json = "{\"verdict\":\"" E16 E16 "\",\"windows\":{\"source\":{\"from\":\"" E16 E16
                   "\",\"to\":\"b\"}},\"objectives\":[{\"name\":\"x\",\"value\":1,\"baseline\":2,"
                   "\"unit\":\"" E16 E16 "\"}]}";
  char *html = render(&e);
  assert_int_equal(bad_utf8(html), 0);
  free(html);
}

/* ---- e2e helper mode -------------------------------------------------------------------- */

static int helper_main(int argc, char **argv) {
  char err[512];
  if (argc == 3 && strcmp(argv[1], "--write-fixture") == 0) {
    ub_ledger *l = ledger_open(argv[2], err, sizeof err);
    if (!l) {
      fprintf(stderr, "%s\n", err);
      return 2;
    }
    int64_t m = fixture_record_monspec(l), s = m > 0 ? fixture_record_slo(l) : -1;
    if (m < 0 || s < 0) fprintf(stderr, "%s\n", ledger_error(l));
    else printf("%lld %lld\n", (long long)m, (long long)s);
    ledger_close(l);
    return m < 0 || s < 0 ? 1 : 0;
  }
  if (argc == 5 && strcmp(argv[1], "--write-many") == 0)
    return write_many(argv[2], atoi(argv[3]), argv[4]);
  fprintf(stderr, "usage: test_ledger [--write-fixture DB | --write-many DB N TAG]\n");
  return 2;
}

int main(int argc, char **argv) {
  if (argc > 1) return helper_main(argc, argv);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(sha256_known_vectors),
      cmocka_unit_test(redact_removes_every_secret_form),
      cmocka_unit_test(redact_removes_encoded_secrets),
      cmocka_unit_test(redact_keeps_ordinary_text),
      cmocka_unit_test(resolve_path_precedence),
      cmocka_unit_test_setup_teardown(open_creates_private_wal_file, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(foreign_files_get_clear_errors, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(corrupt_ledger_gets_clear_error, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(evaluation_round_trip_for_replay, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(requests_come_back_in_seq_order, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(content_is_stored_once, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(nothing_secret_reaches_the_file, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(finish_twice_or_unknown_is_refused, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(history_filters_newest_first, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(baseline_respects_include_invalidation_and_order, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(invalidate_keeps_record_and_first_reason, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(events_and_actions, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(actions_of_a_key_are_an_index_search, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(reused_statements_start_clean, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(claims_and_renewals_fence_the_lease, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(concurrent_writers_lose_nothing, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(handles_in_one_process_share_the_file, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(dead_owners_rows_are_abandoned, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(schema_1_migrates_forward, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(invalid_utf8_is_recorded, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(pg_schema_has_the_sqlite_versions, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(pg_foreign_or_newer_schema_is_refused, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(pg_concurrent_opens_migrate_once, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(pg_errors_never_show_the_password, setup_dir, teardown_dir),
      cmocka_unit_test(units_are_human),
      cmocka_unit_test_setup_teardown(report_of_recorded_monspec_gate, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(report_of_keptn_evaluation, setup_dir, teardown_dir),
      cmocka_unit_test(report_escapes_policy_text),
      cmocka_unit_test(report_survives_extreme_numbers),
      cmocka_unit_test(report_text_stays_utf8),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
