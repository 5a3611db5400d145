/* dt_calls.c: one table per read call of unbreakable.dynatrace (path,
 * first argument, options and their query parameters, paging) and the
 * code that turns Lua arguments into a percent-encoded target. Unknown
 * options are errors so that a typo never silently widens a query. */
#include "dynatrace/dt_calls.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "dynatrace/dynatrace.h"

typedef enum opt_type {
  OPT_STR,       /* string */
  OPT_TIME,      /* integer Unix ms or a string such as "now-2h" */
  OPT_MS,        /* integer Unix ms */
  OPT_LIST,      /* array of strings: the parameter repeats */
  OPT_AGG,       /* v1 aggregation name */
  OPT_PCT,       /* integer 1..99 */
  OPT_COUNT,     /* positive integer */
  OPT_MODE,      /* "series" or "total" */
  OPT_FIXED      /* no option: the parameter always has `fixed` */
} opt_type;

typedef struct opt_spec {
  const char *name;      /* Lua option */
  const char *param;     /* query parameter */
  opt_type type;
  const char *fixed;
} opt_spec;

typedef enum arg_mode { ARG_NONE, ARG_SEGMENT, ARG_PARAM, ARG_ENTITY_KIND } arg_mode;

typedef struct call_spec {
  const char *name;
  const char *prefix;
  arg_mode arg;
  const char *arg_param;
  const opt_spec *opts;
  const char *page_key;      /* field of the decoded page */
  const char *page_param;    /* parameter carrying it */
  const char *items;         /* array concatenated across pages */
} call_spec;

static const opt_spec timeseries_opts[] = {
    {"from", "startTimestamp", OPT_MS, NULL}, {"to", "endTimestamp", OPT_MS, NULL},
    {"relative", "relativeTime", OPT_STR, NULL}, {"aggregation", "aggregationType", OPT_AGG, NULL},
    {"percentile", "percentile", OPT_PCT, NULL}, {"query_mode", "queryMode", OPT_MODE, NULL},
    {NULL, "includeData", OPT_FIXED, "true"}, {"entities", "entity", OPT_LIST, NULL},
    {"tags", "tag", OPT_LIST, NULL}, {NULL, NULL, OPT_STR, NULL}};
static const opt_spec metrics_opts[] = {
    {"entity_selector", "entitySelector", OPT_STR, NULL}, {"from", "from", OPT_TIME, NULL},
    {"to", "to", OPT_TIME, NULL}, {"resolution", "resolution", OPT_STR, NULL},
    {"mz_selector", "mzSelector", OPT_STR, NULL}, {NULL, NULL, OPT_STR, NULL}};
static const opt_spec no_opts[] = {{NULL, NULL, OPT_STR, NULL}};
static const opt_spec entities_v1_opts[] = {
    {"from", "startTimestamp", OPT_MS, NULL}, {"to", "endTimestamp", OPT_MS, NULL},
    {"relative", "relativeTime", OPT_STR, NULL}, {"entities", "entity", OPT_LIST, NULL},
    {"tags", "tag", OPT_LIST, NULL}, {NULL, NULL, OPT_STR, NULL}};
static const opt_spec entities_opts[] = {
    {"from", "from", OPT_TIME, NULL}, {"to", "to", OPT_TIME, NULL},
    {"fields", "fields", OPT_STR, NULL}, {"page_size", "pageSize", OPT_COUNT, NULL},
    {NULL, NULL, OPT_STR, NULL}};
static const opt_spec events_v1_opts[] = {
    {"from", "from", OPT_MS, NULL}, {"to", "to", OPT_MS, NULL},
    {"relative", "relativeTime", OPT_STR, NULL}, {"event_type", "eventType", OPT_STR, NULL},
    {"entity_id", "entityId", OPT_STR, NULL}, {NULL, NULL, OPT_STR, NULL}};
static const opt_spec events_opts[] = {
    {"event_selector", "eventSelector", OPT_STR, NULL},
    {"entity_selector", "entitySelector", OPT_STR, NULL}, {"from", "from", OPT_TIME, NULL},
    {"to", "to", OPT_TIME, NULL}, {"page_size", "pageSize", OPT_COUNT, NULL},
    {NULL, NULL, OPT_STR, NULL}};
static const opt_spec problem_opts[] = {{"fields", "fields", OPT_STR, NULL}, {NULL, NULL, OPT_STR, NULL}};
static const opt_spec problems_opts[] = {
    {"problem_selector", "problemSelector", OPT_STR, NULL},
    {"entity_selector", "entitySelector", OPT_STR, NULL}, {"from", "from", OPT_TIME, NULL},
    {"to", "to", OPT_TIME, NULL}, {"fields", "fields", OPT_STR, NULL},
    {"page_size", "pageSize", OPT_COUNT, NULL}, {NULL, NULL, OPT_STR, NULL}};
static const opt_spec slo_opts[] = {
    {"from", "from", OPT_TIME, NULL}, {"to", "to", OPT_TIME, NULL},
    {"time_frame", "timeFrame", OPT_STR, NULL}, {NULL, NULL, OPT_STR, NULL}};

static const call_spec specs[DT_KIND_COUNT] = {
    [DT_TIMESERIES] = {"timeseries", "/api/v1/timeseries/", ARG_SEGMENT, NULL, timeseries_opts, NULL, NULL, NULL},
    [DT_METRICS] = {"metrics", "/api/v2/metrics/query", ARG_PARAM, "metricSelector", metrics_opts,
                    "next_page_key", "nextPageKey", NULL},
    [DT_DESCRIPTOR] = {"metric_descriptor", "/api/v2/metrics/", ARG_SEGMENT, NULL, no_opts, NULL, NULL, NULL},
    [DT_ENTITIES_V1] = {"entities_v1", NULL, ARG_ENTITY_KIND, NULL, entities_v1_opts, NULL, NULL, NULL},
    [DT_ENTITIES] = {"entities", "/api/v2/entities", ARG_PARAM, "entitySelector", entities_opts,
                     "nextPageKey", "nextPageKey", "entities"},
    [DT_EVENTS_V1] = {"events_v1", "/api/v1/events", ARG_NONE, NULL, events_v1_opts, "nextCursor",
                      "cursor", "events"},
    [DT_EVENTS] = {"events", "/api/v2/events", ARG_NONE, NULL, events_opts, "nextPageKey",
                   "nextPageKey", "events"},
    [DT_PROBLEM] = {"problem", "/api/v2/problems/", ARG_SEGMENT, NULL, problem_opts, NULL, NULL, NULL},
    [DT_PROBLEMS] = {"problems", "/api/v2/problems", ARG_NONE, NULL, problems_opts, "nextPageKey",
                     "nextPageKey", "problems"},
    [DT_SLO] = {"slo", "/api/v2/slo/", ARG_SEGMENT, NULL, slo_opts, NULL, NULL, NULL},
};

static const struct { const char *name, *path; } entity_kinds[] = {
    {"applications", "/api/v1/entity/applications"}, {"APPLICATION", "/api/v1/entity/applications"},
    {"services", "/api/v1/entity/services"}, {"SERVICE", "/api/v1/entity/services"},
    {"hosts", "/api/v1/entity/infrastructure/hosts"}, {"HOST", "/api/v1/entity/infrastructure/hosts"},
    {"process-groups", "/api/v1/entity/infrastructure/process-groups"},
    {"PROCESS_GROUP", "/api/v1/entity/infrastructure/process-groups"},
    {"processes", "/api/v1/entity/infrastructure/processes"},
    {"PROCESS_GROUP_INSTANCE", "/api/v1/entity/infrastructure/processes"},
};

int dt_kind_from_name(const char *name) {
  for (int k = 0; k < DT_KIND_COUNT; k++)
    if (!strcmp(specs[k].name, name)) return k;
  return -1;
}

const char *dt_kind_name(dt_kind kind) { return specs[kind].name; }
int dt_kind_takes_arg(dt_kind kind) { return specs[kind].arg != ARG_NONE; }
const char *dt_page_key_field(dt_kind kind) { return specs[kind].page_key; }
const char *dt_page_items_field(dt_kind kind) { return specs[kind].items; }

char *dt_next_page_target(dt_kind kind, const char *key) {
  const call_spec *s = &specs[kind];
  if (!s->page_param) return NULL;
  ub_dt_target t;
  const char *prefix = s->prefix;
  ub_dt_target_init(&t, prefix, NULL);
  ub_dt_target_param(&t, s->page_param, key);
  return ub_dt_target_take(&t);
}

/* ---- argument reading --------------------------------------------- */

static int arg_error(dt_call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int arg_error(dt_call *c, const char *fmt, ...) {
  char msg[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  snprintf(c->err, sizeof c->err, "dt.%s: %s", specs[c->kind].name, msg);
  return -1;
}

/* Value of opts[name] pushed (raw access); returns its type. */
static int raw_field(lua_State *L, int opts, const char *name) {
  if (!opts) { lua_pushnil(L); return LUA_TNIL; }
  lua_pushstring(L, name);
  return lua_rawget(L, opts);
}

static const char *lower_in(const char *s, const char *const *allowed, char *buf, size_t len) {
  size_t n = strlen(s);
  if (n >= len) return NULL;
  for (size_t i = 0; i <= n; i++) buf[i] = (char)tolower((unsigned char)s[i]);
  for (; *allowed; allowed++)
    if (!strcmp(buf, *allowed)) return buf;
  return NULL;
}

static int add_list(lua_State *L, ub_dt_target *t, const opt_spec *o, dt_call *c) {
  if (!lua_istable(L, -1)) return arg_error(c, "option '%s' must be an array of strings", o->name);
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_rawgeti(L, -1, i) != LUA_TSTRING)
      return arg_error(c, "option '%s' must be an array of strings", o->name);
    ub_dt_target_param(t, o->param, lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  return 0;
}

static int add_time(lua_State *L, ub_dt_target *t, const opt_spec *o, dt_call *c) {
  char num[32];
  if (lua_isinteger(L, -1)) {
    snprintf(num, sizeof num, "%lld", (long long)lua_tointeger(L, -1));
    return ub_dt_target_param(t, o->param, num);
  }
  if (o->type == OPT_TIME && lua_type(L, -1) == LUA_TSTRING)
    return ub_dt_target_param(t, o->param, lua_tostring(L, -1));
  return arg_error(c, "option '%s' must be %s", o->name,
                   o->type == OPT_TIME ? "an integer (Unix ms) or a string such as \"now-2h\""
                                       : "an integer (Unix ms)");
}

static int add_enum(lua_State *L, ub_dt_target *t, const opt_spec *o, dt_call *c) {
  static const char *const aggs[] = {"avg", "sum", "min", "max", "median", "count", "percentile", NULL};
  static const char *const modes[] = {"series", "total", NULL};
  char buf[16];
  const char *v = lua_type(L, -1) == LUA_TSTRING
                      ? lower_in(lua_tostring(L, -1), o->type == OPT_AGG ? aggs : modes, buf, sizeof buf)
                      : NULL;
  if (!v) return arg_error(c, "option '%s' must be one of %s", o->name,
                           o->type == OPT_AGG ? "avg, sum, min, max, median, count, percentile"
                                              : "series, total");
  if (o->type == OPT_MODE)
    for (char *p = buf; *p; p++) *p = (char)toupper((unsigned char)*p);
  return ub_dt_target_param(t, o->param, v);
}

static int option_value(lua_State *L, ub_dt_target *t, const opt_spec *o, dt_call *c) {
  char num[32];
  switch (o->type) {
  case OPT_STR:
    if (lua_type(L, -1) != LUA_TSTRING) return arg_error(c, "option '%s' must be a string", o->name);
    return ub_dt_target_param(t, o->param, lua_tostring(L, -1));
  case OPT_TIME:
  case OPT_MS:
    return add_time(L, t, o, c);
  case OPT_LIST:
    return add_list(L, t, o, c);
  case OPT_AGG:
  case OPT_MODE:
    return add_enum(L, t, o, c);
  case OPT_PCT:
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > 99)
      return arg_error(c, "option '%s' must be an integer from 1 to 99", o->name);
    snprintf(num, sizeof num, "%lld", (long long)lua_tointeger(L, -1));
    return ub_dt_target_param(t, o->param, num);
  case OPT_COUNT:
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1)
      return arg_error(c, "option '%s' must be a positive integer", o->name);
    snprintf(num, sizeof num, "%lld", (long long)lua_tointeger(L, -1));
    return ub_dt_target_param(t, o->param, num);
  case OPT_FIXED:
    break;
  }
  return 0;
}

static int add_options(lua_State *L, ub_dt_target *t, int opts, dt_call *c) {
  for (const opt_spec *o = specs[c->kind].opts; o->param; o++) {
    if (o->type == OPT_FIXED) { ub_dt_target_param(t, o->param, o->fixed); continue; }
    int type = raw_field(L, opts, o->name);
    int rc = type == LUA_TNIL ? 0 : option_value(L, t, o, c);
    lua_pop(L, 1);
    if (rc) return -1;
  }
  return 0;
}

/* Every key of opts must be a known option. */
static int check_option_names(lua_State *L, int opts, dt_call *c) {
  if (!opts) return 0;
  lua_pushnil(L);
  while (lua_next(L, opts)) {
    int known = 0;
    if (lua_type(L, -2) == LUA_TSTRING)
      for (const opt_spec *o = specs[c->kind].opts; o->param; o++)
        known |= o->name && !strcmp(o->name, lua_tostring(L, -2));
    if (!known) {
      const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
      arg_error(c, "unknown option '%.60s'", name);
      lua_pop(L, 2);
      return -1;
    }
    lua_pop(L, 1);
  }
  return 0;
}

static const char *entity_kind_path(const char *kind) {
  for (size_t i = 0; i < sizeof entity_kinds / sizeof *entity_kinds; i++)
    if (!strcmp(entity_kinds[i].name, kind)) return entity_kinds[i].path;
  return NULL;
}

static int start_target(lua_State *L, int arg, ub_dt_target *t, dt_call *c) {
  const call_spec *s = &specs[c->kind];
  if (s->arg == ARG_NONE) return ub_dt_target_init(t, s->prefix, NULL);
  if (lua_type(L, arg) != LUA_TSTRING || lua_rawlen(L, arg) == 0)
    return arg_error(c, "the first argument must be a non-empty string");
  const char *a = lua_tostring(L, arg);
  /* "." and ".." would be resolved by the HTTP layer into another endpoint
   * of the tenant: a policy may only read what its call names. */
  if (s->arg == ARG_SEGMENT && (!strcmp(a, ".") || !strcmp(a, "..")))
    return arg_error(c, "'%s' is not an id", a);
  if (s->arg == ARG_SEGMENT) return ub_dt_target_init(t, s->prefix, a);
  if (s->arg == ARG_PARAM) {
    ub_dt_target_init(t, s->prefix, NULL);
    return ub_dt_target_param(t, s->arg_param, a);
  }
  const char *path = entity_kind_path(a);
  if (!path)
    return arg_error(c, "unknown entity kind '%.40s' (use applications, services, hosts, "
                        "process-groups, processes or an entity type such as SERVICE)", a);
  return ub_dt_target_init(t, path, NULL);
}

void dt_call_parse(lua_State *L, dt_kind kind, int arg, int opts, dt_call *c) {
  memset(c, 0, sizeof *c);
  c->kind = kind;
  luaL_checkstack(L, 6, "dt call");
  if (opts && lua_isnil(L, opts)) opts = 0;
  if (opts && !lua_istable(L, opts)) { arg_error(c, "options must be a table"); return; }
  if (check_option_names(L, opts, c)) return;
  ub_dt_target t;
  ub_buf_init(&t.buf);
  if (start_target(L, arg, &t, c) != 0 || add_options(L, &t, opts, c) != 0) {
    ub_buf_free(&t.buf);
    if (!c->err[0]) arg_error(c, "out of memory");
    return;
  }
  c->target = ub_dt_target_take(&t);
  if (!c->target) arg_error(c, "out of memory");
}
