/* dt_calls.h: the read calls of unbreakable.dynatrace: their names, how
 * their Lua arguments become a request target, and how each pages. */
#ifndef UB_DT_CALLS_H
#define UB_DT_CALLS_H

#include <lua.h>

typedef enum dt_kind {
  DT_TIMESERIES = 0, DT_METRICS, DT_DESCRIPTOR, DT_ENTITIES_V1, DT_ENTITIES,
  DT_EVENTS_V1, DT_EVENTS, DT_PROBLEM, DT_PROBLEMS, DT_SLO, DT_KIND_COUNT
} dt_kind;

typedef struct dt_call {
  dt_kind kind;
  char *target;          /* first request, NULL when the arguments are wrong */
  char err[300];         /* why the arguments are wrong */
} dt_call;

/* "timeseries", "metrics", "metric_descriptor", ...; -1 if unknown. */
int dt_kind_from_name(const char *name);
const char *dt_kind_name(dt_kind kind);
/* 1 when the call's first argument is an id, selector or kind; 0 when it
 * takes only an options table. */
int dt_kind_takes_arg(dt_kind kind);

/* Builds c->target from the call's first argument at arg and its options
 * table at opts (0 or a nil value = none), reading tables with raw
 * access only. On a wrong argument c->err explains it. Never raises
 * except on memory errors. */
void dt_call_parse(lua_State *L, dt_kind kind, int arg, int opts, dt_call *c);

/* Paging: the field of a decoded page that holds the next key (NULL when
 * the call does not page) and the target that asks for the next page. */
const char *dt_page_key_field(dt_kind kind);
char *dt_next_page_target(dt_kind kind, const char *key);
/* The field whose array is concatenated across pages (NULL: none). */
const char *dt_page_items_field(dt_kind kind);

#endif
