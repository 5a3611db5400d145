/* budget_fixture.h: a test budget for the bounded string and table
 * functions (sb_strlib_install_with): counts its calls in the registry and
 * raises "budget exceeded" past the registry's limit (0: no limit). Shared
 * by test_pattern.c and test_sb_strlib.c. */
#ifndef UB_TEST_BUDGET_FIXTURE_H
#define UB_TEST_BUDGET_FIXTURE_H

#include <lauxlib.h>
#include <lua.h>

static void test_budget(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, "test_budget_calls");
  lua_Integer calls = lua_tointeger(L, -1) + 1;
  lua_pop(L, 1);
  lua_pushinteger(L, calls);
  lua_setfield(L, LUA_REGISTRYINDEX, "test_budget_calls");
  lua_getfield(L, LUA_REGISTRYINDEX, "test_budget_limit");
  lua_Integer limit = lua_tointeger(L, -1);
  lua_pop(L, 1);
  if (limit > 0 && calls > limit) luaL_error(L, "budget exceeded");
}

static void set_budget_limit(lua_State *L, lua_Integer limit) {
  lua_pushinteger(L, limit);
  lua_setfield(L, LUA_REGISTRYINDEX, "test_budget_limit");
  lua_pushinteger(L, 0);
  lua_setfield(L, LUA_REGISTRYINDEX, "test_budget_calls");
}

static lua_Integer budget_calls(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, "test_budget_calls");
  lua_Integer calls = lua_tointeger(L, -1);
  lua_pop(L, 1);
  return calls;
}

#endif
