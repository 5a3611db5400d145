/* ldynatrace.c: the Lua module unbreakable.dynatrace. Every call returns
 * a response table (ok, status, error, request, payload) and never
 * raises for API or argument errors; dt.batch runs many calls at once.
 * Pages are merged here; fetching and decoding live in dt_batch.c. */
#include "lualib/ldynatrace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "dynatrace/dt_batch.h"
#include "dynatrace/dt_calls.h"
#include "sandbox/budget.h"
#include "sandbox/sandbox.h"
#include "util/lua_table.h"

enum { MAX_BATCH = 1000, DEFAULT_MAX_PAGES = 100 };

static const char binding_key = 0;   /* registry key: its address */

/* ---- host configuration ------------------------------------------- */

static dt_binding *binding(lua_State *L, int create) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &binding_key);
  dt_binding *b = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (b || !create) return b;
  b = lua_newuserdatauv(L, sizeof *b, 0);
  memset(b, 0, sizeof *b);
  b->max_pages = DEFAULT_MAX_PAGES;
  lua_rawsetp(L, LUA_REGISTRYINDEX, &binding_key);
  return b;
}

void ub_dt_bind(lua_State *L, ub_dt_client *client, ub_recorder *rec) {
  dt_binding *b = binding(L, 1);
  b->client = client;
  b->rec = rec;
}

void ub_dt_set_deadline(lua_State *L, int64_t deadline_ms) { binding(L, 1)->deadline_ms = deadline_ms; }

void ub_dt_set_max_pages(lua_State *L, int max_pages) {
  binding(L, 1)->max_pages = max_pages > 0 ? max_pages : DEFAULT_MAX_PAGES;
}

/* ---- merging pages ------------------------------------------------ */

/* Appends the array at src to the array at dst (absolute indices). */
static void append_all(lua_State *L, int dst, int src) {
  lua_Integer n = (lua_Integer)lua_rawlen(L, dst), m = (lua_Integer)lua_rawlen(L, src);
  for (lua_Integer i = 1; i <= m; i++) {
    lua_rawgeti(L, src, i);
    lua_rawseti(L, dst, ++n);
  }
}

static int raw_field(lua_State *L, int t, const char *k) {
  lua_pushstring(L, k);
  return lua_rawget(L, t);
}

/* Index in the result array at results of the entry with metric_id equal
 * to the string at id, or 0. */
static lua_Integer find_metric(lua_State *L, int results, int id) {
  lua_Integer n = (lua_Integer)lua_rawlen(L, results);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, results, i);
    raw_field(L, lua_gettop(L), "metric_id");
    int same = lua_rawequal(L, -1, id);
    lua_pop(L, 2);
    if (same) return i;
  }
  return 0;
}

/* Folds page pg (absolute index) into the merged result array. */
static void merge_metric_page(lua_State *L, int results, int warnings, int pg) {
  int top = lua_gettop(L);
  if (raw_field(L, pg, "warnings") == LUA_TTABLE) append_all(L, warnings, top + 1);
  if (raw_field(L, pg, "result") != LUA_TTABLE) { lua_settop(L, top); return; }
  int page_results = top + 2;
  lua_Integer n = (lua_Integer)lua_rawlen(L, page_results);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, page_results, i);                         /* top+3: entry */
    raw_field(L, top + 3, "metric_id");                      /* top+4 */
    lua_Integer j = find_metric(L, results, top + 4);
    if (j == 0) {
      lua_pushvalue(L, top + 3);
      lua_rawseti(L, results, (lua_Integer)lua_rawlen(L, results) + 1);
    } else {
      lua_rawgeti(L, results, j);                            /* top+5 */
      raw_field(L, top + 5, "data");                         /* top+6 */
      raw_field(L, top + 3, "data");                         /* top+7 */
      if (lua_istable(L, top + 6) && lua_istable(L, top + 7)) append_all(L, top + 6, top + 7);
    }
    lua_settop(L, top + 2);
  }
  lua_settop(L, top);
}

static void fill_metrics(lua_State *L, int resp, int pages) {
  int top = lua_gettop(L);
  lua_rawgeti(L, pages, 1);
  int first = top + 1;
  raw_field(L, first, "resolution");
  lua_setfield(L, resp, "resolution");
  raw_field(L, first, "total_count");
  lua_setfield(L, resp, "total_count");
  lua_newtable(L);                                           /* top+2 warnings */
  lua_newtable(L);                                           /* top+3 result */
  lua_Integer n = (lua_Integer)lua_rawlen(L, pages);
  for (lua_Integer p = 1; p <= n; p++) {
    lua_rawgeti(L, pages, p);
    merge_metric_page(L, top + 3, top + 2, lua_gettop(L));
    lua_pop(L, 1);
  }
  lua_setfield(L, resp, "result");
  lua_setfield(L, resp, "warnings");
  lua_settop(L, top);
}

static void fill_items(lua_State *L, dt_kind kind, int resp, int pages) {
  const char *items = dt_page_items_field(kind);
  int top = lua_gettop(L);
  lua_rawgeti(L, pages, 1);
  const char *count = kind == DT_EVENTS_V1 ? "totalEventCount" : "totalCount";
  raw_field(L, top + 1, count);
  lua_setfield(L, resp, "total_count");
  lua_newtable(L);                                           /* top+2 */
  lua_Integer n = (lua_Integer)lua_rawlen(L, pages);
  for (lua_Integer p = 1; p <= n; p++) {
    lua_rawgeti(L, pages, p);
    raw_field(L, lua_gettop(L), items);
    append_all(L, top + 2, lua_gettop(L));
    lua_pop(L, 2);
  }
  lua_setfield(L, resp, items);
  lua_settop(L, top);
}

static void fill_payload(lua_State *L, dt_kind kind, int resp, int pages) {
  int top = lua_gettop(L);
  const char *single = kind == DT_DESCRIPTOR ? "descriptor" : kind == DT_PROBLEM ? "problem"
                       : kind == DT_SLO ? "slo" : kind == DT_ENTITIES_V1 ? "entities" : NULL;
  if (kind == DT_METRICS) {
    fill_metrics(L, resp, pages);
  } else if (dt_page_items_field(kind)) {
    fill_items(L, kind, resp, pages);
  } else if (kind == DT_TIMESERIES) {
    lua_rawgeti(L, pages, 1);
    ub_copy_fields(L, top + 1, resp);
  } else {
    lua_rawgeti(L, pages, 1);
    lua_setfield(L, resp, single);
  }
  lua_settop(L, top);
}

/* ---- responses ---------------------------------------------------- */

static void push_response(lua_State *L, const dt_call *c, const dt_result *r, int pages) {
  lua_createtable(L, 0, 8);
  int resp = lua_gettop(L);
  int ok = !c->err[0] && !r->failed;
  lua_pushboolean(L, ok);
  lua_setfield(L, resp, "ok");
  lua_pushinteger(L, c->err[0] ? 0 : r->status);
  lua_setfield(L, resp, "status");
  if (!ok) {
    lua_pushstring(L, c->err[0] ? c->err : r->error);
    lua_setfield(L, resp, "error");
  }
  if (c->target) lua_pushfstring(L, "GET %s", c->target);
  else lua_pushfstring(L, "dt.%s (not sent)", dt_kind_name(c->kind));
  lua_setfield(L, resp, "request");
  if (ok) fill_payload(L, c->kind, resp, pages);
}

/* ---- running calls ------------------------------------------------ */

typedef struct call_set {
  dt_call *calls;
  dt_result *res;
  size_t n;
  int list;          /* 0: one call from the arguments; else the batch table */
  dt_kind kind;      /* single call */
} call_set;

static void parse_batch_item(lua_State *L, call_set *cs, size_t i) {
  dt_call *c = &cs->calls[i];
  int top = lua_gettop(L);
  memset(c, 0, sizeof *c);
  c->kind = DT_METRICS;
  int kind = -1;
  if (lua_rawgeti(L, cs->list, (lua_Integer)i + 1) == LUA_TTABLE &&
      lua_rawgeti(L, top + 1, 1) == LUA_TSTRING)
    kind = dt_kind_from_name(lua_tostring(L, -1));
  if (kind < 0) {
    snprintf(c->err, sizeof c->err, "dt.batch: item %zu must be {call name, argument, options} "
             "with a known call name", i + 1);
  } else {
    int takes = dt_kind_takes_arg((dt_kind)kind);
    lua_rawgeti(L, top + 1, 2);
    lua_rawgeti(L, top + 1, 3);
    dt_call_parse(L, (dt_kind)kind, takes ? top + 3 : 0, takes ? top + 4 : top + 3, c);
  }
  lua_settop(L, top);
}

static void parse_calls(lua_State *L, call_set *cs) {
  if (!cs->list) {
    int takes = dt_kind_takes_arg(cs->kind);
    lua_settop(L, takes ? 2 : 1);
    dt_call_parse(L, cs->kind, takes ? 1 : 0, takes ? 2 : 1, &cs->calls[0]);
    return;
  }
  for (size_t i = 0; i < cs->n; i++) parse_batch_item(L, cs, i);
}

/* Runs inside lua_pcall: parses, fetches, pushes the responses list. */
static int run_calls(lua_State *L) {
  call_set *cs = lua_touserdata(L, lua_upvalueindex(1));
  parse_calls(L, cs);
  dt_binding none = {.max_pages = DEFAULT_MAX_PAGES};
  dt_binding *b = binding(L, 0);
  dt_batch_run(L, b ? b : &none, cs->calls, cs->res, cs->n);
  int pages = lua_gettop(L);
  lua_createtable(L, (int)cs->n, 0);
  for (size_t i = 0; i < cs->n; i++) {
    lua_rawgeti(L, pages, (lua_Integer)i + 1);
    push_response(L, &cs->calls[i], &cs->res[i], lua_gettop(L));
    lua_rawseti(L, -3, (lua_Integer)i + 1);
    lua_pop(L, 1);
  }
  return 1;
}

/* Calls run_calls protected, frees the C arrays, re-raises any error. */
static int execute(lua_State *L, call_set *cs) {
  cs->calls = calloc(cs->n ? cs->n : 1, sizeof *cs->calls);
  cs->res = calloc(cs->n ? cs->n : 1, sizeof *cs->res);
  if (!cs->calls || !cs->res) {
    free(cs->calls);
    free(cs->res);
    return luaL_error(L, "out of memory");
  }
  int nargs = lua_gettop(L);
  lua_pushlightuserdata(L, cs);
  lua_pushcclosure(L, run_calls, 1);
  lua_insert(L, 1);
  ub_budget_hold(L, NULL, NULL); /* the batch's transfers: the hard stop waits */
  int status = lua_pcall(L, nargs, 1, 0);
  for (size_t i = 0; i < cs->n; i++) free(cs->calls[i].target);
  free(cs->calls);
  free(cs->res);
  ub_budget_release(L, NULL);
  if (status != LUA_OK) return lua_error(L);
  ub_budget_check(L);          /* the evaluation may have run out while we waited */
  return 1;
}

static int call_single(lua_State *L) {
  call_set cs = {.n = 1, .kind = (dt_kind)lua_tointeger(L, lua_upvalueindex(1))};
  execute(L, &cs);
  lua_rawgeti(L, -1, 1);
  return 1;
}

static int call_batch(lua_State *L) {
  lua_settop(L, 1);
  size_t n = lua_istable(L, 1) ? lua_rawlen(L, 1) : 0;
  if (!lua_istable(L, 1) || n > MAX_BATCH) {
    lua_createtable(L, 0, 0);
    lua_createtable(L, 0, 4);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "ok");
    lua_pushinteger(L, 0);
    lua_setfield(L, -2, "status");
    lua_pushfstring(L, "dt.batch: expects a list of at most %d calls", MAX_BATCH);
    lua_setfield(L, -2, "error");
    lua_pushstring(L, "dt.batch (not sent)");
    lua_setfield(L, -2, "request");
    lua_rawseti(L, -2, 1);
    return 1;
  }
  call_set cs = {.n = n, .list = 1};     /* run_calls gets the list as argument 1 */
  return execute(L, &cs);
}

int luaopen_unbreakable_dynatrace(lua_State *L) {
  lua_createtable(L, 0, DT_KIND_COUNT + 1);
  for (int k = 0; k < DT_KIND_COUNT; k++) {
    lua_pushinteger(L, k);
    lua_pushcclosure(L, call_single, 1);
    lua_setfield(L, -2, dt_kind_name((dt_kind)k));
  }
  lua_pushcfunction(L, call_batch);
  lua_setfield(L, -2, "batch");
  return 1;
}
