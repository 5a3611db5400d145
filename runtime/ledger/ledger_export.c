/* ledger_export.c: copies every record of one ledger into another, empty,
 * one (SQLite to PostgreSQL and back), ids kept, in one write transaction
 * on the target; then proves the copy: per table the row count and a
 * SHA-256 over every value, computed on both sides the same way. */
#include "ledger/ledger_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/digest.h"

/* Column kinds: I integer, D double, T text, B blob. */
typedef struct table_spec {
  const char *name, *columns, *kinds, *order;
  int has_identity;           /* an id column PostgreSQL numbers itself */
} table_spec;

/* In reference order: a row's references exist before it. */
static const table_spec TABLES[] = {
  {"blobs", "digest,size,content,created_ms", "TIBI", "digest", 0},
  {"evaluations",
   "id,created_ms,finished_ms,requested_by,request_meta,service,stage,kind,target,compat,status,"
   "verdict,score,verdict_json,timings_json,error,invalidated,invalidated_reason,invalidated_ms,"
   "owner_host,owner_pid,owner_start",
   "IIITTTTTTTTTDTTTITITIT", "id", 1},
  {"evaluation_inputs", "evaluation_id,role,name,digest", "ITTT", "evaluation_id,role", 0},
  {"binding_requests",
   "evaluation_id,seq,binding,method,url,request_digest,status,response_headers,response_digest,"
   "duration_ms,error",
   "IITTTTITTDT", "evaluation_id,seq", 0},
  {"deployment_events",
   "id,created_ms,requested_by,api,target,request_digest,status,response_digest,outcome,message",
   "IITTTTITTT", "id", 1},
  {"actions", "id,created_ms,updated_ms,kind,key,idempotency_key,state,payload", "IIITTTTT", "id", 1},
  {"pending_callbacks",
   "id,created_ms,updated_ms,evaluation_id,plan_url,project_id,hub_name,plan_id,job_id,timeline_id,"
   "task_instance_id,token_sealed,request_json,deadline_ms,state,result,attempts,last_error",
   "IIIITTTTTTTBTITTIT", "id", 1},
};
#define NTABLES (sizeof TABLES / sizeof *TABLES)

/* Appends column col of the current row to b, tagged by kind, so that
 * both back ends give the same bytes for the same value. */
static void append_value(ub_buf *b, store_stmt *st, int col, char kind) {
  if (store_column_is_null(st, col)) {
    ub_buf_puts(b, "\x01N");
  } else if (kind == 'I') {
    ub_buf_printf(b, "%lld", (long long)store_column_int64(st, col));
  } else if (kind == 'D') {
    ub_buf_printf(b, "%.17g", store_column_double(st, col));
  } else if (kind == 'B') {
    size_t n = 0;
    const unsigned char *p = store_column_blob(st, col, &n);
    for (size_t i = 0; p && i < n; i++) ub_buf_printf(b, "%02x", p[i]);
  } else {
    const char *t = store_column_text(st, col);
    ub_buf_puts(b, t ? t : "");
  }
  ub_buf_putc(b, '\x1f');
}

/* Count and digest of one table of l. */
static int table_digest(ub_ledger *l, const table_spec *t, int64_t *count, char digest[65]) {
  char sql[1024];
  store_stmt *st;
  snprintf(sql, sizeof sql, "SELECT %s FROM %s ORDER BY %s", t->columns, t->name, t->order);
  if (ledger_prepare(l, sql, &st) != LEDGER_OK) return LEDGER_ERROR;
  ub_buf all;
  ub_buf_init(&all);
  int rc, ncols = (int)strlen(t->kinds);
  *count = 0;
  while ((rc = store_step(st)) == STORE_ROW) {
    for (int c = 0; c < ncols; c++) append_value(&all, st, c, t->kinds[c]);
    ub_buf_putc(&all, '\x1e');
    (*count)++;
  }
  store_finalize(st);
  int ok = rc == STORE_DONE && !all.failed && ub_sha256_hex(all.data ? all.data : "", all.len, digest) == 0;
  ub_buf_free(&all);
  if (rc != STORE_DONE) return ledger_sql_error(l, "reading a table to export");
  if (!ok) {
    ledger_set_error(l, "out of memory digesting table %s", t->name);
    return LEDGER_ERROR;
  }
  return LEDGER_OK;
}

static int bind_value(store_stmt *ins, int idx, store_stmt *sel, int col, char kind) {
  if (store_column_is_null(sel, col)) return store_bind_null(ins, idx);
  if (kind == 'I') return store_bind_int64(ins, idx, store_column_int64(sel, col));
  if (kind == 'D') return store_bind_double(ins, idx, store_column_double(sel, col));
  if (kind == 'B') {
    size_t n = 0;
    const void *p = store_column_blob(sel, col, &n);
    return store_bind_blob(ins, idx, p ? p : "", n);
  }
  return store_bind_cstr(ins, idx, store_column_text(sel, col));
}

typedef struct copy_args {
  ub_ledger *src;
  int64_t rows;
} copy_args;

static int copy_table(ub_ledger *src, ub_ledger *dst, const table_spec *t, int64_t *rows) {
  char sql[1400], marks[200] = "";
  int ncols = (int)strlen(t->kinds);
  for (int c = 0; c < ncols; c++) strcat(marks, c ? ",?" : "?");
  store_stmt *sel, *ins;
  snprintf(sql, sizeof sql, "SELECT %s FROM %s ORDER BY %s", t->columns, t->name, t->order);
  if (ledger_prepare(src, sql, &sel) != LEDGER_OK) {
    ledger_set_error(dst, "%s", ledger_error(src));
    return LEDGER_ERROR;
  }
  snprintf(sql, sizeof sql, "INSERT INTO %s(%s) VALUES (%s)", t->name, t->columns, marks);
  if (ledger_prepare(dst, sql, &ins) != LEDGER_OK) {
    store_finalize(sel);
    return LEDGER_ERROR;
  }
  int rc;
  while ((rc = store_step(sel)) == STORE_ROW) {
    store_reset(ins);
    int brc = STORE_OK;
    for (int c = 0; c < ncols && brc == STORE_OK; c++) brc = bind_value(ins, c + 1, sel, c, t->kinds[c]);
    if (brc != STORE_OK || store_step(ins) != STORE_DONE) {
      store_finalize(sel);
      store_finalize(ins);
      return ledger_sql_error(dst, "copying a row");
    }
    (*rows)++;
  }
  store_finalize(sel);
  store_finalize(ins);
  if (rc != STORE_DONE) {
    ledger_sql_error(src, "reading a table to export");
    ledger_set_error(dst, "%s", ledger_error(src));
    return LEDGER_ERROR;
  }
  if (dst->pg && t->has_identity) {   /* the next id follows the copied ones */
    snprintf(sql, sizeof sql, "SELECT setval(pg_get_serial_sequence('%s','id'), "
             "coalesce((SELECT max(id) FROM %s), 0) + 1, false)", t->name, t->name);
    if (store_exec(dst->db, sql) != STORE_OK) return ledger_sql_error(dst, "moving an id sequence");
  }
  return LEDGER_OK;
}

static int target_is_empty(ub_ledger *dst) {
  for (size_t i = 0; i < NTABLES; i++) {
    char sql[160];
    store_stmt *st;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", TABLES[i].name);
    if (ledger_prepare(dst, sql, &st) != LEDGER_OK) return LEDGER_ERROR;
    int rc = store_step(st);
    int64_t n = rc == STORE_ROW ? store_column_int64(st, 0) : -1;
    store_finalize(st);
    if (rc != STORE_ROW) return ledger_sql_error(dst, "checking the target is empty");
    if (n > 0) {
      ledger_set_error(dst, "ledger %s already holds %lld rows in %s; export into a new, empty "
                       "ledger", dst->path, (long long)n, TABLES[i].name);
      return LEDGER_ERROR;
    }
  }
  return LEDGER_OK;
}

static int copy_in_tx(ub_ledger *dst, void *ud) {
  copy_args *a = ud;
  if (target_is_empty(dst) != LEDGER_OK) return LEDGER_ERROR;
  for (size_t i = 0; i < NTABLES; i++)
    if (copy_table(a->src, dst, &TABLES[i], &a->rows) != LEDGER_OK) return LEDGER_ERROR;
  return LEDGER_OK;
}

int ledger_export(ub_ledger *src, ub_ledger *dst, ub_buf *report) {
  copy_args a = {src, 0};
  if (ledger_write(dst, copy_in_tx, &a) != LEDGER_OK) return LEDGER_ERROR;
  int mismatch = 0;
  for (size_t i = 0; i < NTABLES; i++) {
    int64_t n1, n2;
    char d1[65], d2[65];
    if (table_digest(src, &TABLES[i], &n1, d1) != LEDGER_OK) {
      ledger_set_error(dst, "%s", ledger_error(src));
      return LEDGER_ERROR;
    }
    if (table_digest(dst, &TABLES[i], &n2, d2) != LEDGER_OK) return LEDGER_ERROR;
    int same = n1 == n2 && strcmp(d1, d2) == 0;
    mismatch |= !same;
    ub_buf_printf(report, "%-18s %8lld rows  sha256 %.16s  %s\n", TABLES[i].name, (long long)n2, d2,
                  same ? "identical" : "DIFFERS from the source");
  }
  if (mismatch) {
    ledger_set_error(dst, "ledger %s: the copy differs from the source (see the table above); "
                     "do not use it", dst->path);
    return LEDGER_ERROR;
  }
  return LEDGER_OK;
}
