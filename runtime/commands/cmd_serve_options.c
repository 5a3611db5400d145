/* cmd_serve_options.c: the options of `unbreakable serve`, from the
 * command line and an optional JSON --config file (flags win), into the
 * service's serve_config (serve/serve.h). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "ledger/ledger.h"
#include "serve/serve.h"
#include "util/json.h"

static const char serve_help[] =
  "usage: unbreakable serve [--listen ADDR:PORT] [--specs DIR] [--ledger PATH | --database URL] [--workers N]\n"
  "                         [--allow-callback URL-PREFIX]... [--config FILE]\n"
  "                         [--drain-seconds N] [--gate-timeout S] [--callback-deadline S]\n"
  "                         [--insecure-no-auth] [--dry-run] [--bundle B --pubkey K]\n"
  "\n"
  "Serves release gates over HTTP to Azure DevOps (classic release gates and YAML\n"
  "environment checks, sync or callback mode) and any other caller (docs/serve.md).\n"
  "\n"
  "  --listen ADDR:PORT     where to listen (default 127.0.0.1:8080; port 0 = any)\n"
  "  --specs DIR            folder of monspec, slo/sli files and policies; requests name\n"
  "                         files relative to it and can never leave it (default .)\n"
  "  --ledger PATH          the ledger shared by every request (default $UB_LEDGER, ...)\n"
  "  --database URL         a PostgreSQL ledger shared by several replicas (postgres://USER@HOST:PORT/DB,\n"
  "                         default $UB_DATABASE_URL when set); see docs/operations.md\n"
  "  --workers N            gate worker processes = gates in flight (default 4); more\n"
  "                         requests get 503 with Retry-After\n"
  "  --allow-callback P     PlanUrl prefixes callbacks may go to, '*' = one DNS label\n"
  "                         (default https://dev.azure.com/ and https://*.visualstudio.com/)\n"
  "  --bundle B --pubkey K  take the specs (monspec, slo/sli files, policies) only from\n"
  "                         the signed bundle B once its signature (public key K) and\n"
  "                         every file verify, instead of --specs; SIGHUP reloads B and\n"
  "                         keeps the last good bundle when the new one fails (docs/serve.md)\n"
  "  --config FILE          JSON object with the same settings (listen, specs, ledger,\n"
  "                         workers, allow_callback, drain_seconds, gate_timeout,\n"
  "                         callback_deadline, bundle, pubkey); flags win\n"
  "  --drain-seconds N      on SIGTERM, finish in-flight work for at most N s (default 25)\n"
  "  --lease-seconds S      replicas on PostgreSQL: a notification a replica took is taken by\n"
  "                         another only after S s without it finishing (default 60)\n"
  "  --gate-timeout S       budget of one gate's policy and Dynatrace reads (default 15)\n"
  "  --callback-deadline S  how long a callback is retried (default 3600)\n"
  "  --insecure-no-auth     run without UB_SERVE_TOKEN(_FILE); loopback only\n"
  "  --dry-run              self-healing reads and decides but executes no intent\n"
  "                         (POST /v1/problems, docs/selfheal.md)\n"
  "\n"
  "Environment: UB_SERVE_TOKEN or UB_SERVE_TOKEN_FILE (the shared secret callers send\n"
  "as 'Authorization: Bearer TOKEN' or '?code=TOKEN'), DT_TENANT_URL, DT_API_TOKEN(_FILE).\n";

/* The flags as given, before they are laid over the config file's settings. */
typedef struct serve_flags {
  const char *listen, *specs, *ledger, *bundle, *pubkey, *database;
  double workers, drain, gate_timeout, cb_deadline, lease;
  int has_workers, has_drain, has_gate_timeout, has_cb_deadline;
  int insecure, dry_run;
  ub_opt_list allow, config;
} serve_flags;

typedef struct raw_settings {
  char listen[300], specs[4096], ledger[4096], bundle[4096], pubkey[4096];
  int specs_given;
  double workers, drain, gate_timeout, cb_deadline;
  int insecure, dry_run;
  char *allow[SERVE_MAX_ALLOW];
  int nallow;
} raw_settings;

/* Errors of the settings are written into err (the caller prints them),
 * so that `unbreakable check` can report a config file the way serve
 * would refuse it (serve_config_check). */
static int add_allow(raw_settings *r, const char *prefix, char *err, size_t errlen) {
  size_t n = strlen(prefix);
  if (n < 9 || prefix[n - 1] != '/' || (strncmp(prefix, "https://", 8) != 0 && strncmp(prefix, "http://", 7) != 0)) {
    snprintf(err, errlen, "--allow-callback '%s' must be an http(s) URL prefix ending in '/' "
             "(e.g. https://dev.azure.com/myorg/)", prefix);
    return -1;
  }
  if (r->nallow == SERVE_MAX_ALLOW) {
    snprintf(err, errlen, "at most %d --allow-callback prefixes", SERVE_MAX_ALLOW);
    return -1;
  }
  r->allow[r->nallow++] = strdup(prefix);
  return 0;
}

/* ---- the config file ---- */

static int config_string(lua_State *L, const char *file, const char *key, char *out, size_t size, char *err,
                         size_t errlen) {
  int t = lua_getfield(L, 1, key);
  int rc = 0;
  if (t == LUA_TSTRING) snprintf(out, size, "%s", lua_tostring(L, -1));
  else if (t != LUA_TNIL) rc = -1, snprintf(err, errlen, "%s: \"%s\" must be a string", file, key);
  lua_pop(L, 1);
  return rc;
}

/* A number from min to max (a whole one when whole), as the flag checks it. */
static int config_number(lua_State *L, const char *file, const char *key, double min, double max, int whole,
                         double *out, char *err, size_t errlen) {
  int t = lua_getfield(L, 1, key);
  double v = lua_tonumber(L, -1);
  int rc = 0;
  if (t == LUA_TNUMBER && v >= min && v <= max && (!whole || v == (double)(long long)v)) *out = v;
  else if (t != LUA_TNIL)
    rc = -1, snprintf(err, errlen, "%s: \"%s\" must be a %s from %g to %g", file, key,
                      whole ? "whole number" : "number", min, max);
  lua_pop(L, 1);
  return rc;
}

/* Every key of the object at index 1 is a known setting. */
static int config_keys(lua_State *L, const char *file, char *err, size_t errlen) {
  static const char *const known[] = {"listen", "specs", "ledger", "workers", "allow_callback",
                                      "drain_seconds", "gate_timeout", "callback_deadline", "bundle",
                                      "pubkey", NULL};
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    if (lua_type(L, -2) != LUA_TSTRING) { /* a JSON array decodes to integer keys */
      snprintf(err, errlen, "%s: not a JSON object of settings (listen, specs, ...)", file);
      lua_pop(L, 2);
      return -1;
    }
    const char *key = lua_tostring(L, -2);
    int found = 0;
    for (int i = 0; known[i]; i++) found |= strcmp(known[i], key) == 0;
    lua_pop(L, 1);
    if (!found) {
      snprintf(err, errlen, "%s: unknown setting \"%s\" (known: listen, specs, ledger, workers, "
               "allow_callback, drain_seconds, gate_timeout, callback_deadline, bundle, pubkey)", file, key);
      lua_pop(L, 1);
      return -1;
    }
  }
  return 0;
}

static int config_allow(lua_State *L, const char *file, raw_settings *r, char *err, size_t errlen) {
  int rc = 0;
  if (lua_getfield(L, 1, "allow_callback") == LUA_TTABLE) {
    for (lua_Integer i = 1; rc == 0 && lua_rawgeti(L, -1, i) != LUA_TNIL; i++) {
      if (lua_type(L, -1) == LUA_TSTRING) rc = add_allow(r, lua_tostring(L, -1), err, errlen);
      else rc = -1, snprintf(err, errlen, "%s: allow_callback must be a list of strings", file);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  return rc;
}

static int read_config(const char *file, raw_settings *r, char *err, size_t errlen) {
  char why[600];
  size_t len;
  char *text = ub_read_all(file, 1 << 20, &len, why, sizeof why);
  if (!text) {
    snprintf(err, errlen, "--config: %s", why);
    return -1;
  }
  lua_State *L = luaL_newstate();
  int rc = 0;
  if (!L || json_decode_lua(L, text, len, 10, why, sizeof why) != 0 || !lua_istable(L, 1)) {
    rc = -1, snprintf(err, errlen, "%s: not a JSON object (%s)", file, L ? why : "out of memory");
  }
  if (rc == 0) rc = config_keys(L, file, err, errlen);
  if (rc == 0) rc = config_string(L, file, "listen", r->listen, sizeof r->listen, err, errlen);
  if (rc == 0) {
    r->specs_given |= lua_getfield(L, 1, "specs") != LUA_TNIL;
    lua_pop(L, 1);
  }
  if (rc == 0) rc = config_string(L, file, "specs", r->specs, sizeof r->specs, err, errlen);
  if (rc == 0) rc = config_string(L, file, "bundle", r->bundle, sizeof r->bundle, err, errlen);
  if (rc == 0) rc = config_string(L, file, "pubkey", r->pubkey, sizeof r->pubkey, err, errlen);
  if (rc == 0) rc = config_string(L, file, "ledger", r->ledger, sizeof r->ledger, err, errlen);
  if (rc == 0) rc = config_number(L, file, "workers", 1, 256, 1, &r->workers, err, errlen);
  if (rc == 0) rc = config_number(L, file, "drain_seconds", 0, 3600, 0, &r->drain, err, errlen);
  if (rc == 0) rc = config_number(L, file, "gate_timeout", 1, 3600, 0, &r->gate_timeout, err, errlen);
  if (rc == 0) rc = config_number(L, file, "callback_deadline", 10, 72 * 3600, 0, &r->cb_deadline, err, errlen);
  if (rc == 0) rc = config_allow(L, file, r, err, errlen);
  if (L) lua_close(L);
  free(text);
  return rc;
}

/* ---- flags ---- */

static int parse_flags(serve_flags *f, int argc, char **argv) {
  const ub_opt opts[] = {
    UB_STRING("listen", &f->listen),
    UB_PATH("specs", &f->specs),
    UB_PATH("ledger", &f->ledger),
    UB_PATH("bundle", &f->bundle),
    UB_PATH("pubkey", &f->pubkey),
    UB_STRING("database", &f->database),
    UB_NUMBER("workers", &f->workers, 1, 256, .whole = 1, .seen = &f->has_workers),
    UB_LIST("allow-callback", &f->allow),
    UB_LIST("config", &f->config), /* repeatable: each file in turn, the later winning */
    UB_NUMBER("drain-seconds", &f->drain, 0, 3600, .unit = "seconds", .seen = &f->has_drain),
    UB_NUMBER("gate-timeout", &f->gate_timeout, 1, 3600, .unit = "seconds", .seen = &f->has_gate_timeout),
    UB_NUMBER("callback-deadline", &f->cb_deadline, 10, 72 * 3600, .unit = "seconds",
              .seen = &f->has_cb_deadline),
    UB_NUMBER("lease-seconds", &f->lease, 1, 86400, .unit = "seconds"),
    UB_FLAG("insecure-no-auth", &f->insecure),
    UB_FLAG("dry-run", &f->dry_run),
    UB_OPTS_END};
  const ub_opt_spec spec = {.cmd = "serve", .help = serve_help, .opts = opts};
  int rc = ub_opts_parse(&spec, argc, argv, NULL, 0, NULL, NULL);
  if (rc != 0) return rc == UB_OPTS_HELP ? 1 : rc;
  {
    char why[300];
    if (ledger_choose_flag(f->ledger, f->database, &f->ledger, why, sizeof why) != 0)
      return ub_usage_error("serve", "%s", why);
  }
  for (size_t i = 0; i < f->config.n; i++)
    if (!f->config.items[i][0]) return ub_usage_error("serve", "--config: the path is empty (give a file name)");
  return 0;
}

/* The config files first, then the flags over them: flags win. */
static int apply_settings(raw_settings *r, const serve_flags *f) {
  char err[1200];
  for (size_t i = 0; i < f->config.n; i++)
    if (read_config(f->config.items[i], r, err, sizeof err) != 0) return ub_usage_error("serve", "%s", err);
  if (f->listen) snprintf(r->listen, sizeof r->listen, "%s", f->listen);
  if (f->specs) snprintf(r->specs, sizeof r->specs, "%s", f->specs), r->specs_given = 1;
  if (f->bundle) snprintf(r->bundle, sizeof r->bundle, "%s", f->bundle);
  if (f->pubkey) snprintf(r->pubkey, sizeof r->pubkey, "%s", f->pubkey);
  if (f->ledger) snprintf(r->ledger, sizeof r->ledger, "%s", f->ledger);
  if (f->has_workers) r->workers = f->workers;
  if (f->has_drain) r->drain = f->drain;
  if (f->has_gate_timeout) r->gate_timeout = f->gate_timeout;
  if (f->has_cb_deadline) r->cb_deadline = f->cb_deadline;
  r->insecure = f->insecure;
  r->dry_run = f->dry_run;
  if (f->allow.n > 0) { /* flags replace the config file's list */
    for (int i = 0; i < r->nallow; i++) free(r->allow[i]);
    r->nallow = 0;
  }
  for (size_t i = 0; i < f->allow.n; i++)
    if (add_allow(r, f->allow.items[i], err, sizeof err) != 0) return ub_usage_error("serve", "%s", err);
  return 0;
}

static int split_listen(serve_config *c, const char *listen, char *err, size_t errlen) {
  const char *colon = strrchr(listen, ':');
  char *end;
  long port = colon ? strtol(colon + 1, &end, 10) : -1;
  if (!colon || colon == listen || end == colon + 1 || *end || port < 0 || port > 65535 ||
      (size_t)(colon - listen) >= sizeof c->listen_addr) {
    snprintf(err, errlen, "--listen '%s' must be ADDR:PORT (e.g. 127.0.0.1:8080)", listen);
    return -1;
  }
  snprintf(c->listen_addr, sizeof c->listen_addr, "%.*s", (int)(colon - listen), listen);
  c->listen_port = (int)port;
  return 0;
}

/* An absolute form of path (not resolved: a bundle swapped by renaming a
 * link is read anew at SIGHUP), so that reloads do not depend on the
 * folder. */
static int absolute(const char *path, char *out, size_t size) {
  char cwd[2048];
  if (path[0] == '/') return snprintf(out, size, "%s", path) < (int)size ? 0 : -1;
  if (!getcwd(cwd, sizeof cwd)) return -1;
  return snprintf(out, size, "%s/%s", cwd, path) < (int)size ? 0 : -1;
}

/* --bundle and --pubkey go together and replace --specs; 0 or -1 (err). */
static int bundle_pairing(const raw_settings *r, char *err, size_t errlen) {
  if (!r->bundle[0] && !r->pubkey[0]) return 0;
  if (!r->bundle[0]) snprintf(err, errlen, "--pubkey goes with --bundle B (the bundle it verifies)");
  else if (!r->pubkey[0]) snprintf(err, errlen, "--bundle needs --pubkey KEY.pub (the key it must be signed with)");
  else if (r->specs_given)
    snprintf(err, errlen, "--bundle replaces --specs: the specs come only from the verified bundle; give one of them");
  else return 0;
  return -1;
}

static int bundle_settings(serve_config *c, const raw_settings *r) {
  char err[300];
  if (bundle_pairing(r, err, sizeof err) != 0) return ub_usage_error("serve", "%s", err);
  if (!r->bundle[0]) return 0;
  if (absolute(r->bundle, c->bundle, sizeof c->bundle) != 0 || absolute(r->pubkey, c->pubkey, sizeof c->pubkey) != 0)
    return ub_usage_error("serve", "--bundle/--pubkey: the path is too long");
  return 0;
}

static int finish(serve_config *c, raw_settings *r) {
  char err[600];
  if (split_listen(c, r->listen, err, sizeof err) != 0) return ub_usage_error("serve", "%s", err);
  if (bundle_settings(c, r) != 0) return UB_EXIT_USAGE;
  if (c->bundle[0]) snprintf(c->specs, sizeof c->specs, "(bundle)"); /* set once it verifies */
  else if (!realpath(r->specs, c->specs))
    return ub_usage_error("serve", "--specs '%s' is not a readable folder", r->specs);
  if (ledger_resolve_path(r->ledger[0] ? r->ledger : NULL, c->ledger, sizeof c->ledger, err, sizeof err) != 0)
    return ub_usage_error("serve", "--ledger: %s", err);
  if (!ledger_is_database(c->ledger) && c->ledger[0] != '/') { /* absolute, so that logs and workers agree whatever their folder */
    char cwd[2048], rel[sizeof c->ledger];
    snprintf(rel, sizeof rel, "%s", c->ledger);
    if (!getcwd(cwd, sizeof cwd) || snprintf(c->ledger, sizeof c->ledger, "%s/%s", cwd, rel) >= (int)sizeof c->ledger)
      return ub_usage_error("serve", "--ledger: the path '%s' is too long", rel);
  }
  c->workers = (int)r->workers;
  c->drain_seconds = r->drain;
  c->gate_timeout = r->gate_timeout;
  c->callback_deadline = r->cb_deadline;
  c->insecure_no_auth = r->insecure;
  c->heal_dry_run = r->dry_run;
  snprintf(c->stdlib_dir, sizeof c->stdlib_dir, "%s", ub_stdlib_dir());
  snprintf(c->policies_dir, sizeof c->policies_dir, "%s", ub_policies_dir());
  if (r->nallow == 0) {
    add_allow(r, "https://dev.azure.com/", err, sizeof err);
    add_allow(r, "https://*.visualstudio.com/", err, sizeof err);
  }
  for (int i = 0; i < r->nallow; i++) c->allow[i] = r->allow[i];
  c->nallow = r->nallow;
  r->nallow = 0;
  return 0;
}

int serve_config_parse(serve_config *c, int argc, char **argv) {
  raw_settings r;
  memset(&r, 0, sizeof r);
  memset(c, 0, sizeof *c);
  snprintf(r.listen, sizeof r.listen, "127.0.0.1:8080");
  snprintf(r.specs, sizeof r.specs, ".");
  r.workers = 4, r.drain = 25, r.gate_timeout = 15, r.cb_deadline = 3600;
  serve_flags f;
  memset(&f, 0, sizeof f);
  int rc = parse_flags(&f, argc, argv);
  if (rc == 0) rc = apply_settings(&r, &f);
  if (rc == 0) rc = finish(c, &r);
  c->lease_seconds = f.lease > 0 ? f.lease : 60;
  for (int i = 0; i < r.nallow; i++) free(r.allow[i]);
  ub_opt_list_free(&f.allow);
  ub_opt_list_free(&f.config);
  return rc;
}

int serve_config_check(const char *file, char *err, size_t errlen) {
  raw_settings r;
  serve_config c;
  memset(&r, 0, sizeof r);
  memset(&c, 0, sizeof c);
  snprintf(r.listen, sizeof r.listen, "127.0.0.1:8080");
  int rc = read_config(file, &r, err, errlen);
  if (rc == 0 && split_listen(&c, r.listen, err, errlen) != 0) {
    char why[600];
    snprintf(why, sizeof why, "%s", err);
    snprintf(err, errlen, "%s: \"listen\": %s", file, why);
    rc = -1;
  }
  if (rc == 0 && bundle_pairing(&r, err, errlen) != 0) {
    char why[300];
    snprintf(why, sizeof why, "%s", err);
    snprintf(err, errlen, "%s: \"bundle\"/\"pubkey\": %s", file, why);
    rc = -1;
  }
  for (int i = 0; i < r.nallow; i++) free(r.allow[i]);
  return rc;
}

void serve_config_free(serve_config *c) {
  for (int i = 0; i < c->nallow; i++) free(c->allow[i]);
  c->nallow = 0;
  if (c->token) memset(c->token, 0, strlen(c->token));
  free(c->token);
  c->token = NULL;
}
