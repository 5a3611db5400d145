/* pt_run.c: runs one spec file. Every spec file gets a new sandbox (a new
 * lua_State, a fresh evaluation and a full budget), so a spec that is
 * stopped by a limit or leaves state behind cannot affect the next one.
 * The evaluation's chunk is unbreakable.testing's runner; the spec's
 * source is its argument, loaded inside with the spec's path as the chunk
 * name (so errors and coverage name the spec's file and line), and the
 * spec's folder is where require and the fixtures look. */
#include "policytest/policytest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "cli/cli.h"
#include "lualib/bindings.h"
#include "lualib/ldynatrace.h"

static const char runner_source[] = "return require('unbreakable.testing').run\n";

typedef struct run_ud {
  const char *source;
  size_t len;
  const char *path;
  const pt_options *o;
  pt_file_result *out;
} run_ud;

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static int push_spec(lua_State *L, void *ud) {
  run_ud *r = ud;
  lua_pushlstring(L, r->source, r->len);
  lua_pushfstring(L, "@%s", r->path);
  lua_createtable(L, 0, 1);
  if (r->o->run) {
    lua_pushstring(L, r->o->run);
    lua_setfield(L, -2, "run");
  }
  return 3;
}

static const char *raw_string(lua_State *L, int idx, const char *key) {
  lua_pushstring(L, key);
  const char *s = lua_rawget(L, idx) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  lua_pop(L, 1);
  return s;
}

static int add_case(pt_file_result *out, const char *name, const char *status,
                    const char *message, const char *where) {
  pt_case *grown = realloc(out->cases, (out->ncases + 1) * sizeof *grown);
  if (!grown) return -1;
  out->cases = grown;
  pt_case *c = &out->cases[out->ncases++];
  c->name = strdup(name ? name : "(unnamed)");
  c->status = strdup(status);
  c->message = dup_or_null(message);
  c->where = dup_or_null(where);
  return c->name && c->status ? 0 : -1;
}

static int take_results(lua_State *L, void *ud) {
  run_ud *r = ud;
  int t = lua_gettop(L);
  if (lua_type(L, t) != LUA_TTABLE) return luaL_error(L, "the spec runner returned no results");
  lua_Integer n = (lua_Integer)lua_rawlen(L, t);
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_rawgeti(L, t, i) != LUA_TTABLE) return luaL_error(L, "spec result %d is not a table", (int)i);
    int c = lua_gettop(L);
    const char *status = raw_string(L, c, "status");
    if (!status) status = "error";
    if (add_case(r->out, raw_string(L, c, "name"), status, raw_string(L, c, "message"),
                 raw_string(L, c, "where")) != 0)
      return luaL_error(L, "out of memory");
    lua_pop(L, 1);
  }
  return 0;
}

static void dirname_of(const char *path, char *out, size_t size) {
  const char *slash = strrchr(path, '/');
  if (!slash) snprintf(out, size, ".");
  else if (slash == path) snprintf(out, size, "/");
  else snprintf(out, size, "%.*s", (int)(slash - path), path);
}

static sandbox *spec_sandbox(const pt_options *o, pt_spec_env *env) {
  sandbox *sb = sb_new(&o->limits, ub_stdlib_dir());
  if (!sb) return NULL;
  if (ub_grant_defaults(sb) != 0 ||
      sb_grant(sb, "unbreakable.dynatrace", luaopen_unbreakable_dynatrace) != 0 ||
      sb_grant(sb, "unbreakable.spechost", luaopen_unbreakable_spechost) != 0) {
    sb_free(sb);
    return NULL;
  }
  sb_set_prepare(sb, pt_spec_env_prepare, env);
  if (o->coverage) sb_set_line_hook(sb, pt_coverage_hook, o->coverage);
  return sb;
}

int pt_run_spec(const char *path, const pt_options *o, pt_file_result *out) {
  char err[600], dir[1024];
  memset(out, 0, sizeof *out);
  out->path = strdup(path);
  if (!out->path) return -1;
  size_t len;
  char *src = sb_read_source(path, &len, err, sizeof err);
  if (!src) return add_case(out, "(spec file)", "error", err, NULL);
  dirname_of(path, dir, sizeof dir);
  pt_spec_env *env = pt_spec_env_new(dir);
  sandbox *sb = env ? spec_sandbox(o, env) : NULL;
  int rc = 0;
  if (!sb) {
    rc = add_case(out, "(spec file)", "error", "cannot create the sandbox", NULL);
  } else {
    run_ud r = {src, len, path, o, out};
    sb_policy runner = {"(unbreakable test)", runner_source, sizeof runner_source - 1, dir};
    sb_status st = sb_run_policy(sb, &runner, push_spec, take_results, &r);
    if (st != SB_OK) /* the whole file: a limit, or the runner failed */
      rc = add_case(out, "(spec file)", "error", sb_error(sb), NULL);
    size_t log_len;
    const char *log = sb_log(sb, &log_len);
    if (log_len && (out->log = malloc(log_len))) {
      memcpy(out->log, log, log_len);
      out->log_len = log_len;
    }
  }
  sb_free(sb);
  pt_spec_env_free(env);
  free(src);
  return rc;
}

void pt_file_result_free(pt_file_result *r) {
  for (size_t i = 0; i < r->ncases; i++) {
    free(r->cases[i].name);
    free(r->cases[i].status);
    free(r->cases[i].message);
    free(r->cases[i].where);
  }
  free(r->cases);
  free(r->log);
  free(r->path);
  memset(r, 0, sizeof *r);
}
