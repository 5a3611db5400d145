/* ledger_events.c: deployment events pushed to Dynatrace, and the generic
 * problems/healing-actions table with unique idempotency keys. */
#include "ledger/ledger_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- deployment events ------------------------------------------------- */

typedef struct event_args {
  const ledger_event *e;
  int64_t id;
} event_args;

static int event_in_tx(ub_ledger *l, void *ud) {
  event_args *a = ud;
  const ledger_event *e = a->e;
  char req[65], resp[65];
  store_stmt *st;
  if (ledger_put_blob(l, e->request_body, e->request_body ? strlen(e->request_body) : 0, req) != LEDGER_OK ||
      ledger_put_blob(l, e->response_body, e->response_body ? strlen(e->response_body) : 0, resp) != LEDGER_OK)
    return LEDGER_ERROR;
  if (ledger_prepare(l, "INSERT INTO deployment_events(created_ms,requested_by,api,target,"
                        "request_digest,status,response_digest,outcome,message) "
                        "VALUES (?,?,?,?,NULLIF(?,''),?,NULLIF(?,''),?,?) RETURNING id", &st) != LEDGER_OK)
    return LEDGER_ERROR;
  store_bind_int64(st, 1, ledger_now_ms());
  int rc = ledger_bind_redacted(l, st, 2, e->requested_by);
  if (rc == STORE_OK) rc = ledger_bind_redacted(l, st, 3, e->api);
  if (rc == STORE_OK) rc = ledger_bind_redacted(l, st, 4, e->target);
  store_bind_cstr(st, 5, req);
  store_bind_int64(st, 6, e->status);
  store_bind_cstr(st, 7, resp);
  if (rc == STORE_OK) rc = ledger_bind_redacted(l, st, 8, e->outcome);
  if (rc == STORE_OK) rc = ledger_bind_redacted(l, st, 9, e->message);
  if (rc == STORE_OK) rc = store_step(st);
  if (rc == STORE_ROW) a->id = store_column_int64(st, 0);
  store_finalize(st);
  if (rc != STORE_ROW) return ledger_sql_error(l, "recording a deployment event");
  return LEDGER_OK;
}

int ledger_record_event(ub_ledger *l, const ledger_event *e, int64_t *id) {
  if (!e->requested_by || !e->api || !e->outcome) {
    ledger_set_error(l, "ledger: a deployment event needs requested_by, api and outcome");
    return LEDGER_ERROR;
  }
  event_args a = {e, 0};
  int rc = ledger_write(l, event_in_tx, &a);
  if (rc == LEDGER_OK && id) *id = a.id;
  return rc;
}

/* ---- actions ---------------------------------------------------------------- */

typedef struct action_args {
  const char *kind, *key, *idem, *state, *payload;
  int64_t id;
  int existed;
} action_args;

static int find_action(ub_ledger *l, const char *idem, int64_t *id) {
  store_stmt *st;
  if (ledger_prepare(l, "SELECT id FROM actions WHERE idempotency_key = ?", &st) != LEDGER_OK)
    return LEDGER_ERROR;
  int rc = ledger_bind_redacted(l, st, 1, idem);
  if (rc == STORE_OK) rc = store_step(st);
  if (rc == STORE_ROW) *id = store_column_int64(st, 0);
  store_finalize(st);
  if (rc == STORE_ROW) return LEDGER_OK;
  if (rc == STORE_DONE) return LEDGER_NOT_FOUND;
  return ledger_sql_error(l, "looking up an action");
}

static int action_put_in_tx(ub_ledger *l, void *ud) {
  action_args *a = ud;
  store_stmt *st;
  int rc = find_action(l, a->idem, &a->id);
  if (rc != LEDGER_NOT_FOUND) {
    a->existed = rc == LEDGER_OK;
    return rc;
  }
  if (ledger_prepare(l, "INSERT INTO actions(created_ms,updated_ms,kind,key,idempotency_key,"
                        "state,payload) VALUES (?1,?1,?2,?3,?4,?5,?6) RETURNING id", &st) != LEDGER_OK)
    return LEDGER_ERROR;
  store_bind_int64(st, 1, ledger_now_ms());
  const char *text[] = {a->kind, a->key, a->idem, a->state, a->payload};
  rc = STORE_OK;
  for (int i = 0; i < 5 && rc == STORE_OK; i++) rc = ledger_bind_redacted(l, st, i + 2, text[i]);
  if (rc == STORE_OK) rc = store_step(st);
  if (rc == STORE_ROW) a->id = store_column_int64(st, 0);
  store_finalize(st);
  if (rc != STORE_ROW) return ledger_sql_error(l, "recording an action");
  a->existed = 0;
  return LEDGER_OK;
}

int ledger_action_put(ub_ledger *l, const char *kind, const char *key,
                      const char *idempotency_key, const char *state,
                      const char *payload_json, int64_t *id, int *existed) {
  if (!kind || !key || !idempotency_key || !*idempotency_key || !state) {
    ledger_set_error(l, "ledger: an action needs kind, key, idempotency key and state");
    return LEDGER_ERROR;
  }
  action_args a = {kind, key, idempotency_key, state, payload_json, 0, 0};
  int rc = ledger_write(l, action_put_in_tx, &a);
  if (rc == LEDGER_OK) {
    *id = a.id;
    if (existed) *existed = a.existed;
  }
  return rc;
}

typedef struct many_args {
  const ledger_action_new *v;
  size_t n;
  int64_t *ids;
  int *existed;
} many_args;

/* One row of a batch with the batch's two statements (prepared once: the
 * SQL parse was a third of intake's cost). A new key returns its id from
 * the INSERT; a known key inserts nothing and its id is looked up. */
static int put_one(ub_ledger *l, store_stmt *ins, store_stmt *sel, int64_t now, const ledger_action_new *a,
                   int64_t *id, int *existed) {
  const char *text[] = {a->kind, a->key, a->idempotency_key, a->state, a->payload_json};
  store_reset(ins);
  store_bind_int64(ins, 1, now);
  int rc = STORE_OK;
  for (int i = 0; i < 5 && rc == STORE_OK; i++) rc = ledger_bind_redacted(l, ins, i + 2, text[i]);
  if (rc == STORE_OK) rc = store_step(ins);
  if (rc == STORE_ROW) {
    *id = store_column_int64(ins, 0);
    *existed = 0;
    return LEDGER_OK;
  }
  if (rc != STORE_DONE) return ledger_sql_error(l, "recording an action");
  store_reset(sel);
  rc = ledger_bind_redacted(l, sel, 1, a->idempotency_key);
  if (rc == STORE_OK) rc = store_step(sel);
  if (rc != STORE_ROW) return ledger_sql_error(l, "looking up an action");
  *id = store_column_int64(sel, 0);
  *existed = 1;
  return LEDGER_OK;
}

static int actions_put_many_in_tx(ub_ledger *l, void *ud) {
  many_args *m = ud;
  store_stmt *ins = NULL, *sel = NULL;
  int rc = ledger_prepare(l, "INSERT INTO actions(created_ms,updated_ms,kind,key,idempotency_key,state,payload)"
                             " VALUES (?1,?1,?2,?3,?4,?5,?6) ON CONFLICT(idempotency_key) DO NOTHING RETURNING id",
                          &ins);
  if (rc == LEDGER_OK) rc = ledger_prepare(l, "SELECT id FROM actions WHERE idempotency_key = ?", &sel);
  int64_t now = ledger_now_ms();
  for (size_t i = 0; i < m->n && rc == LEDGER_OK; i++)
    rc = put_one(l, ins, sel, now, &m->v[i], &m->ids[i], &m->existed[i]);
  store_finalize(ins);
  store_finalize(sel);
  return rc;
}

int ledger_actions_put_many(ub_ledger *l, const ledger_action_new *v, size_t n, int64_t *ids, int *existed) {
  for (size_t i = 0; i < n; i++) {
    if (!v[i].kind || !v[i].key || !v[i].idempotency_key || !*v[i].idempotency_key || !v[i].state) {
      ledger_set_error(l, "ledger: an action needs kind, key, idempotency key and state");
      return LEDGER_ERROR;
    }
  }
  many_args m = {v, n, ids, existed};
  return ledger_write(l, actions_put_many_in_tx, &m);
}

typedef struct update_args {
  int64_t id;
  const char *state, *payload;
} update_args;

static int action_update_in_tx(ub_ledger *l, void *ud) {
  update_args *a = ud;
  store_stmt *st;
  if (ledger_prepare(l, "UPDATE actions SET updated_ms = ?, state = ?,"
                        " payload = coalesce(?, payload) WHERE id = ?", &st) != LEDGER_OK)
    return LEDGER_ERROR;
  store_bind_int64(st, 1, ledger_now_ms());
  int rc = ledger_bind_redacted(l, st, 2, a->state);
  if (rc == STORE_OK) rc = ledger_bind_redacted(l, st, 3, a->payload);
  store_bind_int64(st, 4, a->id);
  if (rc == STORE_OK) rc = store_step(st);
  store_finalize(st);
  if (rc != STORE_DONE) return ledger_sql_error(l, "updating an action");
  if (store_changes(l->db) != 1) {
    ledger_set_error(l, "ledger %s has no action %lld", l->path, (long long)a->id);
    return LEDGER_NOT_FOUND;
  }
  return LEDGER_OK;
}

int ledger_action_update(ub_ledger *l, int64_t id, const char *state, const char *payload_json) {
  if (!state) {
    ledger_set_error(l, "ledger: an action update needs a state");
    return LEDGER_ERROR;
  }
  update_args a = {id, state, payload_json};
  return ledger_write(l, action_update_in_tx, &a);
}

#define ACTION_COLUMNS LEDGER_ACTION_COLUMNS

static void read_action(store_stmt *st, ledger_action *out, int *oom) {
  out->id = store_column_int64(st, 0);
  out->created_ms = store_column_int64(st, 1);
  out->updated_ms = store_column_int64(st, 2);
  out->kind = ledger_col_dup(st, 3, oom);
  out->key = ledger_col_dup(st, 4, oom);
  out->idempotency_key = ledger_col_dup(st, 5, oom);
  out->state = ledger_col_dup(st, 6, oom);
  out->payload_json = ledger_col_dup(st, 7, oom);
}

/* Steps a prepared one-row action query whose binding left rc, reads the
 * row into out and finalizes the statement. */
static int read_one_action(ub_ledger *l, store_stmt *st, int rc, ledger_action *out, const char *what) {
  int oom = 0;
  if (rc == STORE_OK) rc = store_step(st);
  if (rc == STORE_ROW) read_action(st, out, &oom);
  store_finalize(st);
  if (rc == STORE_DONE) return LEDGER_NOT_FOUND;
  if (rc != STORE_ROW) return ledger_sql_error(l, what);
  if (oom) {
    ledger_action_free(out);
    ledger_set_error(l, "out of memory");
    return LEDGER_ERROR;
  }
  return LEDGER_OK;
}

int ledger_action_get(ub_ledger *l, const char *idempotency_key, ledger_action *out) {
  store_stmt *st;
  memset(out, 0, sizeof *out);
  if (ledger_prepare(l, "SELECT " ACTION_COLUMNS " FROM actions WHERE idempotency_key = ?",
                     &st) != LEDGER_OK)
    return LEDGER_ERROR;
  return read_one_action(l, st, ledger_bind_redacted(l, st, 1, idempotency_key), out, "reading an action");
}

int ledger_action_next(ub_ledger *l, const char *kind, const char *state, ledger_action *out) {
  store_stmt *st;
  memset(out, 0, sizeof *out);
  if (ledger_prepare(l, "SELECT " ACTION_COLUMNS " FROM actions WHERE kind = ? AND state = ?"
                        " ORDER BY id LIMIT 1", &st) != LEDGER_OK)
    return LEDGER_ERROR;
  int rc = ledger_bind_redacted(l, st, 1, kind);
  if (rc == STORE_OK) rc = ledger_bind_redacted(l, st, 2, state);
  return read_one_action(l, st, rc, out, "reading the next action");
}

int ledger_action_claim(ub_ledger *l, const char *kind, const char *state, const char *owner,
                        int64_t lease_ms, ledger_action *out) {
  if (!l->pg) return ledger_action_next(l, kind, state, out);
  store_stmt *st;
  memset(out, 0, sizeof *out);
  /* one statement, committed at once: the row lock makes a replica that
   * meets the row skip it, and one that read it before the commit
   * re-checks the lease on the new row version and finds it taken */
  if (ledger_prepare(l, "UPDATE actions SET lease_owner = ?4, lease_until_ms = ?3 + ?5 WHERE id ="
                        " (SELECT id FROM actions WHERE kind = ?1 AND state = ?2"
                        " AND (lease_until_ms IS NULL OR lease_until_ms < ?3)"
                        " ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)"
                        " RETURNING " ACTION_COLUMNS, &st) != LEDGER_OK)
    return LEDGER_ERROR;
  int rc = ledger_bind_redacted(l, st, 1, kind);
  if (rc == STORE_OK) rc = ledger_bind_redacted(l, st, 2, state);
  if (rc == STORE_OK) rc = store_bind_int64(st, 3, ledger_now_ms());
  if (rc == STORE_OK) rc = store_bind_cstr(st, 4, owner ? owner : "");
  if (rc == STORE_OK) rc = store_bind_int64(st, 5, lease_ms);
  return read_one_action(l, st, rc, out, "claiming the next action");
}

int ledger_action_renew(ub_ledger *l, int64_t id, const char *owner, int64_t lease_ms) {
  if (!l->pg) return LEDGER_OK;
  store_stmt *st;
  /* one statement, committed at once: only the owner of a lease that has
   * not expired extends it, so a replica that lost it learns so here */
  if (ledger_prepare(l, "UPDATE actions SET lease_until_ms = ?1 + ?2 WHERE id = ?3"
                        " AND lease_owner = ?4 AND lease_until_ms >= ?1", &st) != LEDGER_OK)
    return LEDGER_ERROR;
  int rc = store_bind_int64(st, 1, ledger_now_ms());
  if (rc == STORE_OK) rc = store_bind_int64(st, 2, lease_ms);
  if (rc == STORE_OK) rc = store_bind_int64(st, 3, id);
  if (rc == STORE_OK) rc = store_bind_cstr(st, 4, owner ? owner : "");
  if (rc == STORE_OK) rc = store_step(st);
  store_finalize(st);
  if (rc != STORE_DONE) return ledger_sql_error(l, "renewing a lease");
  if (store_changes(l->db) != 1) {
    ledger_set_error(l, "the lease on action %lld expired or was taken by another replica", (long long)id);
    return LEDGER_NOT_FOUND;
  }
  return LEDGER_OK;
}

void ledger_action_free(ledger_action *a) {
  free(a->kind);
  free(a->key);
  free(a->idempotency_key);
  free(a->state);
  free(a->payload_json);
  memset(a, 0, sizeof *a);
}

/* Reads every row of a prepared action query. */
static int read_actions(ub_ledger *l, store_stmt *st, int rc, ledger_action **out, size_t *count) {
  size_t cap = 0;
  int oom = 0;
  while (rc == STORE_OK || rc == STORE_ROW) {
    if ((rc = store_step(st)) != STORE_ROW) break;
    if (*count == cap) {
      size_t ncap = cap ? cap * 2 : 8;
      ledger_action *grown = realloc(*out, ncap * sizeof *grown);
      if (!grown) { oom = 1; break; }
      *out = grown;
      cap = ncap;
    }
    memset(&(*out)[*count], 0, sizeof **out);
    read_action(st, &(*out)[(*count)++], &oom);
    if (oom) break;
  }
  store_finalize(st);
  if (!oom && rc == STORE_DONE) return LEDGER_OK;
  if (oom) ledger_set_error(l, "out of memory reading actions");
  else ledger_sql_error(l, "reading actions");
  ledger_actions_free(*out, *count);
  *out = NULL;
  *count = 0;
  return LEDGER_ERROR;
}

int ledger_actions_for_key(ub_ledger *l, const char *kind, const char *key,
                           ledger_action **out, size_t *count) {
  store_stmt *st;
  *out = NULL;
  *count = 0;
  if (!kind) {
    ledger_set_error(l, "ledger: the actions of a key are asked for with their kind");
    return LEDGER_ERROR;
  }
  if (ledger_prepare(l, LEDGER_SQL_ACTIONS_OF_KEY, &st) != LEDGER_OK) return LEDGER_ERROR;
  int rc = ledger_bind_redacted(l, st, 1, kind);
  if (rc == STORE_OK) rc = ledger_bind_redacted(l, st, 2, key ? key : "");
  return read_actions(l, st, rc, out, count);
}

int ledger_actions_recent(ub_ledger *l, const char *kind, int limit, ledger_action **out,
                          size_t *count) {
  store_stmt *st;
  *out = NULL;
  *count = 0;
  if (ledger_prepare(l, "SELECT " ACTION_COLUMNS " FROM actions WHERE (CAST(?1 AS TEXT) IS NULL OR kind = ?1)"
                        " ORDER BY id DESC LIMIT ?2", &st) != LEDGER_OK)
    return LEDGER_ERROR;
  int rc = ledger_bind_redacted(l, st, 1, kind);
  store_bind_int64(st, 2, limit > 0 ? limit : INT64_MAX);
  return read_actions(l, st, rc, out, count);
}

void ledger_actions_free(ledger_action *v, size_t count) {
  for (size_t i = 0; i < count; i++) ledger_action_free(&v[i]);
  free(v);
}
