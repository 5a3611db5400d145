/* store_internal.h: what store.c shares with the two back ends: the
 * operation table each one fills, and the common head of a connection and
 * of a statement. Not for use outside store/. */
#ifndef UB_STORE_INTERNAL_H
#define UB_STORE_INTERNAL_H

#include "store/store.h"

typedef enum store_vtype { SV_NULL, SV_TEXT, SV_INT, SV_DOUBLE, SV_BLOB } store_vtype;

typedef struct store_value {
  store_vtype type;
  const void *p;      /* SV_TEXT, SV_BLOB */
  size_t len;
  int64_t i;
  double d;
} store_value;

typedef struct store_ops {
  void (*close)(store *db);
  int (*exec)(store *db, const char *sql);
  int (*prepare)(store *db, const char *sql, store_stmt **st);
  int (*bind)(store_stmt *st, int idx, const store_value *v);
  int (*step)(store_stmt *st);
  int (*reset)(store_stmt *st);
  void (*finalize)(store_stmt *st);
  int (*is_null)(store_stmt *st, int col);
  const char *(*text)(store_stmt *st, int col);
  int64_t (*int64)(store_stmt *st, int col);
  double (*dbl)(store_stmt *st, int col);
  const void *(*blob)(store_stmt *st, int col, size_t *len);
  int64_t (*changes)(store *db);
  int (*in_transaction)(store *db);
  int (*checkpoint)(store *db);
  int (*ensure_connected)(store *db);
} store_ops;

struct store {
  const store_ops *ops;
  store_kind kind;
  store_errclass errclass;
  int errcode;
  char err[512];
};

struct store_stmt {
  store *db;
};

void store_set_error(store *db, store_errclass cls, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
