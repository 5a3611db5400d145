/* store_pg.c: the PostgreSQL back end of store.h on libpq. `?` and `?N`
 * placeholders become $N; each statement runs with PQexecParams (text
 * results, blobs as binary parameters) when first stepped, and the rows are
 * walked from the result. Errors are sorted by SQLSTATE; the password of a
 * connection string never reaches a message. */
#include "store/store_internal.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OID_BYTEA 17
#define OID_INT8 20
#define OID_TEXT 25
#define OID_FLOAT8 701
#define MAX_PARAMS 64

typedef struct pg_store {
  store base;
  PGconn *conn;
  int64_t changes;
  char where[256];       /* describe(): host, port, database */
  char *password;        /* to scrub from messages, or NULL */
} pg_store;

typedef struct pg_stmt {
  store_stmt base;
  char *sql;             /* with $N */
  int nparams;
  char *values[MAX_PARAMS];
  int lengths[MAX_PARAMS], formats[MAX_PARAMS];
  unsigned types[MAX_PARAMS];
  PGresult *res;
  int row, nrows;
  unsigned char **blobs; /* decoded bytea of the current row, per column */
  size_t *bloblens;
  int nblobs;
} pg_stmt;

static pg_store *pgs(store *db) { return (pg_store *)db; }
static pg_stmt *pst(store_stmt *st) { return (pg_stmt *)st; }

/* ---- errors --------------------------------------------------------- */

static store_errclass classify(const char *state, PGconn *conn) {
  if (PQstatus(conn) == CONNECTION_BAD) return STORE_E_CONNECTION;
  if (!state) return STORE_E_OTHER;
  if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0)
    return STORE_E_BUSY;
  if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0) return STORE_E_CONNECTION;
  if (strcmp(state, "53100") == 0) return STORE_E_FULL;
  if (strcmp(state, "53200") == 0) return STORE_E_NOMEM;
  if (strcmp(state, "42501") == 0 || strcmp(state, "25006") == 0) return STORE_E_READONLY;
  if (strncmp(state, "XX", 2) == 0) return STORE_E_CORRUPT;
  return STORE_E_OTHER;
}

/* Replaces every copy of the password in msg by "***". */
static void scrub(char *msg, const char *password) {
  size_t n = password ? strlen(password) : 0;
  if (n < 1) return;
  for (char *p = strstr(msg, password); p; p = strstr(p + 3, password)) {
    memmove(p + 3, p + n, strlen(p + n) + 1);
    memcpy(p, "***", 3);
  }
}

static int fail(store *db, PGresult *res) {
  pg_store *s = pgs(db);
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  const char *msg = res ? PQresultErrorMessage(res) : NULL;
  if (!msg || !*msg) msg = PQerrorMessage(s->conn);
  store_set_error(db, classify(state, s->conn), 0, "%s", msg && *msg ? msg : "unknown error");
  for (char *p = db->err; *p; p++)
    if (*p == '\n' || *p == '\r') *p = ' ';
  scrub(db->err, s->password);
  return STORE_ERROR;
}

void store_pg_describe(const char *conninfo, char *out, size_t outlen) {
  char *errmsg = NULL;
  PQconninfoOption *opts = PQconninfoParse(conninfo, &errmsg);
  const char *host = NULL, *port = NULL, *db = NULL, *user = NULL;
  for (PQconninfoOption *o = opts; o && o->keyword; o++) {
    if (!o->val || !*o->val) continue;
    if (strcmp(o->keyword, "host") == 0 || (strcmp(o->keyword, "hostaddr") == 0 && !host)) host = o->val;
    else if (strcmp(o->keyword, "port") == 0) port = o->val;
    else if (strcmp(o->keyword, "dbname") == 0) db = o->val;
    else if (strcmp(o->keyword, "user") == 0) user = o->val;
  }
  if (!opts) snprintf(out, outlen, "PostgreSQL database (unreadable connection string)");
  else
    snprintf(out, outlen, "PostgreSQL database %s on %s:%s%s%s", db ? db : "(default)",
             host ? host : "(local socket)", port ? port : "5432", user ? " as " : "", user ? user : "");
  PQfreemem(errmsg);
  PQconninfoFree(opts);
}

static char *password_of(const char *conninfo) {
  char *errmsg = NULL, *pw = NULL;
  PQconninfoOption *opts = PQconninfoParse(conninfo, &errmsg);
  for (PQconninfoOption *o = opts; o && o->keyword; o++)
    if (strcmp(o->keyword, "password") == 0 && o->val && *o->val) pw = strdup(o->val);
  PQfreemem(errmsg);
  PQconninfoFree(opts);
  return pw;
}

/* ---- statements ------------------------------------------------------ */

/* `?N` -> `$N`, `?` -> the next number; quoted text is left alone. */
static char *translate(const char *sql, int *nparams) {
  size_t n = strlen(sql);
  char *out = malloc(n * 3 + 1), *o = out;
  int next = 0, max = 0;
  char quote = 0;
  if (!out) return NULL;
  for (const char *p = sql; *p; p++) {
    if (quote) {
      if (*p == quote) quote = 0;
      *o++ = *p;
    } else if (*p == '\'' || *p == '"') {
      quote = *p;
      *o++ = *p;
    } else if (*p == '?') {
      int idx;
      if (p[1] >= '0' && p[1] <= '9') {
        idx = (int)strtol(p + 1, (char **)&p, 10);
        p--;
      } else idx = ++next;
      if (idx > next) next = idx;
      if (idx > max) max = idx;
      o += sprintf(o, "$%d", idx);
    } else *o++ = *p;
  }
  *o = '\0';
  *nparams = max;
  return out;
}

static void clear_row(pg_stmt *s) {
  for (int i = 0; i < s->nblobs; i++) PQfreemem(s->blobs[i]);
  free(s->blobs);
  free(s->bloblens);
  s->blobs = NULL;
  s->bloblens = NULL;
  s->nblobs = 0;
}

static int pg_prepare(store *db, const char *sql, store_stmt **out) {
  pg_stmt *s = calloc(1, sizeof *s);
  if (s) s->sql = translate(sql, &s->nparams);
  if (!s || !s->sql) {
    free(s);
    store_set_error(db, STORE_E_NOMEM, 0, "out of memory");
    return STORE_ERROR;
  }
  if (s->nparams > MAX_PARAMS) {
    free(s->sql);
    free(s);
    store_set_error(db, STORE_E_OTHER, 0, "statement has more than %d parameters", MAX_PARAMS);
    return STORE_ERROR;
  }
  s->base.db = db;
  s->row = -1;
  *out = &s->base;
  return STORE_OK;
}

static int pg_bind(store_stmt *st, int idx, const store_value *v) {
  pg_stmt *s = pst(st);
  if (idx < 1 || idx > s->nparams) {
    store_set_error(st->db, STORE_E_OTHER, 0, "parameter %d out of range", idx);
    return STORE_ERROR;
  }
  int i = idx - 1;
  free(s->values[i]);
  s->values[i] = NULL;
  s->lengths[i] = 0;
  s->formats[i] = 0;
  s->types[i] = 0;
  char num[40];
  const void *p = NULL;
  size_t len = 0;
  switch (v->type) {
  case SV_TEXT: p = v->p, len = v->len, s->types[i] = OID_TEXT; break;
  case SV_BLOB: p = v->p, len = v->len, s->types[i] = OID_BYTEA, s->formats[i] = 1; break;
  case SV_INT: len = (size_t)snprintf(num, sizeof num, "%lld", (long long)v->i), p = num, s->types[i] = OID_INT8; break;
  case SV_DOUBLE: len = (size_t)snprintf(num, sizeof num, "%.17g", v->d), p = num, s->types[i] = OID_FLOAT8; break;
  default: return STORE_OK;
  }
  if (len > (size_t)0x7fffffff || !(s->values[i] = malloc(len + 1))) {
    store_set_error(st->db, STORE_E_NOMEM, 0, "out of memory binding a value");
    return STORE_ERROR;
  }
  if (len) memcpy(s->values[i], p, len);
  s->values[i][len] = '\0';
  s->lengths[i] = (int)len;
  return STORE_OK;
}

static int run(pg_stmt *s) {
  pg_store *db = pgs(s->base.db);
  s->res = PQexecParams(db->conn, s->sql, s->nparams, s->types, (const char *const *)s->values,
                        s->lengths, s->formats, 0);
  ExecStatusType status = PQresultStatus(s->res);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    fail(s->base.db, s->res);
    PQclear(s->res);
    s->res = NULL;
    return STORE_ERROR;
  }
  const char *changed = PQcmdTuples(s->res);
  db->changes = changed && *changed ? strtoll(changed, NULL, 10) : 0;
  s->nrows = PQntuples(s->res);
  return STORE_OK;
}

static int pg_step(store_stmt *st) {
  pg_stmt *s = pst(st);
  clear_row(s);
  if (!s->res) {
    if (s->row >= 0) return STORE_DONE;
    if (run(s) != STORE_OK) return STORE_ERROR;
  }
  s->row++;
  return s->row < s->nrows ? STORE_ROW : STORE_DONE;
}

static int pg_reset(store_stmt *st) {
  pg_stmt *s = pst(st);
  clear_row(s);
  PQclear(s->res);
  s->res = NULL;
  s->row = -1;
  s->nrows = 0;
  for (int i = 0; i < s->nparams; i++) {
    free(s->values[i]);
    s->values[i] = NULL;
    s->lengths[i] = s->formats[i] = 0;
    s->types[i] = 0;
  }
  return STORE_OK;
}

static void pg_finalize(store_stmt *st) {
  pg_reset(st);
  free(pst(st)->sql);
  free(st);
}

static int valid(pg_stmt *s, int col) {
  return s->res && s->row >= 0 && s->row < s->nrows && col >= 0 && col < PQnfields(s->res);
}

static int pg_is_null(store_stmt *st, int col) {
  pg_stmt *s = pst(st);
  return !valid(s, col) || PQgetisnull(s->res, s->row, col);
}

static const char *pg_text(store_stmt *st, int col) {
  pg_stmt *s = pst(st);
  return pg_is_null(st, col) ? NULL : PQgetvalue(s->res, s->row, col);
}

static int64_t pgs_int64(store_stmt *st, int col) {
  const char *t = pg_text(st, col);
  if (!t) return 0;
  if (strcmp(t, "t") == 0) return 1;   /* booleans */
  return strtoll(t, NULL, 10);
}

static double pgs_double(store_stmt *st, int col) {
  const char *t = pg_text(st, col);
  return t ? strtod(t, NULL) : 0.0;
}

static const void *pg_blob(store_stmt *st, int col, size_t *len) {
  pg_stmt *s = pst(st);
  *len = 0;
  const char *t = pg_text(st, col);
  if (!t) return NULL;
  if (!s->blobs) {
    s->nblobs = PQnfields(s->res);
    s->blobs = calloc((size_t)s->nblobs, sizeof *s->blobs);
    s->bloblens = calloc((size_t)s->nblobs, sizeof *s->bloblens);
    if (!s->blobs || !s->bloblens) {
      clear_row(s);
      return NULL;
    }
  }
  if (!s->blobs[col]) s->blobs[col] = PQunescapeBytea((const unsigned char *)t, &s->bloblens[col]);
  if (!s->blobs[col]) return NULL;
  *len = s->bloblens[col];
  return s->blobs[col];
}

/* ---- connection -------------------------------------------------------- */

static int pg_exec(store *db, const char *sql) {
  PGresult *res = PQexec(pgs(db)->conn, sql);
  ExecStatusType status = PQresultStatus(res);
  int rc = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK ? STORE_OK : fail(db, res);
  if (rc == STORE_OK) {
    const char *changed = PQcmdTuples(res);
    pgs(db)->changes = changed && *changed ? strtoll(changed, NULL, 10) : 0;
  }
  PQclear(res);
  return rc;
}

static void pg_close(store *db) {
  pg_store *s = pgs(db);
  PQfinish(s->conn);
  if (s->password) memset(s->password, 0, strlen(s->password));
  free(s->password);
  free(s);
}

static int64_t pg_changes(store *db) { return pgs(db)->changes; }
static int pg_in_transaction(store *db) {
  return PQtransactionStatus(pgs(db)->conn) != PQTRANS_IDLE;
}
static int pg_checkpoint(store *db) {
  (void)db;
  return STORE_OK;
}

static void quiet(void *arg, const char *message) {
  (void)arg;
  (void)message;
}

static int pg_ensure_connected(store *db) {
  pg_store *s = pgs(db);
  if (PQstatus(s->conn) == CONNECTION_OK) return STORE_OK;
  PQreset(s->conn);
  if (PQstatus(s->conn) == CONNECTION_OK) return STORE_OK;
  return fail(db, NULL);
}

static const store_ops PG_OPS = {
  pg_close, pg_exec, pg_prepare, pg_bind, pg_step, pg_reset, pg_finalize, pg_is_null, pg_text,
  pgs_int64, pgs_double, pg_blob, pg_changes, pg_in_transaction, pg_checkpoint, pg_ensure_connected};

store *store_open_pg(const char *conninfo, char *err, size_t errlen) {
  pg_store *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  s->base.ops = &PG_OPS;
  s->base.kind = STORE_PG;
  store_pg_describe(conninfo, s->where, sizeof s->where);
  s->password = password_of(conninfo);
  s->conn = PQconnectdb(conninfo);
  if (!s->conn) {
    free(s->password);
    free(s);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  PQsetNoticeProcessor(s->conn, quiet, NULL);
  if (PQstatus(s->conn) != CONNECTION_OK) fail(&s->base, NULL);
  return &s->base;
}
