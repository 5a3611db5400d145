/* lseries.c: the series userdata (construction, read access, pooling,
 * slicing) and the Lua module unbreakable.stats that exposes the C
 * kernels of stats.c as series methods and as module functions.
 *
 * Conventions (docs/stats.md): missing points read as nil; a kernel with
 * nothing to aggregate returns nil plus a reason ("empty series"); misuse
 * (wrong types, p outside [0, 100], unknown method) raises an error. Every
 * byte, scratch buffer included, comes from the Lua allocator. */
#include "lualib/lseries.h"

#include <lauxlib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "sandbox/budget.h"
#include "kernels/stats.h"

enum { LABEL_ENTITY = 1, LABEL_METRIC = 2, LABEL_UNIT = 3, N_LABELS = 3 };
enum { BUDGET_EVERY = 0xFFFF }; /* points between two budget checks */

static const char *const LABEL_NAMES[] = {NULL, "entity", "metric", "unit"};

/* ---- host API --------------------------------------------------------- */

static void push_series_mt(lua_State *L);

ub_series *ub_lua_newseries(lua_State *L, size_t n, int with_timestamps) {
  size_t bytes = ub_series_block_size(n, with_timestamps);
  if (bytes == 0) luaL_error(L, "series of %I points is too large", (lua_Integer)n);
  void *block = lua_newuserdatauv(L, bytes, N_LABELS);
  ub_series *s = ub_series_layout(block, n, with_timestamps);
  ub_series_fill_missing(s);
  push_series_mt(L);
  lua_setmetatable(L, -2);
  return s;
}

ub_series *ub_lua_toseries(lua_State *L, int idx) {
  return luaL_testudata(L, idx, UB_SERIES_MT);
}

ub_series *ub_lua_checkseries(lua_State *L, int idx) {
  ub_series *s = ub_lua_toseries(L, idx);
  if (!s) luaL_typeerror(L, idx, "series");
  return s;
}

static const char **label_field(ub_series *s, int slot) {
  return slot == LABEL_ENTITY ? &s->entity : slot == LABEL_METRIC ? &s->metric : &s->unit;
}

/* Pops a string or nil into user value slot of the series at idx and
 * points the header field at the string (Lua strings never move). */
static void pop_label(lua_State *L, int idx, int slot) {
  ub_series *s = lua_touserdata(L, idx);
  *label_field(s, slot) = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  lua_setiuservalue(L, idx, slot);
}

void ub_lua_series_setlabels(lua_State *L, int idx, const char *entity,
                             const char *metric, const char *unit) {
  const char *labels[] = {NULL, entity, metric, unit};
  idx = lua_absindex(L, idx);
  ub_lua_checkseries(L, idx);
  for (int slot = 1; slot <= N_LABELS; slot++) {
    if (labels[slot]) lua_pushstring(L, labels[slot]);
    else lua_pushnil(L);
    pop_label(L, idx, slot);
  }
}

static void copy_label(lua_State *L, int from, int to, int slot) {
  lua_getiuservalue(L, from, slot);
  pop_label(L, to, slot);
}

static void copy_labels(lua_State *L, int from, int to) {
  for (int slot = 1; slot <= N_LABELS; slot++) copy_label(L, from, to, slot);
}

/* ---- shared helpers ---------------------------------------------------- */

static void budget_tick(void *ctx) { ub_budget_check((lua_State *)ctx); }

static void push_value(lua_State *L, double v) {
  if (isnan(v)) lua_pushnil(L);
  else lua_pushnumber(L, v);
}

static int push_failure(lua_State *L, const char *reason) {
  lua_pushnil(L);
  lua_pushstring(L, reason);
  return 2;
}

static int push_result(lua_State *L, ub_stats_status st, double v) {
  if (st != UB_STATS_OK) return push_failure(L, ub_stats_reason(st));
  lua_pushnumber(L, v);
  return 1;
}

/* The scratch buffer of at least n doubles, pushed on the stack (which
 * anchors it). It lives in a weak table shared by the kernels: reused
 * between calls, reclaimed by a full collection. */
static double *push_scratch(lua_State *L, size_t n) {
  if (n == 0) n = 1;
  if (n > UB_SERIES_MAX_LEN * 3)
    luaL_error(L, "scratch buffer of %I values is too large", (lua_Integer)n);
  size_t bytes = n * sizeof(double);
  lua_rawgeti(L, lua_upvalueindex(1), 1);
  void *p = lua_touserdata(L, -1);
  if (p && lua_rawlen(L, -1) >= bytes) return p;
  lua_pop(L, 1);
  p = lua_newuserdatauv(L, bytes, 0);
  lua_pushvalue(L, -1);
  lua_rawseti(L, lua_upvalueindex(1), 1);
  return p;
}

static void push_scratch_holder(lua_State *L) {
  lua_createtable(L, 1, 0);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "v");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
}

/* ---- construction from Lua --------------------------------------------- */

static int is_missing_marker(lua_State *L, int idx) {
  return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == json_null();
}

static size_t check_length(lua_State *L, int idx, const char *what) {
  int ok;
  lua_Integer n = lua_tointegerx(L, idx, &ok);
  if (!ok || lua_type(L, idx) != LUA_TNUMBER || n < 0 || (lua_Unsigned)n > UB_SERIES_MAX_LEN)
    luaL_error(L, "stats.series: %s must be a non-negative integer", what);
  return (size_t)n;
}

/* Largest positive integer key; other keys (except "n") are an error. */
static size_t scan_length(lua_State *L, int t) {
  size_t n = 0, keys = 0;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    int ok;
    lua_Integer k = lua_tointegerx(L, -1, &ok);
    if (ok && lua_type(L, -1) == LUA_TNUMBER && k >= 1 && (lua_Unsigned)k <= UB_SERIES_MAX_LEN) {
      if ((size_t)k > n) n = (size_t)k;
    } else if (!(lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "n") == 0)) {
      luaL_error(L, "stats.series: values has a key of type %s; expected an array 1..n",
                 luaL_typename(L, -1));
    }
    if ((++keys & BUDGET_EVERY) == 0) ub_budget_check(L);
  }
  return n;
}

/* Length of the values array: opts.n, else values.n, else the largest key
 * (# is unreliable with nil holes). */
static size_t values_length(lua_State *L, int t, int opts) {
  if (opts && lua_getfield(L, opts, "n") != LUA_TNIL) {
    size_t n = check_length(L, -1, "opts.n");
    lua_pop(L, 1);
    return n;
  }
  if (opts) lua_pop(L, 1);
  lua_pushliteral(L, "n");
  if (lua_rawget(L, t) != LUA_TNIL) {
    size_t n = check_length(L, -1, "values.n");
    lua_pop(L, 1);
    return n;
  }
  lua_pop(L, 1);
  return scan_length(L, t);
}

static void fill_values(lua_State *L, int t, ub_series *s) {
  for (size_t i = 0; i < s->len; i++) {
    int type = lua_rawgeti(L, t, (lua_Integer)i + 1);
    if (type == LUA_TNUMBER) s->values[i] = lua_tonumber(L, -1);
    else if (type != LUA_TNIL && !is_missing_marker(L, -1))
      luaL_error(L, "stats.series: values[%I] is a %s; expected a number, nil or stats.missing",
                 (lua_Integer)i + 1, luaL_typename(L, -1));
    lua_pop(L, 1);
    if ((i & BUDGET_EVERY) == BUDGET_EVERY) ub_budget_check(L);
  }
}

static void fill_timestamps(lua_State *L, int ts, ub_series *s) {
  for (size_t i = 0; i < s->len; i++) {
    lua_rawgeti(L, ts, (lua_Integer)i + 1);
    int ok;
    lua_Integer t = lua_tointegerx(L, -1, &ok);
    if (!ok || lua_type(L, -1) != LUA_TNUMBER)
      luaL_error(L, "stats.series: opts.timestamps[%I] is %s; expected an integer (milliseconds)",
                 (lua_Integer)i + 1,
                 lua_type(L, -1) == LUA_TNUMBER ? "not an integer" : luaL_typename(L, -1));
    s->timestamps[i] = (int64_t)t;
    lua_pop(L, 1);
  }
  if (lua_rawgeti(L, ts, (lua_Integer)s->len + 1) != LUA_TNIL)
    luaL_error(L, "stats.series: opts.timestamps has more entries than the %I values",
               (lua_Integer)s->len);
  lua_pop(L, 1);
}

static void set_label_option(lua_State *L, int opts, int series, int slot) {
  int type = lua_getfield(L, opts, LABEL_NAMES[slot]);
  if (type != LUA_TNIL && type != LUA_TSTRING)
    luaL_error(L, "stats.series: opts.%s must be a string, not a %s", LABEL_NAMES[slot],
               luaL_typename(L, -1));
  pop_label(L, series, slot);
}

/* Builds a series from the array at t with the options table at opts (0:
 * none) and pushes it. */
static ub_series *series_from_table(lua_State *L, int t, int opts) {
  int ts = 0;
  if (opts) {
    int type = lua_getfield(L, opts, "timestamps");
    if (type != LUA_TNIL && type != LUA_TTABLE)
      luaL_error(L, "stats.series: opts.timestamps must be an array of integers");
    if (type == LUA_TTABLE) ts = lua_gettop(L);
    else lua_pop(L, 1);
  }
  size_t n = values_length(L, t, opts);
  ub_series *s = ub_lua_newseries(L, n, ts != 0);
  int idx = lua_gettop(L);
  fill_values(L, t, s);
  if (ts) fill_timestamps(L, ts, s);
  if (opts)
    for (int slot = 1; slot <= N_LABELS; slot++) set_label_option(L, opts, idx, slot);
  if (ts) lua_remove(L, ts);
  return s;
}

/* stats.series(values [, opts]) */
static int l_series(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  int opts = 0;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    opts = 2;
  }
  series_from_table(L, 1, opts);
  return 1;
}

/* The series argument at idx; a plain array is converted in place. */
static ub_series *series_arg(lua_State *L, int idx) {
  ub_series *s = ub_lua_toseries(L, idx);
  if (s) return s;
  if (lua_type(L, idx) != LUA_TTABLE) luaL_typeerror(L, idx, "series or array of numbers");
  s = series_from_table(L, idx, 0);
  lua_replace(L, idx);
  return s;
}

/* ---- read access ----------------------------------------------------- */

static int s_index(lua_State *L) {
  ub_series *s = ub_lua_checkseries(L, 1);
  int type = lua_type(L, 2);
  if (type == LUA_TNUMBER) {
    int ok;
    lua_Integer i = lua_tointegerx(L, 2, &ok);
    if (ok && i >= 1 && (lua_Unsigned)i <= s->len) push_value(L, s->values[i - 1]);
    else lua_pushnil(L);
    return 1;
  }
  if (type != LUA_TSTRING) return 0;
  const char *key = lua_tostring(L, 2);
  for (int slot = 1; slot <= N_LABELS; slot++) {
    if (strcmp(key, LABEL_NAMES[slot]) == 0) {
      lua_getiuservalue(L, 1, slot);
      return 1;
    }
  }
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));
  return 1;
}

static int s_newindex(lua_State *L) {
  return luaL_error(L, "series are read-only; build a new one with stats.series or s:scale");
}

static int s_len(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)ub_lua_checkseries(L, 1)->len);
  return 1;
}

static int s_timestamp(lua_State *L) {
  ub_series *s = ub_lua_checkseries(L, 1);
  lua_Integer i = luaL_checkinteger(L, 2);
  if (s->timestamps && i >= 1 && (lua_Unsigned)i <= s->len)
    lua_pushinteger(L, (lua_Integer)s->timestamps[i - 1]);
  else lua_pushnil(L);
  return 1;
}

static int points_next(lua_State *L) {
  ub_series *s = ub_lua_checkseries(L, 1);
  lua_Integer i = luaL_checkinteger(L, 2);
  if (i < 0 || (lua_Unsigned)i >= s->len) return 0;
  lua_pushinteger(L, i + 1);
  push_value(L, s->values[i]);
  if (s->timestamps) lua_pushinteger(L, (lua_Integer)s->timestamps[i]);
  else lua_pushnil(L);
  return 3;
}

/* for i, v, ts in s:points() do ... end (v nil for missing points) */
static int s_points(lua_State *L) {
  ub_lua_checkseries(L, 1);
  lua_pushcfunction(L, points_next);
  lua_pushvalue(L, 1);
  lua_pushinteger(L, 0);
  return 3;
}

/* Lua array of the values, stats.missing (JSON null) for missing points. */
static int s_values(lua_State *L) {
  ub_series *s = ub_lua_checkseries(L, 1);
  if (s->len > (size_t)INT32_MAX) return luaL_error(L, "series too long for a Lua array");
  lua_createtable(L, (int)s->len, 0);
  for (size_t i = 0; i < s->len; i++) {
    if (isnan(s->values[i])) lua_pushlightuserdata(L, json_null());
    else lua_pushnumber(L, s->values[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
    if ((i & BUDGET_EVERY) == BUDGET_EVERY) ub_budget_check(L);
  }
  return 1;
}

static int s_tostring(lua_State *L) {
  ub_series *s = ub_lua_checkseries(L, 1);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  lua_pushfstring(L, "series(n=%I, missing=%I", (lua_Integer)s->len,
                  (lua_Integer)(s->len - ub_stats_count(s->values, s->len)));
  luaL_addvalue(&b);
  for (int slot = 1; slot <= N_LABELS; slot++) {
    const char *label = *label_field(s, slot);
    if (!label) continue;
    lua_pushfstring(L, ", %s=%s", LABEL_NAMES[slot], label);
    luaL_addvalue(&b);
  }
  if (s->timestamps && s->len > 0) {
    lua_pushfstring(L, ", from=%I, to=%I", (lua_Integer)s->timestamps[0],
                    (lua_Integer)s->timestamps[s->len - 1]);
    luaL_addvalue(&b);
  }
  luaL_addchar(&b, ')');
  luaL_pushresult(&b);
  return 1;
}

/* ---- derived series ---------------------------------------------------- */

/* s:slice(from_ms, to_ms): points with from <= timestamp < to. */
static int s_slice(lua_State *L) {
  ub_series *s = ub_lua_checkseries(L, 1);
  int64_t from = (int64_t)luaL_checkinteger(L, 2), to = (int64_t)luaL_checkinteger(L, 3);
  if (!s->timestamps) return luaL_error(L, "slice: the series has no timestamps");
  ub_series *out = ub_lua_newseries(L, ub_series_window_count(s, from, to), 1);
  ub_series_copy_window(s, from, to, out);
  copy_labels(L, 1, lua_gettop(L));
  return 1;
}

static int s_drop_missing(lua_State *L) {
  ub_series *s = ub_lua_checkseries(L, 1);
  ub_series *out = ub_lua_newseries(L, ub_stats_count(s->values, s->len), s->timestamps != NULL);
  ub_series_copy_present(s, out);
  copy_labels(L, 1, lua_gettop(L));
  return 1;
}

/* s:scale(factor [, unit]): unit conversion; missing stays missing. */
static int s_scale(lua_State *L) {
  ub_series *s = ub_lua_checkseries(L, 1);
  double factor = luaL_checknumber(L, 2);
  const char *unit = luaL_optstring(L, 3, NULL);
  luaL_argcheck(L, !isnan(factor), 2, "factor is NaN");
  ub_series *out = ub_lua_newseries(L, s->len, s->timestamps != NULL);
  int idx = lua_gettop(L);
  ub_series_copy_scaled(s, factor, out);
  copy_labels(L, 1, idx);
  if (unit) {
    lua_pushvalue(L, 3);
    pop_label(L, idx, LABEL_UNIT);
  }
  return 1;
}

static int same_label(const char *a, const char *b) {
  return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* Checks the items of the list at 1; returns the total length. */
static size_t check_merge_items(lua_State *L, size_t k, int *with_ts) {
  size_t total = 0;
  const ub_series *first = NULL;
  for (size_t i = 1; i <= k; i++) {
    lua_rawgeti(L, 1, (lua_Integer)i);
    const ub_series *s = ub_lua_toseries(L, -1);
    if (!s)
      luaL_error(L, "stats.merge: item %I is a %s; expected a series", (lua_Integer)i,
                 luaL_typename(L, -1));
    lua_pop(L, 1); /* still referenced by the list */
    if (!first) first = s;
    if ((s->timestamps != NULL) != (first->timestamps != NULL))
      luaL_error(L, "stats.merge: item %I %s timestamps but item 1 %s; merge series of one kind",
                 (lua_Integer)i, s->timestamps ? "has" : "has no",
                 first->timestamps ? "has" : "has none");
    if (!same_label(s->unit, first->unit))
      luaL_error(L, "stats.merge: item %I has unit %s but item 1 has %s; convert with s:scale first",
                 (lua_Integer)i, s->unit ? s->unit : "(none)",
                 first->unit ? first->unit : "(none)");
    if (s->len > UB_SERIES_MAX_LEN - total) luaL_error(L, "stats.merge: result too long");
    total += s->len;
  }
  *with_ts = first && first->timestamps;
  return total;
}

/* Keeps label slot of item 1 when every item has the same, else nil. */
static void merge_label(lua_State *L, size_t k, int out, int slot) {
  lua_rawgeti(L, 1, 1);
  ub_series *first = lua_touserdata(L, -1);
  int same = 1;
  for (size_t i = 2; i <= k && same; i++) {
    lua_rawgeti(L, 1, (lua_Integer)i);
    same = same_label(*label_field(lua_touserdata(L, -1), slot), *label_field(first, slot));
    lua_pop(L, 1);
  }
  if (same) lua_getiuservalue(L, -1, slot);
  else lua_pushnil(L);
  pop_label(L, out, slot);
  lua_pop(L, 1);
}

/* stats.merge({s1, s2, ...}): all points of s1, then s2, ... */
static int l_merge(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  size_t k = (size_t)lua_rawlen(L, 1);
  int with_ts = 0;
  size_t total = check_merge_items(L, k, &with_ts);
  ub_series *out = ub_lua_newseries(L, total, with_ts);
  int idx = lua_gettop(L);
  for (size_t i = 1, at = 0; i <= k; i++) {
    lua_rawgeti(L, 1, (lua_Integer)i);
    const ub_series *s = lua_touserdata(L, -1);
    ub_series_copy_into(s, out, at);
    at += s->len;
    lua_pop(L, 1);
  }
  if (k > 0)
    for (int slot = 1; slot <= N_LABELS; slot++) merge_label(L, k, idx, slot);
  return 1;
}

/* ---- kernels ----------------------------------------------------------- */

typedef ub_stats_status (*linear_kernel)(const double *, size_t, double *);

static int run_linear(lua_State *L, linear_kernel k) {
  ub_series *s = series_arg(L, 1);
  double out = 0.0;
  ub_stats_status st = k(s->values, s->len, &out);
  return push_result(L, st, out);
}

static int k_count(lua_State *L) {
  ub_series *s = series_arg(L, 1);
  lua_pushinteger(L, (lua_Integer)ub_stats_count(s->values, s->len));
  return 1;
}

static int k_sum(lua_State *L) { return run_linear(L, ub_stats_sum); }
static int k_mean(lua_State *L) { return run_linear(L, ub_stats_mean); }
static int k_min(lua_State *L) { return run_linear(L, ub_stats_min); }
static int k_max(lua_State *L) { return run_linear(L, ub_stats_max); }
static int k_delta(lua_State *L) { return run_linear(L, ub_stats_delta); }

static ub_stats_status first_value(const double *v, size_t n, double *out) {
  return ub_stats_first(v, n, out, NULL);
}
static ub_stats_status last_value(const double *v, size_t n, double *out) {
  return ub_stats_last(v, n, out, NULL);
}
static int k_first(lua_State *L) { return run_linear(L, first_value); }
static int k_last(lua_State *L) { return run_linear(L, last_value); }

static int k_rate(lua_State *L) {
  ub_series *s = series_arg(L, 1);
  double out = 0.0;
  ub_stats_status st = ub_stats_rate(s->values, s->timestamps, s->len, &out);
  return push_result(L, st, out);
}

static int population_option(lua_State *L, int idx) {
  if (lua_isnoneornil(L, idx)) return 0;
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_getfield(L, idx, "population");
  int population = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return population;
}

static int k_variance(lua_State *L) {
  ub_series *s = series_arg(L, 1);
  double out = 0.0;
  ub_stats_status st = ub_stats_variance(s->values, s->len, population_option(L, 2), &out);
  return push_result(L, st, out);
}

static int k_stddev(lua_State *L) {
  ub_series *s = series_arg(L, 1);
  double out = 0.0;
  ub_stats_status st = ub_stats_stddev(s->values, s->len, population_option(L, 2), &out);
  return push_result(L, st, out);
}

/* Percentile of the series at idx, by selection on the scratch buffer. */
static ub_stats_status percentile_of(lua_State *L, int idx, double p, ub_pct_method m,
                                     double *out) {
  ub_series *s = series_arg(L, idx);
  double *x = push_scratch(L, s->len);
  size_t present = ub_stats_gather(s->values, s->len, x);
  ub_tick tick = {budget_tick, L, 0};
  ub_stats_status st = ub_stats_percentile_inplace(x, present, p, m, &tick, out);
  lua_pop(L, 1);
  return st;
}

static ub_stats_status median_of(lua_State *L, int idx, double *out) {
  ub_series *s = series_arg(L, idx);
  double *x = push_scratch(L, s->len);
  size_t present = ub_stats_gather(s->values, s->len, x);
  ub_tick tick = {budget_tick, L, 0};
  ub_stats_status st = ub_stats_median_inplace(x, present, &tick, out);
  lua_pop(L, 1);
  return st;
}

static int k_median(lua_State *L) {
  double out = 0.0;
  ub_stats_status st = median_of(L, 1, &out);
  return push_result(L, st, out);
}

static double check_p(lua_State *L, int idx) {
  double p = luaL_checknumber(L, idx);
  if (!(p >= 0.0 && p <= 100.0))
    luaL_argerror(L, idx, lua_pushfstring(L, "p must be in [0, 100], got %f", p));
  return p;
}

static ub_pct_method check_method(lua_State *L, int idx) {
  const char *name = luaL_optstring(L, idx, "linear");
  int m = ub_pct_method_from_name(name);
  if (m < 0)
    luaL_argerror(L, idx, lua_pushfstring(L, "unknown percentile method '%s'; use "
                                              "\"nearest\", \"linear\" or \"keptn\"", name));
  return (ub_pct_method)m;
}

/* stats.percentile(s, p [, method = "linear"]) */
static int k_percentile(lua_State *L) {
  series_arg(L, 1);
  double p = check_p(L, 2), out = 0.0;
  ub_pct_method m = check_method(L, 3);
  ub_stats_status st = percentile_of(L, 1, p, m, &out);
  return push_result(L, st, out);
}

/* Aggregate named agg ("mean", "p90", ...) of the series at idx. */
static ub_stats_status aggregate_of(lua_State *L, int idx, const char *agg, double *out) {
  static const struct { const char *name; linear_kernel fn; } linear[] = {
      {"sum", ub_stats_sum},     {"mean", ub_stats_mean},   {"avg", ub_stats_mean},
      {"min", ub_stats_min},     {"max", ub_stats_max},     {"first", first_value},
      {"last", last_value},      {"median", NULL},          {NULL, NULL}};
  ub_series *s = series_arg(L, idx);
  for (int i = 0; linear[i].name; i++) {
    if (strcmp(agg, linear[i].name) != 0) continue;
    if (linear[i].fn) return linear[i].fn(s->values, s->len, out);
    return median_of(L, idx, out);
  }
  if (strcmp(agg, "count") == 0) {
    *out = (double)ub_stats_count(s->values, s->len);
    return UB_STATS_OK;
  }
  char *end = NULL;
  double p = agg[0] == 'p' ? strtod(agg + 1, &end) : NAN;
  if (!end || end == agg + 1 || *end != '\0' || !(p >= 0.0 && p <= 100.0))
    luaL_error(L, "relative_change: unknown aggregate '%s'; use count, sum, mean, min, max, "
                  "median, first, last or pNN (0 <= NN <= 100)", agg);
  return percentile_of(L, idx, p, UB_PCT_LINEAR, out);
}

static int relchange_result(lua_State *L, double value, double base) {
  double rel = 0.0;
  ub_stats_status st = ub_stats_relchange(value, base, &rel);
  if (st != UB_STATS_OK) return push_failure(L, ub_stats_reason(st));
  lua_pushnumber(L, rel);
  lua_pushnumber(L, value);
  lua_pushnumber(L, base);
  return 3;
}

/* stats.relative_change(s, baseline [, aggregate = "mean"]) */
static int k_relative_change(lua_State *L) {
  series_arg(L, 1);
  const char *agg = luaL_optstring(L, 3, "mean");
  double value = 0.0, base = 0.0;
  ub_stats_status st = aggregate_of(L, 1, agg, &value);
  if (st != UB_STATS_OK)
    return push_failure(L, lua_pushfstring(L, "current: %s", ub_stats_reason(st)));
  if (lua_type(L, 2) == LUA_TNUMBER) {
    base = lua_tonumber(L, 2);
  } else {
    series_arg(L, 2);
    st = aggregate_of(L, 2, agg, &base);
    if (st != UB_STATS_OK)
      return push_failure(L, lua_pushfstring(L, "baseline: %s", ub_stats_reason(st)));
  }
  if (isnan(base)) luaL_argerror(L, 2, "baseline is NaN");
  return relchange_result(L, value, base);
}

/* stats.relchange(value, baseline) */
static int l_relchange(lua_State *L) {
  double value = luaL_checknumber(L, 1), base = luaL_checknumber(L, 2);
  luaL_argcheck(L, !isnan(value), 1, "value is NaN");
  luaL_argcheck(L, !isnan(base), 2, "baseline is NaN");
  double rel = 0.0;
  ub_stats_status st = ub_stats_relchange(value, base, &rel);
  return push_result(L, st, rel);
}

static void set_number(lua_State *L, const char *k, double v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, k);
}

static void push_mw_result(lua_State *L, const ub_mw_result *r) {
  lua_createtable(L, 0, 11);
  set_number(L, "u", r->u);
  set_number(L, "u_b", r->u_b);
  set_number(L, "p", r->p);
  set_number(L, "z", r->z);
  set_number(L, "effect", r->effect);
  set_number(L, "cles", r->cles);
  lua_pushinteger(L, (lua_Integer)r->n1);
  lua_setfield(L, -2, "n1");
  lua_pushinteger(L, (lua_Integer)r->n2);
  lua_setfield(L, -2, "n2");
  lua_pushboolean(L, r->exact);
  lua_setfield(L, -2, "exact");
  lua_pushboolean(L, r->ties);
  lua_setfield(L, -2, "ties");
  lua_pushstring(L, r->exact ? "exact" : "normal");
  lua_setfield(L, -2, "method");
}

/* stats.mannwhitney(a, b) */
static int k_mannwhitney(lua_State *L) {
  ub_series *a = series_arg(L, 1), *b = series_arg(L, 2);
  size_t n1 = ub_stats_count(a->values, a->len), n2 = ub_stats_count(b->values, b->len);
  if (n1 == 0 || n2 == 0) return push_failure(L, ub_stats_reason(UB_STATS_EMPTY));
  size_t table = ub_stats_mw_table_len(n1, n2);
  double *x = push_scratch(L, a->len + b->len + table);
  ub_stats_gather(a->values, a->len, x);
  ub_stats_gather(b->values, b->len, x + n1);
  ub_tick tick = {budget_tick, L, 0};
  ub_mw_result r;
  ub_stats_status st = ub_stats_mannwhitney(x, n1, x + n1, n2,
                                            table ? x + a->len + b->len : NULL, &tick, &r);
  if (st != UB_STATS_OK) return push_failure(L, ub_stats_reason(st));
  push_mw_result(L, &r);
  return 1;
}

static int l_is_series(lua_State *L) {
  lua_pushboolean(L, ub_lua_toseries(L, 1) != NULL);
  return 1;
}

/* ---- metatable and module ---------------------------------------------- */

/* Functions that take a series first; they are both methods and module
 * functions. Kernels share the scratch holder as upvalue 1. */
static const luaL_Reg KERNELS[] = {
    {"count", k_count},         {"sum", k_sum},
    {"mean", k_mean},           {"min", k_min},
    {"max", k_max},             {"median", k_median},
    {"percentile", k_percentile}, {"variance", k_variance},
    {"stddev", k_stddev},       {"first", k_first},
    {"last", k_last},           {"delta", k_delta},
    {"rate", k_rate},           {"relative_change", k_relative_change},
    {"mannwhitney", k_mannwhitney}, {NULL, NULL}};

static const luaL_Reg SERIES_METHODS[] = {
    {"len", s_len},         {"timestamp", s_timestamp},
    {"points", s_points},   {"values", s_values},
    {"slice", s_slice},     {"drop_missing", s_drop_missing},
    {"scale", s_scale},     {NULL, NULL}};

static const luaL_Reg MODULE_ONLY[] = {
    {"series", l_series},   {"merge", l_merge},
    {"relchange", l_relchange}, {"is_series", l_is_series},
    {NULL, NULL}};

/* Pushes the series metatable, creating it on first use in this state. */
static void push_series_mt(lua_State *L) {
  if (luaL_getmetatable(L, UB_SERIES_MT) == LUA_TTABLE) return;
  lua_pop(L, 1);
  luaL_newmetatable(L, UB_SERIES_MT);
  lua_createtable(L, 0, 24); /* methods */
  push_scratch_holder(L);
  luaL_setfuncs(L, KERNELS, 1);
  luaL_setfuncs(L, SERIES_METHODS, 0);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "__methods"); /* for the module opener; policies
                                       never see the metatable */
  lua_pushcclosure(L, s_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, s_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pushcfunction(L, s_len);
  lua_setfield(L, -2, "__len");
  lua_pushcfunction(L, s_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushliteral(L, UB_SERIES_MT);
  lua_setfield(L, -2, "__metatable");
}

int luaopen_unbreakable_stats(lua_State *L) {
  push_series_mt(L);
  lua_getfield(L, -1, "__methods");
  lua_createtable(L, 0, 32);
  lua_pushnil(L);
  while (lua_next(L, -3)) { /* copy: the module table is the policy's to change */
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -4);
  }
  luaL_setfuncs(L, MODULE_ONLY, 0);
  lua_pushlightuserdata(L, json_null());
  lua_setfield(L, -2, "missing");
  lua_replace(L, -3);
  lua_pop(L, 1);
  return 1;
}
