/* ldynatrace.h: the Lua module unbreakable.dynatrace (read-only
 * Dynatrace calls for policies; docs/dynatrace.md) and how the host
 * configures it. The token stays inside ub_dt_client: nothing the module
 * puts into Lua contains it. */
#ifndef UB_LDYNATRACE_H
#define UB_LDYNATRACE_H

#include <stdint.h>
#include <lua.h>

#include "dynatrace/dynatrace.h"
#include "dynatrace/recorder.h"

/* Gives the module in L its client and record (pointers kept in the
 * registry; the host keeps ownership and must outlive L's use of them).
 * client NULL + a replay record = offline replay; rec NULL = no record.
 * A module without a binding answers every call with ok=false. */
void ub_dt_bind(lua_State *L, ub_dt_client *client, ub_recorder *rec);

/* Deadline (monotonic ms, ub_clock_ms()) that every later batch must
 * finish by, e.g. the end of the policy evaluation; 0 = the client's own
 * timeout per batch. */
void ub_dt_set_deadline(lua_State *L, int64_t deadline_ms);

/* Most pages one call may follow (default 100); more is an error. */
void ub_dt_set_max_pages(lua_State *L, int max_pages);

int luaopen_unbreakable_dynatrace(lua_State *L);

#endif
