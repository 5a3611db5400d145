/* sb_strlib.c: string.find, match, gmatch, gsub and rep with a step
 * budget, and the function that installs them (with the table functions
 * of sb_tablib.c) into a sandbox's library tables. Behaviour follows the
 * Lua 5.4 reference manual (§6.4) and stock Lua 5.4.4's observable results
 * and messages; the matching itself is lpattern.c. */
#define _GNU_SOURCE /* memmem: linear-time substring search (glibc) */
#include "sandbox/sb_strlib.h"

#include <limits.h>
#include <string.h>

#include <lauxlib.h>

#include "sandbox/sandbox.h"

/* Largest string string.rep builds, like stock Lua (the limit of 'int'). */
#define REP_MAX_SIZE ((size_t)INT_MAX)
/* Bytes copied by string.rep between two budget checks. */
#define REP_CHUNK ((size_t)1 << 20)

/* ---- budget upvalue ---- */

typedef struct budget_box {
  ub_budget_fn fn;
} budget_box;

ub_budget_fn sb_upvalue_budget(lua_State *L) {
  const budget_box *box = lua_touserdata(L, lua_upvalueindex(1));
  return box ? box->fn : NULL;
}

/* ---- helpers ---- */

/* Turns a 1-based, possibly negative, start position into a 0-based
 * offset; the result may exceed len (nothing left to search). */
static size_t start_offset(lua_Integer pos, size_t len) {
  if (pos > 0) return (size_t)pos - 1;
  if (pos == 0 || pos < -(lua_Integer)len) return 0;
  return len - (size_t)(-pos);
}

/* ---- find and match ---- */

/* First occurrence of needle (nl > 0) in hay: memchr and memcmp, which is
 * fastest on ordinary text, until the compared bytes exceed the haystack
 * size (a quadratic case such as ("a"):rep(n) against ("a"):rep(n/2).."b"),
 * then glibc's linear-time memmem. Total work stays linear in hl + nl. */
static const char *find_substring(const char *hay, size_t hl, const char *needle,
                                  size_t nl) {
  if (nl > hl) return NULL;
  const char *last = hay + (hl - nl); /* last possible start */
  size_t work = 0, work_max = hl + ((size_t)1 << 16);
  for (const char *p = hay; p <= last; p++) {
    p = memchr(p, needle[0], (size_t)(last - p) + 1);
    if (!p) return NULL;
    if (memcmp(p + 1, needle + 1, nl - 1) == 0) return p;
    work += nl;
    if (work > work_max) return memmem(p + 1, (size_t)(hay + hl - (p + 1)), needle, nl);
  }
  return NULL;
}

static int plain_find(lua_State *L, const char *s, size_t ls, size_t init,
                      const char *p, size_t lp) {
  const char *hit = lp == 0 ? s + init : find_substring(s + init, ls - init, p, lp);
  if (!hit) {
    luaL_pushfail(L);
    return 1;
  }
  lua_pushinteger(L, (lua_Integer)(hit - s) + 1);
  lua_pushinteger(L, (lua_Integer)(hit - s) + (lua_Integer)lp);
  return 2;
}

static int find_or_match(lua_State *L, int is_find) {
  size_t ls, lp;
  const char *s = luaL_checklstring(L, 1, &ls);
  const char *p = luaL_checklstring(L, 2, &lp);
  size_t init = start_offset(luaL_optinteger(L, 3, 1), ls);
  if (init > ls) {
    luaL_pushfail(L);
    return 1;
  }
  if (is_find && (lua_toboolean(L, 4) || !lp_has_specials(p, lp)))
    return plain_find(L, s, ls, init, p, lp);
  int anchor = lp > 0 && *p == '^';
  if (anchor) {
    p++;
    lp--;
  }
  lp_state ms;
  lp_init(&ms, L, sb_upvalue_budget(L), s, ls, p, lp);
  const char *start = s + init;
  do {
    lp_reset(&ms);
    const char *e = lp_match(&ms, start, p);
    if (e) {
      if (!is_find) return lp_push_captures(&ms, start, e);
      lua_pushinteger(L, (lua_Integer)(start - s) + 1);
      lua_pushinteger(L, (lua_Integer)(e - s));
      return 2 + lp_push_captures(&ms, NULL, NULL);
    }
  } while (start++ < ms.src_end && !anchor);
  luaL_pushfail(L);
  return 1;
}

static int sb_str_find(lua_State *L) { return find_or_match(L, 1); }
static int sb_str_match(lua_State *L) { return find_or_match(L, 0); }

/* ---- gmatch ---- */

typedef struct gmatch_iter {
  const char *next;       /* where the next attempt starts */
  const char *last_match; /* end of the previous match: no empty match there */
  const char *pattern;
  int done;
  lp_state ms;
} gmatch_iter;

static int gmatch_step(lua_State *L) {
  gmatch_iter *it = lua_touserdata(L, lua_upvalueindex(3));
  it->ms.L = L; /* the iterator may run in another coroutine */
  for (const char *src = it->next; !it->done && src <= it->ms.src_end; src++) {
    lp_reset(&it->ms);
    const char *e = lp_match(&it->ms, src, it->pattern);
    if (e && e != it->last_match) {
      it->next = it->last_match = e;
      return lp_push_captures(&it->ms, src, e);
    }
  }
  it->done = 1;
  return 0;
}

static int sb_str_gmatch(lua_State *L) {
  size_t ls, lp;
  const char *s = luaL_checklstring(L, 1, &ls);
  const char *p = luaL_checklstring(L, 2, &lp);
  size_t init = start_offset(luaL_optinteger(L, 3, 1), ls);
  ub_budget_fn budget = sb_upvalue_budget(L);
  lua_settop(L, 2);
  gmatch_iter *it = lua_newuserdatauv(L, sizeof *it, 0);
  lp_init(&it->ms, L, budget, s, ls, p, lp);
  it->pattern = p;
  it->last_match = NULL;
  it->done = init > ls;
  it->next = it->done ? s : s + init;
  lua_pushcclosure(L, gmatch_step, 3); /* subject and pattern stay alive */
  return 1;
}

/* ---- gsub ---- */

/* Appends the replacement string (argument 3) with %0-%9 and %% expanded. */
static void add_template(lp_state *ms, luaL_Buffer *b, const char *s,
                         const char *e) {
  lua_State *L = ms->L;
  size_t lr;
  const char *r = lua_tolstring(L, 3, &lr);
  const char *rend = r + lr;
  while (r < rend) {
    const char *pct = memchr(r, '%', (size_t)(rend - r));
    if (!pct) {
      luaL_addlstring(b, r, (size_t)(rend - r));
      return;
    }
    luaL_addlstring(b, r, (size_t)(pct - r));
    pct++;
    if (pct < rend && *pct == '%') {
      luaL_addchar(b, '%');
    } else if (pct < rend && *pct >= '0' && *pct <= '9') {
      if (*pct == '0') {
        luaL_addlstring(b, s, (size_t)(e - s));
      } else {
        lp_push_capture(ms, *pct - '1', s, e);
        luaL_addvalue(b); /* converts a position capture to its digits */
      }
    } else {
      luaL_error(L, "invalid use of '%c' in replacement string", '%');
    }
    r = pct + 1;
  }
}

/* Appends the replacement of the match [s, e) according to argument 3. */
static void add_replacement(lp_state *ms, luaL_Buffer *b, const char *s,
                            const char *e, int repl_type) {
  lua_State *L = ms->L;
  if (repl_type == LUA_TSTRING || repl_type == LUA_TNUMBER) {
    add_template(ms, b, s, e);
    return;
  }
  if (repl_type == LUA_TFUNCTION) {
    lua_pushvalue(L, 3);
    int n = lp_push_captures(ms, s, e);
    lua_call(L, n, 1);
  } else {
    lp_push_capture(ms, 0, s, e);
    lua_gettable(L, 3);
  }
  if (!lua_toboolean(L, -1)) { /* false or nil: keep the original text */
    lua_pop(L, 1);
    luaL_addlstring(b, s, (size_t)(e - s));
    return;
  }
  if (!lua_isstring(L, -1))
    luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
  luaL_addvalue(b);
}

static int sb_str_gsub(lua_State *L) {
  size_t ls, lp;
  const char *src = luaL_checklstring(L, 1, &ls);
  const char *p = luaL_checklstring(L, 2, &lp);
  int repl_type = lua_type(L, 3);
  lua_Integer max_n = luaL_optinteger(L, 4, (lua_Integer)ls + 1);
  luaL_argexpected(L, repl_type == LUA_TNUMBER || repl_type == LUA_TSTRING ||
                   repl_type == LUA_TFUNCTION || repl_type == LUA_TTABLE,
                   3, "string/function/table");
  int anchor = lp > 0 && *p == '^';
  if (anchor) {
    p++;
    lp--;
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  lp_state ms;
  lp_init(&ms, L, sb_upvalue_budget(L), src, ls, p, lp);
  const char *s = src, *last_match = NULL;
  lua_Integer n = 0;
  while (n < max_n) {
    lp_reset(&ms);
    const char *e = lp_match(&ms, s, p);
    if (e && e != last_match) {
      n++;
      add_replacement(&ms, &b, s, e, repl_type);
      s = last_match = e;
    } else if (s < ms.src_end) {
      luaL_addchar(&b, *s++);
    } else {
      break;
    }
    if (anchor) break;
  }
  luaL_addlstring(&b, s, (size_t)(ms.src_end - s));
  luaL_pushresult(&b);
  lua_pushinteger(L, n);
  return 2;
}

/* ---- rep ---- */

/* Fills out[0, total) with copies of its first unit bytes (already
 * written), doubling the copied span, checking the budget between chunks. */
static void fill_periodic(lua_State *L, ub_budget_fn budget, char *out,
                          size_t unit, size_t total) {
  size_t chunk_max = REP_CHUNK < unit ? unit : REP_CHUNK - REP_CHUNK % unit;
  size_t filled = unit;
  while (filled < total) {
    size_t chunk = filled < chunk_max ? filled : chunk_max;
    if (chunk > total - filled) chunk = total - filled;
    memcpy(out + filled, out, chunk); /* filled stays a multiple of unit */
    filled += chunk;
    if (budget) budget(L);
  }
}

static int sb_str_rep(lua_State *L) {
  size_t l, lsep;
  const char *s = luaL_checklstring(L, 1, &l);
  lua_Integer n = luaL_checkinteger(L, 2);
  const char *sep = luaL_optlstring(L, 3, "", &lsep);
  if (n <= 0 || l + lsep == 0) { /* empty result, whatever n is */
    lua_pushliteral(L, "");
    return 1;
  }
  if (l + lsep < l || l + lsep > REP_MAX_SIZE / (lua_Unsigned)n)
    return luaL_error(L, "resulting string too large");
  size_t total = l * (size_t)n + lsep * (size_t)(n - 1);
  luaL_Buffer b;
  char *out = luaL_buffinitsize(L, &b, total);
  memcpy(out, s, l);
  if (n > 1) memcpy(out + l, sep, lsep);
  fill_periodic(L, sb_upvalue_budget(L), out, n > 1 ? l + lsep : l, total);
  luaL_pushresultsize(&b, total);
  return 1;
}

/* ---- installation ---- */

static const luaL_Reg string_functions[] = {
  {"find", sb_str_find},   {"match", sb_str_match}, {"gmatch", sb_str_gmatch},
  {"gsub", sb_str_gsub},   {"rep", sb_str_rep},     {NULL, NULL}};

void sb_strlib_install_with(lua_State *L, int string_index, int table_index,
                            ub_budget_fn budget) {
  if (string_index) string_index = lua_absindex(L, string_index);
  if (table_index) table_index = lua_absindex(L, table_index);
  budget_box *box = lua_newuserdatauv(L, sizeof *box, 0);
  box->fn = budget;
  if (string_index) {
    lua_pushvalue(L, -1);
    lua_pushvalue(L, string_index);
    lua_insert(L, -2); /* string table below the box copy */
    luaL_setfuncs(L, string_functions, 1);
    lua_pop(L, 1);
  }
  if (table_index) sb_tablib_register(L, table_index);
  lua_pop(L, 1);
}

void sb_strlib_install(lua_State *L, int string_index, int table_index) {
  sb_strlib_install_with(L, string_index, table_index, ub_budget_check);
}
