/* dt_shape.h: the documented shape of each read call's answer, checked
 * after decoding (dt_shape.c). */
#ifndef UB_DT_SHAPE_H
#define UB_DT_SHAPE_H

#include <stddef.h>
#include <lua.h>

#include "dynatrace/dt_calls.h"

/* 0 when the decoded answer at idx (body: its text) has the shape of the
 * call; -1 with why set otherwise. Metrics v2 and Timeseries v1 are
 * checked by their streaming decoders and pass here. */
int dt_shape_check(lua_State *L, dt_kind kind, int idx, const char *body, size_t len, char *why,
                   size_t n);

#endif
