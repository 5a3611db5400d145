/* json.c: strict JSON pull reader (RFC 8259) and the Lua value builder.
 * The encoder lives in json_encode.c. */
#include "util/json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "sandbox/budget.h"
#include "util/json_keys.h"

static const char null_marker = 0;

void *json_null(void) { return (void *)&null_marker; }

void json_reader_init(json_reader *r, const char *data, size_t len, int max_depth) {
  memset(r, 0, sizeof *r);
  r->start = r->p = data;
  r->end = data + len;
  if (max_depth <= 0 || max_depth > (int)sizeof r->stack) max_depth = (int)sizeof r->stack;
  r->max_depth = max_depth;
  ub_buf_init(&r->str);
}

void json_reader_free(json_reader *r) {
  ub_buf_free(&r->str);
  json_keyset_free(r->keys);
  r->keys = NULL;
}

size_t json_offset(const json_reader *r) { return (size_t)(r->p - r->start); }

int json_str_is(const json_reader *r, const char *s) {
  size_t n = strlen(s);
  return r->str.len == n && (n == 0 || memcmp(r->str.data, s, n) == 0);
}

void json_position(const json_reader *r, char *out, size_t outlen) {
  int line, column;
  size_t at = json_offset(r);
  ub_text_position(r->start, (size_t)(r->end - r->start), at, &line, &column);
  snprintf(out, outlen, "line %d, column %d (offset %zu)", line, column, at);
}

static json_token fail(json_reader *r, const char *msg) {
  if (!r->err[0]) {
    char where[96];
    json_position(r, where, sizeof where);
    snprintf(r->err, sizeof r->err, "%s: %s", where, msg);
  }
  return JSON_ERROR;
}

static void skip_space(json_reader *r) {
  while (r->p < r->end &&
         (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
    r->p++;
}

static int literal(json_reader *r, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0) return 0;
  r->p += n;
  return 1;
}

static int hex4(const char *p, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return 0;
  }
  *out = v;
  return 1;
}

static void put_utf8(ub_buf *b, unsigned cp) {
  char s[4];
  size_t n;
  if (cp < 0x80) { s[0] = (char)cp; n = 1; }
  else if (cp < 0x800) { s[0] = (char)(0xC0 | (cp >> 6)); s[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
  else if (cp < 0x10000) {
    s[0] = (char)(0xE0 | (cp >> 12)); s[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    s[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
  } else {
    s[0] = (char)(0xF0 | (cp >> 18)); s[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    s[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); s[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
  }
  ub_buf_append(b, s, n);
}

/* Reads a \uXXXX escape (with surrogate pairs); r->p points after "\u". */
static int unicode_escape(json_reader *r) {
  unsigned cp;
  if (r->end - r->p < 4 || !hex4(r->p, &cp)) return fail(r, "invalid \\u escape"), -1;
  r->p += 4;
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    unsigned lo;
    if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u' || !hex4(r->p + 2, &lo) ||
        lo < 0xDC00 || lo > 0xDFFF)
      return fail(r, "unpaired UTF-16 surrogate in \\u escape"), -1;
    r->p += 6;
    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
  } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
    return fail(r, "unpaired UTF-16 surrogate in \\u escape"), -1;
  }
  put_utf8(&r->str, cp);
  return 0;
}

static int escape(json_reader *r) {
  if (r->p >= r->end) return fail(r, "unterminated string"), -1;
  char c = *r->p++;
  const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
  const char *hit = strchr(from, c);
  if (c == 'u') return unicode_escape(r);
  if (!hit || !c) return fail(r, "invalid escape in string"), -1;
  ub_buf_putc(&r->str, to[hit - from]);
  return 0;
}

/* Length of a valid UTF-8 sequence starting at p, or 0. Latin-1 bytes
 * (seen in one cached Dynatrace descriptor) are rejected here and
 * converted by the caller. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end) {
  unsigned c = p[0];
  size_t n = c < 0xC2 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
  if (n == 0 || (size_t)(end - p) < n) return 0;
  for (size_t i = 1; i < n; i++)
    if ((p[i] & 0xC0) != 0x80) return 0;
  if (c == 0xE0 && p[1] < 0xA0) return 0;
  if (c == 0xED && p[1] > 0x9F) return 0;
  if (c == 0xF0 && p[1] < 0x90) return 0;
  if (c == 0xF4 && p[1] > 0x8F) return 0;
  return n;
}

static json_token read_string(json_reader *r) {
  ub_buf_reset(&r->str);
  r->p++; /* opening quote */
  for (;;) {
    const char *run = r->p;
    while (r->p < r->end && *r->p != '"' && *r->p != '\\' &&
           (unsigned char)*r->p >= 0x20 && (unsigned char)*r->p < 0x80)
      r->p++;
    ub_buf_append(&r->str, run, (size_t)(r->p - run));
    if (r->p >= r->end) return fail(r, "unterminated string");
    unsigned char c = (unsigned char)*r->p;
    if (c == '"') { r->p++; break; }
    if (c == '\\') { r->p++; if (escape(r) != 0) return JSON_ERROR; continue; }
    if (c < 0x20) return fail(r, "control character in string");
    size_t n = utf8_len((const unsigned char *)r->p, (const unsigned char *)r->end);
    if (n) { ub_buf_append(&r->str, r->p, n); r->p += n; continue; }
    put_utf8(&r->str, c); /* tolerate a Latin-1 byte (e.g. 0xB5 'µ') */
    r->p++;
  }
  if (r->str.failed) return fail(r, "out of memory");
  if (!r->str.data) ub_buf_reserve(&r->str, 0);
  return JSON_STRING;
}

/* Exact powers of ten representable as doubles. */
static const double pow10_exact[] = {
  1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* The digits of a number as an integer mantissa and a decimal exponent. */
typedef struct number_parts {
  uint64_t mantissa;
  int digits;          /* significant digits in mantissa */
  int exp10;           /* value = mantissa * 10^exp10 */
  int overflow;        /* more than 19 significant digits */
  int negative, is_int;
} number_parts;

static const char *scan_digits(const char *p, const char *end, number_parts *n, int fraction) {
  for (; p < end && *p >= '0' && *p <= '9'; p++) {
    if (n->digits < 19) {
      n->mantissa = n->mantissa * 10 + (uint64_t)(*p - '0');
      if (n->mantissa) n->digits++;
      if (fraction) n->exp10--;
    } else {
      n->overflow = 1;
      if (!fraction) n->exp10++;
    }
  }
  return p;
}

/* Validates the JSON number grammar and splits it; NULL on a syntax error
 * (r->err set). */
static const char *scan_number(json_reader *r, number_parts *n) {
  const char *p = r->p, *end = r->end;
  memset(n, 0, sizeof *n);
  n->is_int = 1;
  if (p < end && *p == '-') { n->negative = 1; p++; }
  if (p >= end || *p < '0' || *p > '9') return fail(r, "invalid number"), NULL;
  if (*p == '0') p++;
  else p = scan_digits(p, end, n, 0);
  if (p < end && *p == '.') {
    n->is_int = 0;
    if (++p >= end || *p < '0' || *p > '9')
      return fail(r, "invalid number: digit expected after '.'"), NULL;
    p = scan_digits(p, end, n, 1);
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    int sign = 1, e = 0;
    n->is_int = 0;
    if (++p < end && (*p == '+' || *p == '-')) sign = *p++ == '-' ? -1 : 1;
    if (p >= end || *p < '0' || *p > '9')
      return fail(r, "invalid number: digit expected in exponent"), NULL;
    for (; p < end && *p >= '0' && *p <= '9'; p++)
      if (e < 100000) e = e * 10 + (*p - '0');
    n->exp10 += sign * e;
  }
  return p;
}

/* Correctly rounded conversion: exact arithmetic when the mantissa and the
 * power of ten are both exact doubles (Clinger's fast path), else strtod. */
static int convert_number(json_reader *r, const number_parts *n, const char *s, size_t len) {
  if (!n->overflow && n->mantissa <= (1ULL << 53) && n->exp10 >= -22 && n->exp10 <= 22) {
    double m = (double)n->mantissa;
    r->num = n->exp10 >= 0 ? m * pow10_exact[n->exp10] : m / pow10_exact[-n->exp10];
    if (n->negative) r->num = -r->num;
  } else {
    char tmp[64], *buf = len < sizeof tmp ? tmp : malloc(len + 1);
    if (!buf) return fail(r, "out of memory"), -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    r->num = strtod(buf, NULL);
    if (buf != tmp) free(buf);
  }
  return isfinite(r->num) ? 0 : (fail(r, "number out of range"), -1);
}

static json_token read_number(json_reader *r) {
  number_parts n;
  const char *s = r->p, *p = scan_number(r, &n);
  if (!p) return JSON_ERROR;
  r->is_integer = n.is_int && !n.overflow && n.exp10 == 0 &&
                  n.mantissa <= (uint64_t)INT64_MAX + (uint64_t)n.negative;
  if (r->is_integer)
    r->integer = n.negative ? (int64_t)(0 - n.mantissa) : (int64_t)n.mantissa;
  if (convert_number(r, &n, s, (size_t)(p - s)) != 0) return JSON_ERROR;
  r->p = p;
  return JSON_NUMBER;
}

static json_token open_container(json_reader *r, char kind) {
  if (r->depth >= r->max_depth) return fail(r, "nesting too deep");
  if (kind == 'o' && json_keyset_open(&r->keys) != 0) return fail(r, "out of memory");
  r->stack[r->depth++] = (unsigned char)kind;
  r->p++;
  r->need_sep = 0;
  r->expect_key = (kind == 'o');
  return kind == 'o' ? JSON_OBJECT : JSON_ARRAY;
}

static json_token close_container(json_reader *r, char kind) {
  if (r->depth == 0 || r->stack[r->depth - 1] != (unsigned char)kind)
    return fail(r, kind == 'o' ? "unexpected '}'" : "unexpected ']'");
  r->p++;
  r->depth--;
  if (kind == 'o') json_keyset_close(r->keys);
  r->need_sep = 1;
  r->expect_key = 0;
  return kind == 'o' ? JSON_OBJECT_END : JSON_ARRAY_END;
}

/* Consumes the separator due before the next item of the current
 * container. Returns 1 when the container ends instead, 0 to go on. */
static int separator(json_reader *r, json_token *out) {
  if (r->after_key) return 0;
  char in = r->depth ? (char)r->stack[r->depth - 1] : 0;
  char closer = in == 'o' ? '}' : ']';
  if (r->p < r->end && *r->p == closer && in) {
    if (r->expect_key == 2) { *out = fail(r, "trailing comma"); return 1; }
    *out = close_container(r, in);
    return 1;
  }
  if (!r->need_sep) return 0;
  if (!in) { *out = fail(r, "unexpected data after the value"); return 1; }
  if (r->p >= r->end || *r->p != ',') {
    *out = fail(r, in == 'o' ? "expected ',' or '}'" : "expected ',' or ']'");
    return 1;
  }
  r->p++;
  skip_space(r);
  r->need_sep = 0;
  if (in == 'o') r->expect_key = 2; /* 2: a key must follow (no trailing comma) */
  else if (r->p < r->end && *r->p == ']') { *out = fail(r, "trailing comma"); return 1; }
  return 0;
}

/* The key just read is new in its object, or the reader fails naming it
 * and where it is. */
static json_token unique_key(json_reader *r, const char *at) {
  int rc = json_keyset_add(r->keys, r->str.data, r->str.len);
  if (rc == 0) return JSON_STRING;
  if (rc < 0) return fail(r, "out of memory");
  size_t off = (size_t)(at - r->start);
  int line, col;
  ub_text_position(r->start, (size_t)(r->end - r->start), off, &line, &col);
  char key[64];
  size_t n = 0;
  for (size_t i = 0; i < r->str.len && n + 4 < sizeof key; i++) {
    unsigned char c = (unsigned char)r->str.data[i];
    key[n++] = c < 0x20 || c == 0x7f || c == '"' ? '?' : (char)c;
  }
  if (n + 4 >= sizeof key) { memcpy(key + n, "...", 3); n += 3; }
  key[n] = '\0';
  snprintf(r->err, sizeof r->err, "line %d, column %d (offset %zu): duplicate key \"%s\"", line, col,
           off, key);
  return JSON_ERROR;
}

static json_token read_key(json_reader *r) {
  if (r->p < r->end && *r->p == '}' && r->expect_key == 2) return fail(r, "trailing comma");
  if (r->p >= r->end || *r->p != '"') return fail(r, "expected a string key");
  const char *at = r->p;
  json_token t = read_string(r);
  if (t != JSON_STRING) return t;
  if (unique_key(r, at) != JSON_STRING) return JSON_ERROR;
  skip_space(r);
  if (r->p >= r->end || *r->p != ':') return fail(r, "expected ':' after key");
  r->p++;
  r->expect_key = 0;
  r->after_key = 1;
  r->is_key = 1;
  return JSON_STRING;
}

static json_token read_value(json_reader *r) {
  if (r->p >= r->end) return fail(r, "unexpected end of input");
  r->after_key = 0;
  r->need_sep = 1;
  if (r->depth && r->stack[r->depth - 1] == 'o') r->expect_key = 1;
  switch (*r->p) {
    case '{': return open_container(r, 'o');
    case '[': return open_container(r, 'a');
    case '"': return read_string(r);
    case 't': if (literal(r, "true")) return JSON_TRUE; break;
    case 'f': if (literal(r, "false")) return JSON_FALSE; break;
    case 'n': if (literal(r, "null")) return JSON_NULL; break;
    default:
      if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9')) return read_number(r);
  }
  return fail(r, "unexpected character");
}

json_token json_next(json_reader *r) {
  if (r->err[0]) return JSON_ERROR;
  r->is_key = 0;
  skip_space(r);
  if (r->depth == 0 && r->need_sep)
    return r->p >= r->end ? JSON_END : fail(r, "unexpected data after the value");
  json_token t;
  if (separator(r, &t)) return t;
  if (r->expect_key) return read_key(r);
  return read_value(r);
}

int json_skip(json_reader *r, json_token first) {
  if (first == JSON_ERROR) return -1;
  if (first != JSON_ARRAY && first != JSON_OBJECT) return 0;
  int depth = 1;
  while (depth > 0) {
    json_token t = json_next(r);
    if (t == JSON_ERROR || t == JSON_END) return -1;
    if (t == JSON_ARRAY || t == JSON_OBJECT) depth++;
    else if (t == JSON_ARRAY_END || t == JSON_OBJECT_END) depth--;
  }
  return 0;
}

int json_validate(const char *data, size_t len, int max_depth, char *err, size_t errlen) {
  json_reader r;
  json_reader_init(&r, data, len, max_depth);
  int rc = json_skip(&r, json_next(&r)) == 0 && json_next(&r) == JSON_END ? 0 : -1;
  if (rc != 0) {
    if (!r.err[0]) fail(&r, "invalid JSON");
    snprintf(err, errlen, "%s", r.err);
  }
  json_reader_free(&r);
  return rc;
}

/* ---- Lua builder ---- */

#define ARRAY_MT_KEY "unbreakable.json.array"

void json_mark_array(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  if (lua_getfield(L, LUA_REGISTRYINDEX, ARRAY_MT_KEY) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_createtable(L, 0, 2);
    lua_pushliteral(L, "json.array");
    lua_setfield(L, -2, "__name");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, ARRAY_MT_KEY);
  }
  lua_setmetatable(L, idx);
}

static int build_value(lua_State *L, json_reader *r, json_token t);

static int build_array(lua_State *L, json_reader *r) {
  lua_newtable(L);
  lua_Integer i = 0;
  for (;;) {
    json_token t = json_next(r);
    if (t == JSON_ARRAY_END) {
      if (i == 0) json_mark_array(L, -1); /* [] stays [] when encoded again */
      return 0;
    }
    if (build_value(L, r, t) != 0) return -1;
    lua_rawseti(L, -2, ++i);
  }
}

static int build_object(lua_State *L, json_reader *r) {
  lua_newtable(L);
  for (;;) {
    json_token t = json_next(r);
    if (t == JSON_OBJECT_END) return 0;
    if (t != JSON_STRING) return -1;
    lua_pushlstring(L, r->str.data, r->str.len);   /* never a duplicate: read_key */
    if (build_value(L, r, json_next(r)) != 0) return -1;
    lua_rawset(L, -3);
  }
}

static int build_value(lua_State *L, json_reader *r, json_token t) {
  luaL_checkstack(L, 4, "JSON nesting");
  if ((++r->values & 0xffffu) == 0) ub_budget_check(L); /* in a sandbox: its limits */
  switch (t) {
    case JSON_NULL: lua_pushlightuserdata(L, json_null()); return 0;
    case JSON_TRUE: lua_pushboolean(L, 1); return 0;
    case JSON_FALSE: lua_pushboolean(L, 0); return 0;
    case JSON_NUMBER:
      if (r->is_integer) lua_pushinteger(L, (lua_Integer)r->integer);
      else lua_pushnumber(L, r->num);
      return 0;
    case JSON_STRING:
      /* the reader's copy of a long string is C memory: charged, in a sandbox */
      if (r->str.cap > ((size_t)1 << 20) && ub_budget_charge(L, r->str.cap) != 0)
        ub_budget_check(L);
      lua_pushlstring(L, r->str.data, r->str.len);
      return 0;
    case JSON_ARRAY: return build_array(L, r);
    case JSON_OBJECT: return build_object(L, r);
    default:
      if (t != JSON_ERROR) fail(r, "unexpected token");
      return -1;
  }
}

typedef struct decode_job {
  json_reader r;
  int rc;
} decode_job;

/* Runs protected: pushes the decoded value, or nothing when it is invalid. */
static int decode_protected(lua_State *L) {
  decode_job *j = lua_touserdata(L, 1);
  lua_pop(L, 1);
  j->rc = build_value(L, &j->r, json_next(&j->r));
  if (j->rc == 0 && json_next(&j->r) != JSON_END) j->rc = -1;
  if (j->rc == 0 && j->r.err[0]) j->rc = -1;
  return j->rc == 0 ? 1 : 0;
}

static void free_decode_job(void *job) {
  json_reader_free(&((decode_job *)job)->r);
  free(job);
}

/* The reader's string buffer is C memory: a Lua error (memory, a sandbox
 * kill) while building is caught, the buffer freed, the error raised
 * again; the sandbox's hard stop frees it (ub_budget_hold). */
int json_decode_lua(lua_State *L, const char *data, size_t len, int max_depth,
                    char *err, size_t errlen) {
  decode_job *j = malloc(sizeof *j);
  if (!j) return luaL_error(L, "out of memory decoding JSON");
  json_reader_init(&j->r, data, len, max_depth);
  j->rc = -1;
  lua_pushcfunction(L, decode_protected);
  lua_pushlightuserdata(L, j);
  ub_budget_hold(L, free_decode_job, j);
  int status = lua_pcall(L, 1, 1, 0);
  ub_budget_release(L, j);
  if (status == LUA_OK && j->rc != 0) {
    lua_pop(L, 1);
    if (!j->r.err[0]) fail(&j->r, "invalid JSON");
    snprintf(err, errlen, "%s", j->r.err);
  }
  int rc = j->rc;
  free_decode_job(j);
  if (status != LUA_OK) return lua_error(L);
  return rc;
}

int json_decode_lua_or_raise(lua_State *L, const char *data, size_t len, int max_depth, const char *what) {
  char err[256];
  if (json_decode_lua(L, data, len, max_depth, err, sizeof err) != 0)
    return luaL_error(L, "%s is not valid JSON: %s", what, err);
  return 1;
}
