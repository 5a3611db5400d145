/* lua_table.c: helpers on Lua tables (lua_table.h). */
#include "util/lua_table.h"

void ub_copy_fields(lua_State *L, int from, int to) {
  lua_pushnil(L);
  while (lua_next(L, from)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, to);
  }
}
