/* luamodule.c: the Lua C module build/lua/unbreakable.so, so that plain
 * lua5.4 (busted specs, tools) can require the native modules:
 * require "unbreakable.json" finds luaopen_unbreakable_json here through
 * Lua's all-in-one loader. It links the same host library as the CLI. */
#include <lua.h>

#include "ljson.h"

/* The functions are exported by name; this file only has to pull them in. */
int luaopen_unbreakable(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, luaopen_unbreakable_json);
  lua_setfield(L, -2, "json");
  return 1;
}
