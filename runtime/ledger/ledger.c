/* ledger.c: opening and checking the ledger file (or connecting to its
 * PostgreSQL database), errors, the retried
 * write transaction and the content-addressed blob store. The records
 * themselves are in ledger_eval.c and ledger_events.c. */
#include "ledger/ledger_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/clock.h"
#include "util/digest.h"
#include "ledger/ledger_redact.h"

#define BUSY_TIMEOUT_MS 5000
#define WRITE_ATTEMPTS 8
#ifndef FULL_CHECK_MAX_BYTES
#define FULL_CHECK_MAX_BYTES (64LL << 20) /* larger files: record tables only */
#endif

void ledger_set_error(ub_ledger *l, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(l->err, sizeof l->err, fmt, ap);
  va_end(ap);
}

static int pg_error(ub_ledger *l, const char *what, store_errclass cls, const char *msg) {
  if (cls == STORE_E_CONNECTION)
    ledger_set_error(l, "ledger %s is unreachable (%s: %s); check that the server runs and "
                     "accepts connections, and the --database connection string", l->path, what, msg);
  else if (cls == STORE_E_BUSY)
    ledger_set_error(l, "ledger %s stayed locked by another writer (%s); retry, or look for "
                     "a hung session in pg_stat_activity", l->path, what);
  else if (cls == STORE_E_READONLY)
    ledger_set_error(l, "ledger %s cannot be written (%s: %s); grant the role the rights on "
                     "its schema, or connect to a primary", l->path, what, msg);
  else
    ledger_set_error(l, "ledger %s: %s failed: %s", l->path, what, msg);
  return LEDGER_ERROR;
}

int ledger_sql_error(ub_ledger *l, const char *what) {
  store_errclass cls = store_errclass_of(l->db);
  const char *msg = store_errmsg(l->db);
  if (l->pg) return pg_error(l, what, cls, msg);
  if (cls == STORE_E_NOTADB)
    ledger_set_error(l, "ledger %s is not an SQLite database (foreign or corrupt file); "
                     "move it away or pass --ledger with another file", l->path);
  else if (cls == STORE_E_CORRUPT)
    ledger_set_error(l, "ledger %s is corrupt (%s: %s); move it away and "
                     "restore a backup, or pass --ledger with another file",
                     l->path, what, msg);
  else if (cls == STORE_E_BUSY)
    ledger_set_error(l, "ledger %s stayed locked by another process (%s); "
                     "retry, or check for a hung unbreakable process", l->path, what);
  else if (cls == STORE_E_READONLY)
    ledger_set_error(l, "ledger %s cannot be written (%s: %s); check the file "
                     "and directory permissions", l->path, what, msg);
  else if (cls == STORE_E_FULL)
    ledger_set_error(l, "ledger %s: disk full (%s)", l->path, what);
  else
    ledger_set_error(l, "ledger %s: %s failed: %s (SQLite code %d)", l->path, what, msg,
                     store_errcode(l->db));
  return LEDGER_ERROR;
}

const char *ledger_error(const ub_ledger *l) { return l ? l->err : "no ledger"; }
const char *ledger_path(const ub_ledger *l) { return l->path; }

int64_t ledger_now_ms(void) { return ub_clock_wall_ms(); }

void ledger_format_time(int64_t ms, char out[32]) {
  time_t secs = (time_t)(ms / 1000);
  struct tm tm;
  if (!gmtime_r(&secs, &tm)) {
    snprintf(out, 32, "invalid-time");
    return;
  }
  size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
  unsigned millis = (unsigned)(((ms % 1000) + 1000) % 1000);
  snprintf(out + n, 32 - n, ".%03uZ", millis % 1000u);
}

/* ---- path ----------------------------------------------------------- */

int ledger_resolve_path(const char *flag_path, char *out, size_t outlen,
                        char *err, size_t errlen) {
  const char *env = getenv("UB_LEDGER");
  const char *url = getenv("UB_DATABASE_URL");
  const char *xdg = getenv("XDG_DATA_HOME");
  const char *home = getenv("HOME");
  int n;
  if (flag_path && *flag_path) n = snprintf(out, outlen, "%s", flag_path);
  else if (url && *url) n = snprintf(out, outlen, "%s", url);
  else if (env && *env) n = snprintf(out, outlen, "%s", env);
  else if (xdg && *xdg == '/') n = snprintf(out, outlen, "%s/unbreakable/ledger.db", xdg);
  else if (home && *home) n = snprintf(out, outlen, "%s/.local/share/unbreakable/ledger.db", home);
  else {
    snprintf(err, errlen, "no ledger location: HOME, XDG_DATA_HOME and UB_LEDGER are "
             "unset; pass --ledger PATH");
    return -1;
  }
  if (n < 0 || (size_t)n >= outlen) {
    snprintf(err, errlen, "ledger path too long (limit %zu bytes)", outlen - 1);
    return -1;
  }
  return 0;
}

int ledger_is_database(const char *target) { return store_is_pg_target(target); }

int ledger_choose_flag(const char *ledger_flag, const char *database_flag, const char **out,
                       char *err, size_t errlen) {
  *out = ledger_flag;
  if (!database_flag) return 0;
  if (ledger_flag) {
    snprintf(err, errlen, "--ledger and --database exclude each other: give one ledger");
    return -1;
  }
  if (!store_is_pg_target(database_flag)) {
    snprintf(err, errlen, "--database wants a PostgreSQL URL (postgres://USER@HOST:PORT/DB) or "
             "a libpq connection string (host=... dbname=...); a file goes to --ledger");
    return -1;
  }
  *out = database_flag;
  return 0;
}

void ledger_display_name(const char *target, char *out, size_t outlen) {
  if (store_is_pg_target(target)) store_pg_describe(target, out, outlen);
  else snprintf(out, outlen, "%s", target ? target : "");
}

/* mkdir -p for the directory part of path, mode 0700. */
static int make_parent_dirs(const char *path, char *err, size_t errlen) {
  char dir[PATH_MAX];
  if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) {
    snprintf(err, errlen, "ledger path too long: %s", path);
    return -1;
  }
  for (char *p = dir + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
      snprintf(err, errlen, "ledger %s: cannot create directory %s: %s", path, dir,
               strerror(errno));
      return -1;
    }
    *p = '/';
  }
  return 0;
}

/* Serialises ledger_open() across processes with flock() on the ledger's
 * directory: two processes initialising a new file at once (WAL switch,
 * schema) otherwise race inside SQLite. The database file itself is never
 * opened or closed outside SQLite: closing any descriptor of it would drop
 * the POSIX locks SQLite holds for other handles of this process. Returns
 * the directory descriptor to close afterwards, or -1 with err set. */
static int lock_directory(const char *path, char *err, size_t errlen) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash) snprintf(dir, sizeof dir, ".");
  else if (slash == dir) dir[1] = '\0';
  else *slash = '\0';
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errlen, "ledger %s: cannot open directory %s: %s", path, dir, strerror(errno));
    return -1;
  }
  for (int attempt = 0; flock(fd, LOCK_EX | LOCK_NB) != 0; attempt++) {
    if ((errno != EWOULDBLOCK && errno != EINTR) || attempt >= 200) {
      snprintf(err, errlen, "ledger %s: another process keeps opening it (directory lock: %s); "
               "retry, or check for a hung unbreakable process", path, strerror(errno));
      close(fd);
      return -1;
    }
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL);
  }
  return fd;
}

/* ---- open ----------------------------------------------------------- */

static int exec_pragma(ub_ledger *l, const char *sql) {
  if (store_exec(l->db, sql) != STORE_OK)
    return ledger_sql_error(l, sql);
  return LEDGER_OK;
}

static int enable_wal(ub_ledger *l) {
  store_stmt *st;
  if (ledger_prepare(l, "PRAGMA journal_mode=WAL", &st) != LEDGER_OK) return LEDGER_ERROR;
  int rc = store_step(st);
  const char *mode = rc == STORE_ROW ? store_column_text(st, 0) : NULL;
  int ok = mode && strcmp(mode, "wal") == 0;
  store_finalize(st);
  if (rc != STORE_ROW) return ledger_sql_error(l, "switching to WAL mode");
  if (!ok) {
    ledger_set_error(l, "ledger %s: WAL mode unavailable (journal mode stays %s); "
                     "put the ledger on a local file system", l->path, mode ? mode : "?");
    return LEDGER_ERROR;
  }
  return LEDGER_OK;
}

int ledger_set_autocheckpoint(ub_ledger *l, int pages) {
  char sql[64];
  if (l->pg) return LEDGER_OK;
  snprintf(sql, sizeof sql, "PRAGMA wal_autocheckpoint=%d", pages < 0 ? 0 : pages);
  return exec_pragma(l, sql);
}

int ledger_checkpoint(ub_ledger *l) {
  if (store_checkpoint(l->db) == STORE_OK) return LEDGER_OK;
  return ledger_sql_error(l, "checkpointing the WAL");
}

/* Runs one PRAGMA quick_check statement; "ok" or a clear error. */
static int run_check(ub_ledger *l, const char *sql) {
  store_stmt *st;
  if (ledger_prepare(l, sql, &st) != LEDGER_OK) return LEDGER_ERROR;
  int rc = store_step(st);
  if (rc != STORE_ROW) {
    store_finalize(st);
    return ledger_sql_error(l, "integrity check");
  }
  const char *res = store_column_text(st, 0);
  if (!res || strcmp(res, "ok") != 0) {
    char first[200];
    snprintf(first, sizeof first, "%s", res ? res : "no answer");
    for (char *p = first; *p; p++)
      if (*p == '\n' || *p == '\r') *p = ' ';
    ledger_set_error(l, "ledger %s is corrupt (integrity check: %s); move it away "
                     "and restore a backup, or pass --ledger with another file",
                     l->path, first);
    store_finalize(st);
    return LEDGER_ERROR;
  }
  store_finalize(st);
  return LEDGER_OK;
}

/* PRAGMA quick_check of the whole file while it is small; beyond
 * FULL_CHECK_MAX_BYTES only the record tables are checked on open, so
 * opening stays cheap, and damage among stored documents is reported as
 * corruption when a statement reads it. */
static int quick_check(ub_ledger *l) {
  static const char *const tables[] = {
      "PRAGMA quick_check('evaluations')", "PRAGMA quick_check('evaluation_inputs')",
      "PRAGMA quick_check('binding_requests')", "PRAGMA quick_check('deployment_events')",
      "PRAGMA quick_check('actions')", "PRAGMA quick_check('schema_migrations')"};
  struct stat st;
  if (stat(l->path, &st) == 0 && st.st_size <= FULL_CHECK_MAX_BYTES)
    return run_check(l, "PRAGMA quick_check(1)");
  for (size_t i = 0; i < sizeof tables / sizeof *tables; i++)
    if (run_check(l, tables[i]) != LEDGER_OK) return LEDGER_ERROR;
  return LEDGER_OK;
}

static int configure(ub_ledger *l) {
  if (enable_wal(l) != LEDGER_OK || exec_pragma(l, "PRAGMA synchronous=NORMAL") != LEDGER_OK ||
      exec_pragma(l, "PRAGMA foreign_keys=ON") != LEDGER_OK ||
      exec_pragma(l, "PRAGMA trusted_schema=OFF") != LEDGER_OK)
    return LEDGER_ERROR;
  if (ledger_migrate(l) != LEDGER_OK) return LEDGER_ERROR;
  if (quick_check(l) != LEDGER_OK) return LEDGER_ERROR;
  return ledger_abandon_dead(l);
}

static ub_ledger *open_locked(const char *path, char *err, size_t errlen) {
  struct stat st;
  int created = stat(path, &st) != 0;
  ub_ledger *l = calloc(1, sizeof *l);
  if (!l || !(l->path = strdup(path))) {
    free(l);
    snprintf(err, errlen, "out of memory opening ledger %s", path);
    return NULL;
  }
  l->db = store_open_sqlite(path, BUSY_TIMEOUT_MS, err, errlen);
  int rc = !l->db ? STORE_ERROR : store_errclass_of(l->db) != STORE_E_NONE ? STORE_ERROR : STORE_OK;
  if (!l->db) ledger_set_error(l, "%s", err);
  else if (rc != STORE_OK) ledger_sql_error(l, "opening");
  else if (created && chmod(path, 0600) != 0)
    ledger_set_error(l, "ledger %s: cannot make it private (chmod 0600): %s", path, strerror(errno));
  else configure(l);
  if (rc != STORE_OK || l->err[0]) {
    snprintf(err, errlen, "%s", l->err);
    ledger_close(l);
    return NULL;
  }
  return l;
}

/* PostgreSQL: connect, migrate under the write lock, abandon dead rows. */
static ub_ledger *open_pg(const char *conninfo, char *err, size_t errlen) {
  char where[256];
  store_pg_describe(conninfo, where, sizeof where);
  ub_ledger *l = calloc(1, sizeof *l);
  if (!l || !(l->path = strdup(where))) {
    free(l);
    snprintf(err, errlen, "out of memory opening ledger %s", where);
    return NULL;
  }
  l->pg = 1;
  ledger_owner_name(l->lease_owner, sizeof l->lease_owner);
  l->lease_ms = LEDGER_DEFAULT_LEASE_MS;
  l->db = store_open_pg(conninfo, err, errlen);
  if (!l->db) ledger_set_error(l, "%s", err);
  else if (store_errclass_of(l->db) != STORE_E_NONE) ledger_sql_error(l, "connecting");
  else if (ledger_migrate(l) == LEDGER_OK) ledger_abandon_dead(l);
  if (l->err[0]) {
    snprintf(err, errlen, "%s", l->err);
    ledger_close(l);
    return NULL;
  }
  return l;
}

ub_ledger *ledger_open(const char *path, char *err, size_t errlen) {
  if (!path || !*path) {
    snprintf(err, errlen, "no ledger path given");
    return NULL;
  }
  if (store_is_pg_target(path)) return open_pg(path, err, errlen);
  /* a FIFO would block SQLite forever. stat, never open and close: closing
   * any descriptor of the database drops every POSIX lock this process
   * holds on it, those of its other open connections too (serve keeps
   * several), and another process may then check-point and delete the
   * WAL under them (sqlite.org/howtocorrupt.html 2.2). */
  if (ub_check_regular(path, err, errlen) != 0 && errno != ENOENT) return NULL;
  if (make_parent_dirs(path, err, errlen) != 0) return NULL;
  int dir_fd = lock_directory(path, err, errlen);
  if (dir_fd < 0) return NULL;
  ub_ledger *l = open_locked(path, err, errlen);
  close(dir_fd);
  return l;
}

void ledger_close(ub_ledger *l) {
  if (!l) return;
  store_close(l->db);
  for (size_t i = 0; i < l->nsecrets; i++) {
    memset(l->secrets[i], 0, strlen(l->secrets[i]));
    free(l->secrets[i]);
  }
  free(l->secrets);
  free(l->path);
  free(l);
}

int ledger_add_secret(ub_ledger *l, const char *secret) {
  if (!secret || !*secret) return LEDGER_OK;
  char **grown = realloc(l->secrets, (l->nsecrets + 1) * sizeof *grown);
  if (!grown) {
    ledger_set_error(l, "out of memory");
    return LEDGER_ERROR;
  }
  l->secrets = grown;
  if (!(l->secrets[l->nsecrets] = strdup(secret))) {
    ledger_set_error(l, "out of memory");
    return LEDGER_ERROR;
  }
  l->nsecrets++;
  return LEDGER_OK;
}

void ledger_cli_requester(char *out, size_t outlen) {
  char host[256] = "unknown-host";
  const char *user = getenv("USER");
  struct passwd *pw = getpwuid(getuid());
  if (pw && pw->pw_name) user = pw->pw_name;
  if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "unknown-host");
  host[sizeof host - 1] = '\0';
  snprintf(out, outlen, "cli:%s@%s", user ? user : "unknown", host);
}

/* ---- statements and the write transaction ---------------------------- */

int ledger_prepare(ub_ledger *l, const char *sql, store_stmt **st) {
  /* a read after the server came back: reconnect (never inside a write,
   * whose transaction died with the connection) */
  if (l->pg && !l->in_write && store_ensure_connected(l->db) != STORE_OK) {
    *st = NULL;
    return ledger_sql_error(l, "connecting");
  }
  if (store_prepare(l->db, sql, st) != STORE_OK) {
    *st = NULL;
    return ledger_sql_error(l, "preparing a statement");
  }
  return LEDGER_OK;
}

char *ledger_col_dup(store_stmt *st, int col, int *oom) {
  const char *s = store_column_text(st, col);
  if (!s) return NULL;
  char *copy = strdup(s);
  if (!copy) *oom = 1;
  return copy;
}

static int is_busy(ub_ledger *l) { return store_errclass_of(l->db) == STORE_E_BUSY; }

static void backoff(int attempt) {
  struct timespec ts = {0, (long)(20 + 40 * attempt) * 1000000L};
  nanosleep(&ts, NULL);
}

/* PostgreSQL: BEGIN, then the ledger's advisory lock (released by COMMIT
 * or ROLLBACK), so writers take turns as on SQLite; a lost connection is
 * opened again once. */
static int begin_pg(ub_ledger *l) {
  char sql[96];
  snprintf(sql, sizeof sql, "BEGIN; SELECT pg_advisory_xact_lock(%d)", LEDGER_PG_WRITE_LOCK);
  for (int attempt = 0; attempt < 2; attempt++) {
    if (store_ensure_connected(l->db) == STORE_OK && store_exec(l->db, sql) == STORE_OK)
      return LEDGER_OK;
    if (store_in_transaction(l->db)) store_exec(l->db, "ROLLBACK");
    if (store_errclass_of(l->db) != STORE_E_CONNECTION) break;
  }
  return ledger_sql_error(l, "starting a write transaction");
}

static int begin_immediate(ub_ledger *l) {
  if (l->pg) return begin_pg(l);
  for (int attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
    if (store_exec(l->db, "BEGIN IMMEDIATE") == STORE_OK) return LEDGER_OK;
    if (!is_busy(l)) break;
    backoff(attempt);
  }
  return ledger_sql_error(l, "starting a write transaction");
}

static int commit(ub_ledger *l) {
  for (int attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
    if (store_exec(l->db, "COMMIT") == STORE_OK) return LEDGER_OK;
    if (!is_busy(l)) break;
    backoff(attempt);
  }
  return ledger_sql_error(l, "committing");
}

int ledger_write(ub_ledger *l, ledger_write_fn fn, void *ud) {
  l->err[0] = '\0';
  if (begin_immediate(l) != LEDGER_OK) return LEDGER_ERROR;
  l->in_write++;
  int rc = fn(l, ud);
  if (rc == LEDGER_OK) rc = commit(l);
  if (rc != LEDGER_OK && store_in_transaction(l->db)) store_exec(l->db, "ROLLBACK");
  l->in_write--;
  return rc;
}

/* ---- redaction and blobs ---------------------------------------------- */

static int redact(ub_ledger *l, const char *s, size_t len, ub_buf *out) {
  ub_buf_init(out);
  if (ledger_redact(s, len, (const char *const *)l->secrets, l->nsecrets, out) < 0 ||
      ub_buf_reserve(out, 0) != 0) {
    ub_buf_free(out);
    ledger_set_error(l, "out of memory while redacting");
    return LEDGER_ERROR;
  }
  return LEDGER_OK;
}

/* Length of the valid UTF-8 sequence at p (1 to 4), or 0 when invalid. */
static size_t utf8_len(const unsigned char *p, size_t left) {
  size_t n = p[0] < 0x80 ? 1 : (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3
           : (p[0] & 0xf8) == 0xf0 ? 4 : 0;
  if (n == 0 || n > left || (n == 2 && p[0] < 0xc2) || (n == 4 && p[0] > 0xf4)) return 0;
  for (size_t i = 1; i < n; i++)
    if ((p[i] & 0xc0) != 0x80) return 0;
  if (n == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0))) return 0;
  if (n == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))) return 0;
  return n;
}

/* PostgreSQL text must be UTF-8 (SQLite keeps any bytes): every invalid
 * byte becomes U+FFFD, so a hostile URL or error text is recorded, never
 * the reason a write fails. */
static int make_utf8(ub_ledger *l, ub_buf *b) {
  const unsigned char *p = (const unsigned char *)b->data;
  size_t i = 0;
  for (size_t n; i < b->len && (n = utf8_len(p + i, b->len - i)) != 0;) i += n;
  if (i == b->len) return LEDGER_OK;
  ub_buf out;
  ub_buf_init(&out);
  for (i = 0; i < b->len;) {
    size_t n = utf8_len((const unsigned char *)b->data + i, b->len - i);
    if (n) ub_buf_append(&out, b->data + i, n), i += n;
    else ub_buf_puts(&out, "\xef\xbf\xbd"), i++;
  }
  if (out.failed) {
    ub_buf_free(&out);
    ledger_set_error(l, "out of memory");
    return LEDGER_ERROR;
  }
  ub_buf_free(b);
  *b = out;
  return LEDGER_OK;
}

int ledger_bind_redacted(ub_ledger *l, store_stmt *st, int idx, const char *s) {
  ub_buf b;
  if (!s) return store_bind_null(st, idx);
  if (redact(l, s, strlen(s), &b) != LEDGER_OK) return STORE_ERROR;
  if (l->pg && make_utf8(l, &b) != LEDGER_OK) {
    ub_buf_free(&b);
    return STORE_ERROR;
  }
  int rc = store_bind_text(st, idx, b.data, b.len);
  ub_buf_free(&b);
  if (rc != STORE_OK) ledger_sql_error(l, "binding a value");
  return rc;
}

int ledger_put_blob(ub_ledger *l, const char *data, size_t len, char digest[65]) {
  ub_buf b;
  store_stmt *st;
  digest[0] = '\0';
  if (!data) return LEDGER_OK;
  if (len > (size_t)INT_MAX / 2) {
    ledger_set_error(l, "ledger %s: document of %zu bytes is too large to record", l->path, len);
    return LEDGER_ERROR;
  }
  if (redact(l, data, len, &b) != LEDGER_OK) return LEDGER_ERROR;
  if (ub_sha256_hex(b.data, b.len, digest) != 0) {
    ub_buf_free(&b);
    ledger_set_error(l, "SHA-256 failed (OpenSSL)");
    return LEDGER_ERROR;
  }
  int rc = ledger_prepare(l, "INSERT INTO blobs(digest,size,content,created_ms) "
                             "VALUES (?,?,?,?) ON CONFLICT DO NOTHING", &st);
  if (rc == LEDGER_OK) {
    store_bind_cstr(st, 1, digest);
    store_bind_int64(st, 2, (int64_t)b.len);
    store_bind_blob(st, 3, b.len ? b.data : "", b.len);
    store_bind_int64(st, 4, ledger_now_ms());
    rc = store_step(st) == STORE_DONE ? LEDGER_OK : ledger_sql_error(l, "storing a document");
    store_finalize(st);
  }
  ub_buf_free(&b);
  return rc;
}

int ledger_get_blob(ub_ledger *l, const char *digest, ledger_doc *doc) {
  store_stmt *st;
  snprintf(doc->digest, sizeof doc->digest, "%s", digest ? digest : "");
  doc->data = NULL;
  doc->len = 0;
  if (!digest || !*digest) return LEDGER_OK;
  if (ledger_prepare(l, "SELECT content FROM blobs WHERE digest = ?", &st) != LEDGER_OK)
    return LEDGER_ERROR;
  store_bind_cstr(st, 1, digest);
  int rc = store_step(st);
  if (rc != STORE_ROW) {
    store_finalize(st);
    if (rc == STORE_DONE)
      ledger_set_error(l, "ledger %s: document %s is missing (damaged ledger)", l->path, digest);
    else
      ledger_sql_error(l, "reading a document");
    return LEDGER_ERROR;
  }
  size_t n = 0;
  const void *p = store_column_blob(st, 0, &n);
  doc->data = malloc(n + 1);
  if (!doc->data) {
    store_finalize(st);
    ledger_set_error(l, "out of memory");
    return LEDGER_ERROR;
  }
  if (n) memcpy(doc->data, p, n);
  doc->data[n] = '\0';
  doc->len = n;
  store_finalize(st);
  return LEDGER_OK;
}

void ledger_doc_free(ledger_doc *doc) {
  free(doc->name);
  free(doc->data);
  doc->name = NULL;
  doc->data = NULL;
  doc->len = 0;
}
