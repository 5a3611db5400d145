/* heal_payload.c: the Dynatrace "custom integration" payload (reference
 * dynatrace-api.md 11): validation, the test notification, and recording
 * it durably with (PID, State) as its idempotency key. */
#include <ctype.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heal/heal.h"
#include "util/json.h"
#include "util/text.h"

#define MAX_DEPTH 40

static int fail(char *err, size_t errlen, const char *fmt, const char *field) {
  snprintf(err, errlen, fmt, field);
  return -1;
}

/* The string field key of the table at idx: NULL when absent; *bad set
 * when present but not a string. */
static const char *opt_string(lua_State *L, int idx, const char *key, int *bad, size_t *len) {
  lua_getfield(L, idx, key);
  const char *s = NULL;
  *len = 0;
  if (lua_type(L, -1) == LUA_TSTRING) s = lua_tolstring(L, -1, len);
  else if (!lua_isnil(L, -1)) *bad = 1;
  lua_pop(L, 1); /* the string stays anchored in the table */
  return s;
}

/* Well-formed UTF-8 without controls (util/text.h: C0 with NUL, DEL, C1,
 * separators, bidi overrides) over all len bytes: a "\u0000" would
 * otherwise cut the C text short, so that "PID\u0000x" became PID. */
static int printable(const char *s, size_t len) {
  for (size_t i = 0; i < len;) {
    unsigned cp;
    size_t n = ub_utf8_decode((const unsigned char *)s + i, len - i, &cp);
    if (n == 0 || ub_text_is_control(cp)) return 0;
    i += n;
  }
  return 1;
}

static int copy_field(lua_State *L, const char *key, char *out, size_t outlen, int required,
                      char *err, size_t errlen) {
  int bad = 0;
  size_t len;
  const char *s = opt_string(L, 1, key, &bad, &len);
  if (bad) return fail(err, errlen, "payload field %s must be a string (put the placeholder in quotes)", key);
  if (!s && required) return fail(err, errlen, "payload field %s is missing (add it to the payload template)", key);
  if (!s) return 0;
  if (len >= outlen) return fail(err, errlen, "payload field %s is too long", key);
  if (!printable(s, len))
    return fail(err, errlen, "payload field %s has control characters or is not UTF-8", key);
  snprintf(out, outlen, "%s", s);
  return 0;
}

/* A Dynatrace entity id ("SERVICE-C4EC4A0E5A3B1001"): letters, digits,
 * '-' and '_'. It goes into an entity selector, entityId("ID"), where a
 * quote or a parenthesis would change which entities are read. */
static int entity_id(const char *s, size_t len) {
  if (len == 0) return 0;
  for (size_t i = 0; i < len; i++)
    if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_') return 0;
  return 1;
}

/* ImpactedEntities: an array of objects whose "entity" is an entity id. */
static int check_entities(lua_State *L, int *has_placeholder_ids, char *err, size_t errlen) {
  lua_getfield(L, 1, "ImpactedEntities");
  if (lua_type(L, -1) != LUA_TTABLE)
    return fail(err, errlen, "payload field %s must be the unquoted JSON array {ImpactedEntities}",
                "ImpactedEntities");
  lua_Integer n = luaL_len(L, -1);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, -1, i);
    int bad = lua_type(L, -1) != LUA_TTABLE;
    size_t len = 0;
    const char *id = bad ? NULL : opt_string(L, lua_gettop(L), "entity", &bad, &len);
    if (bad || !id || !entity_id(id, len)) {
      snprintf(err, errlen, "payload field ImpactedEntities[%lld] must be an object whose 'entity' is a "
               "Dynatrace entity id (e.g. SERVICE-C4EC4A0E5A3B1001)", (long long)(i - 1));
      return -1;
    }
    if (strstr(id, "XXXXXXXXXXXXX")) *has_placeholder_ids = 1;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return 0;
}

static int64_t start_time(lua_State *L) {
  int64_t ms = 0;
  for (int k = 0; k < 2 && ms == 0; k++) {
    lua_getfield(L, 1, k == 0 ? "ProblemDetails" : "ProblemDetailsJSON");
    if (lua_type(L, -1) == LUA_TTABLE) {
      lua_getfield(L, -1, "startTime");
      if (lua_isinteger(L, -1) && lua_tointeger(L, -1) > 0) ms = lua_tointeger(L, -1);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  return ms;
}

static int parse_in(lua_State *L, const char *body, size_t len, heal_problem *p, char *err,
                    size_t errlen) {
  char jerr[200];
  if (json_decode_lua(L, body, len, MAX_DEPTH, jerr, sizeof jerr) != 0) {
    snprintf(err, errlen, "the payload is not JSON (%s); JSON placeholders such as {ImpactedEntities} "
             "go unquoted, text placeholders in quotes", jerr);
    return -1;
  }
  if (lua_type(L, 1) != LUA_TTABLE || luaL_len(L, 1) > 0)
    return fail(err, errlen, "the payload must be a JSON object%s", "");
  if (copy_field(L, "State", p->state, sizeof p->state, 1, err, errlen) != 0 ||
      copy_field(L, "PID", p->pid, sizeof p->pid, 1, err, errlen) != 0 ||
      copy_field(L, "ProblemID", p->problem_id, sizeof p->problem_id, 0, err, errlen) != 0 ||
      copy_field(L, "ProblemTitle", p->title, sizeof p->title, 0, err, errlen) != 0)
    return -1;
  int bad = 0;
  size_t tags_len;
  opt_string(L, 1, "Tags", &bad, &tags_len);
  if (bad) return fail(err, errlen, "payload field %s must be a string", "Tags");
  if (strcmp(p->state, "OPEN") != 0 && strcmp(p->state, "RESOLVED") != 0 && strcmp(p->state, "MERGED") != 0)
    return fail(err, errlen, "payload field State must be OPEN, RESOLVED or MERGED, not '%s'", p->state);
  if (!*p->pid) return fail(err, errlen, "payload field %s is empty", "PID");
  int placeholder = 0;
  if (check_entities(L, &placeholder, err, errlen) != 0) return -1;
  p->is_test = strcmp(p->title, HEAL_TEST_TITLE) == 0 || (strcmp(p->pid, "99999") == 0 && placeholder);
  p->start_ms = start_time(L);
  return 0;
}

int heal_parse_payload(const char *body, size_t len, heal_problem *p, char *err, size_t errlen) {
  memset(p, 0, sizeof *p);
  lua_State *L = luaL_newstate();
  if (!L) return fail(err, errlen, "out of memory%s", "");
  int rc = parse_in(L, body, len, p, err, errlen);
  lua_close(L);
  return rc;
}

int heal_record_many(ub_ledger *l, heal_intake *v, size_t n) {
  ledger_action_new *rows = calloc(n, sizeof *rows);
  char (*idem)[256] = calloc(n, sizeof *idem);
  int64_t *ids = calloc(n, sizeof *ids);
  int *existed = calloc(n, sizeof *existed);
  int rc = LEDGER_ERROR;
  if (rows && idem && ids && existed) {
    for (size_t i = 0; i < n; i++) {
      snprintf(idem[i], sizeof idem[i], "problem:%s:%s", v[i].p.pid, v[i].p.state);
      rows[i] = (ledger_action_new){"problem", v[i].p.pid, idem[i], v[i].p.is_test ? "test" : "pending",
                                    v[i].body};
    }
    rc = ledger_actions_put_many(l, rows, n, ids, existed);
    for (size_t i = 0; rc == LEDGER_OK && i < n; i++) {
      v[i].id = ids[i];
      v[i].duplicate = existed[i];
    }
  }
  free(rows);
  free(idem);
  free(ids);
  free(existed);
  return rc;
}

int heal_record(ub_ledger *l, const heal_problem *p, const char *body, size_t len, int64_t *id,
                int *duplicate) {
  heal_intake in = {*p, NULL, 0, 0};
  char *text = malloc(len + 1); /* heal_record_many takes NUL-terminated bodies */
  if (!text) return LEDGER_ERROR;
  memcpy(text, body, len);
  text[len] = '\0';
  in.body = text;
  int rc = heal_record_many(l, &in, 1);
  free(text);
  if (rc == LEDGER_OK) {
    *id = in.id;
    if (duplicate) *duplicate = in.duplicate;
  }
  return rc;
}
