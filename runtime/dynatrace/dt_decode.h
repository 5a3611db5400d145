/* dt_decode.h: decodes Dynatrace answers into Lua values. Metrics v2 and
 * Timeseries v1 bodies stream straight into series userdata (no Lua
 * table per data point); every other body becomes plain Lua tables.
 *
 * Each decoder pushes exactly one value and returns 0, or pushes nothing
 * and returns -1 with err set ("line L, column C (offset N): ..." or a missing field) when
 * the body is not the expected document: a malformed or truncated body
 * is an error, never an empty result. Memory errors and sandbox kills are
 * raised as Lua errors after every C buffer has been freed. */
#ifndef UB_DT_DECODE_H
#define UB_DT_DECODE_H

#include <stddef.h>
#include <lua.h>

/* Metrics v2 /api/v2/metrics/query page:
 *   { total_count, next_page_key (string or nil), resolution, warnings = {...},
 *     result = { { metric_id, warnings = {...},
 *                  data = { { dimensions = {...}, dimension_map = {...},
 *                             series = <series with timestamps> } } } } } */
int dt_decode_metrics(lua_State *L, const char *body, size_t len, char *err, size_t errlen);

/* Timeseries v1 /api/v1/timeseries/{id} (dataResult or result shape):
 *   { timeseries_id, unit, aggregation, resolution_ms, shape = "dataResult"|"result",
 *     entities = {[id] = name}, order = {ids in dataPoints key order},
 *     series = {[id] = <series with timestamps>} } */
int dt_decode_timeseries(lua_State *L, const char *body, size_t len, char *err, size_t errlen);

/* Any other body: json_decode_lua with a depth limit. */
int dt_decode_json(lua_State *L, const char *body, size_t len, char *err, size_t errlen);

#endif
