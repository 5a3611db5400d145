/* ledger_eval.c: gate evaluations in the ledger: begin, record each
 * binding request, finish, read back for replay and reports, history,
 * baselines and invalidation. */
#include "ledger/ledger_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *or_empty(const char *s) { return s ? s : ""; }

/* ---- begin ----------------------------------------------------------- */

typedef struct begin_args {
  const ledger_eval_start *s;
  int64_t id;
} begin_args;

static int insert_input(ub_ledger *l, int64_t id, const char *role, const char *name,
                        const char *data, size_t len) {
  char digest[65];
  store_stmt *st;
  if (!data) return LEDGER_OK;
  if (ledger_put_blob(l, data, len, digest) != LEDGER_OK) return LEDGER_ERROR;
  if (ledger_prepare(l, "INSERT INTO evaluation_inputs(evaluation_id,role,name,digest) "
                        "VALUES (?,?,?,?)", &st) != LEDGER_OK)
    return LEDGER_ERROR;
  store_bind_int64(st, 1, id);
  store_bind_cstr(st, 2, role);
  int rc = ledger_bind_redacted(l, st, 3, name);
  store_bind_cstr(st, 4, digest);
  if (rc == STORE_OK) rc = store_step(st);
  store_finalize(st);
  return rc == STORE_DONE ? LEDGER_OK : ledger_sql_error(l, "recording an input");
}

static int insert_evaluation(ub_ledger *l, const ledger_eval_start *s, int64_t *id) {
  store_stmt *st;
  const char *text[] = {s->requested_by, s->request_meta, s->service, s->stage,
                        s->kind, s->target, s->compat};
  const ledger_owner *owner = ledger_self(l);
  if (ledger_prepare(l, "INSERT INTO evaluations(created_ms,requested_by,request_meta,"
                        "service,stage,kind,target,compat,status,owner_host,owner_pid,owner_start) "
                        "VALUES (?,?,?,?,?,?,?,?,'running',?,?,?) RETURNING id", &st) != LEDGER_OK)
    return LEDGER_ERROR;
  int rc = store_bind_int64(st, 1, ledger_now_ms());
  for (int i = 0; i < 7 && rc == STORE_OK; i++)
    rc = ledger_bind_redacted(l, st, i + 2, text[i]);
  if (rc == STORE_OK) rc = store_bind_cstr(st, 9, owner->host);
  if (rc == STORE_OK) rc = store_bind_int64(st, 10, owner->pid);
  if (rc == STORE_OK) rc = store_bind_cstr(st, 11, owner->start);
  if (rc == STORE_OK) rc = store_step(st);
  if (rc == STORE_ROW) *id = store_column_int64(st, 0);
  store_finalize(st);
  if (rc != STORE_ROW) return ledger_sql_error(l, "recording an evaluation");
  return LEDGER_OK;
}

static int begin_in_tx(ub_ledger *l, void *ud) {
  begin_args *a = ud;
  const ledger_eval_start *s = a->s;
  if (insert_evaluation(l, s, &a->id) != LEDGER_OK) return LEDGER_ERROR;
  if (insert_input(l, a->id, "spec", s->spec.name, s->spec.data, s->spec.len) != LEDGER_OK ||
      insert_input(l, a->id, "sli", s->sli.name, s->sli.data, s->sli.len) != LEDGER_OK ||
      insert_input(l, a->id, "policy", s->policy.name, s->policy.data, s->policy.len) != LEDGER_OK)
    return LEDGER_ERROR;
  if (s->ctx_json &&
      insert_input(l, a->id, "ctx", "ctx.json", s->ctx_json, strlen(s->ctx_json)) != LEDGER_OK)
    return LEDGER_ERROR;
  return LEDGER_OK;
}

int ledger_begin_evaluation(ub_ledger *l, const ledger_eval_start *s, int64_t *id) {
  if (!s->requested_by || !s->kind ||
      (strcmp(s->kind, "monspec") != 0 && strcmp(s->kind, "slo") != 0)) {
    ledger_set_error(l, "ledger: an evaluation needs requested_by and kind monspec or slo");
    return LEDGER_ERROR;
  }
  begin_args a = {s, 0};
  int rc = ledger_write(l, begin_in_tx, &a);
  if (rc == LEDGER_OK) *id = a.id;
  return rc;
}

/* ---- requests ---------------------------------------------------------- */

typedef struct request_args {
  int64_t eval_id;
  const ledger_request *r;
  size_t n;
} request_args;

/* Requests belong to a running evaluation: a finished record is closed. */
static int check_running(ub_ledger *l, int64_t id) {
  store_stmt *st;
  if (ledger_prepare(l, "SELECT status FROM evaluations WHERE id = ?", &st) != LEDGER_OK)
    return LEDGER_ERROR;
  store_bind_int64(st, 1, id);
  int rc = store_step(st);
  int running = rc == STORE_ROW &&
                strcmp(store_column_text(st, 0), "running") == 0;
  store_finalize(st);
  if (rc == STORE_DONE) {
    ledger_set_error(l, "ledger %s has no evaluation %lld", l->path, (long long)id);
    return LEDGER_NOT_FOUND;
  }
  if (rc != STORE_ROW) return ledger_sql_error(l, "reading an evaluation");
  if (!running) {
    ledger_set_error(l, "ledger %s: evaluation %lld is already finished; requests are "
                     "recorded while it runs", l->path, (long long)id);
    return LEDGER_ERROR;
  }
  return LEDGER_OK;
}

static int insert_request(ub_ledger *l, int64_t eval_id, const ledger_request *r) {
  char req_digest[65], resp_digest[65];
  store_stmt *st;
  if (ledger_put_blob(l, r->request_body, r->request_body_len, req_digest) != LEDGER_OK ||
      ledger_put_blob(l, r->response_body, r->response_body_len, resp_digest) != LEDGER_OK)
    return LEDGER_ERROR;
  if (ledger_prepare(l, "INSERT INTO binding_requests(evaluation_id,seq,binding,method,url,"
                        "request_digest,status,response_headers,response_digest,duration_ms,"
                        "error) VALUES (?,?,?,?,?,NULLIF(?,''),?,?,NULLIF(?,''),?,?)", &st) != LEDGER_OK)
    return LEDGER_ERROR;
  store_bind_int64(st, 1, eval_id);
  store_bind_int64(st, 2, r->seq);
  int rc = ledger_bind_redacted(l, st, 3, or_empty(r->binding));
  if (rc == STORE_OK) rc = ledger_bind_redacted(l, st, 4, or_empty(r->method));
  if (rc == STORE_OK) rc = ledger_bind_redacted(l, st, 5, or_empty(r->url));
  store_bind_cstr(st, 6, req_digest);
  store_bind_int64(st, 7, r->status);
  if (rc == STORE_OK) rc = ledger_bind_redacted(l, st, 8, r->response_headers);
  store_bind_cstr(st, 9, resp_digest);
  store_bind_double(st, 10, r->duration_ms);
  if (rc == STORE_OK) rc = ledger_bind_redacted(l, st, 11, r->error);
  if (rc == STORE_OK) rc = store_step(st);
  store_finalize(st);
  return rc == STORE_DONE ? LEDGER_OK : ledger_sql_error(l, "recording a binding request");
}

static int requests_in_tx(ub_ledger *l, void *ud) {
  request_args *a = ud;
  int rc = check_running(l, a->eval_id);
  for (size_t i = 0; rc == LEDGER_OK && i < a->n; i++) rc = insert_request(l, a->eval_id, &a->r[i]);
  return rc;
}

int ledger_add_request(ub_ledger *l, int64_t eval_id, const ledger_request *r) {
  return ledger_add_requests(l, eval_id, r, 1);
}

int ledger_add_requests(ub_ledger *l, int64_t eval_id, const ledger_request *r, size_t n) {
  request_args a = {eval_id, r, n};
  return ledger_write(l, requests_in_tx, &a);
}

/* ---- finish ------------------------------------------------------------- */

typedef struct finish_args {
  int64_t id;
  const ledger_eval_result *r;
} finish_args;

static int finish_in_tx(ub_ledger *l, void *ud) {
  finish_args *a = ud;
  const ledger_eval_result *r = a->r;
  store_stmt *st;
  if (ledger_prepare(l, "UPDATE evaluations SET finished_ms=?, status=?, verdict=?, score=?,"
                        " verdict_json=?, timings_json=?, error=? WHERE id=? AND status='running'",
                     &st) != LEDGER_OK)
    return LEDGER_ERROR;
  store_bind_int64(st, 1, ledger_now_ms());
  int rc = ledger_bind_redacted(l, st, 2, r->status ? r->status : "finished");
  if (rc == STORE_OK) rc = ledger_bind_redacted(l, st, 3, r->verdict);
  if (r->has_score) store_bind_double(st, 4, r->score);
  if (rc == STORE_OK) rc = ledger_bind_redacted(l, st, 5, r->verdict_json);
  if (rc == STORE_OK) rc = ledger_bind_redacted(l, st, 6, r->timings_json);
  if (rc == STORE_OK) rc = ledger_bind_redacted(l, st, 7, r->error);
  store_bind_int64(st, 8, a->id);
  if (rc == STORE_OK) rc = store_step(st);
  store_finalize(st);
  if (rc != STORE_DONE) return ledger_sql_error(l, "finishing an evaluation");
  if (store_changes(l->db) != 1) {
    ledger_set_error(l, "ledger %s: evaluation %lld is unknown or already finished",
                     l->path, (long long)a->id);
    return LEDGER_NOT_FOUND;
  }
  for (size_t i = 0; i < r->nrequests; i++) /* the row was running: its requests go with it */
    if (insert_request(l, a->id, &r->requests[i]) != LEDGER_OK) return LEDGER_ERROR;
  return LEDGER_OK;
}

int ledger_finish_evaluation(ub_ledger *l, int64_t id, const ledger_eval_result *r) {
  finish_args a = {id, r};
  return ledger_write(l, finish_in_tx, &a);
}

/* ---- reading ------------------------------------------------------------ */

#define EVAL_COLUMNS                                                              \
  "id, created_ms, finished_ms, requested_by, request_meta, service, stage, kind," \
  " target, compat, status, verdict, score, verdict_json, timings_json, error,"    \
  " invalidated, invalidated_reason, invalidated_ms"

static int read_row(store_stmt *st, ledger_evaluation *e) {
  int oom = 0;
  memset(e, 0, sizeof *e);
  e->id = store_column_int64(st, 0);
  e->created_ms = store_column_int64(st, 1);
  e->finished_ms = store_column_int64(st, 2);
  char **text[] = {&e->requested_by, &e->request_meta, &e->service, &e->stage, &e->kind,
                   &e->target, &e->compat, &e->status, &e->verdict};
  for (int i = 0; i < 9; i++) *text[i] = ledger_col_dup(st, 3 + i, &oom);
  e->has_score = !store_column_is_null(st, 12);
  e->score = store_column_double(st, 12);
  e->verdict_json = ledger_col_dup(st, 13, &oom);
  e->timings_json = ledger_col_dup(st, 14, &oom);
  e->error = ledger_col_dup(st, 15, &oom);
  e->invalidated = store_column_int(st, 16);
  e->invalidated_reason = ledger_col_dup(st, 17, &oom);
  e->invalidated_ms = store_column_int64(st, 18);
  return oom ? LEDGER_ERROR : LEDGER_OK;
}

static int read_inputs(ub_ledger *l, ledger_evaluation *e) {
  store_stmt *st;
  int rc, oom = 0;
  if (ledger_prepare(l, "SELECT role, name, digest FROM evaluation_inputs "
                        "WHERE evaluation_id = ?", &st) != LEDGER_OK)
    return LEDGER_ERROR;
  store_bind_int64(st, 1, e->id);
  while ((rc = store_step(st)) == STORE_ROW) {
    const char *role = store_column_text(st, 0);
    ledger_doc *doc = !role ? NULL
                      : strcmp(role, "spec") == 0   ? &e->spec
                      : strcmp(role, "sli") == 0    ? &e->sli
                      : strcmp(role, "policy") == 0 ? &e->policy
                      : strcmp(role, "ctx") == 0    ? &e->ctx
                                                    : NULL;
    if (!doc) continue;
    doc->name = ledger_col_dup(st, 1, &oom);
    if (oom || ledger_get_blob(l, store_column_text(st, 2), doc) != LEDGER_OK) {
      store_finalize(st);
      if (oom) ledger_set_error(l, "out of memory");
      return LEDGER_ERROR;
    }
  }
  store_finalize(st);
  return rc == STORE_DONE ? LEDGER_OK : ledger_sql_error(l, "reading inputs");
}

static int read_request(ub_ledger *l, store_stmt *st, ledger_request_rec *r) {
  int oom = 0;
  memset(r, 0, sizeof *r);
  r->seq = store_column_int(st, 0);
  r->binding = ledger_col_dup(st, 1, &oom);
  r->method = ledger_col_dup(st, 2, &oom);
  r->url = ledger_col_dup(st, 3, &oom);
  r->status = store_column_int(st, 5);
  r->response_headers = ledger_col_dup(st, 6, &oom);
  r->duration_ms = store_column_double(st, 8);
  r->error = ledger_col_dup(st, 9, &oom);
  if (oom) {
    ledger_set_error(l, "out of memory");
    return LEDGER_ERROR;
  }
  if (ledger_get_blob(l, store_column_text(st, 4), &r->request_body) != LEDGER_OK ||
      ledger_get_blob(l, store_column_text(st, 7), &r->response_body) != LEDGER_OK)
    return LEDGER_ERROR;
  return LEDGER_OK;
}

static int read_requests(ub_ledger *l, ledger_evaluation *e) {
  store_stmt *st;
  int rc;
  size_t cap = 0;
  if (ledger_prepare(l, "SELECT seq, binding, method, url, request_digest, status,"
                        " response_headers, response_digest, duration_ms, error"
                        " FROM binding_requests WHERE evaluation_id = ? ORDER BY seq",
                     &st) != LEDGER_OK)
    return LEDGER_ERROR;
  store_bind_int64(st, 1, e->id);
  while ((rc = store_step(st)) == STORE_ROW) {
    if (e->nrequests == cap) {
      size_t ncap = cap ? cap * 2 : 8;
      ledger_request_rec *grown = realloc(e->requests, ncap * sizeof *grown);
      if (!grown) {
        store_finalize(st);
        ledger_set_error(l, "out of memory");
        return LEDGER_ERROR;
      }
      e->requests = grown;
      cap = ncap;
    }
    ledger_request_rec *r = &e->requests[e->nrequests++];
    if (read_request(l, st, r) != LEDGER_OK) {
      store_finalize(st);
      return LEDGER_ERROR;
    }
  }
  store_finalize(st);
  return rc == STORE_DONE ? LEDGER_OK : ledger_sql_error(l, "reading binding requests");
}

int ledger_get_evaluation(ub_ledger *l, int64_t id, ledger_evaluation *out) {
  store_stmt *st;
  memset(out, 0, sizeof *out);
  l->err[0] = '\0';
  if (ledger_prepare(l, "SELECT " EVAL_COLUMNS " FROM evaluations WHERE id = ?", &st) != LEDGER_OK)
    return LEDGER_ERROR;
  store_bind_int64(st, 1, id);
  int rc = store_step(st);
  if (rc == STORE_DONE) {
    store_finalize(st);
    ledger_set_error(l, "ledger %s has no evaluation %lld; list them with "
                     "'unbreakable history'", l->path, (long long)id);
    return LEDGER_NOT_FOUND;
  }
  if (rc != STORE_ROW) {
    store_finalize(st);
    return ledger_sql_error(l, "reading an evaluation");
  }
  rc = read_row(st, out);
  store_finalize(st);
  if (rc != LEDGER_OK) ledger_set_error(l, "out of memory");
  if (rc == LEDGER_OK) rc = read_inputs(l, out);
  if (rc == LEDGER_OK) rc = read_requests(l, out);
  if (rc != LEDGER_OK) ledger_evaluation_free(out);
  return rc;
}

void ledger_evaluation_free(ledger_evaluation *e) {
  if (!e) return;
  char *text[] = {e->requested_by, e->request_meta, e->service, e->stage, e->kind,
                  e->target, e->compat, e->status, e->verdict, e->verdict_json,
                  e->timings_json, e->error, e->invalidated_reason};
  for (size_t i = 0; i < sizeof text / sizeof *text; i++) free(text[i]);
  ledger_doc *docs[] = {&e->spec, &e->sli, &e->policy, &e->ctx};
  for (size_t i = 0; i < 4; i++) ledger_doc_free(docs[i]);
  for (size_t i = 0; i < e->nrequests; i++) {
    ledger_request_rec *r = &e->requests[i];
    free(r->binding);
    free(r->method);
    free(r->url);
    free(r->response_headers);
    free(r->error);
    ledger_doc_free(&r->request_body);
    ledger_doc_free(&r->response_body);
  }
  free(e->requests);
  memset(e, 0, sizeof *e);
}

/* ---- history and baselines ----------------------------------------------- */

int ledger_include_parse(const char *s) {
  if (!s) return -1;
  if (strcmp(s, "all") == 0) return LEDGER_INCLUDE_ALL;
  if (strcmp(s, "pass") == 0) return LEDGER_INCLUDE_PASS;
  if (strcmp(s, "pass_or_warn") == 0) return LEDGER_INCLUDE_PASS_OR_WARN;
  return -1;
}

static const char *include_sql(ledger_include inc) {
  switch (inc) {
  case LEDGER_INCLUDE_PASS: return " AND verdict = 'pass'";
  case LEDGER_INCLUDE_PASS_OR_WARN: return " AND verdict IN ('pass','warning')";
  default: return "";
  }
}

/* Only the filters given are in the query; their parameters are bound in
 * the order they appear. */
static int build_history_query(ub_ledger *l, const ledger_filter *f, store_stmt **st) {
  char sql[1024];
  snprintf(sql, sizeof sql,
           "SELECT " EVAL_COLUMNS " FROM evaluations WHERE 1=1%s%s%s%s%s%s%s%s"
           " ORDER BY id DESC LIMIT ?",
           f->service ? " AND service = ?" : "", f->stage ? " AND stage = ?" : "",
           f->target ? " AND target = ?" : "",
           f->kind ? " AND kind = ?" : "", f->finished_only ? " AND status = 'finished'" : "",
           f->exclude_invalidated ? " AND invalidated = 0" : "", include_sql(f->include),
           f->before_id > 0 ? " AND id < ?" : "");
  if (ledger_prepare(l, sql, st) != LEDGER_OK) return LEDGER_ERROR;
  int rc = STORE_OK, idx = 1;
  if (f->service) rc = ledger_bind_redacted(l, *st, idx++, f->service);
  if (rc == STORE_OK && f->stage) rc = ledger_bind_redacted(l, *st, idx++, f->stage);
  if (rc == STORE_OK && f->target) rc = ledger_bind_redacted(l, *st, idx++, f->target);
  if (rc == STORE_OK && f->kind) rc = store_bind_cstr(*st, idx++, f->kind);
  if (rc == STORE_OK && f->before_id > 0) rc = store_bind_int64(*st, idx++, f->before_id);
  if (rc == STORE_OK) rc = store_bind_int64(*st, idx, f->limit > 0 ? f->limit : INT64_MAX);
  if (rc != STORE_OK) {
    store_finalize(*st);
    return ledger_sql_error(l, "binding history filters");
  }
  return LEDGER_OK;
}

int ledger_history(ub_ledger *l, const ledger_filter *f, ledger_evaluation **out, size_t *count) {
  store_stmt *st;
  size_t cap = 0;
  int rc;
  *out = NULL;
  *count = 0;
  if (build_history_query(l, f, &st) != LEDGER_OK) return LEDGER_ERROR;
  while ((rc = store_step(st)) == STORE_ROW) {
    if (*count == cap) {
      size_t ncap = cap ? cap * 2 : 16;
      ledger_evaluation *grown = realloc(*out, ncap * sizeof *grown);
      if (!grown) break;
      *out = grown;
      cap = ncap;
    }
    if (read_row(st, &(*out)[(*count)++]) != LEDGER_OK) break;
  }
  store_finalize(st);
  if (rc == STORE_DONE) return LEDGER_OK;
  if (rc == STORE_ROW) ledger_set_error(l, "out of memory reading history");
  else ledger_sql_error(l, "reading history");
  ledger_evaluations_free(*out, *count);
  *out = NULL;
  *count = 0;
  return LEDGER_ERROR;
}

void ledger_evaluations_free(ledger_evaluation *v, size_t count) {
  for (size_t i = 0; i < count; i++) ledger_evaluation_free(&v[i]);
  free(v);
}

int ledger_baseline(ub_ledger *l, const char *service, const char *stage, const char *kind,
                    ledger_include include, int n, int64_t before_id,
                    ledger_evaluation **out, size_t *count) {
  ledger_filter f = {.service = service, .stage = stage, .kind = kind, .limit = n, .finished_only = 1,
                     .exclude_invalidated = 1, .include = include, .before_id = before_id};
  if (!service || !stage || n <= 0) {
    *out = NULL;
    *count = 0;
    ledger_set_error(l, "ledger baseline needs a service, a stage and n > 0");
    return LEDGER_ERROR;
  }
  return ledger_history(l, &f, out, count);
}

/* ---- invalidation ----------------------------------------------------------- */

typedef struct invalidate_args {
  int64_t id;
  const char *reason;
} invalidate_args;

static int invalidate_in_tx(ub_ledger *l, void *ud) {
  invalidate_args *a = ud;
  store_stmt *st;
  if (ledger_prepare(l, "UPDATE evaluations SET invalidated = 1, invalidated_reason = ?,"
                        " invalidated_ms = ? WHERE id = ? AND invalidated = 0", &st) != LEDGER_OK)
    return LEDGER_ERROR;
  int rc = ledger_bind_redacted(l, st, 1, a->reason);
  store_bind_int64(st, 2, ledger_now_ms());
  store_bind_int64(st, 3, a->id);
  if (rc == STORE_OK) rc = store_step(st);
  store_finalize(st);
  if (rc != STORE_DONE) return ledger_sql_error(l, "invalidating");
  if (store_changes(l->db) == 1) return LEDGER_OK;
  if (ledger_prepare(l, "SELECT 1 FROM evaluations WHERE id = ?", &st) != LEDGER_OK)
    return LEDGER_ERROR;
  store_bind_int64(st, 1, a->id);
  rc = store_step(st);
  store_finalize(st);
  if (rc == STORE_ROW) return LEDGER_OK; /* already invalidated: first reason stays */
  if (rc != STORE_DONE) return ledger_sql_error(l, "invalidating");
  ledger_set_error(l, "ledger %s has no evaluation %lld; list them with "
                   "'unbreakable history'", l->path, (long long)a->id);
  return LEDGER_NOT_FOUND;
}

int ledger_invalidate(ub_ledger *l, int64_t id, const char *reason) {
  if (!reason || !*reason) {
    ledger_set_error(l, "invalidating evaluation %lld needs a reason", (long long)id);
    return LEDGER_ERROR;
  }
  invalidate_args a = {id, reason};
  return ledger_write(l, invalidate_in_tx, &a);
}
