/* budget.h: the one way code outside the sandbox's own files asks the
 * evaluation that called it for budget: the JSON encoder and decoders, the
 * Dynatrace decoder, the native modules and the pattern matcher. Each
 * function takes the lua_State the code runs in and does nothing in a
 * lua_State that is not a sandbox's (plain Lua, busted, the tools), so the
 * same code serves both. The sandbox (sandbox.c) implements it. */
#ifndef UB_BUDGET_H
#define UB_BUDGET_H

#include <stddef.h>
#include <lua.h>

/* Call every few thousand steps of work: raises the evaluation's kill
 * error (which no policy can catch) when a limit is exhausted; returns
 * otherwise. */
void ub_budget_check(lua_State *L);

/* The same check as a value, for code that takes its budget function as
 * an argument (the pattern matcher, whose tests count the calls). Raises
 * to stop the work, or returns to let it go on. */
typedef void (*ub_budget_fn)(lua_State *L);

/* For work that holds C memory built from policy values (JSON text): 0
 * while the evaluation is within its limits with held_bytes counted as
 * memory it uses, and its clock and instructions left; otherwise marks the
 * kill and returns -1 without raising, so that the caller can free what it
 * holds and fail (the sandbox then reports the limit). */
int ub_budget_charge(lua_State *L, size_t held_bytes);

/* Brackets code that holds a C resource (malloc'ed buffers, a parser's
 * state) while it calls into Lua. The sandbox's hard stop abandons a
 * lua_State stuck in Lua's own C code past the deadline (sb_stop.c) and
 * never returns into the code that called Lua: it then calls
 * release(resource) for every open bracket, innermost first. So resource
 * must live on the heap (never on the stack), and be whole whenever the
 * code calls into Lua. A NULL release marks a bracket whose resources the
 * sandbox cannot free: the hard stop then waits until it closes, and the
 * collector runs no step inside it (only an emergency collection when the
 * memory limit is reached). The
 * bracketed code must not let a Lua error escape before
 * ub_budget_release: bracket a lua_pcall, not code that may raise. */
typedef void (*ub_release_fn)(void *resource);
void ub_budget_hold(lua_State *L, ub_release_fn release, void *resource);
void ub_budget_release(lua_State *L, void *resource);

#endif
