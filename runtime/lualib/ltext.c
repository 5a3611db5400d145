/* ltext.c: unbreakable.text.line(s): s (any value, through tostring) as
 * one terminal-safe line (util/text.h). The result is built in a Lua
 * buffer, so it is charged to the sandbox's memory like any string. */
#include "lualib/ltext.h"

#include <lauxlib.h>

#include "util/text.h"

static int l_line(lua_State *L) {
  size_t len;
  const char *s = luaL_tolstring(L, 1, &len);
  luaL_Buffer b;
  char *dst = luaL_buffinitsize(L, &b, len ? len : 1);
  luaL_pushresultsize(&b, ub_text_clean(dst, s, len));
  return 1;
}

int luaopen_unbreakable_text(lua_State *L) {
  static const luaL_Reg funcs[] = {{"line", l_line}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  return 1;
}
