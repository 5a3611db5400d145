/* dt_batch.c: executes a batch of read calls (see dt_batch.h). Rounds:
 * all pending requests go out together through the HTTP engine (or are
 * answered from the replay record); each answer is recorded, checked,
 * decoded, and may schedule the call's next page for the next round.
 * The work runs inside lua_pcall so C memory is freed even when a Lua
 * error (memory, sandbox kill) unwinds; the error is then raised again. */
#include "dynatrace/dt_batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "dynatrace/dt_decode.h"
#include "dynatrace/dt_shape.h"
#include "net/http.h"

typedef struct batch {
  const dt_binding *b;
  const dt_call *calls;
  dt_result *res;
  size_t n;
  char **pending;          /* next target per call (owned) */
  char **last_key;         /* last page key per call (owned) */
  ub_exchange *xs;         /* one round */
  size_t *owner;           /* call index of xs[j] */
  int64_t deadline;
} batch;

enum { PAGES = 2 };        /* stack index of the pages table in batch_body */

static void fail(dt_result *r, const char *msg) {
  r->failed = 1;
  snprintf(r->error, sizeof r->error, "%s", msg);
}

/* ---- getting the answers ------------------------------------------ */

static void answer_offline(batch *bt, size_t m) {
  ub_recorder *rec = bt->b->rec;
  for (size_t j = 0; j < m; j++) {
    if (rec && ub_recorder_is_replay(rec)) ub_recorder_answer(rec, &bt->xs[j]);
    else bt->xs[j].error = strdup("Dynatrace access is not configured by the host");
  }
}

static void fetch_round(batch *bt, size_t m) {
  const dt_binding *b = bt->b;
  if (!b->client || (b->rec && ub_recorder_is_replay(b->rec))) {
    answer_offline(bt, m);
    return;
  }
  ub_dt_fetch(b->client, bt->xs, m, bt->deadline);
  for (size_t j = 0; j < m && b->rec; j++)
    if (ub_recorder_add(b->rec, &bt->xs[j]) != 0)
      fail(&bt->res[bt->owner[j]], "could not record the Dynatrace answer (out of memory)");
}

/* ---- one answer ----------------------------------------------------- */

static int decode(lua_State *L, dt_kind kind, const ub_exchange *x, char *why, size_t len) {
  if (kind == DT_METRICS) return dt_decode_metrics(L, x->body, x->body_len, why, len);
  if (kind == DT_TIMESERIES) return dt_decode_timeseries(L, x->body, x->body_len, why, len);
  return dt_decode_json(L, x->body, x->body_len, why, len);
}

static void schedule_next(lua_State *L, batch *bt, size_t i) {
  const dt_call *c = &bt->calls[i];
  dt_result *r = &bt->res[i];
  const char *field = dt_page_key_field(c->kind);
  if (!field) return;
  lua_pushstring(L, field);
  if (lua_rawget(L, -2) == LUA_TSTRING && lua_rawlen(L, -1) > 0) {
    const char *key = lua_tostring(L, -1);
    char msg[200];
    if (r->pages >= bt->b->max_pages) {
      snprintf(msg, sizeof msg, "dt.%s: more than %d pages; narrow the query", dt_kind_name(c->kind),
               bt->b->max_pages);
      fail(r, msg);
    } else if (bt->last_key[i] && !strcmp(bt->last_key[i], key)) {
      snprintf(msg, sizeof msg, "dt.%s: Dynatrace returned the same page key twice", dt_kind_name(c->kind));
      fail(r, msg);
    } else {
      free(bt->last_key[i]);
      bt->last_key[i] = strdup(key);
      bt->pending[i] = dt_next_page_target(c->kind, key);
      if (!bt->pending[i] || !bt->last_key[i]) fail(r, "out of memory");
    }
  }
  lua_pop(L, 1);
}

static void handle_answer(lua_State *L, batch *bt, size_t i, const ub_exchange *x) {
  dt_result *r = &bt->res[i];
  char err[700], why[300];
  r->status = x->status;
  r->pages++;
  if (r->failed) return;
  if (ub_dt_check(x, err, sizeof err) != 0) { fail(r, err); return; }
  if (decode(L, bt->calls[i].kind, x, why, sizeof why) != 0) {
    ub_dt_invalid_response(x, why, err, sizeof err);
    fail(r, err);
    return;
  }
  if (dt_shape_check(L, bt->calls[i].kind, -1, x->body, x->body_len, why, sizeof why) != 0) {
    lua_pop(L, 1);
    ub_dt_invalid_response(x, why, err, sizeof err);
    fail(r, err);
    return;
  }
  schedule_next(L, bt, i);
  lua_rawgeti(L, PAGES, (lua_Integer)i + 1);
  lua_insert(L, -2);
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  lua_pop(L, 1);
}

/* ---- rounds ------------------------------------------------------- */

static size_t run_round(lua_State *L, batch *bt) {
  size_t m = 0;
  for (size_t i = 0; i < bt->n; i++) {
    if (!bt->pending[i]) continue;
    memset(&bt->xs[m], 0, sizeof bt->xs[m]);
    bt->xs[m].method = strdup("GET");
    bt->xs[m].target = bt->pending[i];
    bt->pending[i] = NULL;
    bt->owner[m++] = i;
    if (!bt->xs[m - 1].method) luaL_error(L, "out of memory");
  }
  if (m == 0) return 0;
  fetch_round(bt, m);
  for (size_t j = 0; j < m; j++) {
    handle_answer(L, bt, bt->owner[j], &bt->xs[j]);
    ub_exchange_clear(&bt->xs[j]);
  }
  return m;
}

static int batch_body(lua_State *L) {
  batch *bt = lua_touserdata(L, 1);
  lua_createtable(L, (int)bt->n, 0);                       /* PAGES */
  for (size_t i = 0; i < bt->n; i++) {
    lua_newtable(L);
    lua_rawseti(L, PAGES, (lua_Integer)i + 1);
    if (bt->calls[i].target && !(bt->pending[i] = strdup(bt->calls[i].target)))
      luaL_error(L, "out of memory");
  }
  while (run_round(L, bt) > 0) {}
  return 1;
}

static void free_batch(batch *bt) {
  for (size_t i = 0; i < bt->n; i++) {
    if (bt->pending) free(bt->pending[i]);
    if (bt->last_key) free(bt->last_key[i]);
    if (bt->xs) ub_exchange_clear(&bt->xs[i]);
  }
  free(bt->pending);
  free(bt->last_key);
  free(bt->xs);
  free(bt->owner);
}

void dt_batch_run(lua_State *L, const dt_binding *b, const dt_call *calls, dt_result *res,
                  size_t n) {
  batch bt = {.b = b, .calls = calls, .res = res, .n = n};
  memset(res, 0, n * sizeof *res);
  bt.pending = calloc(n ? n : 1, sizeof *bt.pending);
  bt.last_key = calloc(n ? n : 1, sizeof *bt.last_key);
  bt.xs = calloc(n ? n : 1, sizeof *bt.xs);
  bt.owner = calloc(n ? n : 1, sizeof *bt.owner);
  if (!bt.pending || !bt.last_key || !bt.xs || !bt.owner) {
    free_batch(&bt);
    luaL_error(L, "out of memory");
  }
  long timeout = b->client ? ub_dt_client_timeout_ms(b->client) : 0;
  bt.deadline = b->deadline_ms ? b->deadline_ms : ub_clock_ms() + timeout;
  luaL_checkstack(L, 8, "Dynatrace batch");
  lua_pushcfunction(L, batch_body);
  lua_pushlightuserdata(L, &bt);
  int status = lua_pcall(L, 1, 1, 0);
  free_batch(&bt);
  if (status != LUA_OK) lua_error(L);
}
