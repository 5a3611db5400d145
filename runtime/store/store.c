/* store.c: the public statement interface, dispatched to the back end
 * (store_sqlite.c, store_pg.c), and the conversions both share. */
#include "store/store_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void store_set_error(store *db, store_errclass cls, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(db->err, sizeof db->err, fmt, ap);
  va_end(ap);
  db->errclass = cls;
  db->errcode = code;
}

int store_is_pg_target(const char *s) {
  if (!s) return 0;
  static const char *const prefixes[] = {"postgres://", "postgresql://", "host=", "hostaddr=",
                                         "dbname=", "service=", "port=", "user="};
  for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
    if (strncmp(s, prefixes[i], strlen(prefixes[i])) == 0) return 1;
  return 0;
}

void store_close(store *db) {
  if (db) db->ops->close(db);
}
store_kind store_get_kind(const store *db) { return db->kind; }
int store_ensure_connected(store *db) { return db->ops->ensure_connected(db); }
int store_exec(store *db, const char *sql) { return db->ops->exec(db, sql); }
int store_prepare(store *db, const char *sql, store_stmt **st) {
  *st = NULL;
  return db->ops->prepare(db, sql, st);
}

int store_bind_text(store_stmt *st, int idx, const char *s, size_t len) {
  store_value v = {.type = s ? SV_TEXT : SV_NULL, .p = s, .len = len};
  return st->db->ops->bind(st, idx, &v);
}
int store_bind_cstr(store_stmt *st, int idx, const char *s) {
  return store_bind_text(st, idx, s, s ? strlen(s) : 0);
}
int store_bind_int64(store_stmt *st, int idx, int64_t i) {
  store_value v = {.type = SV_INT, .i = i};
  return st->db->ops->bind(st, idx, &v);
}
int store_bind_double(store_stmt *st, int idx, double d) {
  store_value v = {.type = SV_DOUBLE, .d = d};
  return st->db->ops->bind(st, idx, &v);
}
int store_bind_blob(store_stmt *st, int idx, const void *p, size_t len) {
  store_value v = {.type = p ? SV_BLOB : SV_NULL, .p = p, .len = len};
  return st->db->ops->bind(st, idx, &v);
}
int store_bind_null(store_stmt *st, int idx) {
  store_value v = {.type = SV_NULL};
  return st->db->ops->bind(st, idx, &v);
}

int store_step(store_stmt *st) { return st->db->ops->step(st); }
int store_reset(store_stmt *st) { return st->db->ops->reset(st); }
void store_finalize(store_stmt *st) {
  if (st) st->db->ops->finalize(st);
}

int store_column_is_null(store_stmt *st, int col) { return st->db->ops->is_null(st, col); }
const char *store_column_text(store_stmt *st, int col) { return st->db->ops->text(st, col); }
int64_t store_column_int64(store_stmt *st, int col) { return st->db->ops->int64(st, col); }
int store_column_int(store_stmt *st, int col) { return (int)store_column_int64(st, col); }
double store_column_double(store_stmt *st, int col) { return st->db->ops->dbl(st, col); }
const void *store_column_blob(store_stmt *st, int col, size_t *len) {
  return st->db->ops->blob(st, col, len);
}

int64_t store_changes(store *db) { return db->ops->changes(db); }
int store_in_transaction(store *db) { return db->ops->in_transaction(db); }
const char *store_errmsg(store *db) { return db->err; }
store_errclass store_errclass_of(store *db) { return db->errclass; }
int store_errcode(store *db) { return db->errcode; }
int store_checkpoint(store *db) { return db->ops->checkpoint(db); }
