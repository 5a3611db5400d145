/* ljson.h: the unbreakable.json Lua module. */
#ifndef UB_LJSON_H
#define UB_LJSON_H

#include <lua.h>

int luaopen_unbreakable_json(lua_State *L);

#endif
