/* fuzz_decoders.c: libFuzzer harness for everything that parses bytes
 * from outside: JSON (and the encoder, by round trip), the Dynatrace
 * decoders that write straight into series, YAML, and recorded exchanges.
 * Built once per target with -DFUZZ_TARGET=...; see CMakeLists.txt. Any
 * crash, sanitizer report or broken round trip aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "dynatrace/dt_decode.h"
#include "util/json.h"
#include "lualib/lseries.h"
#include "dynatrace/recorder.h"
#include "lualib/yaml_lua.h"

typedef struct input { const char *data; size_t len; } input;

static char *encode_top(lua_State *L) {
  char err[256];
  ub_buf out;
  ub_buf_init(&out);
  json_enc_opts o = {0, 0, 200, 1, NULL};
  if (json_encode_lua(L, -1, &o, &out, err, sizeof err) != 0) {
    ub_buf_free(&out);
    return NULL;
  }
  return ub_buf_steal(&out, NULL);
}

/* decode -> encode -> decode -> encode: both encodings must be equal. */
static int json_roundtrip(lua_State *L, const input *in) {
  char err[256];
  if (json_decode_lua(L, in->data, in->len, 200, err, sizeof err) != 0) return 0;
  char *first = encode_top(L);
  if (!first) return 0; /* e.g. a key that is not UTF-8: refused, fine */
  if (json_decode_lua(L, first, strlen(first), 200, err, sizeof err) != 0) abort();
  char *second = encode_top(L);
  if (!second || strcmp(first, second) != 0) abort();
  free(first);
  free(second);
  return 0;
}

static int run_target(lua_State *L) {
  const input *in = lua_touserdata(L, 1);
  char err[256];
  lua_settop(L, 0);
  switch (FUZZ_TARGET) {
    case 0: return json_roundtrip(L, in);
    case 1: dt_decode_metrics(L, in->data, in->len, err, sizeof err); return 0;
    case 2: dt_decode_timeseries(L, in->data, in->len, err, sizeof err); return 0;
    case 3: yaml_decode_lua_positions(L, in->data, in->len, "fuzz.yaml", NULL); return 0;
    default: {
      ub_recorder *rec = ub_recorder_from_json(in->data, in->len, err, sizeof err);
      ub_recorder_free(rec);
      return 0;
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static lua_State *L;
  if (!L) {
    L = luaL_newstate();
    luaL_requiref(L, "unbreakable.stats", luaopen_unbreakable_stats, 0);
    lua_pop(L, 1);
  }
  input in = {(const char *)data, size};
  lua_pushcfunction(L, run_target);
  lua_pushlightuserdata(L, &in);
  lua_pcall(L, 1, 0, 0); /* memory errors are fine; crashes are not */
  lua_settop(L, 0);
  lua_gc(L, LUA_GCCOLLECT);
  return 0;
}
