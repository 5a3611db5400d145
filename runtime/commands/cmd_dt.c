/* cmd_dt.c: `unbreakable dt`: one read call against Dynatrace (or against
 * a recording), printed as JSON. It drives the same binding policies use,
 * so it doubles as the end-to-end entry point of the client:
 *   unbreakable dt metrics SELECTOR --entity-selector S --from MS --to MS
 *   unbreakable dt get /api/v2/...        (raw body to stdout)
 * Exit: 0 ok, 3 Dynatrace or decoding error, 2 usage or configuration. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "cli/output.h"
#include "dynatrace/dynatrace.h"
#include "util/json.h"
#include "lualib/ldynatrace.h"
#include "lualib/lseries.h"
#include "dynatrace/recorder.h"

typedef struct dt_args {
  ub_dt_flags flags;
  int concurrency, attempts;
  long timeout_ms;
  size_t max_response_bytes;
  const char *record, *replay;
  const char *call, *arg;
  int first_call_opt;        /* argv index of the call's options */
} dt_args;

static const char usage[] =
    "usage: unbreakable dt [client options] CALL [ARG] [call options]\n"
    "calls: metrics SELECTOR | timeseries ID | metric_descriptor SELECTOR |\n"
    "       entities_v1 KIND | entities SELECTOR | events_v1 | events |\n"
    "       problem ID | problems | slo ID | get PATH (raw body) |\n"
    "       batch JSON (a list like [[\"metrics\", SEL, {opts}], [\"events\", {opts}]],\n"
    "       or @FILE holding it)\n"
    "client options: --dt-url URL (or DT_TENANT_URL), --dt-token-file FILE\n"
    "       (or DT_API_TOKEN / DT_API_TOKEN_FILE), --dt-ca-bundle FILE,\n"
    "       --concurrency N, --timeout-ms N, --attempts N, --max-response-mb N,\n"
    "       --record FILE (write the exchanges), --replay FILE (no network)\n"
    "call options: --NAME VALUE for each option of the Lua call, with '-' for\n"
    "       '_' (--entity-selector, --from, --to, --resolution, --aggregation ...);\n"
    "       --entity and --tag repeat. Numbers become integers.\n";

/* ---- arguments ---------------------------------------------------- */

/* Client options (the shared parser, options.h), then CALL [ARG], then
 * the call's own --name value pairs. */
static int parse_args(int argc, char **argv, dt_args *a) {
  double concurrency = 0, timeout_ms = 0, attempts = 0, max_mb = 0;
  const ub_opt opts[] = {
    UB_STRING("dt-url", &a->flags.url),
    UB_STRING("dt-token", &a->flags.token),
    UB_PATH("dt-token-file", &a->flags.token_file),
    UB_PATH("dt-ca-bundle", &a->flags.ca_bundle),
    UB_PATH("record", &a->record),
    UB_PATH("replay", &a->replay),
    UB_NUMBER("concurrency", &concurrency, 1, 1000, .whole = 1),
    UB_NUMBER("timeout-ms", &timeout_ms, 1, 86400000, .whole = 1),
    UB_NUMBER("attempts", &attempts, 1, 100, .whole = 1),
    UB_NUMBER("max-response-mb", &max_mb, 0, 4096, .above_min = 1),
    UB_OPTS_END};
  const ub_opt_spec spec = {"dt", usage, opts, 1};
  int i;
  int rc = ub_opts_parse(&spec, argc, argv, NULL, 0, NULL, &i);
  if (rc != 0) return rc;
  a->concurrency = (int)concurrency;
  a->timeout_ms = (long)timeout_ms;
  a->attempts = (int)attempts;
  a->max_response_bytes = (size_t)(max_mb * 1048576.0);
  if (i >= argc) return ub_usage_error("dt", "missing CALL\n%s", usage);
  a->call = argv[i++];
  if (i < argc && strncmp(argv[i], "--", 2) != 0) a->arg = argv[i++];
  a->first_call_opt = i;
  for (int k = i; k < argc; k++)
    if (!strcmp(argv[k], "--help") || !strcmp(argv[k], "-h")) { fputs(usage, stdout); return UB_OPTS_HELP; }
  if ((argc - i) % 2 != 0)
    return ub_usage_error("dt", "call options come in pairs: --name value\n%s", usage);
  for (int k = i; k < argc; k += 2)
    if (strncmp(argv[k], "--", 2) != 0 || !argv[k][2])
      return ub_usage_error("dt", "'%s' is not a call option (--name value)", argv[k]);
  return 0;
}

/* A whole number in int64 range: call options that look like integers are
 * passed as integers (1), one out of range is an error (-1), not a wrap;
 * 0 for any other text. */
static int integer_value(const char *s, long long *out) {
  const char *p = *s == '-' ? s + 1 : s;
  if (!*p) return 0;
  for (; *p; p++)
    if (!isdigit((unsigned char)*p)) return 0;
  errno = 0;
  *out = strtoll(s, NULL, 10);
  return errno == ERANGE ? -1 : 1;
}

/* Pushes the options table built from --name value pairs. */
static void push_call_options(lua_State *L, int argc, char **argv, int first) {
  lua_newtable(L);
  for (int i = first; i + 1 < argc; i += 2) {
    char key[64];
    snprintf(key, sizeof key, "%s", argv[i] + 2);
    for (char *p = key; *p; p++) if (*p == '-') *p = '_';
    const char *list = !strcmp(key, "entity") ? "entities" : !strcmp(key, "tag") ? "tags" : NULL;
    if (list) {
      if (lua_getfield(L, -1, list) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, list);
      }
      lua_pushstring(L, argv[i + 1]);
      lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
      lua_pop(L, 1);
      continue;
    }
    long long v;
    if (strcmp(key, "resolution") != 0 && integer_value(argv[i + 1], &v) == 1)
      lua_pushinteger(L, (lua_Integer)v);
    else lua_pushstring(L, argv[i + 1]);
    lua_setfield(L, -2, key);
  }
}

/* ---- output ------------------------------------------------------- */

/* Replaces every series userdata inside the table at idx by a table
 * {entity, metric, unit, timestamps, values} so it can be printed. */
static void expand_series(lua_State *L, int idx, int depth) {
  if (depth > 20) return;
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    ub_series *s = ub_lua_toseries(L, -1);
    if (s) {
      lua_createtable(L, 0, 5);
      lua_getfield(L, -2, "entity"); lua_setfield(L, -2, "entity");
      lua_getfield(L, -2, "metric"); lua_setfield(L, -2, "metric");
      lua_getfield(L, -2, "unit"); lua_setfield(L, -2, "unit");
      lua_createtable(L, (int)s->len, 0);
      lua_createtable(L, (int)s->len, 0);
      for (size_t i = 0; i < s->len; i++) {
        if (s->values[i] != s->values[i]) lua_pushlightuserdata(L, json_null());
        else lua_pushnumber(L, s->values[i]);
        lua_rawseti(L, -3, (lua_Integer)i + 1);
        lua_pushinteger(L, s->timestamps ? s->timestamps[i] : 0);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
      }
      lua_setfield(L, -3, "timestamps");
      lua_setfield(L, -2, "values");
      lua_pushvalue(L, -3);
      lua_insert(L, -2);
      lua_rawset(L, idx);         /* replacing an existing key is allowed */
    } else if (lua_istable(L, -1)) {
      expand_series(L, -1, depth + 1);
    }
    lua_pop(L, 1);
  }
}

static int print_json(lua_State *L, int idx) {
  json_enc_opts o = {.indent = 2, .max_depth = 100, .sort_keys = 1};
  ub_buf out;
  ub_buf_init(&out);
  char err[256];
  int rc = json_encode_lua(L, idx, &o, &out, err, sizeof err);
  if (rc == 0) printf("%s\n", out.data);
  else fprintf(stderr, "unbreakable dt: cannot print the answer: %s\n", err);
  ub_buf_free(&out);
  return rc;
}

/* ---- running ------------------------------------------------------ */

static int write_record(const ub_recorder *rec, const char *path) {
  ub_buf out;
  ub_buf_init(&out);
  /* a temporary file and a rename: never half a recording */
  int ok = ub_recorder_to_json(rec, &out) == 0 && ub_write_output(path, out.data, out.len) == 0;
  ub_buf_free(&out);
  if (!ok) fprintf(stderr, "unbreakable dt: cannot write the recording to %s\n", path);
  return ok ? 0 : -1;
}

static int run_raw_get(ub_dt_client *cl, ub_recorder *rec, const char *path) {
  if (!path || path[0] != '/') return ub_usage_error("dt", "get needs a PATH starting with /api/");
  ub_exchange x = {.method = strdup("GET"), .target = strdup(path)};
  if (cl) ub_dt_fetch(cl, &x, 1, 0);
  else ub_recorder_answer(rec, &x);
  if (cl && rec) ub_recorder_add(rec, &x);
  char err[1024];
  int rc = ub_dt_check(&x, err, sizeof err);
  if (rc == 0) fwrite(x.body, 1, x.body_len, stdout);
  else fprintf(stderr, "unbreakable dt: %s\n", err);
  ub_exchange_clear(&x);
  return rc == 0 ? UB_EXIT_OK : UB_EXIT_ERROR;
}

/* Pushes the decoded batch list from ARG (JSON text or @FILE). */
static int push_batch_list(lua_State *L, const char *arg) {
  char err[512];
  size_t len = 0;
  char *text = arg && arg[0] == '@' ? ub_read_text(arg + 1, (size_t)16 << 20, &len, err, sizeof err)
                                     : arg ? strdup(arg) : NULL;
  if (text && arg[0] != '@') len = strlen(text);
  int rc = text ? json_decode_lua(L, text, len, 16, err, sizeof err) : -1;
  free(text);
  if (rc != 0)   /* a file is named: the error's line and column are in it */
    return ub_usage_error("dt", "batch needs a JSON list of calls: %s%s%s", arg && arg[0] == '@' ? arg + 1 : "",
                          arg && arg[0] == '@' ? ": " : "", arg ? err : "missing");
  return 0;
}

/* Pushes the call's arguments; returns how many, or -1 (usage error). */
static int push_call_args(lua_State *L, const dt_args *a, int argc, char **argv) {
  if (!strcmp(a->call, "batch")) return push_batch_list(L, a->arg) == 0 ? 1 : -1;
  int n = 0;
  if (a->arg) { lua_pushstring(L, a->arg); n++; }
  push_call_options(L, argc, argv, a->first_call_opt);
  return n + 1;
}

/* A batch answers a list: ok only when every response is. */
static int all_ok(lua_State *L, int idx) {
  if (lua_getfield(L, idx, "ok") != LUA_TNIL) {
    int ok = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return ok;
  }
  lua_pop(L, 1);
  lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
  int ok = 1;
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, idx, i);
    lua_getfield(L, -1, "ok");
    ok &= lua_toboolean(L, -1);
    lua_pop(L, 2);
  }
  return ok;
}

static int run_call(lua_State *L, const dt_args *a, int argc, char **argv) {
  luaL_requiref(L, "unbreakable.stats", luaopen_unbreakable_stats, 0);
  luaL_requiref(L, "unbreakable.dynatrace", luaopen_unbreakable_dynatrace, 0);
  if (lua_getfield(L, -1, a->call) != LUA_TFUNCTION)
    return ub_usage_error("dt", "unknown call '%s'\n%s", a->call, usage);
  int n = push_call_args(L, a, argc, argv);
  if (n < 0) return UB_EXIT_USAGE;
  if (lua_pcall(L, n, 1, 0) != LUA_OK) {
    fprintf(stderr, "unbreakable dt: %s\n", lua_tostring(L, -1));
    return UB_EXIT_ERROR;
  }
  expand_series(L, -1, 0);
  int ok = all_ok(L, lua_gettop(L));
  if (!ok) {
    if (lua_getfield(L, -1, "error") == LUA_TSTRING)
      fprintf(stderr, "unbreakable dt: %s\n", lua_tostring(L, -1));
    else
      fprintf(stderr, "unbreakable dt: at least one call of the batch failed\n");
    lua_pop(L, 1);
  }
  if (print_json(L, -1) != 0) return UB_EXIT_ERROR;
  return ok ? UB_EXIT_OK : UB_EXIT_ERROR;
}

static ub_recorder *open_replay(const char *path) {
  char err[512];
  size_t len;
  char *text = ub_read_text(path, (size_t)1 << 30, &len, err, sizeof err);
  if (!text) { fprintf(stderr, "unbreakable dt: %s\n", err); return NULL; }
  ub_recorder *rec = ub_recorder_from_json(text, len, err, sizeof err);
  free(text);
  if (!rec) fprintf(stderr, "unbreakable dt: %s: %s\n", path, err);
  return rec;
}

static ub_dt_client *open_client(const dt_args *a) {
  ub_dt_config c;
  char err[512];
  if (ub_dt_config_resolve(&c, &a->flags, err, sizeof err) != 0) {
    fprintf(stderr, "unbreakable dt: %s\n", err);
    return NULL;
  }
  if (a->concurrency > 0) c.concurrency = a->concurrency;
  if (a->timeout_ms > 0) c.timeout_ms = a->timeout_ms;
  if (a->attempts > 0) c.max_attempts = a->attempts;
  if (a->max_response_bytes > 0) c.max_response_bytes = a->max_response_bytes;
  ub_dt_client *cl = ub_dt_client_new(&c, err, sizeof err);
  ub_dt_config_free(&c);
  if (!cl) fprintf(stderr, "unbreakable dt: %s\n", err);
  return cl;
}

int ub_cmd_dt(int argc, char **argv) {
  dt_args a = {.first_call_opt = argc};
  int parsed = parse_args(argc, argv, &a);
  if (parsed == UB_OPTS_HELP) return UB_EXIT_OK;
  if (parsed != 0) return UB_EXIT_USAGE;
  if (ub_check_output("dt", "--record", a.record) != 0) return UB_EXIT_USAGE;
  for (int k = a.first_call_opt; k + 1 < argc; k += 2) {
    long long v;
    if (integer_value(argv[k + 1], &v) < 0)
      return ub_usage_error("dt", "%s: '%s' is out of range", argv[k], argv[k + 1]);
  }
  ub_recorder *rec = a.replay ? open_replay(a.replay) : a.record ? ub_recorder_new() : NULL;
  ub_dt_client *cl = a.replay ? NULL : open_client(&a);
  if ((a.replay && !rec) || (!a.replay && !cl)) {
    ub_recorder_free(rec);
    return UB_EXIT_USAGE;
  }
  int rc;
  if (!strcmp(a.call, "get")) {
    rc = run_raw_get(cl, rec, a.arg);
  } else {
    lua_State *L = luaL_newstate();
    if (!L) { rc = UB_EXIT_ERROR; goto out; }
    ub_dt_bind(L, cl, rec);
    rc = run_call(L, &a, argc, argv);
    lua_close(L);
  }
  if (a.record && rec && write_record(rec, a.record) != 0 && rc == UB_EXIT_OK) rc = UB_EXIT_ERROR;
out:
  ub_dt_client_free(cl);
  ub_recorder_free(rec);
  return rc;
}
