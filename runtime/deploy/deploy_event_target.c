/* deploy_event_target.c: the target of a deployment event taken from a
 * monspec environment (docs/reference/monspec.md 2.3): its entity ids, or its tags with the
 * entity definition's etype. The document is decoded into a private Lua
 * state (json_decode_lua) and walked with raw reads; every error names the
 * file, the JSON pointer and the fix. */
#include "deploy/deploy_event.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "util/json.h"

typedef struct walk {
  lua_State *L;
  const char *file;
  char *err;
  size_t errlen;
} walk;

static int fail(walk *w, const char *pointer, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(walk *w, const char *pointer, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  snprintf(w->err, w->errlen, "%s: %s: %s", w->file, pointer[0] ? pointer : "/", msg);
  return -1;
}

/* Appends "/token" with '~' and '/' escaped as JSON pointers want. */
static void pointer_push(char *ptr, size_t cap, const char *token) {
  size_t n = strlen(ptr);
  if (n + 1 < cap) ptr[n++] = '/';
  for (const char *p = token; *p && n + 2 < cap; p++) {
    if (*p == '~' || *p == '/') {
      ptr[n++] = '~';
      ptr[n++] = *p == '~' ? '0' : '1';
    } else {
      ptr[n++] = *p;
    }
  }
  ptr[n] = '\0';
}

/* Lists the keys of the table at the top that do not start with '_'. */
static void list_keys(lua_State *L, char *out, size_t cap) {
  size_t n = 0;
  out[0] = '\0';
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    if (k && k[0] != '_' && n + strlen(k) + 3 < cap)
      n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? ", " : "", k);
    lua_pop(L, 1);
  }
  if (!out[0]) snprintf(out, cap, "none");
}

/* Pushes t[key] of the table at the top; fails when it is not a table. */
static int enter(walk *w, const char *key, char *ptr, size_t cap, const char *what) {
  lua_getfield(w->L, -1, key);
  pointer_push(ptr, cap, key);
  if (lua_type(w->L, -1) == LUA_TTABLE) return 0;
  int missing = lua_isnil(w->L, -1);
  lua_pop(w->L, 1);
  char known[300];
  list_keys(w->L, known, sizeof known);
  return fail(w, ptr, missing ? "no %s of that name (known: %s)" : "%s must be a JSON object",
              what, known);
}

/* The string t[key] of the table at the top, NULL when absent or null. */
static int get_string(walk *w, const char *key, const char **out, const char *ptr) {
  lua_getfield(w->L, -1, key);
  int type = lua_type(w->L, -1);
  int is_null = type == LUA_TLIGHTUSERDATA && lua_touserdata(w->L, -1) == json_null();
  *out = type == LUA_TSTRING ? lua_tostring(w->L, -1) : NULL;
  lua_pop(w->L, 1);   /* the string stays alive inside the table */
  if (type == LUA_TSTRING || type == LUA_TNIL || is_null) return 0;
  char here[600];
  snprintf(here, sizeof here, "%s", ptr);
  pointer_push(here, sizeof here, key);
  return fail(w, here, "must be a string");
}

static int read_ids(walk *w, const char *ptr, de_target *out) {
  lua_Integer n = (lua_Integer)lua_rawlen(w->L, -1);
  for (lua_Integer i = 1; i <= n; i++) {
    char here[600], idx[24];
    snprintf(here, sizeof here, "%s", ptr);
    snprintf(idx, sizeof idx, "%lld", (long long)(i - 1));
    pointer_push(here, sizeof here, idx);
    lua_rawgeti(w->L, -1, i);
    const char *id = lua_type(w->L, -1) == LUA_TSTRING ? lua_tostring(w->L, -1) : NULL;
    int bad = !id || !de_entity_id_valid(id);
    int rc = bad ? 0 : de_target_add_id(out, id);
    lua_pop(w->L, 1);
    if (bad) return fail(w, here, "must be an entity id such as SERVICE-8AC3A0761537D748");
    if (rc != 0) return fail(w, here, "out of memory");
  }
  out->kind = DE_TARGET_IDS;
  return 0;
}

static int read_tag(walk *w, const char *here, de_target *out) {
  if (lua_type(w->L, -1) != LUA_TTABLE) return fail(w, here, "a tag must be an object {context, key, value}");
  const char *ctx, *key, *value;
  if (get_string(w, "context", &ctx, here) || get_string(w, "key", &key, here) ||
      get_string(w, "value", &value, here))
    return -1;
  if (!key || !*key) return fail(w, here, "a tag needs a non-empty \"key\"");
  char *context = NULL;
  int rc = de_context_normalize(ctx && *ctx ? ctx : "CONTEXTLESS", &context);
  if (rc != 0) {
    return fail(w, here, rc == -2 ? "invalid \"context\": use letters, digits and '_' (e.g. ENVIRONMENT)"
                                  : "out of memory");
  }
  de_tag full = {context, (char *)key, (char *)value};
  rc = de_target_add_tag(out, &full);
  free(context);
  return rc == 0 ? 0 : fail(w, here, "out of memory");
}

static int read_tags(walk *w, const char *ptr, de_target *out) {
  lua_Integer n = (lua_Integer)lua_rawlen(w->L, -1);
  for (lua_Integer i = 1; i <= n; i++) {
    char here[600], idx[24];
    snprintf(here, sizeof here, "%s", ptr);
    snprintf(idx, sizeof idx, "%lld", (long long)(i - 1));
    pointer_push(here, sizeof here, idx);
    lua_rawgeti(w->L, -1, i);
    int rc = read_tag(w, here, out);
    lua_pop(w->L, 1);
    if (rc != 0) return -1;
  }
  out->kind = DE_TARGET_TAGS;
  return 0;
}

static int is_monspec_etype(const char *t) {
  static const char *const known[] = {"SERVICE", "APPLICATION", "HOST", "PROCESS_GROUP",
                                      "PROCESS_GROUP_INSTANCE"};
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (strcmp(t, known[i]) == 0) return 1;
  return 0;
}

/* With the entity definition on top: its entity type. */
static int read_etype(walk *w, const char *ptr, const char *override, de_target *out) {
  const char *etype;
  if (get_string(w, "etype", &etype, ptr) != 0) return -1;
  const char *type = override ? override : etype;
  if (!type) return fail(w, ptr, "missing \"etype\": add one of SERVICE, APPLICATION, HOST, "
                         "PROCESS_GROUP, PROCESS_GROUP_INSTANCE, or give --entity-type");
  if (!override && !is_monspec_etype(type))
    return fail(w, ptr, "\"etype\" '%.60s' is not one of SERVICE, APPLICATION, HOST, PROCESS_GROUP, "
                "PROCESS_GROUP_INSTANCE", type);
  out->entity_type = strdup(type);
  return out->entity_type ? 0 : fail(w, ptr, "out of memory");
}

/* With the environment object on top: entities, else tags. */
static int read_environment(walk *w, char *ptr, size_t cap, de_target *out) {
  static const char *const keys[] = {"entities", "tags"};
  for (int k = 0; k < 2; k++) {
    lua_getfield(w->L, -1, keys[k]);
    int type = lua_type(w->L, -1);
    int is_null = type == LUA_TLIGHTUSERDATA && lua_touserdata(w->L, -1) == json_null();
    if (type == LUA_TTABLE && lua_rawlen(w->L, -1) > 0) {
      size_t mark = strlen(ptr);
      pointer_push(ptr, cap, keys[k]);
      int rc = k == 0 ? read_ids(w, ptr, out) : read_tags(w, ptr, out);
      ptr[mark] = '\0';
      lua_pop(w->L, 1);
      return rc;
    }
    lua_pop(w->L, 1);
    if (type != LUA_TNIL && type != LUA_TTABLE && !is_null) {
      pointer_push(ptr, cap, keys[k]);
      return fail(w, ptr, "must be an array");
    }
  }
  return fail(w, ptr, "the environment has neither \"entities\" nor \"tags\": the event would go to "
              "every entity of the type; add entity ids or tags");
}

static int walk_monspec(walk *w, int is_object, const char *entity, const char *env,
                        const char *override, de_target *out) {
  char ptr[600] = "";
  if (!is_object) return fail(w, "", "a monspec file must be a JSON object");
  if (enter(w, entity, ptr, sizeof ptr, "entity definition") != 0) return -1;
  char entity_ptr[600];
  snprintf(entity_ptr, sizeof entity_ptr, "%s", ptr);
  if (read_etype(w, entity_ptr, override, out) != 0) return -1;
  if (enter(w, "environments", ptr, sizeof ptr, "\"environments\"") != 0) return -1;
  if (enter(w, env, ptr, sizeof ptr, "environment") != 0) return -1;
  if (read_environment(w, ptr, sizeof ptr, out) != 0) return -1;
  out->env_name = strdup(env);
  return out->env_name ? 0 : fail(w, ptr, "out of memory");
}

/* Lua tables do not tell objects from arrays: look at the first byte. */
static int starts_object(const char *json, size_t len) {
  size_t i = 0;
  while (i < len && (json[i] == ' ' || json[i] == '\t' || json[i] == '\r' || json[i] == '\n')) i++;
  return i < len && json[i] == '{';
}

int de_target_from_monspec(const char *json, size_t len, const char *file,
                           const char *entity_env, const char *type_override,
                           de_target *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  const char *slash = strchr(entity_env, '/');
  if (!slash || slash == entity_env || !slash[1]) {
    snprintf(err, errlen, "--environment '%.100s' must be ENTITY/ENVIRONMENT, e.g. "
             "SampleJSonService/Production", entity_env);
    return -1;
  }
  if (type_override && !de_entity_type_valid(type_override)) {
    snprintf(err, errlen, "--entity-type '%.60s' must be an upper-case entity type such as SERVICE "
             "or PROCESS_GROUP_INSTANCE", type_override);
    return -1;
  }
  char entity[256];
  snprintf(entity, sizeof entity, "%.*s", (int)(slash - entity_env), entity_env);
  walk w = {luaL_newstate(), file, err, errlen};
  if (!w.L) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  char jerr[256];
  int rc = json_decode_lua(w.L, json, len, 64, jerr, sizeof jerr);
  if (rc != 0) snprintf(err, errlen, "%s is not valid JSON: %s", file, jerr);
  else rc = walk_monspec(&w, starts_object(json, len), entity, slash + 1, type_override, out);
  lua_close(w.L);
  if (rc != 0) de_target_free(out);
  return rc;
}
