/* sb_strlib.h: budgeted replacements for the string and table library
 * functions that would otherwise loop in C beyond the sandbox's reach
 * (docs/reference/sandbox.md fact 4): string.find, match, gmatch, gsub, rep and
 * table.concat, insert, move, remove, sort. Same results and error
 * messages as stock Lua 5.4 for valid input; each calls a budget function
 * every ~1000 steps of work. */
#ifndef UB_SB_STRLIB_H
#define UB_SB_STRLIB_H

#include <lua.h>

#include "sandbox/lpattern.h"

/* Overwrites find, match, gmatch, gsub and rep in the table at
 * string_index and concat, insert, move, remove and sort in the table at
 * table_index (either index may be 0 to skip that library). The functions
 * call ub_budget_check() (sandbox/budget.h), which does nothing outside a
 * sandbox. */
void sb_strlib_install(lua_State *L, int string_index, int table_index);

/* Same with another budget function (tests, other hosts). */
void sb_strlib_install_with(lua_State *L, int string_index, int table_index,
                            ub_budget_fn budget);

/* For the table functions (sb_tablib.c): registers concat, insert, move,
 * remove and sort into the table at table_index as closures over the
 * budget box at the top of the stack (left there). */
void sb_tablib_register(lua_State *L, int table_index);

/* The budget function of the running replacement (its upvalue 1). */
ub_budget_fn sb_upvalue_budget(lua_State *L);

#endif
