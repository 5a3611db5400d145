/* dt_decode.c: streaming decoders for Dynatrace answers (see dt_decode.h).
 * The json_reader walks the body once; data points go into scratch C
 * arrays and then into one series userdata per series. Each decoder runs
 * inside lua_pcall so that the scratch memory is freed even when a Lua
 * error (out of memory, sandbox kill) unwinds, then the error is raised
 * again. */
#include "dynatrace/dt_decode.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "util/json.h"
#include "lualib/lseries.h"
#include "sandbox/budget.h"

typedef struct points {
  double *v;
  int64_t *t;
  size_t nv, nt, capv, capt;
} points;

typedef struct decoder {
  lua_State *L;
  json_reader r;
  points pts;
  unsigned ticks;
  int failed;
  char err[256];
} decoder;

/* ---- helpers ------------------------------------------------------ */

static int bad(decoder *d, const char *what) {
  if (!d->failed) {
    d->failed = 1;
    if (d->r.err[0]) snprintf(d->err, sizeof d->err, "%s", d->r.err);
    else {
      char where[96];
      json_position(&d->r, where, sizeof where);
      snprintf(d->err, sizeof d->err, "%s: %s", where, what);
    }
  }
  return -1;
}

static json_token next(decoder *d) {
  if ((++d->ticks & 0xffffu) == 0) ub_budget_check(d->L);
  json_token t = json_next(&d->r);
  if (t == JSON_ERROR) bad(d, "malformed JSON");
  return t;
}

static int skip(decoder *d, json_token t) {
  return json_skip(&d->r, t) == 0 ? 0 : bad(d, "malformed JSON");
}

/* Copies the current key (keys of interest are short; longer ones never
 * match). */
static void key_of(decoder *d, char *out, size_t len) {
  if (d->r.str.len < len) memcpy(out, d->r.str.data, d->r.str.len + 1);
  else out[0] = '\0';
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap * 2 : 256;
  while (c < need) c *= 2;
  void *n = realloc(*p, c * elem);
  if (!n) return -1;
  *p = n;
  *cap = c;
  return 0;
}

static void push_value(decoder *d, double v) {
  if (grow((void **)&d->pts.v, &d->pts.capv, d->pts.nv + 1, sizeof(double)) != 0)
    luaL_error(d->L, "out of memory");
  d->pts.v[d->pts.nv++] = v;
}

static void push_time(decoder *d, int64_t t) {
  if (grow((void **)&d->pts.t, &d->pts.capt, d->pts.nt + 1, sizeof(int64_t)) != 0)
    luaL_error(d->L, "out of memory");
  d->pts.t[d->pts.nt++] = t;
}

static void push_number(decoder *d) {
  if (d->r.is_integer) lua_pushinteger(d->L, (lua_Integer)d->r.integer);
  else lua_pushnumber(d->L, d->r.num);
}

/* Pushes an array of strings (null items stay json.null). */
static int read_strings(decoder *d, json_token first, const char *what) {
  if (first != JSON_ARRAY) return bad(d, what);
  lua_newtable(d->L);
  lua_Integer i = 0;
  json_token t;
  while ((t = next(d)) != JSON_ARRAY_END) {
    if (t == JSON_STRING) lua_pushlstring(d->L, d->r.str.data, d->r.str.len);
    else if (t == JSON_NULL) lua_pushlightuserdata(d->L, json_null());
    else return bad(d, what);
    lua_rawseti(d->L, -2, ++i);
  }
  return 0;
}

/* Pushes an object whose values are strings or null. */
static int read_string_map(decoder *d, json_token first, const char *what) {
  if (first != JSON_OBJECT) return bad(d, what);
  lua_newtable(d->L);
  json_token t;
  while ((t = next(d)) == JSON_STRING) {
    lua_pushlstring(d->L, d->r.str.data, d->r.str.len);
    json_token v = next(d);
    if (v == JSON_STRING) lua_pushlstring(d->L, d->r.str.data, d->r.str.len);
    else if (v == JSON_NULL) lua_pushlightuserdata(d->L, json_null());
    else return bad(d, what);
    lua_rawset(d->L, -3);
  }
  return t == JSON_OBJECT_END ? 0 : bad(d, what);
}

/* Pushes a series of the collected points (values and timestamps must
 * pair up). */
static int push_series(decoder *d) {
  if (d->pts.nv != d->pts.nt) return bad(d, "timestamps and values differ in length");
  ub_series *s = ub_lua_newseries(d->L, d->pts.nv, 1);
  if (d->pts.nv) {
    memcpy(s->values, d->pts.v, d->pts.nv * sizeof(double));
    memcpy(s->timestamps, d->pts.t, d->pts.nt * sizeof(int64_t));
  }
  return 0;
}

static double value_of(decoder *d, json_token t, int *ok) {
  *ok = 1;
  if (t == JSON_NUMBER) return d->r.num;
  if (t == JSON_NULL) return NAN;
  *ok = 0;
  return 0;
}

/* ---- Metrics v2 ----------------------------------------------------- */

static int read_timestamps(decoder *d, json_token first) {
  if (first != JSON_ARRAY) return bad(d, "timestamps must be an array");
  json_token t;
  while ((t = next(d)) == JSON_NUMBER && d->r.is_integer) push_time(d, d->r.integer);
  return t == JSON_ARRAY_END ? 0 : bad(d, "timestamps must be integers (Unix ms)");
}

static int read_values(decoder *d, json_token first) {
  if (first != JSON_ARRAY) return bad(d, "values must be an array");
  json_token t;
  int ok = 1;
  while ((t = next(d)) != JSON_ARRAY_END) {
    double v = value_of(d, t, &ok);
    if (!ok) return bad(d, "values must be numbers or null");
    push_value(d, v);
  }
  return 0;
}

/* One result[].data[] entry -> { dimensions, dimension_map, series }. */
static int read_metric_series(decoder *d) {
  lua_State *L = d->L;
  lua_createtable(L, 0, 3);
  d->pts.nv = d->pts.nt = 0;
  int have_values = 0, have_times = 0;
  json_token t;
  while ((t = next(d)) == JSON_STRING) {
    char key[24];
    key_of(d, key, sizeof key);
    json_token v = next(d);
    int rc;
    if (!strcmp(key, "dimensions")) {
      if ((rc = read_strings(d, v, "dimensions must be an array of strings")) == 0)
        lua_setfield(L, -2, "dimensions");
    } else if (!strcmp(key, "dimensionMap")) {
      if ((rc = read_string_map(d, v, "dimensionMap must map names to strings")) == 0)
        lua_setfield(L, -2, "dimension_map");
    } else if (!strcmp(key, "timestamps")) {
      rc = read_timestamps(d, v);
      have_times = 1;
    } else if (!strcmp(key, "values")) {
      rc = read_values(d, v);
      have_values = 1;
    } else {
      rc = skip(d, v);
    }
    if (rc) return -1;
  }
  if (t != JSON_OBJECT_END) return bad(d, "expected a key or '}' in a data entry");
  if (!have_values || !have_times) return bad(d, "a data entry lacks timestamps or values");
  if (push_series(d)) return -1;
  lua_setfield(L, -2, "series");
  return 0;
}

/* Reads an array of objects, each pushed by read, into a new table. */
static int read_object_array(decoder *d, json_token first, int (*read)(decoder *),
                             const char *name) {
  char msg[64];
  if (first != JSON_ARRAY) {
    snprintf(msg, sizeof msg, "%s must be an array", name);
    return bad(d, msg);
  }
  lua_newtable(d->L);
  lua_Integer i = 0;
  json_token t;
  while ((t = next(d)) == JSON_OBJECT) {
    if (read(d)) return -1;
    lua_rawseti(d->L, -2, ++i);
  }
  if (t == JSON_ARRAY_END) return 0;
  snprintf(msg, sizeof msg, "%s must hold objects", name);
  return bad(d, msg);
}

/* Labels each series of the result table at idx: entity = first
 * dimension, metric = metric_id. */
static void label_result(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  int top = lua_gettop(L);
  lua_getfield(L, idx, "metric_id");
  const char *metric = lua_tostring(L, top + 1);
  if (lua_getfield(L, idx, "data") == LUA_TTABLE) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, top + 2);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, top + 2, i);
      const char *entity = NULL;
      if (lua_getfield(L, top + 3, "dimensions") == LUA_TTABLE &&
          lua_rawgeti(L, top + 4, 1) == LUA_TSTRING)
        entity = lua_tostring(L, -1);
      lua_getfield(L, top + 3, "series");
      ub_lua_series_setlabels(L, -1, entity, metric, NULL);
      lua_settop(L, top + 2);
    }
  }
  lua_settop(L, top);
}

static int read_metric_result(decoder *d) {
  lua_State *L = d->L;
  lua_createtable(L, 0, 3);
  int have_data = 0, have_id = 0;
  json_token t;
  while ((t = next(d)) == JSON_STRING) {
    char key[16];
    key_of(d, key, sizeof key);
    json_token v = next(d);
    int rc;
    if (!strcmp(key, "metricId")) {
      if (v != JSON_STRING) return bad(d, "metricId must be a string");
      lua_pushlstring(L, d->r.str.data, d->r.str.len);
      lua_setfield(L, -2, "metric_id");
      have_id = 1;
      rc = 0;
    } else if (!strcmp(key, "warnings")) {
      if ((rc = read_strings(d, v, "warnings must be an array of strings")) == 0)
        lua_setfield(L, -2, "warnings");
    } else if (!strcmp(key, "data")) {
      if ((rc = read_object_array(d, v, read_metric_series, "data")) == 0) lua_setfield(L, -2, "data");
      have_data = 1;
    } else {
      rc = skip(d, v);
    }
    if (rc) return -1;
  }
  if (t != JSON_OBJECT_END) return bad(d, "expected a key or '}' in a result entry");
  if (!have_data) return bad(d, "a result entry lacks data");
  if (!have_id) return bad(d, "a result entry lacks metricId");
  label_result(L, -1);
  return 0;
}

static int metrics_top_field(decoder *d, const char *key, json_token v, int *have_result) {
  lua_State *L = d->L;
  if (!strcmp(key, "totalCount")) {
    if (v != JSON_NUMBER) return bad(d, "totalCount must be a number");
    push_number(d);
    lua_setfield(L, -2, "total_count");
  } else if (!strcmp(key, "nextPageKey")) {
    if (v == JSON_NULL) return 0;
    if (v != JSON_STRING) return bad(d, "nextPageKey must be a string or null");
    lua_pushlstring(L, d->r.str.data, d->r.str.len);
    lua_setfield(L, -2, "next_page_key");
  } else if (!strcmp(key, "resolution")) {
    if (v != JSON_STRING) return bad(d, "resolution must be a string");
    lua_pushlstring(L, d->r.str.data, d->r.str.len);
    lua_setfield(L, -2, "resolution");
  } else if (!strcmp(key, "warnings")) {
    if (read_strings(d, v, "warnings must be an array of strings")) return -1;
    lua_setfield(L, -2, "warnings");
  } else if (!strcmp(key, "error")) {
    return bad(d, "a Dynatrace error object in a success answer");
  } else if (!strcmp(key, "result")) {
    if (read_object_array(d, v, read_metric_result, "result")) return -1;
    lua_setfield(L, -2, "result");
    *have_result = 1;
  } else {
    return skip(d, v);
  }
  return 0;
}

static int metrics_body(lua_State *L) {
  decoder *d = lua_touserdata(L, 1);
  if (next(d) != JSON_OBJECT) return bad(d, "expected a JSON object"), 0;
  lua_createtable(L, 0, 5);
  int have_result = 0;
  json_token t;
  while ((t = next(d)) == JSON_STRING) {
    char key[16];
    key_of(d, key, sizeof key);
    if (metrics_top_field(d, key, next(d), &have_result)) return 0;
  }
  if (t != JSON_OBJECT_END || next(d) != JSON_END) return bad(d, "malformed JSON"), 0;
  if (!have_result) return bad(d, "the answer has no \"result\" array"), 0;
  return 1;
}

/* ---- Timeseries v1 ------------------------------------------------ */

/* Stack while decoding: out table at d_out, its series/order/entities. */
enum { TS_OUT = 2, TS_SERIES, TS_ORDER, TS_ENTITIES };

static int read_pair(decoder *d) {
  json_token t = next(d);
  if (t != JSON_NUMBER || !d->r.is_integer) return bad(d, "a data point must start with an integer timestamp");
  push_time(d, d->r.integer);
  int ok;
  double v = value_of(d, next(d), &ok);
  if (!ok) return bad(d, "a data point value must be a number or null");
  push_value(d, v);
  return next(d) == JSON_ARRAY_END ? 0 : bad(d, "a data point must be [timestamp, value]");
}

static int read_points(decoder *d, json_token first) {
  if (first != JSON_ARRAY) return bad(d, "dataPoints values must be arrays of [timestamp, value]");
  d->pts.nv = d->pts.nt = 0;
  json_token t;
  while ((t = next(d)) == JSON_ARRAY)
    if (read_pair(d)) return -1;
  return t == JSON_ARRAY_END ? 0 : bad(d, "dataPoints values must be arrays of [timestamp, value]");
}

static int read_data_points(decoder *d, json_token first) {
  lua_State *L = d->L;
  if (first != JSON_OBJECT) return bad(d, "dataPoints must be an object");
  lua_Integer n = (lua_Integer)lua_rawlen(L, TS_ORDER);
  json_token t;
  while ((t = next(d)) == JSON_STRING) {
    lua_pushlstring(L, d->r.str.data, d->r.str.len);
    if (read_points(d, next(d)) || push_series(d)) return -1;
    lua_pushvalue(L, -2);
    lua_rawseti(L, TS_ORDER, ++n);
    lua_rawset(L, TS_SERIES);
  }
  return t == JSON_OBJECT_END ? 0 : bad(d, "malformed dataPoints");
}

static int ts_string_field(decoder *d, json_token v, const char *name) {
  if (v == JSON_NULL) return 0;
  if (v != JSON_STRING) return bad(d, "expected a string");
  lua_pushlstring(d->L, d->r.str.data, d->r.str.len);
  lua_setfield(d->L, TS_OUT, name);
  return 0;
}

static int read_entities_map(decoder *d, json_token v) {
  if (read_string_map(d, v, "entities must map ids to names")) return -1;
  lua_pushnil(d->L);                   /* merge into TS_ENTITIES */
  while (lua_next(d->L, -2)) {
    lua_pushvalue(d->L, -2);
    lua_insert(d->L, -2);
    lua_rawset(d->L, TS_ENTITIES);
  }
  lua_pop(d->L, 1);
  return 0;
}

static int read_ts_result(decoder *d, json_token first, int *have_points) {
  if (first != JSON_OBJECT) return bad(d, "dataResult/result must be an object");
  json_token t;
  while ((t = next(d)) == JSON_STRING) {
    char key[24];
    key_of(d, key, sizeof key);
    json_token v = next(d);
    int rc;
    if (!strcmp(key, "dataPoints")) { rc = read_data_points(d, v); *have_points = 1; }
    else if (!strcmp(key, "unit")) rc = ts_string_field(d, v, "unit");
    else if (!strcmp(key, "aggregationType")) rc = ts_string_field(d, v, "aggregation");
    else if (!strcmp(key, "timeseriesId")) rc = ts_string_field(d, v, "timeseries_id");
    else if (!strcmp(key, "entities")) rc = read_entities_map(d, v);
    else if (!strcmp(key, "resolutionInMillisUTC")) {
      if (v != JSON_NUMBER) return bad(d, "resolutionInMillisUTC must be a number");
      push_number(d);
      lua_setfield(d->L, TS_OUT, "resolution_ms");
      rc = 0;
    } else rc = skip(d, v);
    if (rc) return -1;
  }
  return t == JSON_OBJECT_END ? 0 : bad(d, "malformed dataResult/result");
}

/* Definition fields at the top level fill in what the result lacks. */
static void take_fallback(lua_State *L, int fallback, const char *from, const char *to) {
  if (lua_getfield(L, TS_OUT, to) == LUA_TNIL && lua_getfield(L, fallback, from) == LUA_TSTRING)
    lua_setfield(L, TS_OUT, to);
  lua_settop(L, fallback);
}

static void label_timeseries(lua_State *L) {
  int top = lua_gettop(L);
  lua_getfield(L, TS_OUT, "timeseries_id");
  lua_getfield(L, TS_OUT, "unit");
  const char *metric = lua_tostring(L, top + 1), *unit = lua_tostring(L, top + 2);
  lua_Integer n = (lua_Integer)lua_rawlen(L, TS_ORDER);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, TS_ORDER, i);
    lua_pushvalue(L, -1);
    lua_rawget(L, TS_SERIES);
    ub_lua_series_setlabels(L, -1, lua_tostring(L, -2), metric, unit);
    lua_settop(L, top + 2);
  }
  lua_settop(L, top);
}

static int timeseries_top_field(decoder *d, const char *key, json_token v, int fallback,
                                int *shape, int *have_points) {
  if (!strcmp(key, "error")) return bad(d, "a Dynatrace error object in a success answer");
  int is_data_result = !strcmp(key, "dataResult");
  if (is_data_result || !strcmp(key, "result")) {
    if (*shape) return bad(d, "both dataResult and result in one answer");
    *shape = is_data_result ? 1 : 2;
    return read_ts_result(d, v, have_points);
  }
  if (v == JSON_STRING && (!strcmp(key, "timeseriesId") || !strcmp(key, "unit"))) {
    lua_pushlstring(d->L, d->r.str.data, d->r.str.len);
    lua_setfield(d->L, fallback, key);
    return 0;
  }
  return skip(d, v);
}

static int timeseries_body(lua_State *L) {
  decoder *d = lua_touserdata(L, 1);
  lua_createtable(L, 0, 9);                                  /* TS_OUT */
  lua_newtable(L); lua_pushvalue(L, -1); lua_setfield(L, TS_OUT, "series");
  lua_newtable(L); lua_pushvalue(L, -1); lua_setfield(L, TS_OUT, "order");
  lua_newtable(L); lua_pushvalue(L, -1); lua_setfield(L, TS_OUT, "entities");
  lua_newtable(L);                                           /* definition fields */
  int fallback = lua_gettop(L), shape = 0, have_points = 0;
  if (next(d) != JSON_OBJECT) return bad(d, "expected a JSON object"), 0;
  json_token t;
  while ((t = next(d)) == JSON_STRING) {
    char key[16];
    key_of(d, key, sizeof key);
    if (timeseries_top_field(d, key, next(d), fallback, &shape, &have_points)) return 0;
  }
  if (t != JSON_OBJECT_END || next(d) != JSON_END) return bad(d, "malformed JSON"), 0;
  if (!shape) return bad(d, "the answer has neither \"dataResult\" nor \"result\""), 0;
  if (!have_points) return bad(d, "the answer has no \"dataPoints\" (was includeData=true sent?)"), 0;
  take_fallback(L, fallback, "timeseriesId", "timeseries_id");
  take_fallback(L, fallback, "unit", "unit");
  lua_pushstring(L, shape == 1 ? "dataResult" : "result");
  lua_setfield(L, TS_OUT, "shape");
  label_timeseries(L);
  lua_settop(L, TS_OUT);
  return 1;
}

/* ---- driver --------------------------------------------------------- */

static void free_decoder(void *p) {
  decoder *d = p;
  json_reader_free(&d->r);
  free(d->pts.v);
  free(d->pts.t);
  free(d);
}

/* The decoder (on the heap) is released by the sandbox's hard stop if it
 * abandons the state while decoding (ub_budget_hold). */
static int run_decoder(lua_State *L, lua_CFunction body_fn, const char *body, size_t len,
                       char *err, size_t errlen) {
  decoder *d = calloc(1, sizeof *d);
  if (!d) return snprintf(err, errlen, "out of memory decoding an answer"), -1;
  d->L = L;
  json_reader_init(&d->r, body, len, 64);
  if (!lua_checkstack(L, 4)) {
    free_decoder(d);
    return luaL_error(L, "stack overflow decoding a Dynatrace answer");
  }
  lua_pushcfunction(L, body_fn);
  lua_pushlightuserdata(L, d);
  ub_budget_hold(L, free_decoder, d);
  int status = lua_pcall(L, 1, 1, 0);
  ub_budget_release(L, d);
  int failed = d->failed;
  if (failed) snprintf(err, errlen, "%s", d->err);
  free_decoder(d);
  if (status != LUA_OK) lua_error(L);              /* memory error or kill */
  if (failed) {
    lua_pop(L, 1);
    return -1;
  }
  return 0;
}

int dt_decode_metrics(lua_State *L, const char *body, size_t len, char *err, size_t errlen) {
  return run_decoder(L, metrics_body, body, len, err, errlen);
}

int dt_decode_timeseries(lua_State *L, const char *body, size_t len, char *err, size_t errlen) {
  return run_decoder(L, timeseries_body, body, len, err, errlen);
}

int dt_decode_json(lua_State *L, const char *body, size_t len, char *err, size_t errlen) {
  return json_decode_lua(L, body, len, 64, err, errlen) == 0 ? 0 : -1;
}
