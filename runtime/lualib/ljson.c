/* ljson.c: the unbreakable.json module for policies: decode, encode and
 * the null marker, with no shared configuration a policy could change. */
#include "lualib/ljson.h"

#include <stdlib.h>

#include <lauxlib.h>

#include "sandbox/budget.h"
#include "util/buf.h"
#include "util/json.h"

#define MAX_DEPTH 200
#define MAX_INDENT 16

static int l_decode(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  char err[256];
  if (json_decode_lua(L, s, len, MAX_DEPTH, err, sizeof err) != 0)
    return luaL_error(L, "invalid JSON: %s", err);
  return 1;
}

typedef struct encode_job {
  const json_enc_opts *o;
  ub_buf *out;          /* on the heap: the sandbox's hard stop may free it */
  char err[256];
  int rc;
} encode_job;

static void free_text(void *buf) {
  ub_buf_free(buf);
  free(buf);
}

/* Runs protected: encodes argument 1 and pushes the text. */
static int encode_protected(lua_State *L) {
  encode_job *j = lua_touserdata(L, 2);
  j->rc = json_encode_lua(L, 1, j->o, j->out, j->err, sizeof j->err);
  if (j->rc != 0) return 0;
  lua_pushlstring(L, j->out->data ? j->out->data : "", j->out->len);
  return 1;
}

/* The text is built in a C buffer: a Lua error (memory, a sandbox kill)
 * that unwinds while it is live is caught, the buffer freed, the error
 * raised again; the sandbox's hard stop frees it (ub_budget_hold). */
static int encode_with(lua_State *L, const json_enc_opts *o) {
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  encode_job j = {.o = o, .out = malloc(sizeof(ub_buf))};
  if (!j.out) return luaL_error(L, "json.encode: out of memory");
  ub_buf_init(j.out);
  lua_pushcfunction(L, encode_protected);
  lua_insert(L, 1);
  lua_pushlightuserdata(L, &j);
  ub_budget_hold(L, free_text, j.out);
  int status = lua_pcall(L, 2, 1, 0);
  ub_budget_release(L, j.out);
  free_text(j.out);
  if (status != LUA_OK) return lua_error(L);
  if (j.rc != 0) return luaL_error(L, "cannot encode JSON: %s", j.err);
  return 1;
}

static int l_encode(lua_State *L) {
  json_enc_opts o = {0, 0, MAX_DEPTH, 1, NULL};
  if (lua_istable(L, 2)) {
    lua_getfield(L, 2, "indent");
    lua_Integer indent = luaL_optinteger(L, -1, 0);
    lua_pop(L, 1);
    if (indent < 0 || indent > MAX_INDENT)
      return luaL_error(L, "json.encode: indent must be 0 to %d", MAX_INDENT);
    o.indent = (int)indent;
  }
  return encode_with(L, &o);
}

/* Python json.dumps style: one line, ", " and ": ", floats with ".0",
 * non-ASCII escaped; keys follow __jsonorder when the table declares it. */
static int l_encode_py(lua_State *L) {
  json_enc_opts o = {0, 1, MAX_DEPTH, 1, NULL};
  return encode_with(L, &o);
}

/* json.array(t): marks t so that it encodes as [] even when empty. */
static int l_array(lua_State *L) {
  if (lua_isnoneornil(L, 1)) lua_newtable(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  if (lua_getmetatable(L, 1)) {
    lua_getfield(L, LUA_REGISTRYINDEX, "unbreakable.json.array");
    int marked = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    if (marked) return 1;
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
      return luaL_error(L, "json.array: cannot change a protected metatable");
  }
  json_mark_array(L, 1);
  return 1;
}

/* json.ordered(t, {"k1", "k2", ...}): t encodes its keys in this order. */
static int l_ordered(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TTABLE);
  if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
    return luaL_error(L, "json.ordered: cannot change a protected metatable");
  lua_settop(L, 2);
  lua_createtable(L, 0, 1);
  lua_pushvalue(L, 2);
  lua_setfield(L, -2, "__jsonorder");
  lua_setmetatable(L, 1);
  lua_settop(L, 1);
  return 1;
}

static int l_format_number(lua_State *L) {
  char out[32];
  if (lua_isinteger(L, 1)) {
    lua_pushfstring(L, "%I", lua_tointeger(L, 1));
    return 1;
  }
  lua_Number d = luaL_checknumber(L, 1);
  if (d != d || d - d != 0)
    return luaL_error(L, "json.format_number: %s is not a JSON number",
                      d != d ? "NaN" : "infinity");
  json_format_double(d, lua_toboolean(L, 2), out);
  lua_pushstring(L, out);
  return 1;
}

int luaopen_unbreakable_json(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"decode", l_decode},   {"encode", l_encode}, {"encode_py", l_encode_py},
    {"array", l_array},     {"ordered", l_ordered},
    {"format_number", l_format_number}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  lua_pushlightuserdata(L, json_null());
  lua_setfield(L, -2, "null");
  return 1;
}
