/* store_sqlite.c: the SQLite back end of store.h, a thin layer over the
 * sqlite3 API (one file, WAL, busy timeout set by the caller). Finished
 * statements are kept, reset, in a small cache keyed by their SQL text, so
 * a long-lived connection (a serve worker's) compiles each statement once. */
#include "store/store_internal.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STMT_CACHE 24   /* the ledger's distinct statements on one gate's path, and more */

typedef struct sq_stmt {
  store_stmt base;
  sqlite3_stmt *st;
  int cacheable;      /* one whole statement: its SQL text names it */
} sq_stmt;

typedef struct sq_store {
  store base;
  sqlite3 *db;
  sq_stmt *idle[STMT_CACHE];   /* reset statements ready for reuse, or NULL */
  size_t next_evict;           /* the slot replaced when every slot is taken */
} sq_store;

static sqlite3 *handle(store *db) { return ((sq_store *)db)->db; }
static sqlite3_stmt *stmt(store_stmt *st) { return ((sq_stmt *)st)->st; }

static store_errclass classify(int code) {
  switch (code & 0xff) {
  case SQLITE_OK: case SQLITE_ROW: case SQLITE_DONE: return STORE_E_NONE;
  case SQLITE_BUSY: case SQLITE_LOCKED: return STORE_E_BUSY;
  case SQLITE_CORRUPT: return STORE_E_CORRUPT;
  case SQLITE_NOTADB: return STORE_E_NOTADB;
  case SQLITE_READONLY: case SQLITE_CANTOPEN: case SQLITE_PERM: return STORE_E_READONLY;
  case SQLITE_FULL: return STORE_E_FULL;
  case SQLITE_NOMEM: return STORE_E_NOMEM;
  default: return STORE_E_OTHER;
  }
}

/* Copies SQLite's last error into the store; returns STORE_ERROR. */
static int fail(store *db) {
  int code = sqlite3_extended_errcode(handle(db));
  store_set_error(db, classify(code), code, "%s", sqlite3_errmsg(handle(db)));
  return STORE_ERROR;
}

static void free_stmt(sq_stmt *s) {
  sqlite3_finalize(s->st);
  free(s);
}

static void sq_close(store *db) {
  sq_store *q = (sq_store *)db;
  for (size_t k = 0; k < STMT_CACHE; k++)
    if (q->idle[k]) free_stmt(q->idle[k]);
  sqlite3_close(q->db);
  free(q);
}

/* A cached statement of this SQL text, taken out of the cache, or NULL. */
static sq_stmt *take_idle(sq_store *q, const char *sql) {
  for (size_t k = 0; k < STMT_CACHE; k++) {
    sq_stmt *s = q->idle[k];
    if (s && strcmp(sqlite3_sql(s->st), sql) == 0) {
      q->idle[k] = NULL;
      return s;
    }
  }
  return NULL;
}

/* Keeps a finished statement for reuse (a free slot, else the next one in
 * turn is finalized). */
static void keep_idle(sq_store *q, sq_stmt *s) {
  for (size_t k = 0; k < STMT_CACHE; k++) {
    if (!q->idle[k]) {
      q->idle[k] = s;
      return;
    }
  }
  size_t k = q->next_evict++ % STMT_CACHE;
  free_stmt(q->idle[k]);
  q->idle[k] = s;
}

static int sq_exec(store *db, const char *sql) {
  return sqlite3_exec(handle(db), sql, NULL, NULL, NULL) == SQLITE_OK ? STORE_OK : fail(db);
}

static int sq_prepare(store *db, const char *sql, store_stmt **out) {
  sq_stmt *s = take_idle((sq_store *)db, sql);
  if (s) {
    *out = &s->base;
    return STORE_OK;
  }
  s = calloc(1, sizeof *s);
  if (!s) {
    store_set_error(db, STORE_E_NOMEM, SQLITE_NOMEM, "out of memory");
    return STORE_ERROR;
  }
  s->base.db = db;
  const char *tail = NULL;
  if (sqlite3_prepare_v3(handle(db), sql, -1, SQLITE_PREPARE_PERSISTENT, &s->st, &tail) != SQLITE_OK) {
    free(s);
    return fail(db);
  }
  while (tail && (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == ';')) tail++;
  s->cacheable = s->st && tail && *tail == '\0';
  *out = &s->base;
  return STORE_OK;
}

static int sq_bind(store_stmt *st, int idx, const store_value *v) {
  int rc;
  switch (v->type) {
  case SV_TEXT: rc = sqlite3_bind_text64(stmt(st), idx, v->p, v->len, SQLITE_TRANSIENT, SQLITE_UTF8); break;
  case SV_BLOB: rc = sqlite3_bind_blob64(stmt(st), idx, v->p, v->len, SQLITE_TRANSIENT); break;
  case SV_INT: rc = sqlite3_bind_int64(stmt(st), idx, v->i); break;
  case SV_DOUBLE: rc = sqlite3_bind_double(stmt(st), idx, v->d); break;
  default: rc = sqlite3_bind_null(stmt(st), idx); break;
  }
  return rc == SQLITE_OK ? STORE_OK : fail(st->db);
}

static int sq_step(store_stmt *st) {
  int rc = sqlite3_step(stmt(st));
  if (rc == SQLITE_ROW) return STORE_ROW;
  if (rc == SQLITE_DONE) return STORE_DONE;
  return fail(st->db);
}

static int sq_reset(store_stmt *st) {
  sqlite3_reset(stmt(st));
  sqlite3_clear_bindings(stmt(st));
  return STORE_OK;
}

/* A statement whose SQL is all it was prepared from (no second statement
 * after a ';') goes back to the cache, reset and unbound. */
static void sq_finalize(store_stmt *st) {
  sq_stmt *s = (sq_stmt *)st;
  if (!s->cacheable) {
    free_stmt(s);
    return;
  }
  sqlite3_reset(s->st);
  sqlite3_clear_bindings(s->st);
  keep_idle((sq_store *)st->db, s);
}

static int sq_is_null(store_stmt *st, int col) {
  return sqlite3_column_type(stmt(st), col) == SQLITE_NULL;
}
static const char *sq_text(store_stmt *st, int col) {
  return (const char *)sqlite3_column_text(stmt(st), col);
}
static int64_t sq_int64(store_stmt *st, int col) { return sqlite3_column_int64(stmt(st), col); }
static double sq_double(store_stmt *st, int col) { return sqlite3_column_double(stmt(st), col); }
static const void *sq_blob(store_stmt *st, int col, size_t *len) {
  const void *p = sqlite3_column_blob(stmt(st), col);
  *len = p ? (size_t)sqlite3_column_bytes(stmt(st), col) : 0;
  return p;
}

static int64_t sq_changes(store *db) { return sqlite3_changes64(handle(db)); }
static int sq_in_transaction(store *db) { return !sqlite3_get_autocommit(handle(db)); }

static int sq_checkpoint(store *db) {
  int rc = sqlite3_wal_checkpoint_v2(handle(db), NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
  return rc == SQLITE_OK || (rc & 0xff) == SQLITE_BUSY ? STORE_OK : fail(db);
}

static int sq_ensure_connected(store *db) {
  (void)db;
  return STORE_OK;
}

static const store_ops SQLITE_OPS = {
  sq_close, sq_exec, sq_prepare, sq_bind, sq_step, sq_reset, sq_finalize, sq_is_null, sq_text,
  sq_int64, sq_double, sq_blob, sq_changes, sq_in_transaction, sq_checkpoint, sq_ensure_connected};

store *store_open_sqlite(const char *path, int busy_timeout_ms, char *err, size_t errlen) {
  sq_store *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  s->base.ops = &SQLITE_OPS;
  s->base.kind = STORE_SQLITE;
  int rc = sqlite3_open_v2(path, &s->db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) {
    /* keep the handle: the caller reads the error class through it */
    fail(&s->base);
    return &s->base;
  }
  sqlite3_busy_timeout(s->db, busy_timeout_ms);
  sqlite3_extended_result_codes(s->db, 1);
  return &s->base;
}
