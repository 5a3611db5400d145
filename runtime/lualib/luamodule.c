/* luamodule.c: the Lua C module build/lua/unbreakable.so, so that plain
 * lua5.4 (busted specs, tools) can require the native modules:
 * require "unbreakable.stats" finds luaopen_unbreakable_stats here through
 * Lua's all-in-one loader. It links the same host library as the CLI. */
#include <lua.h>

#include "lualib/ldynatrace.h"
#include "lualib/ljson.h"
#include "lualib/lseries.h"
#include "lualib/ltext.h"
#include "lualib/yaml_lua.h"

/* The openers are exported by name; referencing them here pulls them (and
 * what they use) out of the static host library into the module. */
int luaopen_unbreakable(lua_State *L) {
  static const struct { const char *name; lua_CFunction open; } mods[] = {
    {"json", luaopen_unbreakable_json},
    {"stats", luaopen_unbreakable_stats},
    {"yaml", luaopen_unbreakable_yaml},
    {"text", luaopen_unbreakable_text},
    {"dynatrace", luaopen_unbreakable_dynatrace},
  };
  lua_newtable(L);
  for (size_t i = 0; i < sizeof mods / sizeof mods[0]; i++) {
    lua_pushcfunction(L, mods[i].open);
    lua_setfield(L, -2, mods[i].name);
  }
  return 1;
}
