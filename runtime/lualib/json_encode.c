/* json_encode.c: deterministic JSON encoder for Lua values. It reads
 * tables with raw accessors only, so no policy metamethod runs while a
 * result is converted (docs/reference/sandbox.md fact 6), sorts object keys, rejects
 * cycles, functions, NaN and infinities with the path of the bad value.
 * In a sandbox the text it builds counts against the policy's memory
 * limit (the buffer's capacity, and the next growth before it happens),
 * and its deadline and instruction budget hold while it works, inside long
 * strings too: a table shared many times, or a string of control bytes,
 * encodes to far more text than it occupies. Every step is linear or
 * n log n in what it reads (the __jsonorder check uses a Lua table).
 * A Lua error (memory) may unwind through it: its own scratch memory is a
 * Lua userdata or lives in the encoder, never a malloc that would leak. */
#include "util/json.h"
#include "util/text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "sandbox/budget.h"

#define ORDER_FIELD "__jsonorder"
#define ARRAY_MT_KEY "unbreakable.json.array"

typedef struct encoder {
  lua_State *L;
  const json_enc_opts *o;
  ub_buf *out;
  char path[256];           /* where the encoder is, for errors (truncated) */
  size_t path_len;
  const void *seen[256];
  int depth;
  unsigned values;          /* encoded so far, for budget checks */
  size_t checked_len;       /* output length at the last budget check */
  char *err;
  size_t errlen;
} encoder;

#define BUDGET_VALUES 1024u
#define BUDGET_BYTES ((size_t)256 << 10)  /* text between two checks, at most */
#define STRING_PIECE ((size_t)16 << 10)   /* string bytes between two checks */
#define LIMITS_EXHAUSTED (-2)             /* put_string: the sandbox said stop */

/* Charges the buffer's capacity, and the next growth (old and new block
 * live together while it is copied) when it may come before the next
 * check: 0 to go on, -1 when the sandbox's limits are exhausted (it
 * reports the kill). */
static int charge_now(encoder *e) {
  size_t held = e->out->cap;
  if (e->out->cap - e->out->len < 2 * BUDGET_BYTES) held = 3 * (e->out->cap ? e->out->cap : 64);
  e->checked_len = e->out->len;
  return ub_budget_charge(e->L, held);
}

/* Every BUDGET_VALUES values or BUDGET_BYTES of text. */
static int within_budget(encoder *e) {
  if (++e->values % BUDGET_VALUES != 0 && e->out->len - e->checked_len < BUDGET_BYTES) return 0;
  return charge_now(e);
}

static int enc_fail(encoder *e, const char *what) {
  const char *root = e->o->root ? e->o->root : "value";
  const char *sep = e->path_len && e->path[0] != '[' ? "." : "";
  snprintf(e->err, e->errlen, "%s%s%s: %s", root, sep, e->path, what);
  return -1;
}

/* ---- numbers ---- */

/* Shortest digits that round-trip: fills digits (no dot) and returns the
 * decimal exponent of the first digit. */
static int shortest_digits(double d, char digits[24], int *ndigits) {
  char tmp[40];
  for (int prec = 0; prec < 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*e", prec, d);
    if (strtod(tmp, NULL) == d) break;
  }
  /* tmp is like "-1.2345e+05" */
  const char *p = tmp;
  if (*p == '-') p++;
  int n = 0;
  for (; *p && *p != 'e'; p++)
    if (*p != '.') digits[n++] = *p;
  while (n > 1 && digits[n - 1] == '0') n--;
  digits[n] = '\0';
  *ndigits = n;
  return atoi(p + 1);
}

void json_format_double(double d, int py_style, char out[32]) {
  if (!isfinite(d)) { /* not JSON: callers check first; never "n.an" */
    strcpy(out, "null");
    return;
  }
  if (d == 0) {
    /* -0.0 keeps its point so that it decodes as a float again */
    strcpy(out, signbit(d) ? "-0.0" : "0.0");
    if (!py_style && !signbit(d)) strcpy(out, "0");
    return;
  }
  char digits[24];
  int n, exp = shortest_digits(d, digits, &n);
  char *o = out;
  if (d < 0) *o++ = '-';
  int sci = py_style ? (exp < -4 || exp >= 16) : (exp < -6 || exp >= 21);
  if (sci) {
    *o++ = digits[0];
    if (n > 1) { *o++ = '.'; memcpy(o, digits + 1, (size_t)n - 1); o += n - 1; }
    sprintf(o, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    return;
  }
  if (exp < 0) {
    *o++ = '0'; *o++ = '.';
    for (int i = -1; i > exp; i--) *o++ = '0';
    memcpy(o, digits, (size_t)n); o += n;
  } else {
    for (int i = 0; i <= exp; i++) *o++ = i < n ? digits[i] : '0';
    if (n > exp + 1) {
      *o++ = '.';
      memcpy(o, digits + exp + 1, (size_t)(n - exp - 1));
      o += n - exp - 1;
    } else if (py_style) {
      *o++ = '.'; *o++ = '0';
    }
  }
  *o = '\0';
}

static int put_number(encoder *e, int idx) {
  if (lua_isinteger(e->L, idx))
    return ub_buf_printf(e->out, "%lld", (long long)lua_tointeger(e->L, idx));
  double d = lua_tonumber(e->L, idx);
  if (isnan(d)) return enc_fail(e, "NaN cannot be encoded as JSON");
  if (isinf(d)) return enc_fail(e, "infinity cannot be encoded as JSON");
  char tmp[32];
  json_format_double(d, e->o->py_style, tmp);
  return ub_buf_puts(e->out, tmp);
}

/* ---- strings ---- */

/* \uXXXX in lower case, without printf (a string of control bytes is
 * millions of these). */
static void put_u_escape(ub_buf *out, unsigned cp) {
  static const char hex[] = "0123456789abcdef";
  char u[6] = {'\\', 'u', hex[(cp >> 12) & 15], hex[(cp >> 8) & 15], hex[(cp >> 4) & 15],
               hex[cp & 15]};
  ub_buf_append(out, u, sizeof u);
}

static void put_escaped(ub_buf *out, unsigned cp, int ascii_only) {
  switch (cp) {
    case '"': ub_buf_puts(out, "\\\""); return;
    case '\\': ub_buf_puts(out, "\\\\"); return;
    case '\n': ub_buf_puts(out, "\\n"); return;
    case '\r': ub_buf_puts(out, "\\r"); return;
    case '\t': ub_buf_puts(out, "\\t"); return;
    case '\b': ub_buf_puts(out, "\\b"); return;
    case '\f': ub_buf_puts(out, "\\f"); return;
  }
  if (ub_text_is_control(cp) || cp == '#' || (ascii_only && cp >= 0x7F && cp < 0x10000)) {
    put_u_escape(out, cp);
  } else if (ascii_only && cp >= 0x10000) {
    cp -= 0x10000;
    put_u_escape(out, 0xD800 + (cp >> 10));
    put_u_escape(out, 0xDC00 + (cp & 0x3FF));
  }
}

/* Appends a string literal; returns -1 on invalid UTF-8, LIMITS_EXHAUSTED
 * when the encoder e (NULL: no checks) ran out of budget. Controls
 * (ub_text_is_control: DEL, C1, bidi overrides...) are always escaped,
 * and outside Python style so is the second '#' of "##": JSON printed to a
 * terminal or a CI log cannot drive it or start an Azure Pipelines command
 * ("##vso[" counts wherever it stands in a line). Python style stays
 * byte-identical to json.dumps (ensure_ascii escapes every control). */
static int put_string(encoder *e, ub_buf *out, const char *s, size_t len, int ascii_only) {
  const unsigned char *p = (const unsigned char *)s;
  ub_buf_putc(out, '"');
  size_t i = 0, next_check = STRING_PIECE;
  while (i < len) {
    if (e && i >= next_check) {
      next_check = i + STRING_PIECE;
      if (charge_now(e) != 0) return LIMITS_EXHAUSTED;
    }
    size_t run = i;
    size_t stop = e && len - i > STRING_PIECE ? i + STRING_PIECE : len;
    while (i < stop && p[i] >= 0x20 && p[i] < 0x7F && p[i] != '"' && p[i] != '\\' &&
           (ascii_only || !(p[i] == '#' && i > 0 && p[i - 1] == '#'))) i++;
    ub_buf_append(out, s + run, i - run);
    if (i >= len) break;
    if (i == stop) continue;
    unsigned cp;
    size_t n = ub_utf8_decode(p + i, len - i, &cp);
    if (n == 0) return -1;
    if (cp >= 0xA0 && !ascii_only && !ub_text_is_control(cp)) ub_buf_append(out, s + i, n);
    else put_escaped(out, cp, ascii_only);
    i += n;
  }
  ub_buf_putc(out, '"');
  return 0;
}

void json_append_string(ub_buf *out, const char *s, size_t len) {
  size_t mark = out->len;
  if (put_string(NULL, out, s, len, 0) != 0) {
    /* not UTF-8: escape every byte as a Latin-1 code point */
    out->len = mark;
    ub_buf_putc(out, '"');
    for (size_t i = 0; i < len; i++) {
      unsigned char c = (unsigned char)s[i];
      if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\' && !(c == '#' && i > 0 && s[i - 1] == '#'))
        ub_buf_putc(out, (char)c);
      else put_escaped(out, c, 1);
    }
    ub_buf_putc(out, '"');
  }
}

/* ---- tables ---- */

static int encode_value(encoder *e, int idx);

static void newline(encoder *e) {
  if (e->o->indent <= 0) return;
  ub_buf_putc(e->out, '\n');
  size_t n = (size_t)e->depth * (size_t)e->o->indent;
  for (size_t i = 0; i < n; i++) ub_buf_putc(e->out, ' ');
}

static const char *item_sep(const encoder *e) {
  return e->o->py_style && e->o->indent <= 0 ? ", " : ",";
}

/* Appends to the path as far as it fits; returns the length before. */
static size_t path_push(encoder *e, const char *a, const char *b) {
  size_t mark = e->path_len;
  int n = snprintf(e->path + mark, sizeof e->path - mark, "%s%s", a, b);
  e->path_len = n < 0 ? mark : mark + (size_t)n < sizeof e->path ? mark + (size_t)n
                                                                 : sizeof e->path - 1;
  return mark;
}

static size_t path_push_index(encoder *e, lua_Integer i) {
  char num[32];
  snprintf(num, sizeof num, "[%lld]", (long long)i);
  return path_push(e, num, "");
}

static size_t path_push_key(encoder *e, const char *k) {
  return path_push(e, e->path_len ? "." : "", k);
}

static void path_pop(encoder *e, size_t mark) {
  e->path_len = mark;
  e->path[mark] = '\0';
}

/* Classifies a table: 1 array of n items, 0 object, -1 error. */
static int classify(encoder *e, int t, lua_Integer *n) {
  lua_Integer count = 0, ints = 0, maxint = 0, strs = 0;
  lua_pushnil(e->L);
  while (lua_next(e->L, t)) {
    lua_pop(e->L, 1);
    count++;
    if (lua_type(e->L, -1) == LUA_TSTRING) strs++;
    else if (lua_isinteger(e->L, -1) && lua_tointeger(e->L, -1) >= 1) {
      ints++;
      if (lua_tointeger(e->L, -1) > maxint) maxint = lua_tointeger(e->L, -1);
    } else {
      lua_pop(e->L, 1);
      return enc_fail(e, "table keys must be strings (object) or 1..n (array)");
    }
  }
  *n = count;
  if (strs == 0 && ints == count && maxint == count) return count > 0 ? 1 : 0;
  if (ints == 0) return 0;
  return enc_fail(e, "table mixes array items and object keys, or has holes");
}

static int encode_array(encoder *e, int t, lua_Integer n) {
  ub_buf_putc(e->out, '[');
  e->depth++;
  for (lua_Integer i = 1; i <= n; i++) {
    if (i > 1) ub_buf_puts(e->out, item_sep(e));
    newline(e);
    size_t mark = path_push_index(e, i);
    lua_rawgeti(e->L, t, i);
    int rc = encode_value(e, lua_gettop(e->L));
    lua_pop(e->L, 1);
    if (rc != 0) return -1;
    path_pop(e, mark);
  }
  e->depth--;
  newline(e);
  return ub_buf_putc(e->out, ']');
}

typedef struct key_ref { const char *s; size_t len; } key_ref;

static int cmp_keys(const void *a, const void *b) {
  const key_ref *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->s, y->s, n);
  return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Keys listed by the metatable's __jsonorder field (raw), in that order,
 * each once and only when present in t. The set of keys taken so far is a
 * Lua table at index seen (linear time whatever the list holds; its
 * memory counts against the limit). */
static size_t ordered_keys(encoder *e, int t, int seen, key_ref *keys, size_t n) {
  size_t k = 0;
  if (!lua_getmetatable(e->L, t)) return 0;
  lua_pushliteral(e->L, ORDER_FIELD);
  if (lua_rawget(e->L, -2) == LUA_TTABLE) {
    lua_Integer m = (lua_Integer)lua_rawlen(e->L, -1);
    for (lua_Integer i = 1; i <= m && k < n; i++) {
      if ((i & 1023) == 0) ub_budget_check(e->L);
      if (lua_rawgeti(e->L, -1, i) == LUA_TSTRING) {
        lua_pushvalue(e->L, -1);
        int present = lua_rawget(e->L, t) != LUA_TNIL;
        lua_pop(e->L, 1);
        lua_pushvalue(e->L, -1);
        int taken = lua_rawget(e->L, seen) != LUA_TNIL;
        lua_pop(e->L, 1);
        if (present && !taken) {
          keys[k].s = lua_tolstring(e->L, -1, &keys[k].len);
          k++;
          lua_pushvalue(e->L, -1);
          lua_pushboolean(e->L, 1);
          lua_rawset(e->L, seen);
        }
      }
      lua_pop(e->L, 1);
    }
  }
  lua_pop(e->L, 2);
  return k;
}

/* Keys in __jsonorder order first, the others sorted after them. The key
 * strings stay anchored in the table (or in the order list, which the
 * metatable anchors). Leaves the list (a userdata) and the set of ordered
 * keys on the stack. */
static key_ref *object_keys(encoder *e, int t, lua_Integer n, size_t *out_n) {
  key_ref *keys = lua_newuserdatauv(e->L, ((size_t)n + 1) * sizeof *keys, 0);
  lua_newtable(e->L);
  int seen = lua_gettop(e->L);
  size_t first = ordered_keys(e, t, seen, keys, (size_t)n), k = first;
  lua_pushnil(e->L);
  while (lua_next(e->L, t)) {
    lua_pop(e->L, 1);
    if ((k & 1023) == 0) ub_budget_check(e->L);
    int taken = 0;
    if (first) {
      lua_pushvalue(e->L, -1);
      taken = lua_rawget(e->L, seen) != LUA_TNIL;
      lua_pop(e->L, 1);
    }
    size_t len;
    const char *s = lua_tolstring(e->L, -1, &len);
    if (k < (size_t)n && !taken) { keys[k].s = s; keys[k].len = len; k++; }
  }
  qsort(keys + first, k - first, sizeof *keys, cmp_keys);
  *out_n = k;
  return keys;
}

static int encode_object(encoder *e, int t, lua_Integer n) {
  size_t nk;
  key_ref *keys = object_keys(e, t, n, &nk);
  ub_buf_putc(e->out, '{');
  e->depth++;
  int rc = 0;
  for (size_t i = 0; i < nk && rc == 0; i++) {
    if (i > 0) ub_buf_puts(e->out, item_sep(e));
    newline(e);
    int put = put_string(e, e->out, keys[i].s, keys[i].len, e->o->py_style);
    if (put != 0) {
      rc = enc_fail(e, put == LIMITS_EXHAUSTED ? "stopped: the policy's limits are exhausted"
                                               : "object key is not valid UTF-8");
      break;
    }
    ub_buf_puts(e->out, e->o->py_style || e->o->indent > 0 ? ": " : ":");
    size_t mark = path_push_key(e, keys[i].s);
    lua_pushlstring(e->L, keys[i].s, keys[i].len);
    lua_rawget(e->L, t);
    rc = encode_value(e, lua_gettop(e->L));
    lua_pop(e->L, 1);
    if (rc == 0) path_pop(e, mark);
  }
  lua_pop(e->L, 2);   /* the key list and the set */
  if (rc != 0) return -1;
  e->depth--;
  if (nk) newline(e);
  return ub_buf_putc(e->out, '}');
}

static int is_array_marked(lua_State *L, int t) {
  if (!lua_getmetatable(L, t)) return 0;
  lua_getfield(L, LUA_REGISTRYINDEX, ARRAY_MT_KEY);
  int same = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return same;
}

static int encode_table(encoder *e, int t) {
  const void *p = lua_topointer(e->L, t);
  int max = e->o->max_depth > 0 ? e->o->max_depth : 100;
  if (max > (int)(sizeof e->seen / sizeof e->seen[0])) max = (int)(sizeof e->seen / sizeof e->seen[0]);
  if (e->depth >= max) return enc_fail(e, "nesting too deep");
  for (int i = 0; i < e->depth; i++)
    if (e->seen[i] == p) return enc_fail(e, "cycle: a table contains itself");
  if (!lua_checkstack(e->L, 8)) return enc_fail(e, "out of stack");
  e->seen[e->depth] = p;
  lua_Integer n = 0;
  int kind = classify(e, t, &n);
  if (kind < 0) return -1;
  if (kind == 1) return encode_array(e, t, n);
  if (n == 0 && is_array_marked(e->L, t)) return ub_buf_puts(e->out, "[]");
  return encode_object(e, t, n);
}

static int encode_value(encoder *e, int idx) {
  lua_State *L = e->L;
  if (within_budget(e) != 0) return enc_fail(e, "stopped: the policy's limits are exhausted");
  switch (lua_type(L, idx)) {
    case LUA_TNIL: return ub_buf_puts(e->out, "null");
    case LUA_TBOOLEAN: return ub_buf_puts(e->out, lua_toboolean(L, idx) ? "true" : "false");
    case LUA_TNUMBER: return put_number(e, idx);
    case LUA_TSTRING: {
      size_t len;
      const char *s = lua_tolstring(L, idx, &len);
      int put = put_string(e, e->out, s, len, e->o->py_style);
      if (put == LIMITS_EXHAUSTED) return enc_fail(e, "stopped: the policy's limits are exhausted");
      if (put != 0) return enc_fail(e, "string is not valid UTF-8");
      return 0;
    }
    case LUA_TTABLE: return encode_table(e, idx);
    case LUA_TLIGHTUSERDATA:
      if (lua_touserdata(L, idx) == json_null()) return ub_buf_puts(e->out, "null");
      return enc_fail(e, "a light userdata cannot be encoded as JSON");
    default: {
      char msg[80];
      snprintf(msg, sizeof msg, "a %s cannot be encoded as JSON", luaL_typename(L, idx));
      return enc_fail(e, msg);
    }
  }
}

int json_encode_lua(lua_State *L, int idx, const json_enc_opts *o, ub_buf *out,
                    char *err, size_t errlen) {
  static const json_enc_opts defaults = {0, 0, 100, 1, NULL};
  encoder e;
  memset(&e, 0, sizeof e);
  e.L = L;
  e.o = o ? o : &defaults;
  e.out = out;
  e.err = err;
  e.errlen = errlen;
  if (errlen) err[0] = '\0';
  int top = lua_gettop(L);
  int rc = encode_value(&e, lua_absindex(L, idx));
  lua_settop(L, top);
  if ((rc == 0 && out->failed) || (rc != 0 && errlen && !err[0])) {
    snprintf(err, errlen, "out of memory while encoding JSON");
    rc = -1;
  }
  return rc != 0 ? -1 : 0;
}
