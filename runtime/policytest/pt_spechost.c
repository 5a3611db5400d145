/* pt_spechost.c: the native module unbreakable.spechost, granted only to
 * spec files run by `unbreakable test`. It reads fixtures and policies
 * from the spec's own folder (relative names, no "..", regular files),
 * gives the Dynatrace binding a replay recording (the stand-in answers
 * only what the recorded evaluation answered; anything else fails), and
 * checks a verdict the way the host does (gate/gate_run.c). */
#include "policytest/policytest.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>

#include "dynatrace/recorder.h"
#include "lualib/ldynatrace.h"
#include "util/clock.h"
#include "util/json.h"

#define PT_MAX_FILE ((size_t)16 << 20)

struct pt_spec_env {
  char dir[1024];
  ub_recorder *rec;        /* what the stand-in answers from now */
  char *recording;         /* JSON of the last fixture's recording, or NULL */
  size_t recording_len;
};

static const char env_key = 0;

pt_spec_env *pt_spec_env_new(const char *dir) {
  pt_spec_env *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  snprintf(e->dir, sizeof e->dir, "%s", dir);
  return e;
}

void pt_spec_env_free(pt_spec_env *e) {
  if (!e) return;
  ub_recorder_free(e->rec);
  free(e->recording);
  free(e);
}

/* Replaces the recording the stand-in answers from (NULL text: empty). */
static int set_recording(lua_State *L, pt_spec_env *e, const char *json, size_t len) {
  char err[256];
  ub_recorder *rec = json ? ub_recorder_from_json(json, len, err, sizeof err) : ub_recorder_new();
  if (!rec) return -1;
  if (!json) ub_recorder_set_replay(rec);
  ub_dt_bind(L, NULL, rec);
  ub_recorder_free(e->rec);
  e->rec = rec;
  return 0;
}

int pt_spec_env_prepare(lua_State *L, void *ud) {
  pt_spec_env *e = ud;
  lua_pushlightuserdata(L, e);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &env_key);
  if (set_recording(L, e, e->recording, e->recording_len) != 0) set_recording(L, e, NULL, 0);
  ub_dt_set_deadline(L, ub_clock_ms() + 60000);
  return 0;
}

static pt_spec_env *env_of(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &env_key);
  pt_spec_env *e = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (!e) luaL_error(L, "unbreakable.spechost is available only to specs run by 'unbreakable test'");
  return e;
}

/* A name relative to the spec's folder: letters, digits, _ - . /, no
 * "..", no leading "/". Pushes nothing; fills path. */
static void spec_path(lua_State *L, pt_spec_env *e, const char *name, char *path, size_t size) {
  int ok = *name && *name != '/' && !strstr(name, "..");
  for (const char *p = name; ok && *p; p++)
    ok = isalnum((unsigned char)*p) || strchr("_-./", *p);
  if (!ok) luaL_error(L, "'%s': give a file name relative to the spec's folder (letters, "
                         "digits, _ - . /; no '..')", name);
  snprintf(path, size, "%s/%s", e->dir, name);
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
    luaL_error(L, "%s: no such file next to the spec", path);
}

/* Reads a file of the spec's folder; the bytes count against the memory
 * limit before they are read. Caller frees. */
static char *read_spec_file(lua_State *L, const char *path, size_t *len) {
  struct stat st;
  if (stat(path, &st) != 0 || (size_t)st.st_size > PT_MAX_FILE)
    luaL_error(L, "%s: missing or larger than 16 MiB", path);
  if (sb_budget_left(L, (size_t)st.st_size) != 0) sb_check_budget(L);
  char err[300];
  char *text = ub_read_all(path, PT_MAX_FILE, len, err, sizeof err);
  if (!text) luaL_error(L, "%s", err);
  return text;
}

static void decode_file(lua_State *L, const char *path) {
  size_t len;
  char err[256];
  char *text = read_spec_file(L, path, &len);
  int rc = json_decode_lua(L, text, len, 200, err, sizeof err);
  free(text);
  if (rc != 0) luaL_error(L, "%s: not valid JSON: %s", path, err);
}

/* fixture.json(name): the decoded JSON file. */
static int sh_json(lua_State *L) {
  char path[1200];
  spec_path(L, env_of(L), luaL_checkstring(L, 1), path, sizeof path);
  decode_file(L, path);
  return 1;
}

/* Encodes the value at idx as the host would (raw, sorted, no NaN). */
static void encode(lua_State *L, int idx, const char *root, ub_buf *out) {
  char err[300];
  json_enc_opts o = {0, 0, 100, 1, root};
  if (json_encode_lua(L, idx, &o, out, err, sizeof err) != 0) {
    ub_buf_free(out);
    luaL_error(L, "%s", err);
  }
  if (sb_budget_left(L, out->len) != 0) {
    ub_buf_free(out);
    sb_check_budget(L);
  }
}

/* fixture.evaluation(name): a file written by `gate --dump-ctx` or
 * `replay --export`: returns its context and recorded verdict, and makes
 * the Dynatrace stand-in answer from its recording. */
static int sh_evaluation(lua_State *L) {
  pt_spec_env *e = env_of(L);
  char path[1200];
  spec_path(L, e, luaL_checkstring(L, 1), path, sizeof path);
  decode_file(L, path);
  int doc = lua_gettop(L);
  if (lua_type(L, doc) != LUA_TTABLE || lua_getfield(L, doc, "context") != LUA_TTABLE)
    return luaL_error(L, "%s: not an evaluation fixture (no \"context\" object; write one "
                         "with 'unbreakable gate --dump-ctx FILE' or 'unbreakable replay ID "
                         "--export FILE')", path);
  if (lua_getfield(L, doc, "recording") == LUA_TTABLE) {
    ub_buf rec;
    ub_buf_init(&rec);
    encode(L, lua_gettop(L), "recording", &rec);
    free(e->recording);
    e->recording_len = rec.len;
    e->recording = ub_buf_steal(&rec, NULL);
    if (!e->recording || set_recording(L, e, e->recording, e->recording_len) != 0)
      return luaL_error(L, "%s: \"recording\" is not a recording of Dynatrace responses", path);
  } else { /* no recording: the stand-in answers nothing */
    free(e->recording);
    e->recording = NULL;
    e->recording_len = 0;
    if (set_recording(L, e, NULL, 0) != 0) return luaL_error(L, "out of memory");
  }
  lua_pop(L, 1);
  lua_getfield(L, doc, "verdict");
  return 2;
}

/* rewind(): the stand-in answers again from the start of the recording. */
static int sh_rewind(lua_State *L) {
  pt_spec_env *e = env_of(L);
  if (set_recording(L, e, e->recording, e->recording_len) != 0)
    return luaL_error(L, "cannot rewind the recording");
  return 0;
}

/* read_policy(name): source and chunk name of a policy next to the spec. */
static int sh_read_policy(lua_State *L) {
  pt_spec_env *e = env_of(L);
  char path[1200];
  spec_path(L, e, luaL_checkstring(L, 1), path, sizeof path);
  size_t len;
  char *text = read_spec_file(L, path, &len);
  lua_pushlstring(L, text, len);
  free(text);
  lua_pushfstring(L, "@%s", path);
  return 2;
}

/* copy(v): v through the host's JSON, as a policy receives its context. */
static int sh_copy(lua_State *L) {
  ub_buf b;
  char err[256];
  luaL_checkany(L, 1);
  ub_buf_init(&b);
  encode(L, 1, "context", &b);
  int rc = json_decode_lua(L, b.data, b.len, 200, err, sizeof err);
  ub_buf_free(&b);
  if (rc != 0) return luaL_error(L, "context: %s", err);
  return 1;
}

/* check_verdict(v): the checks of the host, then v through its JSON. */
static int sh_check_verdict(lua_State *L) {
  static const char *const verdicts[] = {"pass", "warning", "fail", "inconclusive", "error", NULL};
  if (lua_type(L, 1) != LUA_TTABLE)
    return luaL_error(L, "the policy returned a %s, not a verdict table", luaL_typename(L, 1));
  lua_pushliteral(L, "verdict");
  const char *v = lua_rawget(L, 1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  int ok = 0;
  for (int i = 0; v && verdicts[i]; i++) ok |= strcmp(v, verdicts[i]) == 0;
  if (!ok)
    return luaL_error(L, "the policy returned verdict %s; expected pass, warning, fail, "
                         "inconclusive or error", v ? v : "(none)");
  lua_pop(L, 1);
  ub_buf b;
  char err[256];
  ub_buf_init(&b);
  encode(L, 1, "verdict", &b);
  int rc = json_decode_lua(L, b.data, b.len, 200, err, sizeof err);
  ub_buf_free(&b);
  if (rc != 0) return luaL_error(L, "verdict: %s", err);
  return 1;
}

int luaopen_unbreakable_spechost(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"evaluation", sh_evaluation}, {"json", sh_json}, {"rewind", sh_rewind},
    {"read_policy", sh_read_policy}, {"copy", sh_copy}, {"check_verdict", sh_check_verdict},
    {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}
