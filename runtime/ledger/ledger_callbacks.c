/* ledger_callbacks.c: the Azure DevOps callbacks `serve` owes (one row per
 * gate asked in callback mode), written before the gate is accepted so that
 * a server killed and restarted resumes them. The job token is stored only
 * sealed (serve/serve_seal.c) and dropped when the callback ends. */
#include "ledger/ledger_internal.h"

#include <stdlib.h>
#include <string.h>

void ledger_set_lease_ms(ub_ledger *l, int64_t lease_ms) {
  if (lease_ms > 0) l->lease_ms = lease_ms;
}

int ledger_is_shared(const ub_ledger *l) { return l->pg; }

/* PostgreSQL: callback id stays with this process for another lease. */
static int renew_lease(ub_ledger *l, int64_t id) {
  store_stmt *st;
  if (!l->pg) return LEDGER_OK;
  if (ledger_prepare(l, "UPDATE pending_callbacks SET lease_owner = ?2, lease_until_ms = ?3 "
                        "WHERE id = ?1", &st) != LEDGER_OK)
    return LEDGER_ERROR;
  store_bind_int64(st, 1, id);
  store_bind_cstr(st, 2, l->lease_owner);
  store_bind_int64(st, 3, ledger_now_ms() + l->lease_ms);
  int rc = store_step(st);
  store_finalize(st);
  return rc == STORE_DONE ? LEDGER_OK : ledger_sql_error(l, "renewing a callback's lease");
}

typedef struct put_args {
  const ledger_callback *c;
  int64_t id;
} put_args;

static int put_in_tx(ub_ledger *l, void *ud) {
  put_args *a = ud;
  const ledger_callback *c = a->c;
  store_stmt *st;
  if (ledger_prepare(l, "INSERT INTO pending_callbacks(created_ms,updated_ms,evaluation_id,plan_url,"
                        "project_id,hub_name,plan_id,job_id,timeline_id,task_instance_id,"
                        "token_sealed,request_json,deadline_ms,state) "
                        "VALUES (?1,?1,NULLIF(?2,0),?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,'pending') RETURNING id",
                     &st) != LEDGER_OK)
    return LEDGER_ERROR;
  /* (its lease is taken by renew_lease, in the same transaction) */
  store_bind_int64(st, 1, ledger_now_ms());
  store_bind_int64(st, 2, c->evaluation_id);
  const char *texts[] = {c->plan_url, c->project_id, c->hub_name, c->plan_id,
                         c->job_id, c->timeline_id, c->task_instance_id};
  for (int i = 0; i < 7; i++) store_bind_cstr(st, 3 + i, texts[i]);
  if (c->token_sealed) store_bind_blob(st, 10, c->token_sealed, c->token_sealed_len);
  else store_bind_null(st, 10);
  store_bind_cstr(st, 11, c->request_json);
  store_bind_int64(st, 12, c->deadline_ms);
  int rc = store_step(st);
  if (rc == STORE_ROW) a->id = store_column_int64(st, 0);
  store_finalize(st);
  if (rc != STORE_ROW) return ledger_sql_error(l, "recording a pending callback");
  return renew_lease(l, a->id);
}

int ledger_callback_put(ub_ledger *l, const ledger_callback *c, int64_t *id) {
  if (!c->plan_url || !c->project_id || !c->hub_name || !c->plan_id || !c->job_id ||
      !c->timeline_id || !c->task_instance_id || !c->request_json) {
    ledger_set_error(l, "ledger: a callback needs the plan URL, every id and the request");
    return LEDGER_ERROR;
  }
  put_args a = {c, 0};
  int rc = ledger_write(l, put_in_tx, &a);
  if (rc == LEDGER_OK && id) *id = a.id;
  return rc;
}

static int read_row(store_stmt *st, ledger_callback *c) {
  int oom = 0;
  memset(c, 0, sizeof *c);
  c->id = store_column_int64(st, 0);
  c->created_ms = store_column_int64(st, 1);
  c->updated_ms = store_column_int64(st, 2);
  c->evaluation_id = store_column_int64(st, 3);
  char **texts[] = {&c->plan_url, &c->project_id, &c->hub_name, &c->plan_id,
                    &c->job_id, &c->timeline_id, &c->task_instance_id};
  for (int i = 0; i < 7; i++) *texts[i] = ledger_col_dup(st, 4 + i, &oom);
  size_t n = 0;
  const void *blob = store_column_blob(st, 11, &n);
  if (blob && n > 0) {
    c->token_sealed = malloc(n);
    if (c->token_sealed) memcpy(c->token_sealed, blob, n), c->token_sealed_len = n;
    else oom = 1;
  }
  c->request_json = ledger_col_dup(st, 12, &oom);
  c->deadline_ms = store_column_int64(st, 13);
  c->state = ledger_col_dup(st, 14, &oom);
  c->result = ledger_col_dup(st, 15, &oom);
  c->attempts = store_column_int(st, 16);
  c->last_error = ledger_col_dup(st, 17, &oom);
  return oom ? -1 : 0;
}

static int by_id(const void *a, const void *b) {
  int64_t x = ((const ledger_callback *)a)->id, y = ((const ledger_callback *)b)->id;
  return x < y ? -1 : x > y;
}

int ledger_callbacks_pending(ub_ledger *l, ledger_callback **out, size_t *count) {
  store_stmt *st;
  *out = NULL;
  *count = 0;
#define CALLBACK_COLUMNS                                                                \
  "id,created_ms,updated_ms,evaluation_id,plan_url,project_id,hub_name,plan_id,job_id,"   \
  "timeline_id,task_instance_id,token_sealed,request_json,deadline_ms,state,result,"     \
  "attempts,last_error"
  /* PostgreSQL: one statement, committed at once, takes the free ones */
  if (ledger_prepare(l, LEDGER_SQL(l, "SELECT " CALLBACK_COLUMNS " FROM pending_callbacks "
                                      "WHERE state = 'pending' ORDER BY id",
                                   "UPDATE pending_callbacks SET lease_owner = ?1, lease_until_ms = ?2 + ?3 "
                                   "WHERE id IN (SELECT id FROM pending_callbacks WHERE state = 'pending' "
                                   "AND (lease_until_ms IS NULL OR lease_until_ms < ?2) ORDER BY id "
                                   "FOR UPDATE SKIP LOCKED) RETURNING " CALLBACK_COLUMNS), &st) != LEDGER_OK)
    return LEDGER_ERROR;
  if (l->pg) {
    store_bind_cstr(st, 1, l->lease_owner);
    store_bind_int64(st, 2, ledger_now_ms());
    store_bind_int64(st, 3, l->lease_ms);
  }
  size_t cap = 0;
  int rc;
  while ((rc = store_step(st)) == STORE_ROW) {
    if (*count == cap) {
      size_t ncap = cap ? cap * 2 : 8;
      ledger_callback *v = realloc(*out, ncap * sizeof *v);
      if (!v) break;
      *out = v;
      cap = ncap;
    }
    if (read_row(st, &(*out)[*count]) != 0) {
      (*count)++;
      break;
    }
    (*count)++;
  }
  store_finalize(st);
  if (rc != STORE_DONE) {
    ledger_callbacks_free(*out, *count);
    *out = NULL;
    *count = 0;
    if (rc == STORE_ROW) ledger_set_error(l, "ledger %s: out of memory reading callbacks", l->path);
    else return ledger_sql_error(l, "reading pending callbacks");
    return LEDGER_ERROR;
  }
  if (*count > 1) qsort(*out, *count, sizeof **out, by_id);   /* RETURNING has no order */
  return LEDGER_OK;
}

enum { SET_EVALUATION, COUNT_ATTEMPT, FINISH };

typedef struct update_args {
  int what;
  int64_t id, evaluation_id;
  const char *state, *result, *error;
} update_args;

static const char *const UPDATE_SQL[] = {
  [SET_EVALUATION] = "UPDATE pending_callbacks SET updated_ms = ?2, evaluation_id = ?3 WHERE id = ?1",
  [COUNT_ATTEMPT] = "UPDATE pending_callbacks SET updated_ms = ?2, attempts = attempts + 1, "
                    "last_error = ?3 WHERE id = ?1",
  [FINISH] = "UPDATE pending_callbacks SET updated_ms = ?2, token_sealed = NULL, state = ?3, "
             "result = ?4, last_error = coalesce(?5, last_error) WHERE id = ?1 AND state = 'pending'"};

static int update_in_tx(ub_ledger *l, void *ud) {
  update_args *a = ud;
  store_stmt *st;
  if (ledger_prepare(l, UPDATE_SQL[a->what], &st) != LEDGER_OK) return LEDGER_ERROR;
  store_bind_int64(st, 1, a->id);
  store_bind_int64(st, 2, ledger_now_ms());
  int rc = STORE_OK;
  if (a->what == SET_EVALUATION) store_bind_int64(st, 3, a->evaluation_id);
  else if (a->what == COUNT_ATTEMPT) rc = ledger_bind_redacted(l, st, 3, a->error);
  else {
    rc = ledger_bind_redacted(l, st, 3, a->state);
    if (rc == STORE_OK) rc = ledger_bind_redacted(l, st, 4, a->result);
    if (rc == STORE_OK) rc = ledger_bind_redacted(l, st, 5, a->error);
  }
  if (rc == STORE_OK) rc = store_step(st);
  store_finalize(st);
  if (rc != STORE_DONE) return ledger_sql_error(l, "updating a callback");
  if (store_changes(l->db) != 1) return LEDGER_NOT_FOUND;
  return a->what == FINISH ? LEDGER_OK : renew_lease(l, a->id);
}

int ledger_callback_set_evaluation(ub_ledger *l, int64_t id, int64_t evaluation_id) {
  update_args a = {SET_EVALUATION, id, evaluation_id, NULL, NULL, NULL};
  return ledger_write(l, update_in_tx, &a);
}

int ledger_callback_attempt(ub_ledger *l, int64_t id, const char *error) {
  update_args a = {COUNT_ATTEMPT, id, 0, NULL, NULL, error};
  return ledger_write(l, update_in_tx, &a);
}

int ledger_callback_finish(ub_ledger *l, int64_t id, const char *state, const char *result,
                           const char *error) {
  update_args a = {FINISH, id, 0, state, result, error};
  return ledger_write(l, update_in_tx, &a);
}

void ledger_callbacks_free(ledger_callback *v, size_t count) {
  for (size_t i = 0; i < count; i++) {
    ledger_callback *c = &v[i];
    free(c->plan_url), free(c->project_id), free(c->hub_name), free(c->plan_id);
    free(c->job_id), free(c->timeline_id), free(c->task_instance_id);
    if (c->token_sealed) memset(c->token_sealed, 0, c->token_sealed_len);
    free(c->token_sealed), free(c->request_json), free(c->state), free(c->result);
    free(c->last_error);
  }
  free(v);
}
