/* test_gate_monspec.c: the monspec decoder kept by serve's workers
 * (gate/gate_monspec.h): one decoder for many documents, the last text's
 * document reused, every push a copy of its own, and a bad text between
 * good ones costing nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <lauxlib.h>
#include <lualib.h>

#include "gate/gate_monspec.h"
#include "util/buf.h"

static const char *const SPEC_A =
    "{\"spec_version\": \"0.1\", \"policy\": \"a.lua\", \"zeta\": 1, \"alpha\": [1, 2.0]}";
static const char *const SPEC_B = "{\"policy\": \"b.lua\", \"beta\": true}";

static const char *stdlib_dir(void) {
  const char *d = getenv("UB_STDLIB");
  return d ? d : UB_TEST_SOURCE_DIR "/../stdlib";
}

static ub_monspec_decoder *new_decoder(void) {
  char err[512] = "";
  ub_monspec_decoder *dec = ub_monspec_decoder_new(stdlib_dir(), err, sizeof err);
  if (!dec) fail_msg("%s", err);
  return dec;
}

static ub_monspec_doc *decode(ub_monspec_decoder *dec, const char *text, int *invalid) {
  char err[512] = "";
  return ub_monspec_decode_with(dec, text, strlen(text), invalid, err, sizeof err);
}

/* The key order the decoder recorded for the document pushed onto L,
 * joined with commas. */
static void key_order(lua_State *L, char *out, size_t size) {
  out[0] = '\0';
  assert_true(lua_getmetatable(L, -1));
  assert_int_equal(lua_getfield(L, -1, "__jsonorder"), LUA_TTABLE);
  for (lua_Integer i = 1; lua_rawgeti(L, -1, i) == LUA_TSTRING; i++) {
    if (i > 1) strncat(out, ",", size - strlen(out) - 1);
    strncat(out, lua_tostring(L, -1), size - strlen(out) - 1);
    lua_pop(L, 1);
  }
  lua_pop(L, 3);
}

static void one_decoder_serves_many_documents(void **state) {
  (void)state;
  char order[128];
  int invalid = -1;
  ub_monspec_decoder *dec = new_decoder();
  ub_monspec_doc *a = decode(dec, SPEC_A, &invalid);
  assert_non_null(a);
  assert_string_equal(ub_monspec_policy(a), "a.lua");
  ub_monspec_doc *b = decode(dec, SPEC_B, &invalid);
  assert_non_null(b);
  assert_string_equal(ub_monspec_policy(b), "b.lua");
  ub_monspec_doc *a2 = decode(dec, SPEC_A, &invalid); /* not the last text: decoded again */
  assert_non_null(a2);
  ub_monspec_doc *a3 = decode(dec, SPEC_A, &invalid); /* the last text: its document reused */
  assert_non_null(a3);
  assert_string_equal(ub_monspec_policy(a3), "a.lua");
  ub_monspec_free(a);
  ub_monspec_free(a2);
  lua_State *L = luaL_newstate();
  ub_monspec_push(L, a3);
  key_order(L, order, sizeof order);
  assert_string_equal(order, "spec_version,policy,zeta,alpha");
  lua_getfield(L, -1, "alpha");
  lua_rawgeti(L, -1, 2);
  assert_true(lua_isnumber(L, -1) && !lua_isinteger(L, -1)); /* 2.0 stays a float */
  lua_pop(L, 2);
  ub_monspec_push(L, b);
  key_order(L, order, sizeof order);
  assert_string_equal(order, "policy,beta");
  lua_close(L);
  ub_monspec_free(a3);
  ub_monspec_free(b);
  ub_monspec_decoder_free(dec);
}

/* What a policy does to its copy never reaches the next gate's copy. */
static void every_push_is_a_copy(void **state) {
  (void)state;
  int invalid = -1;
  ub_monspec_decoder *dec = new_decoder();
  ub_monspec_doc *first = decode(dec, SPEC_A, &invalid);
  lua_State *L = luaL_newstate();
  ub_monspec_push(L, first);
  lua_pushinteger(L, 99);
  lua_setfield(L, -2, "zeta");
  lua_getfield(L, -1, "alpha");
  lua_pushinteger(L, 7);
  lua_rawseti(L, -2, 1);
  lua_settop(L, 0);
  ub_monspec_free(first);
  ub_monspec_doc *again = decode(dec, SPEC_A, &invalid);
  ub_monspec_push(L, again);
  lua_getfield(L, -1, "zeta");
  assert_int_equal(lua_tointeger(L, -1), 1);
  lua_getfield(L, -2, "alpha");
  lua_rawgeti(L, -1, 1);
  assert_int_equal(lua_tointeger(L, -1), 1);
  lua_close(L);
  ub_monspec_free(again);
  ub_monspec_decoder_free(dec);
}

/* An invalid text is refused as an input error, between good ones that
 * keep decoding; a duplicate key is invalid JSON for a monspec. */
static void bad_texts_are_refused_and_cost_nothing(void **state) {
  (void)state;
  char err[512] = "";
  int invalid = 0;
  ub_monspec_decoder *dec = new_decoder();
  ub_monspec_doc *good = decode(dec, SPEC_A, &invalid);
  assert_non_null(good);
  static const char *const bad[] = {"{\"a\": 1, \"a\": 2}", "[1, 2]", "{\"a\": ", "null"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    invalid = 0;
    assert_null(ub_monspec_decode_with(dec, bad[i], strlen(bad[i]), &invalid, err, sizeof err));
    assert_int_equal(invalid, 1);
    assert_true(err[0] != '\0');
  }
  ub_monspec_doc *again = decode(dec, SPEC_A, &invalid);
  assert_non_null(again);
  assert_string_equal(ub_monspec_policy(again), "a.lua");
  ub_monspec_free(good);
  ub_monspec_free(again);
  ub_monspec_decoder_free(dec);
}

static void a_missing_decoder_is_an_error(void **state) {
  (void)state;
  char err[512] = "";
  assert_null(ub_monspec_decoder_new("/nonexistent-stdlib", err, sizeof err));
  assert_non_null(strstr(err, "/nonexistent-stdlib/unbreakable/monspec/pyjson.lua"));
}

/* The marks are copies too: a policy that rewrites its document's key
 * order or array mark, or the mark of an empty array, changes nothing
 * for the next gate. */
static void the_marks_are_copies_too(void **state) {
  (void)state;
  int invalid = -1;
  char order[128];
  static const char *const spec = "{\"policy\": \"a.lua\", \"e\": [], \"f\": [[]]}";
  ub_monspec_decoder *dec = new_decoder();
  ub_monspec_doc *first = decode(dec, spec, &invalid);
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  ub_monspec_push(L, first);
  lua_setglobal(L, "doc");
  assert_int_equal(luaL_dostring(L,
      "local mt = getmetatable(doc); mt.__jsonorder[1] = 'zzz'; mt.__jsonorder = {'x'}\n"
      "getmetatable(doc.e).__jsontype = 'object'\n"
      "getmetatable(doc.f[1]).__jsontype = 'object'; setmetatable(doc.f, nil)"), LUA_OK);
  ub_monspec_free(first);
  ub_monspec_doc *again = decode(dec, spec, &invalid); /* the remembered document */
  ub_monspec_push(L, again);
  key_order(L, order, sizeof order);
  assert_string_equal(order, "policy,e,f");
  lua_setglobal(L, "doc2");
  assert_int_equal(luaL_dostring(L,
      "assert(getmetatable(doc2.e).__jsontype == 'array')\n"
      "assert(getmetatable(doc2.f).__jsontype == 'array')\n"
      "assert(getmetatable(doc2.f[1]).__jsontype == 'array')\n"
      "assert(getmetatable(doc2.e) ~= getmetatable(doc.e))"), LUA_OK);
  lua_close(L);
  ub_monspec_free(again);
  ub_monspec_decoder_free(dec);
}

/* An allocator that refuses once `left` bytes are spent (a sandbox's cap). */
static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  size_t *left = ud;
  if (nsize == 0) {
    free(ptr);
    return NULL;
  }
  size_t grow = ptr && nsize > osize ? nsize - osize : ptr ? 0 : nsize;
  if (grow > *left) return NULL;
  *left -= grow;
  return realloc(ptr, nsize);
}

static int push_doc(lua_State *L) {
  ub_monspec_push(L, lua_touserdata(L, 1));
  return 1;
}

/* A copy that runs out of the policy's memory halfway is an error of that
 * gate alone: the next gate in the same worker gets the whole document. */
static void a_copy_cut_short_harms_no_later_gate(void **state) {
  (void)state;
  int invalid = -1;
  ub_buf big;
  ub_buf_init(&big);
  ub_buf_puts(&big, "{\"policy\": \"a.lua\", \"list\": [");
  for (int i = 0; i < 2000; i++) ub_buf_printf(&big, "%s{\"k\": %d, \"s\": \"text %d\"}", i ? ", " : "", i, i);
  ub_buf_puts(&big, "]}");
  ub_monspec_decoder *dec = new_decoder();
  for (size_t cap = 16 * 1024; cap <= 256 * 1024; cap *= 2) {
    ub_monspec_doc *d = ub_monspec_decode_with(dec, big.data, big.len, &invalid, (char[256]){0}, 256);
    assert_non_null(d);
    size_t left = cap;
    lua_State *small = lua_newstate(capped_alloc, &left);
    assert_non_null(small);
    lua_pushcfunction(small, push_doc);
    lua_pushlightuserdata(small, d);
    assert_int_equal(lua_pcall(small, 1, 1, 0), LUA_ERRMEM);
    lua_close(small);
    ub_monspec_free(d);
    d = ub_monspec_decode_with(dec, big.data, big.len, &invalid, (char[256]){0}, 256);
    assert_non_null(d);
    lua_State *L = luaL_newstate();
    ub_monspec_push(L, d);
    lua_getfield(L, -1, "list");
    assert_int_equal(luaL_len(L, -1), 2000);
    lua_rawgeti(L, -1, 2000);
    lua_getfield(L, -1, "s");
    assert_string_equal(lua_tostring(L, -1), "text 1999");
    lua_close(L);
    ub_monspec_free(d);
  }
  ub_monspec_decoder_free(dec);
  ub_buf_free(&big);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(one_decoder_serves_many_documents),
    cmocka_unit_test(every_push_is_a_copy),
    cmocka_unit_test(bad_texts_are_refused_and_cost_nothing),
    cmocka_unit_test(a_missing_decoder_is_an_error),
    cmocka_unit_test(the_marks_are_copies_too),
    cmocka_unit_test(a_copy_cut_short_harms_no_later_gate),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
