/* test_yaml.c: the YAML loader (runtime/lualib/yaml_lua.c): typing rules, every
 * Keptn fixture, and the caps that protect against hostile documents
 * (alias bombs, deep nesting, duplicate keys, huge documents, allocation
 * failures in the middle of a parse). Run under valgrind for leaks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include <lualib.h>

#include "lualib/yaml_lua.h"

#include "test_support.h"

/* ---- helpers ----------------------------------------------------------- */

static int setup_state(void **state) {
  lua_State *L = luaL_newstate();
  assert_non_null(L);
  *state = L;
  return 0;
}

static int teardown_state(void **state) {
  lua_close((lua_State *)*state);
  return 0;
}

/* Decodes text; asserts success and leaves the value on the stack. */
static void decode_ok(lua_State *L, const char *text) {
  int rc = yaml_decode_lua(L, text, strlen(text), "t.yaml", NULL);
  if (rc != 0) fail_msg("unexpected error: %s", lua_tostring(L, -1));
}

/* Decodes text; asserts failure with exactly the message expected. */
static void decode_fails(lua_State *L, const char *text, const yaml_limits *lim,
                         const char *expected) {
  int top = lua_gettop(L);
  int rc = yaml_decode_lua(L, text, strlen(text), "t.yaml", lim);
  assert_int_equal(rc, -1);
  assert_int_equal(lua_gettop(L), top + 1);
  assert_string_equal(lua_tostring(L, -1), expected);
  lua_pop(L, 1);
}

/* Pushes t[key] of the table at the top. */
static int field(lua_State *L, const char *key) {
  return lua_getfield(L, -1, key);
}

static void decode_fixture(lua_State *L, const char *rel) {
  size_t len;
  char *text = read_fixture_in("keptn", rel, &len);
  int rc = yaml_decode_lua(L, text, len, rel, NULL);
  free(text);
  if (rc != 0) fail_msg("%s: %s", rel, lua_tostring(L, -1));
}

static int is_null(lua_State *L, int idx) {
  yaml_push_null(L);
  int same = lua_rawequal(L, idx < 0 ? idx - 1 : idx, -1);
  lua_pop(L, 1);
  return same;
}

/* ---- typing ------------------------------------------------------------ */

static void test_plain_scalars_are_typed(void **state) {
  lua_State *L = *state;
  decode_ok(L, "i: 42\nneg: -7\noct: 0o17\nhex: 0x1F\nf: 1.5\ne: 1e3\n"
               "dot: .5\ninf: -.inf\nnan: .NaN\nt: true\nF: FALSE\nn: ~\n"
               "empty:\nyes: yes\noff: off\nbig: 99999999999999999999\n"
               "s: hello world\nver: 1.0.0\n");
  assert_int_equal(field(L, "i"), LUA_TNUMBER);
  assert_true(lua_isinteger(L, -1));
  assert_int_equal(lua_tointeger(L, -1), 42);
  lua_pop(L, 1);
  field(L, "neg"); assert_int_equal(lua_tointeger(L, -1), -7); lua_pop(L, 1);
  field(L, "oct"); assert_int_equal(lua_tointeger(L, -1), 15); lua_pop(L, 1);
  field(L, "hex"); assert_int_equal(lua_tointeger(L, -1), 31); lua_pop(L, 1);
  field(L, "f");
  assert_false(lua_isinteger(L, -1));
  assert_true(lua_tonumber(L, -1) == 1.5);
  lua_pop(L, 1);
  field(L, "e");
  assert_false(lua_isinteger(L, -1));
  assert_true(lua_tonumber(L, -1) == 1000.0);
  lua_pop(L, 1);
  field(L, "dot"); assert_true(lua_tonumber(L, -1) == 0.5); lua_pop(L, 1);
  field(L, "inf"); assert_true(lua_tonumber(L, -1) == -HUGE_VAL); lua_pop(L, 1);
  field(L, "nan"); assert_true(isnan(lua_tonumber(L, -1))); lua_pop(L, 1);
  assert_int_equal(field(L, "t"), LUA_TBOOLEAN);
  assert_true(lua_toboolean(L, -1));
  lua_pop(L, 1);
  assert_int_equal(field(L, "F"), LUA_TBOOLEAN);
  assert_false(lua_toboolean(L, -1));
  lua_pop(L, 1);
  field(L, "n"); assert_true(is_null(L, -1)); lua_pop(L, 1);
  field(L, "empty"); assert_true(is_null(L, -1)); lua_pop(L, 1);
  /* YAML 1.1 booleans stay strings under the 1.2 core schema */
  assert_int_equal(field(L, "yes"), LUA_TSTRING);
  assert_string_equal(lua_tostring(L, -1), "yes");
  lua_pop(L, 1);
  assert_int_equal(field(L, "off"), LUA_TSTRING); lua_pop(L, 1);
  /* an integer outside int64 keeps its exact text */
  assert_int_equal(field(L, "big"), LUA_TSTRING);
  assert_string_equal(lua_tostring(L, -1), "99999999999999999999");
  lua_pop(L, 1);
  field(L, "s"); assert_string_equal(lua_tostring(L, -1), "hello world"); lua_pop(L, 1);
  assert_int_equal(field(L, "ver"), LUA_TSTRING); lua_pop(L, 1);
  lua_pop(L, 1);
}

static void test_quoted_scalars_stay_strings(void **state) {
  lua_State *L = *state;
  decode_ok(L, "a: '1'\nb: \"true\"\nc: \"~\"\nd: |\n  12\ne: !!str 7\n"
               "f: !!float 3\ng: \"nul\\0byte\"\n");
  assert_int_equal(field(L, "a"), LUA_TSTRING);
  assert_string_equal(lua_tostring(L, -1), "1");
  lua_pop(L, 1);
  assert_int_equal(field(L, "b"), LUA_TSTRING); lua_pop(L, 1);
  assert_int_equal(field(L, "c"), LUA_TSTRING); lua_pop(L, 1);
  assert_int_equal(field(L, "d"), LUA_TSTRING);
  assert_string_equal(lua_tostring(L, -1), "12\n");
  lua_pop(L, 1);
  assert_int_equal(field(L, "e"), LUA_TSTRING); lua_pop(L, 1);
  field(L, "f");
  assert_false(lua_isinteger(L, -1));
  assert_true(lua_tonumber(L, -1) == 3.0);
  lua_pop(L, 1);
  size_t n;
  field(L, "g");
  const char *g = lua_tolstring(L, -1, &n);
  assert_int_equal(n, 8);
  assert_memory_equal(g, "nul\0byte", 8);
  lua_pop(L, 2);
}

static void test_sequences_and_maps(void **state) {
  lua_State *L = *state;
  decode_ok(L, "list: [a, 2, {k: v}]\nnested:\n  - x\n  - - y\n");
  field(L, "list");
  assert_int_equal(lua_rawlen(L, -1), 3);
  lua_rawgeti(L, -1, 1); assert_string_equal(lua_tostring(L, -1), "a"); lua_pop(L, 1);
  lua_rawgeti(L, -1, 2); assert_int_equal(lua_tointeger(L, -1), 2); lua_pop(L, 1);
  lua_rawgeti(L, -1, 3); field(L, "k"); assert_string_equal(lua_tostring(L, -1), "v");
  lua_pop(L, 3);
  field(L, "nested");
  lua_rawgeti(L, -1, 2);
  lua_rawgeti(L, -1, 1);
  assert_string_equal(lua_tostring(L, -1), "y");
  lua_pop(L, 4);
}

static void test_empty_stream_is_null(void **state) {
  lua_State *L = *state;
  decode_ok(L, "# only a comment\n");
  assert_true(is_null(L, -1));
  lua_pop(L, 1);
}

static void test_tags_checked(void **state) {
  lua_State *L = *state;
  decode_fails(L, "a: !!int abc\n", NULL, "t.yaml:1:4: value does not match its tag '!!int'");
  decode_fails(L, "a: !custom x\n", NULL, "t.yaml:1:4: unsupported tag '!custom'");
  decode_fails(L, "a: !!set {x}\n", NULL, "t.yaml:1:4: unsupported tag 'tag:yaml.org,2002:set'");
}

/* ---- fixtures ---------------------------------------------------------- */

static void test_fixture_slo_quality_gates(void **state) {
  lua_State *L = *state;
  decode_fixture(L, "keptn-examples_onboarding-carts_slo-quality-gates.yaml");
  field(L, "filter"); assert_true(is_null(L, -1)); lua_pop(L, 1);
  field(L, "comparison");
  field(L, "number_of_comparison_results");
  assert_true(lua_isinteger(L, -1));
  assert_int_equal(lua_tointeger(L, -1), 1);
  lua_pop(L, 2);
  field(L, "objectives");
  assert_int_equal(lua_rawlen(L, -1), 1);
  lua_rawgeti(L, -1, 1);
  field(L, "sli"); assert_string_equal(lua_tostring(L, -1), "response_time_p95"); lua_pop(L, 1);
  assert_int_equal(field(L, "key_sli"), LUA_TBOOLEAN); lua_pop(L, 1);
  field(L, "pass"); lua_rawgeti(L, -1, 1); field(L, "criteria"); lua_rawgeti(L, -1, 1);
  assert_string_equal(lua_tostring(L, -1), "<=+10%");
  lua_pop(L, 6);
  field(L, "total_score"); field(L, "pass");
  assert_string_equal(lua_tostring(L, -1), "90%");
  lua_pop(L, 3);
}

static void test_fixture_annotated_unquoted_percent(void **state) {
  lua_State *L = *state;
  decode_fixture(L, "lighthouse-service_examples_slo_annotated.yaml");
  field(L, "total_score"); field(L, "warning");
  assert_int_equal(lua_type(L, -1), LUA_TSTRING);
  assert_string_equal(lua_tostring(L, -1), "75%");
  lua_pop(L, 3);
}

static void test_fixture_sli_legacy(void **state) {
  lua_State *L = *state;
  decode_fixture(L, "dynatrace-sli-service_sli_mixed-metrics-usql-legacy.yaml");
  field(L, "spec_version");
  assert_string_equal(lua_tostring(L, -1), "");
  lua_pop(L, 1);
  field(L, "indicators"); field(L, "camp_adoption");
  assert_true(strncmp(lua_tostring(L, -1), "select count(internalUserId) as \"Session Count\"", 47) == 0);
  lua_pop(L, 3);
}

static void test_every_keptn_yaml_fixture_parses(void **state) {
  static const char *const files[] = {
    "dynatrace-service_docs_dynatrace.conf.yaml", "dynatrace-service_docs_sli.yaml",
    "dynatrace-service_docs_slo.yaml", "dynatrace-service_dynatrace.conf.yaml",
    "dynatrace-service_testdata_get_slis_sli_no_indicators.yaml",
    "dynatrace-service_testdata_get_slis_sli_project.yaml",
    "dynatrace-service_testdata_get_slis_sli_service.yaml",
    "dynatrace-service_testdata_get_slis_sli_stage.yaml",
    "dynatrace-sli-service_sli_mixed-metrics-usql-legacy.yaml",
    "keptn-examples_onboarding-carts_remediation.yaml",
    "keptn-examples_onboarding-carts_remediation_feature_toggle.yaml",
    "keptn-examples_onboarding-carts_shipyard.yaml",
    "keptn-examples_onboarding-carts_sli-config-dynatrace.yaml",
    "keptn-examples_onboarding-carts_slo-quality-gates.yaml",
    "keptn-examples_onboarding-carts_slo-self-healing-dynatrace.yaml",
    "keptn-examples_quickstart_demo_remediation.yaml",
    "keptn-examples_quickstart_demo_shipyard.yaml",
    "keptn-examples_simplenodeservice_keptn_dynatrace_sli_perftest.yaml",
    "keptn-examples_simplenodeservice_keptn_slo_perftest.yaml",
    "keptn-spec_remediation_example.yaml", "keptn-spec_slo_example.yaml",
    "keptn_remediation-service_test_remediation.yaml",
    "lighthouse-service_examples_slo_annotated.yaml",
  };
  lua_State *L = *state;
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    decode_fixture(L, files[i]);
    assert_int_equal(lua_type(L, -1), LUA_TTABLE);
    lua_pop(L, 1);
  }
  /* the perftest SLO has 13 objectives, the third with weight 2 */
  decode_fixture(L, "keptn-examples_simplenodeservice_keptn_slo_perftest.yaml");
  field(L, "objectives");
  assert_int_equal(lua_rawlen(L, -1), 13);
  lua_rawgeti(L, -1, 3); field(L, "weight");
  assert_int_equal(lua_tointeger(L, -1), 2);
  lua_pop(L, 4);
}

/* ---- hostile documents ------------------------------------------------- */

/* Nodes: root 1; a: key 1 + seq 10; b: 1 + 91; c: 1 + 820; d: 1 + 7381;
 * e: 1 + 66430 -> 74739 so far. f's key and sequence make 74741; its first
 * alias *e would add 66430 -> 141171 > 100000: the error is at line 6,
 * column 8, long before the 9^9 expansion of i. */
static const char bomb[] =
  "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
  "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
  "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
  "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
  "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
  "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
  "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
  "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
  "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n";

static void test_billion_laughs_fails_at_first_oversized_alias(void **state) {
  decode_fails(*state, bomb, NULL,
               "t.yaml:6:8: document has more than 100000 nodes (aliases count "
               "as their expansion); refusing to expand it");
}

static void test_small_aliases_are_expanded_by_reference(void **state) {
  lua_State *L = *state;
  decode_ok(L, "base: &crit [\"<600\"]\nx: *crit\ns: &v 5\ny: *v\n");
  field(L, "x");
  lua_rawgeti(L, -1, 1);
  assert_string_equal(lua_tostring(L, -1), "<600");
  lua_pop(L, 1);
  lua_getfield(L, -2, "base"); /* stack: doc, x, base */
  assert_true(lua_rawequal(L, -1, -2));
  lua_pop(L, 2);
  field(L, "y"); assert_int_equal(lua_tointeger(L, -1), 5);
  lua_pop(L, 2);
}

static void test_alias_limits(void **state) {
  lua_State *L = *state;
  yaml_limits lim;
  yaml_default_limits(&lim);
  lim.max_aliases = 2;
  decode_fails(L, "a: &a 1\nb: [*a, *a, *a]\n", &lim, "t.yaml:2:13: more than 2 aliases");
  decode_fails(L, "a: *nope\n", NULL,
               "t.yaml:1:4: unknown anchor 'nope' (an alias must follow its complete anchor)");
  /* a recursive alias refers to an anchor that is not complete yet */
  decode_fails(L, "a: &r [1, *r]\n", NULL,
               "t.yaml:1:11: unknown anchor 'r' (an alias must follow its complete anchor)");
  /* depth through an alias: 3 levels anchored, placed at depth 2, limit 4 */
  lim.max_aliases = 10;
  lim.max_depth = 4;
  decode_fails(L, "a: &d [[[x]]]\nb: [*d]\n", &lim, "t.yaml:2:5: nesting deeper than 4 levels");
}

static void test_deep_nesting_fails(void **state) {
  char doc[256];
  memset(doc, '[', 100);
  memset(doc + 100, ']', 100);
  doc[200] = '\0';
  decode_fails(*state, doc, NULL, "t.yaml:1:65: nesting deeper than 64 levels");
}

static void test_deep_block_nesting_fails(void **state) {
  yaml_limits lim;
  yaml_default_limits(&lim);
  lim.max_depth = 3;
  decode_fails(*state, "a:\n  b:\n    c:\n      d: 1\n", &lim,
               "t.yaml:4:7: nesting deeper than 3 levels");
}

static void test_duplicate_keys_fail(void **state) {
  decode_fails(*state, "a: 1\nb: 2\na: 3\n", NULL, "t.yaml:3:1: duplicate key 'a'");
  decode_fails(*state, "x:\n  - {k: 1, \"k\": 2}\n", NULL, "t.yaml:2:12: duplicate key 'k'");
}

static void test_unsupported_structures(void **state) {
  lua_State *L = *state;
  decode_fails(L, "a: &m {x: 1}\nb:\n  <<: *m\n", NULL,
               "t.yaml:3:3: merge keys (<<) are not supported; write the entries out");
  decode_fails(L, "? [a]\n: 1\n", NULL, "t.yaml:1:3: mapping keys must be scalars");
  decode_fails(L, "a: 1\n---\nb: 2\n", NULL,
               "t.yaml:2:1: several documents in one file are not supported (remove the second '---')");
}

static void test_syntax_errors_have_line_and_column(void **state) {
  lua_State *L = *state;
  decode_fails(L, "a: 1\nb:\n\tc: 2\n", NULL,
               "t.yaml:3:1: found character that cannot start any token while scanning for the next token");
  decode_fails(L, "a: [1, 2\nb: 3\n", NULL,
               "t.yaml:2:2: did not find expected ',' or ']' while parsing a flow sequence");
  decode_fails(L, "a: \"open\n", NULL,
               "t.yaml:2:1: found unexpected end of stream while scanning a quoted scalar");
  decode_fails(L, "a: \xff\xfe\n", NULL, "t.yaml:1:4: invalid leading UTF-8 octet");
}

static void test_huge_document_rejected_before_parsing(void **state) {
  size_t n = 2 * 1024 * 1024;
  char *doc = malloc(n + 1);
  assert_non_null(doc);
  memset(doc, 'a', n);
  doc[n] = '\0';
  decode_fails(*state, doc, NULL,
               "t.yaml:1:1: document is 2097152 bytes, more than the limit of 1048576 bytes");
  free(doc);
}

static void test_node_cap_without_aliases(void **state) {
  yaml_limits lim;
  yaml_default_limits(&lim);
  lim.max_nodes = 5;
  /* root 1 + seq 1 + items: the 4th item is node 6 at column 11 */
  decode_fails(*state, "[[1, 2, 3, 4]]\n", &lim,
               "t.yaml:1:12: document has more than 5 nodes (aliases count as "
               "their expansion); refusing to expand it");
}

static void assert_position(lua_State *L, const char *path, const char *expected) {
  lua_getfield(L, -1, path);
  if (!lua_isstring(L, -1)) fail_msg("no position for '%s'", path);
  assert_string_equal(lua_tostring(L, -1), expected);
  lua_pop(L, 1);
}

static void test_positions_of_every_path(void **state) {
  lua_State *L = *state;
  const char *doc = "objectives:\n  - sli: rt\n    pass:\n      - criteria: [\"<600\", \">1\"]\n"
                    "total_score: {pass: 90%}\n";
  int rc = yaml_decode_lua_positions(L, doc, strlen(doc), "t.yaml", NULL);
  if (rc != 0) fail_msg("%s", lua_tostring(L, -1));
  assert_int_equal(lua_type(L, -1), LUA_TTABLE);
  assert_position(L, "", "1:1");
  assert_position(L, "objectives", "2:3");
  assert_position(L, "objectives[1]", "2:5");
  assert_position(L, "objectives[1].sli", "2:10");
  assert_position(L, "objectives[1].pass[1].criteria", "4:19");
  assert_position(L, "objectives[1].pass[1].criteria[2]", "4:28");
  assert_position(L, "total_score.pass", "5:21");
  lua_pop(L, 1);
  field(L, "total_score"); field(L, "pass");
  assert_string_equal(lua_tostring(L, -1), "90%");
  lua_pop(L, 3);
}

/* An allocator that fails once a budget is spent: every failure point of
 * a decode must unwind cleanly (valgrind shows the parser is freed). */
typedef struct budget { size_t left; } budget;

static void *budget_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  budget *b = ud;
  (void)osize;
  if (nsize == 0) {
    free(ptr);
    return NULL;
  }
  if (b->left == 0) return NULL;
  b->left--;
  return realloc(ptr, nsize);
}

static void test_allocation_failures_unwind_cleanly(void **state) {
  (void)state;
  const char *doc = "a: &x {k: [1, 2, 3]}\nb: *x\nc: [\"s\", 1.5, true]\n";
  int succeeded = 0;
  for (size_t limit = 0; limit < 400 && !succeeded; limit++) {
    budget b = {SIZE_MAX};
    lua_State *L = lua_newstate(budget_alloc, &b);
    assert_non_null(L);
    b.left = limit;
    int rc = (limit % 2) ? yaml_decode_lua_positions(L, doc, strlen(doc), "t.yaml", NULL)
                         : yaml_decode_lua(L, doc, strlen(doc), "t.yaml", NULL);
    if (rc == 0) succeeded = 1;
    b.left = SIZE_MAX;
    lua_close(L);
  }
  assert_true(succeeded);
}

static void test_lua_module(void **state) {
  lua_State *L = *state;
  luaL_openlibs(L);
  luaL_requiref(L, "unbreakable.yaml", luaopen_unbreakable_yaml, 0);
  lua_pop(L, 1);
  const char *chunk =
    "local yaml = require 'unbreakable.yaml'\n"
    "local v = yaml.decode('a: [1, ~]', 'x.yaml')\n"
    "assert(v.a[1] == 1 and v.a[2] == yaml.null)\n"
    "local ok, err = pcall(yaml.decode, 'a: 1\\na: 2', 'slo.yaml')\n"
    "assert(not ok)\n"
    "return err";
  if (luaL_dostring(L, chunk) != LUA_OK) fail_msg("%s", lua_tostring(L, -1));
  assert_string_equal(lua_tostring(L, -1), "slo.yaml:2:1: duplicate key 'a'");
  lua_pop(L, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_plain_scalars_are_typed, setup_state, teardown_state),
    cmocka_unit_test_setup_teardown(test_quoted_scalars_stay_strings, setup_state, teardown_state),
    cmocka_unit_test_setup_teardown(test_sequences_and_maps, setup_state, teardown_state),
    cmocka_unit_test_setup_teardown(test_empty_stream_is_null, setup_state, teardown_state),
    cmocka_unit_test_setup_teardown(test_tags_checked, setup_state, teardown_state),
    cmocka_unit_test_setup_teardown(test_fixture_slo_quality_gates, setup_state, teardown_state),
    cmocka_unit_test_setup_teardown(test_fixture_annotated_unquoted_percent, setup_state, teardown_state),
    cmocka_unit_test_setup_teardown(test_fixture_sli_legacy, setup_state, teardown_state),
    cmocka_unit_test_setup_teardown(test_every_keptn_yaml_fixture_parses, setup_state, teardown_state),
    cmocka_unit_test_setup_teardown(test_billion_laughs_fails_at_first_oversized_alias, setup_state, teardown_state),
    cmocka_unit_test_setup_teardown(test_small_aliases_are_expanded_by_reference, setup_state, teardown_state),
    cmocka_unit_test_setup_teardown(test_alias_limits, setup_state, teardown_state),
    cmocka_unit_test_setup_teardown(test_deep_nesting_fails, setup_state, teardown_state),
    cmocka_unit_test_setup_teardown(test_deep_block_nesting_fails, setup_state, teardown_state),
    cmocka_unit_test_setup_teardown(test_duplicate_keys_fail, setup_state, teardown_state),
    cmocka_unit_test_setup_teardown(test_unsupported_structures, setup_state, teardown_state),
    cmocka_unit_test_setup_teardown(test_syntax_errors_have_line_and_column, setup_state, teardown_state),
    cmocka_unit_test_setup_teardown(test_huge_document_rejected_before_parsing, setup_state, teardown_state),
    cmocka_unit_test_setup_teardown(test_node_cap_without_aliases, setup_state, teardown_state),
    cmocka_unit_test_setup_teardown(test_positions_of_every_path, setup_state, teardown_state),
    cmocka_unit_test(test_allocation_failures_unwind_cleanly),
    cmocka_unit_test_setup_teardown(test_lua_module, setup_state, teardown_state),
  };
  return cmocka_run_group_tests_name("yaml", tests, NULL, NULL);
}
