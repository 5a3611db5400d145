/* ltext.h: the unbreakable.text Lua module: the host's terminal-text
 * sanitiser (util/text.h) for Lua code, so that the text report cleans a
 * policy's strings with the same rules as every other output. */
#ifndef UB_LTEXT_H
#define UB_LTEXT_H

#include <lua.h>

int luaopen_unbreakable_text(lua_State *L);

#endif
