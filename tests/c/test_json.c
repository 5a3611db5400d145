/* test_json.c: the JSON reader (grammar, numbers correctly rounded against
 * strtod, integers exact, errors with offsets), the Lua builder and the
 * encoder (sorted keys, Python style, shortest round trip, rejections). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lauxlib.h>
#include <lualib.h>

#include "util/json.h"

static json_token first_token(const char *text, json_reader *r) {
  json_reader_init(r, text, strlen(text), 64);
  return json_next(r);
}

static void test_numbers_match_strtod(void **state) {
  (void)state;
  static const char *cases[] = {
    "0", "-0", "1", "0.1", "0.3", "1e22", "1e23", "9007199254740993", "1.7976931348623157e308",
    "5e-324", "2.2250738585072014e-308", "123456789012345678901234567890", "0.000001234",
    "149062.769", "1.5e-10", "4.35", "8.41e21", "3.0e-22", "2.5E+3", "-1.2345678901234567e-300"};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    json_reader r;
    assert_int_equal(first_token(cases[i], &r), JSON_NUMBER);
    assert_true(r.num == strtod(cases[i], NULL));
    json_reader_free(&r);
  }
  /* random doubles, printed with 17 digits and with fewer */
  srand(42);
  for (int i = 0; i < 20000; i++) {
    char text[64];
    double d = ((double)rand() / RAND_MAX - 0.5) * pow(10, rand() % 40 - 20);
    if (i % 2) snprintf(text, sizeof text, "%.17g", d);
    else snprintf(text, sizeof text, "%.*g", 1 + rand() % 16, d);
    json_reader r;
    assert_int_equal(first_token(text, &r), JSON_NUMBER);
    if (r.num != strtod(text, NULL)) fail_msg("%s: %.17g != %.17g", text, r.num, strtod(text, NULL));
    json_reader_free(&r);
  }
}

static void test_integers_stay_exact(void **state) {
  (void)state;
  json_reader r;
  assert_int_equal(first_token("-4314211936928920170", &r), JSON_NUMBER);
  assert_true(r.is_integer);
  assert_true(r.integer == -4314211936928920170LL);
  json_reader_free(&r);
  assert_int_equal(first_token("9223372036854775807", &r), JSON_NUMBER);
  assert_true(r.is_integer && r.integer == INT64_MAX);
  json_reader_free(&r);
  assert_int_equal(first_token("-9223372036854775808", &r), JSON_NUMBER);
  assert_true(r.is_integer && r.integer == INT64_MIN);
  json_reader_free(&r);
  assert_int_equal(first_token("9223372036854775808", &r), JSON_NUMBER);
  assert_false(r.is_integer); /* beyond int64: a float */
  json_reader_free(&r);
  assert_int_equal(first_token("10.0", &r), JSON_NUMBER);
  assert_false(r.is_integer);
  json_reader_free(&r);
}

static void expect_error(const char *text, const char *what) {
  lua_State *L = luaL_newstate();
  char err[256];
  assert_int_equal(json_decode_lua(L, text, strlen(text), 64, err, sizeof err), -1);
  if (!strstr(err, what)) fail_msg("%s: error '%s' lacks '%s'", text, err, what);
  assert_int_equal(lua_gettop(L), 0);
  lua_close(L);
}

static void test_grammar_errors(void **state) {
  (void)state;
  expect_error("", "unexpected end");
  expect_error("[1,]", "trailing comma");
  expect_error("{\"a\":1,}", "trailing comma");
  expect_error("{\"a\" 1}", "expected ':'");
  expect_error("{\"a\":}", "unexpected character");
  expect_error("[1 2]", "expected ',' or ']'");
  expect_error("01", "unexpected data");
  expect_error("1.", "digit expected after '.'");
  expect_error("1e", "digit expected in exponent");
  expect_error("\"abc", "unterminated string");
  expect_error("\"\\x\"", "invalid escape");
  expect_error("\"\\ud800\"", "unpaired UTF-16 surrogate");
  expect_error("{\"a\":1,\"a\":2}", "duplicate key");
  expect_error("1e400", "out of range");
  expect_error("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
               "nesting too deep");
  expect_error("{} x", "unexpected data after the value");
  expect_error("<html>", "offset 0");
}

static char *roundtrip(lua_State *L, const char *text, const json_enc_opts *o) {
  char err[256];
  ub_buf out;
  ub_buf_init(&out);
  assert_int_equal(json_decode_lua(L, text, strlen(text), 64, err, sizeof err), 0);
  if (json_encode_lua(L, -1, o, &out, err, sizeof err) != 0) fail_msg("%s", err);
  lua_pop(L, 1);
  return ub_buf_steal(&out, NULL);
}

/* A JSON string holding "\u0000" never equals a C string it starts with. */
static void test_str_is_compares_whole_strings(void **state) {
  (void)state;
  static const char text[] = "[\"rc\", \"rc\\u0000x\", \"r\", \"\", \"rcx\"]";
  static const int want[] = {1, 0, 0, 0, 0};
  json_reader r;
  json_reader_init(&r, text, strlen(text), 4);
  assert_int_equal(json_next(&r), JSON_ARRAY);
  for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
    assert_int_equal(json_next(&r), JSON_STRING);
    assert_int_equal(json_str_is(&r, "rc"), want[i]);
  }
  assert_int_equal(json_str_is(&r, "rcx"), 1);
  json_reader_free(&r);
  json_reader_init(&r, "\"\"", 2, 4);
  assert_int_equal(json_next(&r), JSON_STRING);
  assert_true(json_str_is(&r, ""));
  json_reader_free(&r);
}

static void test_encode_sorted_and_styles(void **state) {
  (void)state;
  lua_State *L = luaL_newstate();
  json_enc_opts plain = {0, 0, 100, 1, NULL}, py = {0, 1, 100, 1, NULL};
  char *s = roundtrip(L, "{\"b\":[1,2.5,null],\"a\":{\"z\":true,\"y\":\"\\u00b5s\"},\"e\":[]}", &plain);
  assert_string_equal(s, "{\"a\":{\"y\":\"\xc2\xb5s\",\"z\":true},\"b\":[1,2.5,null],\"e\":[]}");
  free(s);
  s = roundtrip(L, "{\"x\":160000.0,\"y\":0.65,\"z\":3,\"u\":\"\\u00b5s\"}", &py);
  assert_string_equal(s, "{\"u\": \"\\u00b5s\", \"x\": 160000.0, \"y\": 0.65, \"z\": 3}");
  free(s);
  lua_close(L);
}

static void test_format_double_python_repr(void **state) {
  (void)state;
  static const struct { double d; const char *py, *js; } cases[] = {
    {160000.0, "160000.0", "160000"}, {0.65, "0.65", "0.65"}, {2.0, "2.0", "2"},
    {1e16, "1e+16", "10000000000000000"}, {1e15, "1000000000000000.0", "1000000000000000"},
    {0.0001, "0.0001", "0.0001"}, {0.00001, "1e-05", "0.00001"}, {-1.5e-7, "-1.5e-07", "-1.5e-7"},
    {123456789012345680000.0, "1.2345678901234568e+20", "123456789012345680000"},
    {0.1 + 0.2, "0.30000000000000004", "0.30000000000000004"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char out[32];
    json_format_double(cases[i].d, 1, out);
    assert_string_equal(out, cases[i].py);
    json_format_double(cases[i].d, 0, out);
    if (strcmp(out, cases[i].js) != 0 && strtod(out, NULL) != cases[i].d)
      fail_msg("%s does not round-trip %.17g", out, cases[i].d);
  }
}

/* Found by fuzz_json: -0.0 was written "-0", which decodes as the integer
 * 0, so a decode/encode round trip lost the sign. */
static void test_negative_zero_round_trips(void **state) {
  (void)state;
  char out[32];
  json_format_double(-0.0, 0, out);
  assert_string_equal(out, "-0.0");
  json_reader r;
  assert_int_equal(first_token(out, &r), JSON_NUMBER);
  assert_false(r.is_integer);
  assert_true(r.num == 0 && signbit(r.num));
  json_reader_free(&r);
  json_format_double(0.0, 0, out);
  assert_string_equal(out, "0");
}

static void test_encode_rejects_with_path(void **state) {
  (void)state;
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  static const struct { const char *lua, *err; } cases[] = {
    {"return {a = {b = {0/0}}}", "result.a.b[1]: NaN"},
    {"return {x = 1/0}", "result.x: infinity"},
    {"return {f = print}", "result.f: a function"},
    {"local t = {} t.t = t return t", "result.t: cycle"},
    {"return {[1] = 1, [3] = 3}", "holes"},
    {"return {1, x = 2}", "mixes"},
    {"return {s = '\\255'}", "result.s: string is not valid UTF-8"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char err[256];
    ub_buf out;
    ub_buf_init(&out);
    json_enc_opts o = {0, 0, 100, 1, "result"};
    assert_int_equal(luaL_dostring(L, cases[i].lua), 0);
    assert_int_equal(json_encode_lua(L, -1, &o, &out, err, sizeof err), -1);
    if (!strstr(err, cases[i].err)) fail_msg("%s: '%s' lacks '%s'", cases[i].lua, err, cases[i].err);
    lua_settop(L, 0);
    ub_buf_free(&out);
  }
  lua_close(L);
}

/* Review 11, 2.4: the pull reader itself refuses a key its object already
 * has, so every reader of JSON (decoders that skip what they do not read,
 * json_skip, json_validate, the Lua builder) does, with line and column. */
static void test_duplicate_keys_everywhere(void **state) {
  (void)state;
  char err[256];
  static const char *const dups[] = {
    "{\"a\":1,\"a\":2}",
    "{\"a\":1,\"\\u0061\":2}",                      /* the same key, escaped */
    "[{\"x\":{\"b\":1}},{\"k\":[{\"c\":1,\"c\":1}]}]",
    "{\"o\":{},\"p\":{\"o\":1,\"o\":1}}",
    "{\"\":1,\"\":2}"};
  for (size_t i = 0; i < sizeof dups / sizeof *dups; i++) {
    assert_int_equal(json_validate(dups[i], strlen(dups[i]), 64, err, sizeof err), -1);
    assert_non_null(strstr(err, "duplicate key"));
  }
  /* the same key in different objects, or as a value, is fine */
  const char *ok = "{\"a\":{\"a\":1},\"b\":[{\"a\":1},{\"a\":2}],\"c\":\"a\"}";
  assert_int_equal(json_validate(ok, strlen(ok), 64, err, sizeof err), 0);
  /* the message names the key and where it is */
  const char *text = "{\n  \"upperlimit\": 2.5,\n  \"upperlimit\": 100\n}";
  assert_int_equal(json_validate(text, strlen(text), 64, err, sizeof err), -1);
  assert_string_equal(err, "line 3, column 3 (offset 25): duplicate key \"upperlimit\"");
  /* a reader that skips the values it does not want still sees it */
  json_reader r;
  const char *skipped = "{\"big\":[1,2,3],\"big\":{}}";
  json_reader_init(&r, skipped, strlen(skipped), 8);
  assert_int_equal(json_next(&r), JSON_OBJECT);
  assert_int_equal(json_next(&r), JSON_STRING);
  assert_int_equal(json_skip(&r, json_next(&r)), 0);
  assert_int_equal(json_next(&r), JSON_ERROR);
  json_reader_free(&r);
  /* many keys in one object: linear, and every one is checked */
  ub_buf big;
  ub_buf_init(&big);
  ub_buf_putc(&big, '{');
  for (int i = 0; i < 100000; i++) ub_buf_printf(&big, "%s\"k%d\":%d", i ? "," : "", i, i);
  ub_buf_puts(&big, ",\"k99999\":0}");
  assert_int_equal(json_validate(big.data, big.len, 8, err, sizeof err), -1);
  assert_non_null(strstr(err, "\"k99999\""));
  ub_buf_free(&big);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_numbers_match_strtod),
    cmocka_unit_test(test_integers_stay_exact),
    cmocka_unit_test(test_grammar_errors),
    cmocka_unit_test(test_duplicate_keys_everywhere),
    cmocka_unit_test(test_str_is_compares_whole_strings),
    cmocka_unit_test(test_encode_sorted_and_styles),
    cmocka_unit_test(test_format_double_python_repr),
    cmocka_unit_test(test_negative_zero_round_trips),
    cmocka_unit_test(test_encode_rejects_with_path),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
