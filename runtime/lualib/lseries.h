/* lseries.h: the series userdata and the Lua module unbreakable.stats.
 *
 * A series is one userdata: the ub_series header, the values and the
 * optional timestamps in a single block from the Lua allocator (so a
 * sandbox's memory cap counts every byte), labels as user values (Lua
 * strings). There is no __gc and no malloc'd memory behind it. Series are
 * read-only from Lua; host code fills them right after creating them. */
#ifndef UB_LSERIES_H
#define UB_LSERIES_H

#include <stddef.h>
#include <lua.h>

#include "kernels/series.h"

/* Metatable name in the registry. */
#define UB_SERIES_MT "unbreakable.series"

/* Opens the module: returns the table with series(), merge(), the kernels,
 * mannwhitney() and missing. See docs/stats.md. */
int luaopen_unbreakable_stats(lua_State *L);

/* Pushes a new series of n points (values NaN = missing, timestamps 0)
 * and returns it for the caller to fill. Raises a Lua error when memory
 * runs out or n is too large, like any Lua allocation. */
ub_series *ub_lua_newseries(lua_State *L, size_t n, int with_timestamps);
/* The series at idx, or a Lua argument error. */
ub_series *ub_lua_checkseries(lua_State *L, int idx);
/* The series at idx, or NULL if the value is not a series. */
ub_series *ub_lua_toseries(lua_State *L, int idx);
/* Sets the labels of the series at idx; each string is copied into memory
 * owned by the series; NULL leaves that label unset (nil). */
void ub_lua_series_setlabels(lua_State *L, int idx, const char *entity,
                             const char *metric, const char *unit);

#endif
