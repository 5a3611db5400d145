/* gate_monspec.c: decodes the monspec once with the stdlib's decoder in a
 * private Lua state, answers its "policy" key, and copies the document into
 * the policy's sandbox (see gate_monspec.h). */
#include "gate/gate_monspec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lualib/ljson.h"

struct ub_monspec_doc {
  lua_State *L;        /* holds the document at index 1 */
  char *policy;        /* top-level "policy" string or NULL */
};

#define MAX_DEPTH 250  /* the decoder stops at 200 */

static void open_libs(lua_State *L) {
  static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base}, {LUA_LOADLIBNAME, luaopen_package},
                                  {LUA_STRLIBNAME, luaopen_string}, {LUA_TABLIBNAME, luaopen_table},
                                  {LUA_MATHLIBNAME, luaopen_math}, {LUA_UTF8LIBNAME, luaopen_utf8},
                                  {NULL, NULL}};
  for (const luaL_Reg *l = libs; l->name; l++) {
    luaL_requiref(L, l->name, l->func, 1);
    lua_pop(L, 1);
  }
  /* the decoder marks null with unbreakable.json's null, as in the sandbox */
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_unbreakable_json);
  lua_setfield(L, -2, "unbreakable.json");
  lua_pop(L, 1);
}

/* Runs in protected mode: loads pyjson from the stdlib and decodes.
 * Leaves the document (or nil, message) on the stack. */
static int decode(lua_State *L) {
  const char *path = lua_tostring(L, 1);
  size_t len;
  const char *text = lua_tolstring(L, 2, &len);
  if (luaL_loadfile(L, path) != LUA_OK) return lua_error(L);
  lua_call(L, 0, 1);
  lua_getfield(L, -1, "decode");
  lua_pushlstring(L, text, len);
  lua_call(L, 1, 2);
  return 2;
}

/* A JSON object as the decoder builds it: a table with its key order. */
static int is_object(lua_State *L, int idx) {
  if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx)) return 0;
  int ordered = lua_getfield(L, -1, "__jsonorder") == LUA_TTABLE;
  lua_pop(L, 2);
  return ordered;
}

ub_monspec_doc *ub_monspec_decode(const char *stdlib_dir, const char *text, size_t len,
                                  int *invalid, char *err, size_t errlen) {
  char path[4096];
  *invalid = 0;
  ub_monspec_doc *d = calloc(1, sizeof *d);
  if (!d || !(d->L = luaL_newstate())) {
    snprintf(err, errlen, "out of memory decoding the monspec");
    free(d);
    return NULL;
  }
  open_libs(d->L);
  snprintf(path, sizeof path, "%s/unbreakable/monspec/pyjson.lua", stdlib_dir);
  lua_pushcfunction(d->L, decode);
  lua_pushstring(d->L, path);
  lua_pushlstring(d->L, text, len);
  if (lua_pcall(d->L, 2, 2, 0) != LUA_OK) {
    snprintf(err, errlen, "cannot decode the monspec with %s: %s", path, lua_tostring(d->L, -1));
    ub_monspec_free(d);
    return NULL;
  }
  if (lua_isnil(d->L, -2)) {         /* not JSON (a duplicate key included) */
    *invalid = 1;
    snprintf(err, errlen, "%s", lua_tostring(d->L, -1) ? lua_tostring(d->L, -1) : "not JSON");
    ub_monspec_free(d);
    return NULL;
  }
  lua_pop(d->L, 1);
  if (!is_object(d->L, -1)) {
    *invalid = 1;
    snprintf(err, errlen, "the top level must be a JSON object");
    ub_monspec_free(d);
    return NULL;
  }
  lua_pushliteral(d->L, "policy");
  if (lua_rawget(d->L, -2) == LUA_TSTRING && !(d->policy = strdup(lua_tostring(d->L, -1)))) {
    snprintf(err, errlen, "out of memory decoding the monspec");
    ub_monspec_free(d);
    return NULL;
  }
  lua_pop(d->L, 1);
  return d;
}

void ub_monspec_free(ub_monspec_doc *d) {
  if (!d) return;
  if (d->L) lua_close(d->L);
  free(d->policy);
  free(d);
}

const char *ub_monspec_policy(const ub_monspec_doc *d) { return d ? d->policy : NULL; }

static void copy_value(lua_State *from, int idx, lua_State *to, int depth);

/* The decoder's marks: __jsonorder (list of keys) and __jsontype. */
static void copy_metatable(lua_State *from, int idx, lua_State *to, int depth) {
  if (!lua_getmetatable(from, idx)) return;
  int mt = lua_gettop(from);
  lua_createtable(to, 0, 2);
  static const char *const keys[] = {"__jsonorder", "__jsontype"};
  for (int i = 0; i < 2; i++) {
    if (lua_getfield(from, mt, keys[i]) != LUA_TNIL) {
      copy_value(from, lua_gettop(from), to, depth + 1);
      lua_setfield(to, -2, keys[i]);
    }
    lua_pop(from, 1);
  }
  lua_setmetatable(to, -2);
  lua_pop(from, 1);
}

static void copy_value(lua_State *from, int idx, lua_State *to, int depth) {
  if (depth > MAX_DEPTH || !lua_checkstack(to, 8) || !lua_checkstack(from, 8))
    luaL_error(to, "the monspec is nested too deeply");
  idx = lua_absindex(from, idx);
  switch (lua_type(from, idx)) {
    case LUA_TSTRING: {
      size_t len;
      const char *s = lua_tolstring(from, idx, &len);
      lua_pushlstring(to, s, len);
      break;
    }
    case LUA_TNUMBER:
      if (lua_isinteger(from, idx)) lua_pushinteger(to, lua_tointeger(from, idx));
      else lua_pushnumber(to, lua_tonumber(from, idx));
      break;
    case LUA_TBOOLEAN: lua_pushboolean(to, lua_toboolean(from, idx)); break;
    case LUA_TLIGHTUSERDATA: lua_pushlightuserdata(to, lua_touserdata(from, idx)); break;
    case LUA_TTABLE:
      lua_createtable(to, (int)lua_rawlen(from, idx), 0);
      lua_pushnil(from);
      while (lua_next(from, idx)) {
        copy_value(from, -2, to, depth + 1);
        copy_value(from, -1, to, depth + 1);
        lua_rawset(to, -3);
        lua_pop(from, 1);
      }
      copy_metatable(from, idx, to, depth);
      break;
    default:
      luaL_error(to, "the decoded monspec holds a %s", luaL_typename(from, idx));
  }
}

void ub_monspec_push(lua_State *L, const ub_monspec_doc *d) {
  copy_value(d->L, -1, L, 0);
}
