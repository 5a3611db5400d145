/* lua_table.h: helpers on Lua tables shared by the sandbox and the native
 * modules (plain Lua C API, no budget: callers bound what they copy). */
#ifndef UB_LUA_TABLE_H
#define UB_LUA_TABLE_H

#include <lua.h>

/* Raw-copies every field of the table at index from into the table at
 * index to (both absolute indices); the stack is left as it was. */
void ub_copy_fields(lua_State *L, int from, int to);

#endif
