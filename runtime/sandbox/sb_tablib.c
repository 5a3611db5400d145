/* sb_tablib.c: table.concat, insert, move, remove and sort with a step budget
 * (installed by sb_strlib_install). Elements are read and written with
 * lua_geti/lua_seti, so __index, __newindex and __len apply as in stock
 * Lua 5.4. table.sort is a stable merge sort (insertion sort on short
 * runs): it terminates after O(n log n) comparisons whatever the
 * comparator answers, and a final pass raises "invalid order function for
 * sorting" when the comparator left the array out of its own order.
 * Arrays up to SORT_ON_STACK_MAX elements are sorted on the Lua stack
 * (read once, written back once, untouched when the order function is
 * found invalid); longer ones in place with a scratch table for half. */
#include "sandbox/sb_strlib.h"

#include <limits.h>

#include <lauxlib.h>

#define STEP_INTERVAL 1024  /* elements or comparisons between checks */
#define INSERTION_MAX 12    /* runs this short are sorted by insertion */
#define SORT_ON_STACK_MAX (1 << 17) /* leaves most of the stack to comparators */

/* ---- shared ---- */

enum { TAB_R = 1, TAB_W = 2, TAB_L = 4 };

typedef struct stepper {
  lua_State *L;
  ub_budget_fn budget;
  int steps_left;
} stepper;

static void stepper_init(stepper *st, lua_State *L) {
  st->L = L;
  st->budget = sb_upvalue_budget(L);
  st->steps_left = STEP_INTERVAL;
}

static inline void step(stepper *st) {
  if (--st->steps_left > 0) return;
  st->steps_left = STEP_INTERVAL;
  if (st->budget) st->budget(st->L);
}

static int has_raw_field(lua_State *L, int index, const char *name) {
  lua_pushstring(L, name);
  int present = lua_rawget(L, index) != LUA_TNIL;
  lua_pop(L, 1);
  return present;
}

/* Argument arg must be a table, or have the metamethods that the
 * operations in what need. */
static void check_table(lua_State *L, int arg, int what) {
  if (lua_type(L, arg) == LUA_TTABLE) return;
  if (lua_getmetatable(L, arg)) {
    int mt = lua_gettop(L);
    int ok = (!(what & TAB_R) || has_raw_field(L, mt, "__index")) &&
             (!(what & TAB_W) || has_raw_field(L, mt, "__newindex")) &&
             (!(what & TAB_L) || has_raw_field(L, mt, "__len"));
    lua_pop(L, 1);
    if (ok) return;
  }
  luaL_checktype(L, arg, LUA_TTABLE);
}

/* ---- concat ---- */

static void add_field(lua_State *L, luaL_Buffer *b, lua_Integer i) {
  lua_geti(L, 1, i);
  if (!lua_isstring(L, -1))
    luaL_error(L, "invalid value (%s) at index %I in table for 'concat'",
               luaL_typename(L, -1), i);
  luaL_addvalue(b);
}

static int sb_tab_concat(lua_State *L) {
  check_table(L, 1, TAB_R | TAB_L);
  lua_Integer last = luaL_len(L, 1);
  size_t lsep;
  const char *sep = luaL_optlstring(L, 2, "", &lsep);
  lua_Integer i = luaL_optinteger(L, 3, 1);
  last = luaL_optinteger(L, 4, last);
  stepper st;
  stepper_init(&st, L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (; i < last; i++) {
    add_field(L, &b, i);
    luaL_addlstring(&b, sep, lsep);
    step(&st);
  }
  if (i == last) add_field(L, &b, i);
  luaL_pushresult(&b);
  return 1;
}

/* ---- move ---- */

static int sb_tab_move(lua_State *L) {
  lua_Integer f = luaL_checkinteger(L, 2);
  lua_Integer e = luaL_checkinteger(L, 3);
  lua_Integer t = luaL_checkinteger(L, 4);
  int dest = lua_isnoneornil(L, 5) ? 1 : 5;
  check_table(L, 1, TAB_R);
  check_table(L, dest, TAB_W);
  if (e >= f) {
    luaL_argcheck(L, f > 0 || e < LUA_MAXINTEGER + f, 3, "too many elements to move");
    lua_Integer n = e - f + 1;
    luaL_argcheck(L, t <= LUA_MAXINTEGER - n + 1, 4, "destination wrap around");
    stepper st;
    stepper_init(&st, L);
    int forward = t > e || t <= f || (dest != 1 && !lua_compare(L, 1, dest, LUA_OPEQ));
    for (lua_Integer k = 0; k < n; k++) {
      lua_Integer i = forward ? k : n - 1 - k; /* overlap: copy from the end */
      lua_geti(L, 1, f + i);
      lua_seti(L, dest, t + i);
      step(&st);
    }
  }
  lua_pushvalue(L, dest);
  return 1;
}

/* ---- insert and remove: a lying __len must not make them loop ---- */

static int sb_tab_insert(lua_State *L) {
  check_table(L, 1, TAB_R | TAB_W | TAB_L);
  /* wraps like stock Lua when a __len answers math.maxinteger */
  lua_Integer first_empty = (lua_Integer)((lua_Unsigned)luaL_len(L, 1) + 1u);
  lua_Integer pos = first_empty;
  switch (lua_gettop(L)) {
  case 2:
    break;
  case 3: {
    pos = luaL_checkinteger(L, 2);
    luaL_argcheck(L, (lua_Unsigned)pos - 1u < (lua_Unsigned)first_empty, 2,
                  "position out of bounds");
    stepper st;
    stepper_init(&st, L);
    for (lua_Integer i = first_empty; i > pos; i--) { /* shift up */
      lua_geti(L, 1, i - 1);
      lua_seti(L, 1, i);
      step(&st);
    }
    break;
  }
  default:
    return luaL_error(L, "wrong number of arguments to 'insert'");
  }
  lua_seti(L, 1, pos);
  return 0;
}

static int sb_tab_remove(lua_State *L) {
  check_table(L, 1, TAB_R | TAB_W | TAB_L);
  lua_Integer size = luaL_len(L, 1);
  lua_Integer pos = luaL_optinteger(L, 2, size);
  if (pos != size) /* stock Lua 5.4.4 names argument 1 here */
    luaL_argcheck(L, (lua_Unsigned)pos - 1u <= (lua_Unsigned)size, 1,
                  "position out of bounds");
  stepper st;
  stepper_init(&st, L);
  lua_geti(L, 1, pos); /* the removed value */
  for (; pos < size; pos++) { /* shift down */
    lua_geti(L, 1, pos + 1);
    lua_seti(L, 1, pos);
    step(&st);
  }
  lua_pushnil(L);
  lua_seti(L, 1, pos);
  return 1;
}

/* ---- sort ---- */

/* Stack during a sort: 1 the list, 2 the comparator or nil, then the
 * elements and scratch slots (on the stack) or a scratch table at 3. */
#define SORT_LIST 1
#define SORT_CMP 2
#define SORT_SCRATCH 3

/* Whether the value at stack index a sorts before the one at b. */
static int sort_less(stepper *st, int a, int b) {
  lua_State *L = st->L;
  step(st);
  if (lua_isnil(L, SORT_CMP)) return lua_compare(L, a, b, LUA_OPLT);
  lua_pushvalue(L, SORT_CMP);
  lua_pushvalue(L, a < 0 ? a - 1 : a);
  lua_pushvalue(L, b < 0 ? b - 2 : b);
  lua_call(L, 2, 1);
  int less = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return less;
}

/* Whether list[j] sorts before list[i]. */
static int list_less(stepper *st, lua_Integer j, lua_Integer i) {
  lua_geti(st->L, SORT_LIST, j);
  lua_geti(st->L, SORT_LIST, i);
  int less = sort_less(st, -2, -1);
  lua_pop(st->L, 2);
  return less;
}

static void table_insertion_sort(stepper *st, lua_Integer lo, lua_Integer hi) {
  lua_State *L = st->L;
  for (lua_Integer i = lo + 1; i <= hi; i++) {
    lua_geti(L, SORT_LIST, i);
    lua_Integer j = i - 1;
    for (; j >= lo; j--) {
      lua_geti(L, SORT_LIST, j);
      if (!sort_less(st, -2, -1)) {
        lua_pop(L, 1);
        break;
      }
      lua_seti(L, SORT_LIST, j + 1); /* shift list[j] up */
    }
    lua_seti(L, SORT_LIST, j + 1);
  }
}

/* Merges the sorted runs list[lo..mid] and list[mid+1..hi]. The left run
 * is copied to the scratch table; the heads of both runs stay on the
 * stack, so writes to list[k] (k below the right head) lose nothing. */
static void table_merge(stepper *st, lua_Integer lo, lua_Integer mid, lua_Integer hi) {
  lua_State *L = st->L;
  if (!list_less(st, mid + 1, mid)) return; /* already in order */
  lua_Integer left_n = mid - lo + 1;
  for (lua_Integer k = 0; k < left_n; k++) {
    lua_geti(L, SORT_LIST, lo + k);
    lua_rawseti(L, SORT_SCRATCH, k + 1);
    step(st);
  }
  lua_Integer i = 1, j = mid + 1, k = lo;
  lua_rawgeti(L, SORT_SCRATCH, i);
  lua_geti(L, SORT_LIST, j);
  int left = lua_gettop(L) - 1, right = left + 1;
  for (;;) {
    if (sort_less(st, right, left)) {
      lua_pushvalue(L, right);
      lua_seti(L, SORT_LIST, k++);
      if (++j > hi) break;
      lua_geti(L, SORT_LIST, j);
      lua_replace(L, right);
    } else {
      lua_pushvalue(L, left);
      lua_seti(L, SORT_LIST, k++);
      if (++i > left_n) break;
      lua_rawgeti(L, SORT_SCRATCH, i);
      lua_replace(L, left);
    }
  }
  lua_pop(L, 2);
  for (; i <= left_n; i++) { /* the rest of the left run; the right is in place */
    lua_rawgeti(L, SORT_SCRATCH, i);
    lua_seti(L, SORT_LIST, k++);
    step(st);
  }
}

static void table_merge_sort(stepper *st, lua_Integer lo, lua_Integer hi) {
  if (hi - lo < INSERTION_MAX) {
    table_insertion_sort(st, lo, hi);
    return;
  }
  lua_Integer mid = lo + (hi - lo) / 2;
  table_merge_sort(st, lo, mid);
  table_merge_sort(st, mid + 1, hi);
  table_merge(st, lo, mid, hi);
}

/* A consistent order function leaves no element before a smaller one. */
static void table_check_sorted(stepper *st, lua_Integer n) {
  for (lua_Integer i = 1; i < n; i++)
    if (list_less(st, i + 1, i))
      luaL_error(st->L, "invalid order function for sorting");
}

static void sort_in_table(stepper *st, lua_Integer n) {
  lua_createtable(st->L, (int)(n / 2 + 1), 0); /* SORT_SCRATCH */
  table_merge_sort(st, 1, n);
  table_check_sorted(st, n);
}

/* The same on stack slots [lo, hi]; no table access at all. */
static void stack_insertion_sort(stepper *st, int lo, int hi) {
  lua_State *L = st->L;
  for (int i = lo + 1; i <= hi; i++) {
    lua_pushvalue(L, i);
    int j = i - 1;
    for (; j >= lo && sort_less(st, -1, j); j--) lua_copy(L, j, j + 1);
    lua_replace(L, j + 1);
  }
}

/* Merges slots [lo, mid] and [mid+1, hi] through the scratch slots. */
static void stack_merge(stepper *st, int lo, int mid, int hi, int scratch) {
  lua_State *L = st->L;
  if (!sort_less(st, mid + 1, mid)) return; /* already in order */
  int left_n = mid - lo + 1;
  for (int k = 0; k < left_n; k++) lua_copy(L, lo + k, scratch + k);
  int i = scratch, left_end = scratch + left_n, j = mid + 1, k = lo;
  while (i < left_end && j <= hi) {
    if (sort_less(st, j, i)) lua_copy(L, j++, k++);
    else lua_copy(L, i++, k++);
  }
  while (i < left_end) lua_copy(L, i++, k++);
}

static void stack_merge_sort(stepper *st, int lo, int hi, int scratch) {
  if (hi - lo < INSERTION_MAX) {
    stack_insertion_sort(st, lo, hi);
    return;
  }
  int mid = lo + (hi - lo) / 2;
  stack_merge_sort(st, lo, mid, scratch);
  stack_merge_sort(st, mid + 1, hi, scratch);
  stack_merge(st, lo, mid, hi, scratch);
}

/* Reads list[1..n] onto the stack, sorts there, checks, writes back.
 * Returns 0 when the stack cannot hold them. */
static int sort_on_stack(stepper *st, int n) {
  lua_State *L = st->L;
  int first = lua_gettop(L) + 1, scratch = first + n;
  if (n > SORT_ON_STACK_MAX || !lua_checkstack(L, n + n / 2 + 8)) return 0;
  for (int i = 1; i <= n; i++) {
    lua_geti(L, SORT_LIST, i);
    step(st);
  }
  lua_settop(L, scratch + n / 2);
  stack_merge_sort(st, first, scratch - 1, scratch);
  for (int i = first; i < scratch - 1; i++)
    if (sort_less(st, i + 1, i)) luaL_error(L, "invalid order function for sorting");
  for (int i = 1; i <= n; i++) {
    lua_pushvalue(L, first + i - 1);
    lua_seti(L, SORT_LIST, i);
    step(st);
  }
  lua_settop(L, first - 1);
  return 1;
}

static int sb_tab_sort(lua_State *L) {
  check_table(L, 1, TAB_R | TAB_W | TAB_L);
  lua_Integer n = luaL_len(L, 1);
  if (n <= 1) return 0;
  luaL_argcheck(L, n < INT_MAX, 1, "array too big");
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_settop(L, 2);
  stepper st;
  stepper_init(&st, L);
  luaL_checkstack(L, 8, "table.sort");
  if (!sort_on_stack(&st, (int)n)) sort_in_table(&st, n);
  return 0;
}

/* ---- registration ---- */

static const luaL_Reg table_functions[] = {
  {"concat", sb_tab_concat}, {"insert", sb_tab_insert}, {"move", sb_tab_move},
  {"remove", sb_tab_remove}, {"sort", sb_tab_sort},     {NULL, NULL}};

void sb_tablib_register(lua_State *L, int table_index) {
  table_index = lua_absindex(L, table_index);
  lua_pushvalue(L, table_index);
  lua_pushvalue(L, -2); /* the budget box */
  luaL_setfuncs(L, table_functions, 1);
  lua_pop(L, 1);
}
