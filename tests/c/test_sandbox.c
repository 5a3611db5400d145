/* test_sandbox.c: the sandbox API: results, errors with file and line,
 * sticky kills, recycling after kills, isolation between evaluations that
 * share a lua_State, require roots, grants, load, print capture. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <lauxlib.h>

#include "util/buf.h"
#include "util/json.h"
#include "lualib/ljson.h"
#include "lualib/yaml_lua.h"
#include "sandbox/sandbox.h"

#include "test_support.h"

static char tmpdir[256];

static int take_json(lua_State *L, void *ud) {
  ub_buf *out = ud;
  char err[256];
  json_enc_opts o = {0, 0, 100, 1, "result"};
  ub_buf_reset(out);
  if (json_encode_lua(L, -1, &o, out, err, sizeof err) != 0) return luaL_error(L, "%s", err);
  return 0;
}

/* Runs source as policy "name" and returns its JSON result (static). */
static sb_status run(sandbox *sb, const char *name, const char *src, ub_buf *out) {
  sb_policy p = {name, src, strlen(src), tmpdir};
  return sb_run_policy(sb, &p, NULL, take_json, out);
}

static sandbox *new_sandbox(double seconds, size_t memory) {
  sb_limits lim;
  sb_default_limits(&lim);
  lim.seconds = seconds;
  if (memory) lim.memory = memory;
  sandbox *sb = sb_new(&lim, tmpdir);
  assert_non_null(sb);
  assert_int_equal(sb_grant(sb, "unbreakable.json", luaopen_unbreakable_json), 0);
  return sb;
}

static void write_file(const char *rel, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", tmpdir, rel);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static int setup_dir(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/ub-sandbox-test-XXXXXX");
  assert_non_null(mkdtemp(tmpdir));
  char sub[300];
  snprintf(sub, sizeof sub, "%s/unbreakable", tmpdir);
  mkdir(sub, 0700);
  write_file("unbreakable/counter.lua",
             "local M = { n = 0 }\nfunction M.bump() M.n = M.n + 1 return M.n end\nreturn M\n");
  write_file("helper.lua", "return { answer = 42 }\n");
  write_file("loopy.lua", "return require('loopy')\n");
  return 0;
}

static void test_returns_value(void **state) {
  (void)state;
  ub_buf out;
  ub_buf_init(&out);
  sandbox *sb = new_sandbox(2, 0);
  assert_int_equal(run(sb, "p.lua", "return {ok = true, n = 3, list = {1, 2.5}}", &out), SB_OK);
  assert_string_equal(out.data, "{\"list\":[1,2.5],\"n\":3,\"ok\":true}");
  assert_int_equal(run(sb, "p.lua", "return function() return 'called' end", &out), SB_OK);
  assert_string_equal(out.data, "\"called\"");
  sb_free(sb);
  ub_buf_free(&out);
}

static void test_error_has_file_and_line(void **state) {
  (void)state;
  ub_buf out;
  ub_buf_init(&out);
  sandbox *sb = new_sandbox(2, 0);
  assert_int_equal(run(sb, "policies/gate.lua", "local x = 1\nerror('boom')\n", &out), SB_EPOLICY);
  assert_string_equal(sb_error(sb), "policies/gate.lua:2: boom");
  assert_int_equal(run(sb, "syntax.lua", "return (", &out), SB_EPOLICY);
  assert_non_null(strstr(sb_error(sb), "syntax.lua:1:"));
  sb_free(sb);
  ub_buf_free(&out);
}

static void test_timeout_not_catchable(void **state) {
  (void)state;
  ub_buf out;
  ub_buf_init(&out);
  sandbox *sb = new_sandbox(0.1, 0);
  const char *src =
      "local n = 0\n"
      "while true do\n"
      "  local ok = pcall(function() while true do end end)\n"
      "  n = n + 1\n"
      "end\n";
  assert_int_equal(run(sb, "loop.lua", src, &out), SB_ELIMIT);
  assert_int_equal(sb_killed(sb), SB_KILL_TIMEOUT);
  /* the file and the line where it stopped: line 3 nearly always, but a
   * loaded machine may deschedule the run past its 0.1 s before line 3 */
  int line = 0;
  assert_int_equal(sscanf(sb_error(sb), "loop.lua:%d:", &line), 1);
  assert_true(line >= 1 && line <= 5);
  assert_non_null(strstr(sb_error(sb), ": evaluation stopped: wall-clock deadline"));
  /* the state was recycled: the next evaluation works */
  assert_int_equal(run(sb, "after.lua", "return 'alive'", &out), SB_OK);
  assert_string_equal(out.data, "\"alive\"");
  sb_free(sb);
  ub_buf_free(&out);
}

static void test_memory_cap(void **state) {
  (void)state;
  ub_buf out;
  ub_buf_init(&out);
  sandbox *sb = new_sandbox(5, (size_t)8 << 20);
  const char *src = "local t = {}\nfor i = 1, 1e9 do t[i] = {i} end\n";
  assert_int_equal(run(sb, "mem.lua", src, &out), SB_ELIMIT);
  assert_int_equal(sb_killed(sb), SB_KILL_MEMORY);
  assert_non_null(strstr(sb_error(sb), "memory limit of 8 MiB exceeded"));
  const char *caught = "for i = 1, 10 do pcall(string.rep, 'x', 1 << 28) end\nreturn 'escaped'";
  assert_int_equal(run(sb, "mem2.lua", caught, &out), SB_ELIMIT);
  assert_int_equal(sb_killed(sb), SB_KILL_MEMORY);
  assert_int_equal(run(sb, "after.lua", "return #string.rep('x', 1000)", &out), SB_OK);
  assert_string_equal(out.data, "1000");
  sb_free(sb);
  ub_buf_free(&out);
}

static void test_isolation_between_evaluations(void **state) {
  (void)state;
  ub_buf out;
  ub_buf_init(&out);
  sandbox *sb = new_sandbox(2, 0);
  const char *tamper =
      "string.upper = function() return 'pwned' end\n"
      "table.insert = nil\n"
      "leaked = 'yes'\n"
      "math.pi = 3\n"
      "require('unbreakable.counter').bump()\n"
      "setmetatable(_G, {__index = function() return 'ghost' end})\n"
      "return true";
  assert_int_equal(run(sb, "tamper.lua", tamper, &out), SB_OK);
  const char *check =
      "return { upper = ('a'):upper(), insert = type(table.insert), leaked = rawget(_G, 'leaked'),\n"
      "         pi = math.pi == 3, counter = require('unbreakable.counter').bump(),\n"
      "         mt = getmetatable(_G) == nil }";
  assert_int_equal(run(sb, "check.lua", check, &out), SB_OK);
  assert_string_equal(out.data,
                      "{\"counter\":1,\"insert\":\"function\",\"mt\":true,\"pi\":false,\"upper\":\"A\"}");
  sb_free(sb);
  ub_buf_free(&out);
}

static void test_require_roots_and_grants(void **state) {
  (void)state;
  ub_buf out;
  ub_buf_init(&out);
  sandbox *sb = new_sandbox(2, 0);
  assert_int_equal(run(sb, "r.lua", "return require('helper').answer", &out), SB_OK);
  assert_string_equal(out.data, "42");
  assert_int_equal(run(sb, "r.lua", "return require('unbreakable.json').encode({1})", &out), SB_OK);
  assert_string_equal(out.data, "\"[1]\"");
  assert_int_equal(run(sb, "r.lua", "return require('loopy')", &out), SB_EPOLICY);
  assert_non_null(strstr(sb_error(sb), "require loop"));
  assert_int_equal(run(sb, "r.lua", "return require('lpeg')", &out), SB_EPOLICY);
  assert_non_null(strstr(sb_error(sb), "module 'lpeg' not found"));
  assert_int_equal(run(sb, "r.lua", "return require('a/../b')", &out), SB_EPOLICY);
  assert_non_null(strstr(sb_error(sb), "invalid module name"));
  sb_free(sb);
  ub_buf_free(&out);
}

/* Bytes this process has read through read() so far (/proc/self/io). */
static long long bytes_read(void) {
  FILE *f = fopen("/proc/self/io", "r");
  long long n = -1;
  char line[128];
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "rchar: %lld", &n) == 1) break;
  if (f) fclose(f);
  return n;
}

/* A kept sandbox reads a module file again only when it changed: a file
 * settled for a while is compiled once, and a rewrite (even of the same
 * size, with its old modification time put back) is seen at once. */
static void test_module_files_are_read_again_only_when_changed(void **state) {
  (void)state;
  ub_buf out;
  ub_buf_init(&out);
  char big[64 * 1024], path[512];
  memset(big, ' ', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  memcpy(big, "--", 2);
  snprintf(path, sizeof path, "%s/settled.lua", tmpdir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f, "%s\nreturn { v = 1 }\n", big);
  fclose(f);
  struct stat before;
  assert_int_equal(stat(path, &before), 0);
  sleep(3); /* newer files are not cached: their time stamps could still hide a change */
  sandbox *sb = new_sandbox(2, 0);
  assert_int_equal(run(sb, "r.lua", "return require('settled').v", &out), SB_OK);
  assert_string_equal(out.data, "1");
  long long n0 = bytes_read();
  assert_int_equal(run(sb, "r.lua", "return require('settled').v", &out), SB_OK);
  assert_string_equal(out.data, "1");
  assert_true(n0 >= 0 && bytes_read() - n0 < (long long)sizeof big / 2); /* not read again */
  f = fopen(path, "r+");
  assert_non_null(f);
  fseek(f, (long)strlen(big) + 1, SEEK_SET);
  fputs("return { v = 2 }\n", f);
  fclose(f);
  struct timespec times[2] = {before.st_atim, before.st_mtim};
  assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
  assert_int_equal(run(sb, "r.lua", "return require('settled').v", &out), SB_OK);
  assert_string_equal(out.data, "2");
  sb_free(sb);
  ub_buf_free(&out);
}

static void test_load_is_text_only_and_sandboxed(void **state) {
  (void)state;
  ub_buf out;
  ub_buf_init(&out);
  sandbox *sb = new_sandbox(2, 0);
  const char *src =
      "local f = load('return x', 'chunk', 't', {x = 7})\n"
      "local g, err = load('\\27Lua', 'bin', 'b')\n"
      "local h = load('return string ~= nil and io == nil')\n"
      "return { f = f(), g = g == nil, err = err, h = h() }";
  assert_int_equal(run(sb, "load.lua", src, &out), SB_OK);
  assert_non_null(strstr(out.data, "\"f\":7"));
  assert_non_null(strstr(out.data, "\"g\":true"));
  assert_non_null(strstr(out.data, "\"h\":true"));
  assert_non_null(strstr(out.data, "binary chunk"));
  sb_free(sb);
  ub_buf_free(&out);
}

static void test_print_is_captured_and_bounded(void **state) {
  (void)state;
  ub_buf out;
  ub_buf_init(&out);
  sb_limits lim;
  sb_default_limits(&lim);
  lim.log_bytes = 64;
  sandbox *sb = sb_new(&lim, tmpdir);
  assert_int_equal(run(sb, "p.lua", "print('a', 1, true)\nreturn 0", &out), SB_OK);
  size_t len;
  assert_string_equal(sb_log(sb, &len), "a\t1\ttrue\n");
  assert_int_equal(run(sb, "p.lua", "for i = 1, 100 do print(('x'):rep(10)) end\nreturn 0", &out), SB_OK);
  const char *log = sb_log(sb, &len);
  assert_true(len < 64 + 40);
  assert_non_null(strstr(log, "[log truncated]"));
  sb_free(sb);
  ub_buf_free(&out);
}

/* The live log hook: each printed line as it is printed, never past the
 * log's limit (a policy cannot stream more than it may log). */
static void collect_line(void *ud, const char *line, size_t len) {
  ub_buf *b = ud;
  ub_buf_append(b, line, len);
  ub_buf_putc(b, '|');
}

static void test_print_hook_streams_each_line_within_the_limit(void **state) {
  (void)state;
  ub_buf out, lines;
  ub_buf_init(&out);
  ub_buf_init(&lines);
  sb_limits lim;
  sb_default_limits(&lim);
  lim.log_bytes = 64;
  sandbox *sb = sb_new(&lim, tmpdir);
  sb_set_print_hook(sb, collect_line, &lines);
  assert_int_equal(run(sb, "p.lua", "print('a', 1)\nprint()\nprint('b')\nreturn 0", &out), SB_OK);
  assert_string_equal(lines.data, "a\t1||b|");
  ub_buf_reset(&lines);
  assert_int_equal(run(sb, "p.lua", "for i = 1, 100 do print(('x'):rep(10)) end\nreturn 0", &out), SB_OK);
  assert_true(lines.len <= 64);
  sb_set_print_hook(sb, NULL, NULL);
  ub_buf_reset(&lines);
  assert_int_equal(run(sb, "p.lua", "print('c')\nreturn 0", &out), SB_OK);
  assert_int_equal(lines.len, 0);
  sb_free(sb);
  ub_buf_free(&out);
  ub_buf_free(&lines);
}

static void test_random_is_deterministic(void **state) {
  (void)state;
  ub_buf a, b;
  ub_buf_init(&a);
  ub_buf_init(&b);
  sandbox *sb = new_sandbox(2, 0);
  const char *src = "return {math.random(1000000), math.random(1000000)}";
  assert_int_equal(run(sb, "r.lua", src, &a), SB_OK);
  assert_int_equal(run(sb, "r.lua", src, &b), SB_OK);
  assert_string_equal(a.data, b.data);
  sb_free(sb);
  ub_buf_free(&a);
  ub_buf_free(&b);
}

static void test_yield_across_pcall(void **state) {
  (void)state;
  ub_buf out;
  ub_buf_init(&out);
  sandbox *sb = new_sandbox(2, 0);
  const char *src =
      "local co = coroutine.wrap(function()\n"
      "  local ok, v = pcall(coroutine.yield, 1)\n"
      "  return v\n"
      "end)\n"
      "return { co(), co(5) }";
  assert_int_equal(run(sb, "co.lua", src, &out), SB_OK);
  assert_string_equal(out.data, "[1,5]");
  sb_free(sb);
  ub_buf_free(&out);
}

static void test_result_errors(void **state) {
  (void)state;
  ub_buf out;
  ub_buf_init(&out);
  sandbox *sb = new_sandbox(2, 0);
  assert_int_equal(run(sb, "r.lua", "return {v = 0/0}", &out), SB_ERESULT);
  assert_string_equal(sb_error(sb), "result.v: NaN cannot be encoded as JSON");
  assert_int_equal(run(sb, "r.lua", "local t = {} t[1] = t return t", &out), SB_ERESULT);
  assert_non_null(strstr(sb_error(sb), "cycle"));
  sb_free(sb);
  ub_buf_free(&out);
}

static void test_budget_check_outside_sandbox(void **state) {
  (void)state;
  lua_State *L = luaL_newstate();
  ub_budget_check(L); /* must do nothing */
  assert_null(sb_from_lua(L));
  lua_close(L);
}

/* Reads tests/hostile/<name> (UB_TESTS is the tests folder); caller frees. */
static char *read_hostile(const char *name) {
  const char *tests = getenv("UB_TESTS");
  char path[1024], err[256];
  size_t len;
  snprintf(path, sizeof path, "%s/hostile/%s", tests ? tests : "tests", name);
  char *src = ub_read_all(path, (size_t)1 << 20, &len, err, sizeof err);
  if (!src) fail_msg("%s", err);
  return src;
}

/* Single steps of Lua's own C code that run for seconds (a rehash over
 * colliding keys, a collection over an ephemeron chain, the parser on an
 * 'and' chain) end in this process with the ordinary deadline error, with
 * no fork to fall back on (replay --policy and serve have none); the
 * sandbox then runs the next policy on a fresh state, and the abandoned
 * state's memory is freed (ASan's leak check). */
static void test_long_lua_steps_stop_in_process(void **state) {
  (void)state;
  static const char *const cases[] = {"rehash_float_collisions.lua",
                                      "rehash_integer_collisions.lua", "ephemeron_chain.lua",
                                      "load_and_chain.lua", "load_goto_labels.lua",
                                      "ephemeron_chain_in_decoders.lua", NULL};
  ub_buf out;
  ub_buf_init(&out);
  sandbox *sb = new_sandbox(0.3, 0);
  assert_int_equal(sb_grant(sb, "unbreakable.yaml", luaopen_unbreakable_yaml), 0);
  for (int i = 0; cases[i]; i++) {
    char *src = read_hostile(cases[i]);
    assert_int_equal(run(sb, cases[i], src, &out), SB_ELIMIT);
    assert_int_equal(sb_killed(sb), SB_KILL_TIMEOUT);
    assert_non_null(strstr(sb_error(sb), "wall-clock deadline"));
    free(src);
    assert_int_equal(run(sb, "next.lua", "return {n = 1}", &out), SB_OK);
    assert_string_equal(out.data, "{\"n\":1}");
  }
  sb_free(sb);
  ub_buf_free(&out);
}

/* Every coroutine's instructions count against the one budget: 20,000
 * short coroutines of ~150 instructions each must exceed 1e6. */
static void test_coroutines_share_the_instruction_budget(void **state) {
  (void)state;
  sb_limits lim;
  sb_default_limits(&lim);
  lim.instructions = 1000000;
  lim.seconds = 30;
  sandbox *sb = sb_new(&lim, tmpdir);
  assert_non_null(sb);
  ub_buf out;
  ub_buf_init(&out);
  const char *src =
    "for i = 1, 20000 do\n"
    "  coroutine.resume(coroutine.create(function() for j = 1, 50 do end end))\n"
    "end\n"
    "return 1\n";
  assert_int_equal(run(sb, "co.lua", src, &out), SB_ELIMIT);
  assert_int_equal(sb_killed(sb), SB_KILL_INSTRUCTIONS);
  /* a few coroutines stay well within it */
  assert_int_equal(run(sb, "co.lua", "local n = 0 for i = 1, 100 do "
                                     "n = n + select(2, coroutine.resume(coroutine.create("
                                     "function() return 1 end))) end return n", &out), SB_OK);
  assert_string_equal(out.data, "100");
  sb_free(sb);
  ub_buf_free(&out);
}

/* budget.h outside a sandbox: no limits, no effect. */
static void test_budget_api_outside_sandbox(void **state) {
  (void)state;
  lua_State *L = luaL_newstate();
  assert_int_equal(ub_budget_charge(L, (size_t)1 << 40), 0);
  ub_budget_hold(L, free, NULL);
  ub_budget_release(L, NULL);
  ub_budget_check(L);
  lua_close(L);
}

/* Runs src 10 times under a 4 MiB cap, each time a memory kill, and fails
 * if the C heap grew by more than 8 MiB: C memory held across the Lua error
 * must be freed although the error unwinds past it. The heap is measured in
 * both builds (test_heap_in_use: glibc's count, or ASan's under ASan). */
static void assert_memory_kills_free_c_memory(const char *name, const char *src) {
  sandbox *sb = new_sandbox(5, (size_t)4 << 20);
  ub_buf out;
  ub_buf_init(&out);
  assert_int_equal(run(sb, name, src, &out), SB_ELIMIT); /* warm up */
  assert_int_equal(sb_killed(sb), SB_KILL_MEMORY);
  size_t used_before = test_heap_in_use();
  assert_true(used_before > 0);   /* the measure works in this build */
  for (int i = 0; i < 10; i++) {
    assert_int_equal(run(sb, name, src, &out), SB_ELIMIT);
    assert_int_equal(sb_killed(sb), SB_KILL_MEMORY);
  }
  size_t used_after = test_heap_in_use();
  size_t grown = used_after > used_before ? used_after - used_before : 0;
  if (grown > ((size_t)8 << 20)) fail_msg("%s: the heap grew by %zu bytes over 10 kills", name, grown);
  ub_buf_free(&out);
  sb_free(sb);
}

/* json.encode: copying a 2.2 MiB key fails; the key list, error path and
 * output buffer are freed. */
static void test_encode_memory_error_frees_c_memory(void **state) {
  (void)state;
  assert_memory_kills_free_c_memory("encode_oom.lua",
    "local json = require 'unbreakable.json'\n"
    "local k = string.rep('k', 1100 * 1024)\n"
    "k = k .. k\n"
    "local t = {[k] = true}\n"
    "return json.encode(t)\n");
}

/* json.decode: pushing a 2.2 MiB string fails; its scratch buffer is freed. */
static void test_decode_memory_error_frees_c_memory(void **state) {
  (void)state;
  assert_memory_kills_free_c_memory("decode_oom.lua",
    "local json = require 'unbreakable.json'\n"
    "local half = string.rep('d', 1100 * 1024)\n"
    "local doc = '[\"' .. half .. half .. '\"]'\n"
    "return json.decode(doc)\n");
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_returns_value),
    cmocka_unit_test(test_error_has_file_and_line),
    cmocka_unit_test(test_timeout_not_catchable),
    cmocka_unit_test(test_memory_cap),
    cmocka_unit_test(test_isolation_between_evaluations),
    cmocka_unit_test(test_require_roots_and_grants),
    cmocka_unit_test(test_module_files_are_read_again_only_when_changed),
    cmocka_unit_test(test_load_is_text_only_and_sandboxed),
    cmocka_unit_test(test_print_is_captured_and_bounded),
    cmocka_unit_test(test_print_hook_streams_each_line_within_the_limit),
    cmocka_unit_test(test_random_is_deterministic),
    cmocka_unit_test(test_yield_across_pcall),
    cmocka_unit_test(test_result_errors),
    cmocka_unit_test(test_budget_check_outside_sandbox),
    cmocka_unit_test(test_encode_memory_error_frees_c_memory),
    cmocka_unit_test(test_decode_memory_error_frees_c_memory),
    cmocka_unit_test(test_long_lua_steps_stop_in_process),
    cmocka_unit_test(test_coroutines_share_the_instruction_budget),
    cmocka_unit_test(test_budget_api_outside_sandbox),
  };
  return cmocka_run_group_tests(tests, setup_dir, NULL);
}
