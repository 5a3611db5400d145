/* stock_compare.h: the harness that runs the same Lua chunk in stock Lua
 * 5.4 and in a state whose string and table functions are the budgeted ones
 * (sb_strlib_install_with, counting through budget_fixture.h), and compares
 * what each returned or raised. Shared by test_pattern.c and
 * test_sb_strlib.c; the cmocka group state is a `states`.
 *
 *   setup:    stock_compare_setup(state, prelude)  (prelude may be NULL)
 *   compare:  stock_compare_chunks(st, chunks, n) or stock_compare_outputs
 *   ours:     ours(st, src) -> "r1|r2" or "error: ..." */
#ifndef UB_TEST_STOCK_COMPARE_H
#define UB_TEST_STOCK_COMPARE_H

#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "sandbox/sb_strlib.h"
#include "util/buf.h"

#include "budget_fixture.h"

typedef struct states {
  lua_State *stock, *ours;
} states;

/* A fresh state with the standard libraries; ours != 0 installs the
 * budgeted functions. The prelude (global helpers) runs in it. */
static inline lua_State *stock_compare_state(int ours, const char *prelude) {
  lua_State *L = luaL_newstate();
  assert_non_null(L);
  luaL_openlibs(L);
  if (ours) {
    lua_getglobal(L, "string");
    lua_getglobal(L, "table");
    sb_strlib_install_with(L, -2, -1, test_budget);
    lua_pop(L, 2);
  }
  if (prelude) assert_int_equal(luaL_dostring(L, prelude), LUA_OK);
  return L;
}

/* cmocka group setup: both states, one static pair for the whole group. */
static inline int stock_compare_setup(void **state, const char *prelude) {
  static states st;
  st.stock = stock_compare_state(0, prelude);
  st.ours = stock_compare_state(1, prelude);
  *state = &st;
  return 0;
}

static inline int stock_compare_teardown(void **state) {
  states *st = *state;
  lua_close(st->stock);
  lua_close(st->ours);
  return 0;
}

/* Appends "type=value|" for each value at [first, top] to out (the value
 * only for strings, numbers and booleans). */
static inline void stock_compare_describe(lua_State *L, int first, ub_buf *out) {
  for (int i = first; i <= lua_gettop(L); i++) {
    size_t len = 0;
    ub_buf_puts(out, luaL_typename(L, i));
    if (lua_type(L, i) == LUA_TSTRING || lua_type(L, i) == LUA_TNUMBER) {
      lua_pushvalue(L, i);
      const char *text = lua_tolstring(L, -1, &len);
      ub_buf_putc(out, '=');
      ub_buf_append(out, text, len);
      lua_pop(L, 1);
    } else if (lua_type(L, i) == LUA_TBOOLEAN) {
      ub_buf_puts(out, lua_toboolean(L, i) ? "=true" : "=false");
    }
    ub_buf_putc(out, '|');
  }
}

/* Runs src in L; out describes its results, or "error: " and the error. */
static inline void stock_compare_run(lua_State *L, const char *src, ub_buf *out) {
  int base = lua_gettop(L);
  ub_buf_reset(out);
  if (luaL_dostring(L, src) != LUA_OK) ub_buf_puts(out, "error: ");
  stock_compare_describe(L, base + 1, out);
  lua_settop(L, base);
}

/* Fails the test, naming what was run, when the two descriptions differ. */
static inline void stock_compare_outputs(const char *what, const ub_buf *stock, const ub_buf *ours) {
  assert_false(stock->failed || ours->failed);
  if (stock->len != ours->len || memcmp(stock->data, ours->data, stock->len) != 0) {
    print_error("%s\n  stock: %.300s\n  ours:  %.300s\n", what, stock->data, ours->data);
    fail();
  }
}

/* Runs each chunk in both states; fails on the first difference. */
static inline void stock_compare_chunks(states *st, const char *const *chunks, size_t n) {
  ub_buf a, b;
  ub_buf_init(&a);
  ub_buf_init(&b);
  for (size_t i = 0; i < n; i++) {
    stock_compare_run(st->stock, chunks[i], &a);
    stock_compare_run(st->ours, chunks[i], &b);
    stock_compare_outputs(chunks[i], &a, &b);
  }
  ub_buf_free(&a);
  ub_buf_free(&b);
}

/* Runs src in our state; its results joined by '|' through tostring, or
 * "error: <message>" (a static buffer, valid until the next call). */
static inline const char *ours(states *st, const char *src) {
  static char result[512];
  lua_State *L = st->ours;
  int base = lua_gettop(L);
  ub_buf out;
  ub_buf_init(&out);
  if (luaL_dostring(L, src) != LUA_OK) {
    ub_buf_puts(&out, "error: ");
    ub_buf_puts(&out, lua_tostring(L, -1) ? lua_tostring(L, -1) : "(not a string)");
  } else {
    for (int i = base + 1; i <= lua_gettop(L); i++) {
      if (i > base + 1) ub_buf_putc(&out, '|');
      ub_buf_puts(&out, luaL_tolstring(L, i, NULL));
      lua_pop(L, 1);
    }
  }
  lua_settop(L, base);
  snprintf(result, sizeof result, "%s", out.data ? out.data : "");
  ub_buf_free(&out);
  return result;
}

/* The chunk src must fail in our state with an error ending with msg
 * (errors raised by C functions carry the caller's position, as in stock). */
static inline void assert_error(states *st, const char *src, const char *msg) {
  const char *got = ours(st, src);
  size_t lg = strlen(got), lm = strlen(msg);
  if (strncmp(got, "error: ", 7) != 0 || lg < lm || strcmp(got + lg - lm, msg) != 0) {
    print_error("%s\n  expected error: %s\n  got: %s\n", src, msg, got);
    fail();
  }
}

#endif
