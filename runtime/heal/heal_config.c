/* heal_config.c: where self-healing takes its settings: the Dynatrace
 * tenant (as every command), Azure DevOps from the environment only
 * (AZURE_DEVOPS_ORG_URL, AZURE_DEVOPS_RELEASE_URL, AZURE_DEVOPS_TOKEN or
 * AZURE_DEVOPS_TOKEN_FILE), and the optional selfheal.json of the specs
 * folder (selfheal_policy, window_minutes, dry_run). */
#include <lauxlib.h>
#include <limits.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dynatrace/dynatrace.h"
#include "heal/heal.h"
#include "util/json.h"
#include "util/spec_path.h"

int heal_url_allowed(const char *url) {
  const char *authority = strstr(url, "://");
  if (authority && memchr(authority + 3, '@', strcspn(authority + 3, "/?#"))) return 0; /* user:secret@host */
  if (strncasecmp(url, "https://", 8) == 0) return url[8] != '\0';
  if (strncasecmp(url, "http://", 7) != 0) return 0;
  const char *h = url + 7;
  size_t n = strcspn(h, ":/");
  return (n == 9 && strncasecmp(h, "localhost", 9) == 0) || strncmp(h, "127.", 4) == 0 ||
         strncmp(h, "[::1]", 5) == 0;
}

static char *trimmed_copy(const char *s) {
  size_t n = strlen(s);
  while (n && (s[n - 1] == '/' || s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ')) n--;
  char *out = malloc(n + 1);
  if (out) memcpy(out, s, n), out[n] = '\0';
  return out;
}

/* https://dev.azure.com/org -> https://vsrm.dev.azure.com/org; older
 * https://org.visualstudio.com -> https://org.vsrm.visualstudio.com. */
static char *release_url_of(const char *org) {
  ub_buf b;
  ub_buf_init(&b);
  const char *dev = strstr(org, "://dev.azure.com");
  const char *vs = strstr(org, ".visualstudio.com");
  if (dev) {
    ub_buf_append(&b, org, (size_t)(dev - org) + 3);
    ub_buf_puts(&b, "vsrm.");
    ub_buf_puts(&b, dev + 3);
  } else if (vs) {
    ub_buf_append(&b, org, (size_t)(vs - org));
    ub_buf_puts(&b, ".vsrm");
    ub_buf_puts(&b, vs);
  } else {
    ub_buf_puts(&b, org); /* a server or a simulator: the same host */
  }
  return ub_buf_steal(&b, NULL);
}

static void load_ado(heal_config *c) {
  const char *org = getenv("AZURE_DEVOPS_ORG_URL");
  const char *rel = getenv("AZURE_DEVOPS_RELEASE_URL");
  const char *tok = getenv("AZURE_DEVOPS_TOKEN");
  const char *tok_file = getenv("AZURE_DEVOPS_TOKEN_FILE");
  char err[300];
  if (!org || !*org) {
    snprintf(c->ado_error, sizeof c->ado_error, "Azure DevOps is not configured (set AZURE_DEVOPS_ORG_URL)");
    return;
  }
  c->ado_org_url = trimmed_copy(org);
  c->ado_release_url = rel && *rel ? trimmed_copy(rel) : release_url_of(c->ado_org_url);
  if (tok && *tok) {
    c->ado_token = trimmed_copy(tok);
  } else if (tok_file && *tok_file) {
    char *t = ub_read_all(tok_file, 64 * 1024, NULL, err, sizeof err);
    if (t) c->ado_token = trimmed_copy(t);
    free(t);
    if (!c->ado_token)
      snprintf(c->ado_error, sizeof c->ado_error, "AZURE_DEVOPS_TOKEN_FILE: %s", err);
  }
  if (!c->ado_token && !*c->ado_error)
    snprintf(c->ado_error, sizeof c->ado_error,
             "no Azure DevOps token (set AZURE_DEVOPS_TOKEN_FILE or AZURE_DEVOPS_TOKEN)");
  if (!*c->ado_error && (!heal_url_allowed(c->ado_org_url) || !heal_url_allowed(c->ado_release_url)))
    snprintf(c->ado_error, sizeof c->ado_error,
             "AZURE_DEVOPS_ORG_URL and AZURE_DEVOPS_RELEASE_URL must be https:// (plain http:// only to "
             "loopback, where the token cannot be overheard), without user:password@ (the token goes in "
             "AZURE_DEVOPS_TOKEN_FILE)");
}

/* selfheal_policy (field 1 of the settings at index 1): a file inside the
 * specs folder; ignored when the command line names the policy. */
static int settings_policy(lua_State *L, heal_config *c, const char *specs_dir, const char *path, char *err,
                           size_t errlen) {
  lua_getfield(L, 1, "selfheal_policy");
  const char *name = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  int absent = lua_isnil(L, -1);
  char root[PATH_MAX + 1], why[300];
  int rc = 0;
  if (absent) {
  } else if (!name) {
    snprintf(err, errlen, "%s: selfheal_policy must be a file name inside the specs folder", path);
    rc = -1;
  } else if (!realpath(specs_dir, root)) { /* ub_spec_path compares real paths */
    snprintf(err, errlen, "%s: the specs folder cannot be resolved", path);
    rc = -1;
  } else if (ub_spec_path(root, name, c->policy, sizeof c->policy, why, sizeof why) != 0) {
    snprintf(err, errlen, "%s: selfheal_policy: %s", path, why);
    rc = -1;
  }
  lua_pop(L, 1);
  return rc;
}

/* specs_dir/selfheal.json, when present: the settings at index 1. */
static int settings_fields(lua_State *L, heal_config *c, const char *specs_dir, const char *path, int policy_given,
                           char *err, size_t errlen) {
  if (!policy_given && settings_policy(L, c, specs_dir, path, err, errlen) != 0) return -1;
  lua_getfield(L, 1, "window_minutes");
  int ok = lua_isnil(L, -1) || (lua_isnumber(L, -1) && lua_tonumber(L, -1) > 0 && lua_tonumber(L, -1) <= 7 * 24 * 60);
  if (ok && !lua_isnil(L, -1)) c->window_minutes = lua_tonumber(L, -1);
  lua_pop(L, 1);
  if (!ok) {
    snprintf(err, errlen, "%s: window_minutes must be 1 to 10080", path);
    return -1;
  }
  lua_getfield(L, 1, "dry_run");
  ok = lua_isnil(L, -1) || lua_isboolean(L, -1);
  c->dry_run |= lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (!ok) {
    snprintf(err, errlen, "%s: dry_run must be true or false", path);
    return -1;
  }
  return 0;
}

static int load_settings(heal_config *c, const char *specs_dir, const char *policy, char *err, size_t errlen) {
  char path[4200], ferr[300], jerr[200];
  snprintf(path, sizeof path, "%s/selfheal.json", specs_dir);
  size_t len;
  char *text = ub_read_all(path, 64 * 1024, &len, ferr, sizeof ferr);
  if (!text) return 0; /* no settings file: defaults */
  lua_State *L = luaL_newstate();
  int rc = -1;
  if (!L)
    snprintf(err, errlen, "out of memory");
  else if (json_decode_lua(L, text, len, 10, jerr, sizeof jerr) != 0)
    snprintf(err, errlen, "%s: not a JSON object (%s); fix the file", path, jerr);
  else if (!lua_istable(L, 1))
    snprintf(err, errlen, "%s: not a JSON object; fix the file", path);
  else
    rc = settings_fields(L, c, specs_dir, path, policy != NULL, err, errlen);
  if (L) lua_close(L);
  free(text);
  return rc;
}

int heal_config_load(heal_config *c, const char *stdlib_dir, const char *policies_dir,
                     const char *specs_dir, const char *policy, char *err, size_t errlen) {
  memset(c, 0, sizeof *c);
  snprintf(c->stdlib_dir, sizeof c->stdlib_dir, "%s", stdlib_dir);
  c->window_minutes = HEAL_DEFAULT_WINDOW_MINUTES;
  c->timeout_ms = 15000;
  snprintf(c->policy, sizeof c->policy, "%s/selfheal.lua", policies_dir);
  if (policy) snprintf(c->policy, sizeof c->policy, "%s", policy);
  if (specs_dir && load_settings(c, specs_dir, policy, err, errlen) != 0) return -1;
  ub_dt_config dt;
  ub_dt_flags none = {0};
  memset(&dt, 0, sizeof dt);
  if (ub_dt_config_resolve(&dt, &none, err, errlen) != 0) {
    ub_dt_config_free(&dt);
    return -1;
  }
  c->dt_url = strdup(dt.base_url);
  c->dt_token = strdup(dt.token);
  ub_dt_config_free(&dt);
  if (!c->dt_url || !c->dt_token) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  load_ado(c);
  const char *pub = getenv("UB_PUBLIC_URL");
  if (pub && *pub) snprintf(c->link_base, sizeof c->link_base, "%s", pub);
  return 0;
}

static void wipe_free(char *s) {
  if (s) memset(s, 0, strlen(s));
  free(s);
}

void heal_config_free(heal_config *c) {
  free(c->dt_url);
  wipe_free(c->dt_token);
  free(c->ado_org_url);
  free(c->ado_release_url);
  wipe_free(c->ado_token);
  memset(c, 0, sizeof *c);
}

void heal_config_bound_to_lease(heal_config *c, const char *owner, int64_t lease_ms) {
  snprintf(c->lease_owner, sizeof c->lease_owner, "%s", owner);
  c->lease_ms = lease_ms;
  c->call_deadline_ms = (long)(lease_ms / 2);
}
