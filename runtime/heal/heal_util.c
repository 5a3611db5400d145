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

int heal_fetch_json(lua_State *L, const char *method, const char *url, const char *auth, const char *body,
                    long timeout_ms, heal_call *call) {
  char err[200];
  int rc = heal_http(method, url, auth, body, timeout_ms, 4, call);
  if (rc == 0 && call->body.len == 0) {
    lua_newtable(L);
    return 0;
  }
  if (rc == 0 && json_decode_lua(L, call->body.data, call->body.len, 64, err, sizeof err) == 0) return 0;
  if (rc == 0) snprintf(call->error, sizeof call->error, "%s: the answer is not JSON (%s)", method, err);
  lua_pushnil(L);
  return -1;
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void base64(ub_buf *out, const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0) | (i + 2 < n ? s[i + 2] : 0);
    ub_buf_putc(out, B64[v >> 18 & 63]);
    ub_buf_putc(out, B64[v >> 12 & 63]);
    ub_buf_putc(out, i + 1 < n ? B64[v >> 6 & 63] : '=');
    ub_buf_putc(out, i + 2 < n ? B64[v & 63] : '=');
  }
}

char *heal_dt_auth(const heal_config *c) {
  ub_buf b;
  ub_buf_init(&b);
  ub_buf_printf(&b, "Api-Token %s", c->dt_token);
  return ub_buf_steal(&b, NULL);
}

char *heal_ado_auth(const heal_config *c) {
  ub_buf b, plain;
  ub_buf_init(&b);
  ub_buf_init(&plain);
  ub_buf_printf(&plain, ":%s", c->ado_token ? c->ado_token : "");
  ub_buf_puts(&b, "Basic ");
  base64(&b, (const unsigned char *)plain.data, plain.len);
  if (plain.data) memset(plain.data, 0, plain.len);
  ub_buf_free(&plain);
  return ub_buf_steal(&b, NULL);
}

void heal_wipe_free(char *s) {
  if (s) memset(s, 0, strlen(s));
  free(s);
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
