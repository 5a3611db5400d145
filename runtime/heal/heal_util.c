/* heal_util.c: small helpers of runtime/heal/ (heal_internal.h). */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dynatrace/dynatrace.h"
#include "heal/heal_internal.h"
#include "util/json.h"

const char *heal_str(lua_State *L, int idx, const char *key) {
  idx = lua_absindex(L, idx);
  if (!lua_istable(L, idx)) return NULL;
  lua_getfield(L, idx, key);
  const char *s = NULL;
  if (lua_type(L, -1) == LUA_TSTRING) {
    s = lua_tostring(L, -1);
  } else if (lua_type(L, -1) == LUA_TNUMBER) {
    lua_pushvalue(L, -1);
    lua_tostring(L, -1);
    lua_setfield(L, idx, key); /* keep the text alive in the table */
    lua_getfield(L, idx, key);
    s = lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return s;
}

int64_t heal_int(lua_State *L, int idx, const char *key, int64_t dflt) {
  idx = lua_absindex(L, idx);
  if (!lua_istable(L, idx)) return dflt;
  lua_getfield(L, idx, key);
  int64_t v = dflt;
  if (lua_isinteger(L, -1)) {
    v = lua_tointeger(L, -1);
  } else if (lua_type(L, -1) == LUA_TSTRING) {
    char *end;
    const char *s = lua_tostring(L, -1);
    long long n = strtoll(s, &end, 10);
    if (end != s && *end == '\0') v = n;
  }
  lua_pop(L, 1);
  return v;
}

int heal_fetch_json(lua_State *L, const heal_config *c, heal_service to, const char *url, ub_http_reply *call) {
  char err[200];
  int rc = heal_http(c, to, "GET", url, NULL, call);
  if (rc == 0 && call->body.len == 0) {
    lua_newtable(L);
    return 0;
  }
  if (rc == 0 && json_decode_lua(L, call->body.data, call->body.len, 64, err, sizeof err) == 0) {
    if (lua_istable(L, -1)) return 0;
    lua_pop(L, 1);
    snprintf(err, sizeof err, "a JSON object was expected");
  }
  if (rc == 0) snprintf(call->error, sizeof call->error, "GET: the answer is not a JSON object (%s)", err);
  lua_pushnil(L);
  return -1;
}

void heal_url_segment(ub_buf *b, const char *s) { ub_dt_encode(b, s, 1); }

void heal_release_url(ub_buf *b, const heal_config *c, const char *project, int64_t release) {
  ub_buf_printf(b, "%s/", c->ado_release_url);
  heal_url_segment(b, project);
  ub_buf_printf(b, "/_apis/release/releases/%lld?api-version=7.1", (long long)release);
}

void heal_deployments_url(ub_buf *b, const heal_config *c, const char *project, int64_t definition,
                          int64_t definition_environment, int top) {
  ub_buf_printf(b, "%s/", c->ado_release_url);
  heal_url_segment(b, project);
  ub_buf_printf(b, "/_apis/release/deployments?definitionId=%lld&definitionEnvironmentId=%lld"
                   "&deploymentStatus=all&queryOrder=descending&$top=%d&api-version=7.1",
                (long long)definition, (long long)definition_environment, top);
}

int heal_same_url(const char *a, const char *b) {
  size_t na = strlen(a), nb = strlen(b);
  while (na && a[na - 1] == '/') na--;
  while (nb && b[nb - 1] == '/') nb--;
  return na == nb && strncasecmp(a, b, na) == 0;
}
