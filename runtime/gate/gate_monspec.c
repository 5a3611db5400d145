/* gate_monspec.c: decodes the monspec once with the stdlib's decoder in a
 * private Lua state (kept across gates by serve's workers), answers its
 * "policy" key, and copies the document into the policy's sandbox (see
 * gate_monspec.h). */
#include "gate/gate_monspec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lualib/ljson.h"

/* A Lua state holding the stdlib's decoder, kept by a long-running caller
 * so that pyjson is compiled once; each document lives in its registry.
 * The last text decoded and its document are kept too: serve's gates
 * decode the same reviewed monspec over and over, and a document is only
 * ever copied out (ub_monspec_push), never changed. */
struct ub_monspec_decoder {
  lua_State *L;
  int decode_ref;      /* pyjson.decode */
  char *last_text;     /* the last text decoded, or NULL */
  size_t last_len;
  int last_ref;        /* its document */
  char *last_policy;   /* its "policy" string, or NULL */
};

struct ub_monspec_doc {
  ub_monspec_decoder *dec;
  int owns_dec;        /* decoded by ub_monspec_decode: the decoder is the doc's */
  int ref;             /* the document in dec->L's registry */
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

/* Runs in protected mode: loads pyjson from path (argument 1) and leaves
 * its decode function on the stack. */
static int load_decoder(lua_State *L) {
  const char *path = lua_tostring(L, 1);
  if (luaL_loadfile(L, path) != LUA_OK) return lua_error(L);
  lua_call(L, 0, 1);
  lua_getfield(L, -1, "decode");
  if (!lua_isfunction(L, -1)) return luaL_error(L, "%s has no decode function", path);
  return 1;
}

ub_monspec_decoder *ub_monspec_decoder_new(const char *stdlib_dir, char *err, size_t errlen) {
  char path[4096];
  ub_monspec_decoder *dec = calloc(1, sizeof *dec);
  if (!dec || !(dec->L = luaL_newstate())) {
    snprintf(err, errlen, "out of memory decoding the monspec");
    free(dec);
    return NULL;
  }
  open_libs(dec->L);
  snprintf(path, sizeof path, "%s/unbreakable/monspec/pyjson.lua", stdlib_dir);
  lua_pushcfunction(dec->L, load_decoder);
  lua_pushstring(dec->L, path);
  if (lua_pcall(dec->L, 1, 1, 0) != LUA_OK) {
    snprintf(err, errlen, "cannot decode the monspec with %s: %s", path, lua_tostring(dec->L, -1));
    ub_monspec_decoder_free(dec);
    return NULL;
  }
  dec->decode_ref = luaL_ref(dec->L, LUA_REGISTRYINDEX);
  dec->last_ref = LUA_NOREF;
  return dec;
}

static void forget_last(ub_monspec_decoder *dec) {
  luaL_unref(dec->L, LUA_REGISTRYINDEX, dec->last_ref);
  dec->last_ref = LUA_NOREF;
  free(dec->last_text);
  free(dec->last_policy);
  dec->last_text = dec->last_policy = NULL;
}

void ub_monspec_decoder_free(ub_monspec_decoder *dec) {
  if (!dec) return;
  forget_last(dec);
  lua_close(dec->L);
  free(dec);
}

/* Makes d's document (already in the registry) the decoder's last one;
 * without memory for the copy of text, there is simply no last one. */
static void remember_last(ub_monspec_decoder *dec, const ub_monspec_doc *d, const char *text,
                          size_t len) {
  forget_last(dec);
  dec->last_text = malloc(len ? len : 1);
  dec->last_policy = d->policy ? strdup(d->policy) : NULL;
  if (!dec->last_text || (d->policy && !dec->last_policy)) {
    forget_last(dec);
    return;
  }
  memcpy(dec->last_text, text, len);
  dec->last_len = len;
  lua_rawgeti(dec->L, LUA_REGISTRYINDEX, d->ref);
  dec->last_ref = luaL_ref(dec->L, LUA_REGISTRYINDEX);
}

/* The last document again when text is the last text: 1, or 0 when it is
 * not (or on a memory error, which decoding afresh will report). */
static int reuse_last(ub_monspec_doc *d, const char *text, size_t len) {
  ub_monspec_decoder *dec = d->dec;
  if (!dec->last_text || dec->last_len != len || memcmp(dec->last_text, text, len) != 0) return 0;
  if (dec->last_policy && !(d->policy = strdup(dec->last_policy))) return 0;
  lua_settop(dec->L, 0);
  lua_rawgeti(dec->L, LUA_REGISTRYINDEX, dec->last_ref);
  d->ref = luaL_ref(dec->L, LUA_REGISTRYINDEX);
  return d->ref != LUA_NOREF && d->ref != LUA_REFNIL;
}

/* A JSON object as the decoder builds it: a table with its key order. */
static int is_object(lua_State *L, int idx) {
  if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx)) return 0;
  int ordered = lua_getfield(L, -1, "__jsonorder") == LUA_TTABLE;
  lua_pop(L, 2);
  return ordered;
}

/* Decodes text on dec's stack (left empty again): the document goes to
 * the registry (d->ref) and its "policy" string to d->policy. Returns 0,
 * or -1 with err set and *invalid as ub_monspec_decode says. */
static int decode_into(ub_monspec_doc *d, const char *text, size_t len, int *invalid, char *err,
                       size_t errlen) {
  lua_State *L = d->dec->L;
  lua_settop(L, 0); /* whatever a copy that raised left behind */
  lua_rawgeti(L, LUA_REGISTRYINDEX, d->dec->decode_ref);
  lua_pushlstring(L, text, len);
  if (lua_pcall(L, 1, 2, 0) != LUA_OK) {
    snprintf(err, errlen, "cannot decode the monspec: %s", lua_tostring(L, -1));
    lua_settop(L, 0);
    return -1;
  }
  if (lua_isnil(L, -2)) {           /* not JSON (a duplicate key included) */
    *invalid = 1;
    snprintf(err, errlen, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "not JSON");
    lua_settop(L, 0);
    return -1;
  }
  lua_pop(L, 1);
  if (!is_object(L, -1)) {
    *invalid = 1;
    snprintf(err, errlen, "the top level must be a JSON object");
    lua_settop(L, 0);
    return -1;
  }
  lua_pushliteral(L, "policy");
  if (lua_rawget(L, -2) == LUA_TSTRING && !(d->policy = strdup(lua_tostring(L, -1)))) {
    snprintf(err, errlen, "out of memory decoding the monspec");
    lua_settop(L, 0);
    return -1;
  }
  lua_pop(L, 1);
  d->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_settop(L, 0);
  return d->ref == LUA_NOREF || d->ref == LUA_REFNIL ? -1 : 0;
}

/* Decodes text with dec; remember: keep it as the decoder's last text
 * (not for a decoder that decodes only this one). */
static ub_monspec_doc *decode_doc(ub_monspec_decoder *dec, const char *text, size_t len,
                                  int remember, int *invalid, char *err, size_t errlen) {
  *invalid = 0;
  ub_monspec_doc *d = calloc(1, sizeof *d);
  if (!d) {
    snprintf(err, errlen, "out of memory decoding the monspec");
    return NULL;
  }
  d->dec = dec;
  d->ref = LUA_NOREF;
  if (reuse_last(d, text, len)) return d;
  free(d->policy);
  d->policy = NULL;
  if (decode_into(d, text, len, invalid, err, errlen) != 0) {
    ub_monspec_free(d);
    return NULL;
  }
  if (remember) remember_last(dec, d, text, len);
  return d;
}

ub_monspec_doc *ub_monspec_decode_with(ub_monspec_decoder *dec, const char *text, size_t len,
                                       int *invalid, char *err, size_t errlen) {
  return decode_doc(dec, text, len, 1, invalid, err, errlen);
}

ub_monspec_doc *ub_monspec_decode(const char *stdlib_dir, const char *text, size_t len,
                                  int *invalid, char *err, size_t errlen) {
  *invalid = 0;
  ub_monspec_decoder *dec = ub_monspec_decoder_new(stdlib_dir, err, errlen);
  if (!dec) return NULL;
  ub_monspec_doc *d = decode_doc(dec, text, len, 0, invalid, err, errlen);
  if (!d) {
    ub_monspec_decoder_free(dec);
    return NULL;
  }
  d->owns_dec = 1;
  return d;
}

void ub_monspec_free(ub_monspec_doc *d) {
  if (!d) return;
  if (d->owns_dec) ub_monspec_decoder_free(d->dec);
  else if (d->dec) luaL_unref(d->dec->L, LUA_REGISTRYINDEX, d->ref);
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
  lua_State *from = d->dec->L;
  lua_settop(from, 0); /* a copy that raised in L left its values here */
  lua_rawgeti(from, LUA_REGISTRYINDEX, d->ref);
  copy_value(from, -1, L, 0);
  lua_settop(from, 0);
}
