/* pt_spechost.c: the native module unbreakable.spechost, granted only to
 * spec files run by `unbreakable test`. It reads fixtures and policies
 * from the spec's own folder (relative names, no "..", regular files) and
 * gives the Dynatrace binding a replay recording (the stand-in answers
 * only what the recorded evaluation answered; anything else fails). The
 * JSON work is done by unbreakable.json on the Lua side (testing.lua). */
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
#include "sandbox/budget.h"

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

/* read(name): the bytes of a file of the spec's folder, as a Lua string.
 * The bytes count against the memory limit before they are read, and no
 * C resource is held while Lua may raise (the sandbox's hard stop never
 * returns into this function): the file is read into a Lua userdata
 * between two Lua calls, with no Lua call while it is open. */
static int sh_read(lua_State *L) {
  pt_spec_env *e = env_of(L);
  char path[1200];
  spec_path(L, e, luaL_checkstring(L, 1), path, sizeof path);
  struct stat st;
  if (stat(path, &st) != 0 || st.st_size < 0 || (size_t)st.st_size > PT_MAX_FILE)
    return luaL_error(L, "%s: missing or larger than 16 MiB", path);
  size_t size = (size_t)st.st_size;
  if (ub_budget_charge(L, size) != 0) ub_budget_check(L);
  char *data = lua_newuserdatauv(L, size ? size : 1, 0);
  FILE *f = fopen(path, "rb");
  size_t got = f ? fread(data, 1, size, f) : 0;
  int more = f ? fgetc(f) != EOF : 0;
  if (f) fclose(f);
  if (!f || got != size || more) return luaL_error(L, "%s: cannot read it whole", path);
  lua_pushlstring(L, data, size);
  lua_pushfstring(L, "@%s", path);
  return 2;
}

/* set_recording(text | nil): the Dynatrace stand-in answers from this
 * recording (JSON of a fixture's "recording"), or from nothing. */
static int sh_set_recording(lua_State *L) {
  pt_spec_env *e = env_of(L);
  size_t len = 0;
  const char *text = luaL_optlstring(L, 1, NULL, &len);
  char *copy = NULL;
  if (text && !(copy = malloc(len + 1))) return luaL_error(L, "out of memory");
  if (copy) memcpy(copy, text, len + 1);
  free(e->recording); /* host memory, freed with the env; no Lua call from here */
  e->recording = copy;
  e->recording_len = len;
  if (set_recording(L, e, e->recording, e->recording_len) != 0) {
    free(e->recording);
    e->recording = NULL;
    e->recording_len = 0;
    set_recording(L, e, NULL, 0);
    return luaL_error(L, "not a recording of Dynatrace responses (\"recording\" of a fixture)");
  }
  return 0;
}

/* rewind(): the stand-in answers again from the start of the recording. */
static int sh_rewind(lua_State *L) {
  pt_spec_env *e = env_of(L);
  if (set_recording(L, e, e->recording, e->recording_len) != 0)
    return luaL_error(L, "cannot rewind the recording");
  return 0;
}

int luaopen_unbreakable_spechost(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"read", sh_read}, {"set_recording", sh_set_recording}, {"rewind", sh_rewind}, {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}
