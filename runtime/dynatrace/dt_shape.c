/* dt_shape.c: checks that a decoded Dynatrace answer has the documented
 * shape of its call (docs/dynatrace.md, "Errors"). A 200 whose body is
 * valid JSON but not the answer of the call (an error object, {}, a list
 * where an object belongs, an item without its id) is an error, never "no
 * data": an empty entity list would otherwise turn into a missing baseline
 * and a pass. Only the fields the product reads are required; unknown
 * fields are ignored, as the API asks. Raw accessors only. */
#include "dynatrace/dt_shape.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/json.h"

static int raw_type(lua_State *L, int t, const char *k) {
  lua_pushstring(L, k);
  int type = lua_rawget(L, t);
  lua_pop(L, 1);
  return type;
}

static int is_null(lua_State *L, int t, const char *k) {
  lua_pushstring(L, k);
  lua_rawget(L, t);
  int null = lua_touserdata(L, -1) == json_null();
  lua_pop(L, 1);
  return null;
}

/* First byte of the body that is not blank: '{' or '[' tells an object
 * from an array, which the decoded tables no longer do when empty. */
static char first_byte(const char *body, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (body[i] != ' ' && body[i] != '\t' && body[i] != '\n' && body[i] != '\r') return body[i];
  return '\0';
}

static int fail(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, n, fmt, ap);
  va_end(ap);
  return -1;
}

/* Optional field: absent, null or of the given type. */
static int optional(lua_State *L, int t, const char *k, int type, const char *what, char *why,
                    size_t n) {
  int got = raw_type(L, t, k);
  if (got == LUA_TNIL || got == type || is_null(L, t, k)) return 0;
  return fail(why, n, "\"%s\" must be %s", k, what);
}

static int required(lua_State *L, int t, const char *k, int type, const char *what, char *why,
                    size_t n) {
  if (raw_type(L, t, k) == type) return 0;
  return fail(why, n, "the answer has no \"%s\" %s", k, what);
}

/* A decoded JSON array: keys 1..n, or the marker of an empty array (an
 * object, even an empty one, has neither). */
static int is_array(lua_State *L, int t) {
  if (lua_getmetatable(L, t)) {
    lua_pop(L, 1);
    return 1;
  }
  lua_Integer count = 0;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    count++;
  }
  return count > 0 && (size_t)count == lua_rawlen(L, t);
}

/* An array, or an empty table (no member at all). */
static int array_or_empty(lua_State *L, int t) {
  if (is_array(L, t)) return 1;
  lua_pushnil(L);
  if (lua_next(L, t)) {
    lua_pop(L, 2);
    return 0;
  }
  return 1;
}

/* Every value of the table at t is an array of strings. */
static int lists_of_strings(lua_State *L, int t) {
  lua_pushnil(L);
  while (lua_next(L, t)) {                   /* key at -2, value at -1 */
    int list = lua_gettop(L);
    int ok = lua_type(L, list) == LUA_TTABLE && array_or_empty(L, list);
    lua_Integer len = ok ? (lua_Integer)lua_rawlen(L, list) : 0;
    for (lua_Integer i = 1; ok && i <= len; i++) {
      ok = lua_rawgeti(L, list, i) == LUA_TSTRING;
      lua_pop(L, 1);
    }
    lua_pop(L, 1);                           /* the value; the key stays for lua_next */
    if (!ok) {
      lua_pop(L, 1);
      return 0;
    }
  }
  return 1;
}

/* The members of an entity the product reads (display names for method
 * look-ups, relations for smartscape counts) have their documented types:
 * a relation list that is not a list would count as no relation at all. */
static int check_entity(lua_State *L, int e, const char *name, char *why, size_t n) {
  static const char *const relations[] = {"fromRelationships", "toRelationships", NULL};
  if (optional(L, e, "displayName", LUA_TSTRING, "a string or null", why, n)) goto bad;
  if (optional(L, e, "type", LUA_TSTRING, "a string", why, n)) goto bad;
  int tags = raw_type(L, e, "tags");
  if (tags != LUA_TNIL) {
    lua_pushliteral(L, "tags");
    lua_rawget(L, e);
    int ok = tags == LUA_TTABLE && array_or_empty(L, lua_gettop(L));
    lua_pop(L, 1);
    if (!ok) { fail(why, n, "\"tags\" must be an array"); goto bad; }
  }
  for (int r = 0; relations[r]; r++) {
    int type = raw_type(L, e, relations[r]);
    if (type == LUA_TNIL) continue;
    lua_pushstring(L, relations[r]);
    lua_rawget(L, e);
    int ok = type == LUA_TTABLE && lists_of_strings(L, lua_gettop(L));
    lua_pop(L, 1);
    if (!ok) { fail(why, n, "\"%s\" must map relation names to arrays of entity ids", relations[r]); goto bad; }
  }
  return 0;
bad: {
    char detail[200];
    snprintf(detail, sizeof detail, "%s", why);
    snprintf(why, n, "%s: %s", name, detail);
    return -1;
  }
}

/* Each element of the array at arr is an object with a string id (and,
 * for entities, members of the documented types). */
static int check_items(lua_State *L, int arr, const char *name, const char *id, char *why,
                       size_t n) {
  lua_Integer len = (lua_Integer)lua_rawlen(L, arr);
  for (lua_Integer i = 1; i <= len; i++) {
    char idx[48];
    snprintf(idx, sizeof idx, "%s[%lld]", name, (long long)(i - 1));
    int type = lua_rawgeti(L, arr, i);
    int item = lua_gettop(L);
    int ok = type == LUA_TTABLE && raw_type(L, item, id) == LUA_TSTRING;
    if (!ok) {
      lua_pop(L, 1);
      return fail(why, n, "%s is not an object with a string \"%s\"", idx, id);
    }
    int rc = strcmp(id, "entityId") == 0 ? check_entity(L, item, idx, why, n) : 0;
    lua_pop(L, 1);
    if (rc) return -1;
  }
  return 0;
}

/* The error envelope {"error": {...}} (or any other "error" where the
 * call documents none) in a 200 answer. */
static int error_envelope(lua_State *L, int t, dt_kind kind, char *why, size_t n) {
  int type = raw_type(L, t, "error");
  if (type == LUA_TNIL) return 0;
  if (kind == DT_SLO && type == LUA_TSTRING) return 0;   /* the SLO's own "error": "NONE" */
  if (type == LUA_TTABLE) {
    lua_pushliteral(L, "error");
    lua_rawget(L, t);
    lua_pushliteral(L, "message");
    const char *msg = lua_rawget(L, -2) == LUA_TSTRING ? lua_tostring(L, -1) : "no message";
    snprintf(why, n, "a Dynatrace error object in a success answer (%.200s)", msg);
    lua_pop(L, 2);
    return -1;
  }
  return fail(why, n, "a Dynatrace error object in a success answer");
}

static int check_list_page(lua_State *L, int t, dt_kind kind, char *why, size_t n) {
  const char *items = kind == DT_ENTITIES ? "entities" : kind == DT_PROBLEMS ? "problems" : "events";
  const char *id = kind == DT_ENTITIES ? "entityId" : kind == DT_PROBLEMS ? "problemId" : NULL;
  const char *count = kind == DT_EVENTS_V1 ? "totalEventCount" : "totalCount";
  const char *next = kind == DT_EVENTS_V1 ? "nextCursor" : "nextPageKey";
  if (required(L, t, items, LUA_TTABLE, "array", why, n)) return -1;
  if (optional(L, t, count, LUA_TNUMBER, "a number", why, n)) return -1;
  if (optional(L, t, next, LUA_TSTRING, "a string or null", why, n)) return -1;
  lua_pushstring(L, items);
  lua_rawget(L, t);
  int rc = is_array(L, lua_gettop(L)) ? 0 : fail(why, n, "\"%s\" must be an array", items);
  if (rc == 0 && id) rc = check_items(L, lua_gettop(L), items, id, why, n);
  if (rc == 0 && !id) {                          /* events: objects, ids vary by version */
    lua_Integer len = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer i = 1; i <= len && rc == 0; i++) {
      if (lua_rawgeti(L, -1, i) != LUA_TTABLE) rc = fail(why, n, "\"%s\" must hold objects", items);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  return rc;
}

int dt_shape_check(lua_State *L, dt_kind kind, int idx, const char *body, size_t len, char *why,
                   size_t n) {
  idx = lua_absindex(L, idx);
  char first = first_byte(body, len);
  int want_array = kind == DT_ENTITIES_V1;
  if (!lua_istable(L, idx) || first != (want_array ? '[' : '{'))
    return fail(why, n, "expected a JSON %s", want_array ? "array" : "object");
  if (want_array) return check_items(L, idx, "the answer", "entityId", why, n);
  if (error_envelope(L, idx, kind, why, n)) return -1;
  switch (kind) {
    case DT_DESCRIPTOR:
      if (required(L, idx, "metricId", LUA_TSTRING, "string", why, n)) return -1;
      return optional(L, idx, "unit", LUA_TSTRING, "a string", why, n);
    case DT_PROBLEM:
      if (required(L, idx, "problemId", LUA_TSTRING, "string", why, n)) return -1;
      return optional(L, idx, "status", LUA_TSTRING, "a string", why, n);
    case DT_SLO:
      return required(L, idx, "id", LUA_TSTRING, "string", why, n);
    case DT_ENTITIES:
    case DT_EVENTS_V1:
    case DT_EVENTS:
    case DT_PROBLEMS:
      return check_list_page(L, idx, kind, why, n);
    default:
      return 0;                 /* metrics and timeseries: checked while streaming */
  }
}
