/* json.h: strict JSON (RFC 8259) pull reader, Lua value builder and a
 * deterministic encoder. Integers that fit in int64 stay integers; every
 * input has a size and depth limit. */
#ifndef UB_JSON_H
#define UB_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <lua.h>
#include "util/buf.h"

typedef enum json_token {
  JSON_ERROR = 0, JSON_END, JSON_NULL, JSON_TRUE, JSON_FALSE,
  JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_ARRAY_END,
  JSON_OBJECT, JSON_OBJECT_END
} json_token;

struct json_keyset;

/* Pull reader. json_next() returns the next value token; inside an object
 * it first returns the key as JSON_STRING (json_in_key() is then true),
 * then the value. Separators are checked internally. A key that its object
 * already has is an error ("duplicate key", with line and column): no
 * document the product reads may say one thing twice. */
typedef struct json_reader {
  const char *start, *p, *end;
  int depth, max_depth;
  unsigned char stack[256];      /* 'a' array, 'o' object, per depth */
  struct json_keyset *keys;      /* keys of the open objects (json_keys.h) */
  int expect_key;                /* next token in an object is a key */
  int need_sep;                  /* a ',' is needed before the next item */
  int after_key;                 /* a key was read; its value comes next */
  int is_key;                    /* last string was an object key */
  /* value of the last JSON_STRING (decoded UTF-8, NUL-terminated) */
  ub_buf str;
  /* value of the last JSON_NUMBER */
  double num;
  int64_t integer;
  int is_integer;                /* no fraction/exponent and fits in int64 */
  char err[200];
  unsigned values;               /* built by json_decode_lua, for budget checks */
} json_reader;

void json_reader_init(json_reader *r, const char *data, size_t len, int max_depth);
void json_reader_free(json_reader *r);
json_token json_next(json_reader *r);
/* Skips the value whose first token was just returned. 0 on success. */
int json_skip(json_reader *r, json_token first);
/* Byte offset of the reader. */
size_t json_offset(const json_reader *r);
/* 1 when the last string read (a key or a value) is exactly s. Compare
 * keys and values with it, never with strcmp on r->str.data: a JSON string
 * may hold "\u0000", and "rc\u0000x" must not be taken for "rc". */
int json_str_is(const json_reader *r, const char *s);
/* Where the reader is, for error messages: "line L, column C (offset N)"
 * (1-based line and column, the column in characters). */
void json_position(const json_reader *r, char *out, size_t outlen);

/* Checks that data is one valid JSON document (duplicate keys included)
 * without building it. Returns 0, or -1 with err filled. */
int json_validate(const char *data, size_t len, int max_depth, char *err, size_t errlen);

/* Decodes data and pushes one Lua value. Objects and arrays become
 * tables; null becomes the light userdata json_null() (so that arrays keep
 * their holes visible). Returns 0 or -1 with err filled ("line L, column C (offset N): ..."). */
int json_decode_lua(lua_State *L, const char *data, size_t len, int max_depth,
                    char *err, size_t errlen);
/* The same for a host callback that hands a document to Lua code: pushes
 * the value and returns 1, or raises "<what> is not valid JSON: ...". */
int json_decode_lua_or_raise(lua_State *L, const char *data, size_t len, int max_depth, const char *what);
void *json_null(void);
/* Marks the table at idx as an array, so that it encodes as [] even when
 * empty (the metatable json.array() uses). */
void json_mark_array(lua_State *L, int idx);

/* Encodes the value at idx with raw accessors only (no metamethods run):
 * keys sorted, integers as integers, floats in shortest round-trip form
 * (Python repr style with pretty == 0 and py_style set), cycles, functions,
 * NaN and infinities rejected with the path of the offending value.
 * A table is an array when its keys are exactly 1..n (n > 0), an object
 * otherwise; an empty table is {} unless it has the metatable json_array_mt.
 * Returns 0 or -1 with err filled. */
typedef struct json_enc_opts {
  int indent;        /* 0: one line */
  int py_style;      /* separators ", " and ": ", floats with ".0" */
  int max_depth;     /* default 100 */
  int sort_keys;     /* default 1 */
  const char *root;  /* name of the value in error paths ("result") */
} json_enc_opts;

int json_encode_lua(lua_State *L, int idx, const json_enc_opts *o, ub_buf *out,
                    char *err, size_t errlen);
/* Formats a double in shortest round-trip form; py_style adds ".0" to
 * integral values and uses Python's exponent rules. */
void json_format_double(double d, int py_style, char out[32]);
/* Appends s as a JSON string literal. */
void json_append_string(ub_buf *out, const char *s, size_t len);

#endif
