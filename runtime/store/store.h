/* Folder store/: one small SQL statement interface with two back ends,
 * SQLite (an embedded file) and PostgreSQL (libpq), so the ledger writes its
 * SQL once. May call util/ only. */
/* store.h: connections, statements with `?` / `?N` placeholders, rows and
 * column getters, errors sorted into a few classes the ledger reacts to.
 *
 * Conventions:
 *  - Bound values are copied: the caller's buffers may go right after.
 *  - store_step returns STORE_ROW, STORE_DONE or STORE_ERROR; after an error
 *    store_errmsg/store_errclass describe it.
 *  - Column getters read the current row; returned pointers live until the
 *    next step, reset or finalize.
 *  - A connection belongs to one thread at a time. */
#ifndef UB_STORE_H
#define UB_STORE_H

#include <stddef.h>
#include <stdint.h>

#define STORE_OK 0
#define STORE_ERROR 1
#define STORE_ROW 100
#define STORE_DONE 101

typedef enum store_kind { STORE_SQLITE = 1, STORE_PG = 2 } store_kind;

/* What kind of failure the last error was. */
typedef enum store_errclass {
  STORE_E_NONE = 0,
  STORE_E_OTHER,
  STORE_E_BUSY,        /* locked / serialization failure / deadlock: retry */
  STORE_E_CORRUPT,
  STORE_E_NOTADB,
  STORE_E_READONLY,    /* permissions, read-only file */
  STORE_E_FULL,
  STORE_E_CONNECTION,  /* server unreachable or connection lost */
  STORE_E_NOMEM,
} store_errclass;

typedef struct store store;
typedef struct store_stmt store_stmt;

/* 1 when s names a PostgreSQL database (postgres:// or postgresql:// URI,
 * or a libpq "key=value" connection string), 0 for a file path. */
int store_is_pg_target(const char *s);

/* Opens an SQLite file (created when missing) or connects to PostgreSQL.
 * NULL (err says why) only when out of memory; a connection that failed is
 * returned with its error set (store_errclass_of() != STORE_E_NONE), to be
 * closed by the caller. A PostgreSQL error names host, port and database,
 * never the password. */
store *store_open_sqlite(const char *path, int busy_timeout_ms, char *err, size_t errlen);
store *store_open_pg(const char *conninfo, char *err, size_t errlen);
void store_close(store *db);
store_kind store_get_kind(const store *db);

/* "postgres database NAME on HOST:PORT as USER" (no password). */
void store_pg_describe(const char *conninfo, char *out, size_t outlen);

/* After a lost connection: 0 when the connection is (again) usable. */
int store_ensure_connected(store *db);

int store_exec(store *db, const char *sql);   /* one or more statements, no rows */
int store_prepare(store *db, const char *sql, store_stmt **st);
int store_bind_text(store_stmt *st, int idx, const char *s, size_t len);
int store_bind_cstr(store_stmt *st, int idx, const char *s);   /* NULL binds NULL */
int store_bind_int64(store_stmt *st, int idx, int64_t v);
int store_bind_double(store_stmt *st, int idx, double v);
int store_bind_blob(store_stmt *st, int idx, const void *p, size_t len);
int store_bind_null(store_stmt *st, int idx);
int store_step(store_stmt *st);
int store_reset(store_stmt *st);      /* also clears the bindings */
void store_finalize(store_stmt *st);

int store_column_is_null(store_stmt *st, int col);
const char *store_column_text(store_stmt *st, int col);   /* NULL for NULL */
int64_t store_column_int64(store_stmt *st, int col);
int store_column_int(store_stmt *st, int col);
double store_column_double(store_stmt *st, int col);
/* Blob bytes (NULL for NULL or on error) and their length. */
const void *store_column_blob(store_stmt *st, int col, size_t *len);

/* Rows changed by the last finished INSERT/UPDATE/DELETE. */
int64_t store_changes(store *db);
int store_in_transaction(store *db);
const char *store_errmsg(store *db);
store_errclass store_errclass_of(store *db);
int store_errcode(store *db);   /* SQLite extended code, or 0 for PostgreSQL */

/* SQLite: a PASSIVE WAL checkpoint; PostgreSQL: nothing. */
int store_checkpoint(store *db);

#endif
