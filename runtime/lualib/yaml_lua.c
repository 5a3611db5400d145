/* yaml_lua.c: converts one YAML document into Lua values with libyaml's
 * event parser, under caps on size, node count, depth and alias expansion
 * (typing rules and limits: yaml_lua.h). The conversion runs in a protected
 * call so that the parser is freed whatever error unwinds it. */
#include "lualib/yaml_lua.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include <lauxlib.h>

#include "sandbox/budget.h"

#define TAG_PREFIX "tag:yaml.org,2002:"

/* Address used as the identity of the null sentinel (never written). */
static const char yaml_null_identity = 0;

typedef struct yaml_ctx {
  yaml_parser_t parser;
  yaml_event_t event;
  int have_event;
  const char *name;
  const char *text;
  size_t len;
  yaml_limits lim;
  size_t nodes;
  size_t aliases;
  unsigned events;   /* parsed so far, for budget checks */
  int anchors;       /* stack index of the anchor table */
  int positions;     /* stack index of the positions table, 0: not wanted */
} yaml_ctx;

void yaml_default_limits(yaml_limits *lim) {
  lim->max_bytes = 1024 * 1024;
  lim->max_nodes = 100000;
  lim->max_depth = 64;
  lim->max_aliases = 1000;
}

void yaml_push_null(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&yaml_null_identity);
}

/* ---- errors ------------------------------------------------------------ */

static int raise_at(lua_State *L, const yaml_ctx *c, yaml_mark_t mark,
                    const char *what) {
  return luaL_error(L, "%s:%d:%d: %s", c->name, (int)mark.line + 1,
                    (int)mark.column + 1, what);
}

/* Mark of a byte offset (reader errors carry only an offset). */
static yaml_mark_t mark_of_offset(const yaml_ctx *c, size_t offset) {
  yaml_mark_t m = {0, 0, 0};
  for (size_t i = 0; i < offset && i < c->len; i++) {
    if (c->text[i] == '\n') {
      m.line++;
      m.column = 0;
    } else {
      m.column++;
    }
  }
  m.index = offset;
  return m;
}

static int raise_parser_error(lua_State *L, const yaml_ctx *c) {
  const yaml_parser_t *p = &c->parser;
  const char *problem = p->problem ? p->problem : "invalid YAML";
  yaml_mark_t mark = p->problem_mark;
  if (p->error == YAML_READER_ERROR)
    mark = mark_of_offset(c, p->problem_offset);
  if (p->error == YAML_MEMORY_ERROR)
    problem = "out of memory while parsing";
  if (p->context) {
    lua_pushfstring(L, "%s %s", problem, p->context);
    return raise_at(L, c, mark, lua_tostring(L, -1));
  }
  return raise_at(L, c, mark, problem);
}

/* ---- events ------------------------------------------------------------ */

static void next_event(lua_State *L, yaml_ctx *c) {
  if (c->have_event) {
    yaml_event_delete(&c->event);
    c->have_event = 0;
  }
  if ((++c->events & 255u) == 0) ub_budget_check(L); /* in a sandbox: its limits */
  if (!yaml_parser_parse(&c->parser, &c->event))
    raise_parser_error(L, c);
  c->have_event = 1;
}

static void expect_event(lua_State *L, yaml_ctx *c, yaml_event_type_t type,
                         const char *what) {
  next_event(L, c);
  if (c->event.type != type)
    raise_at(L, c, c->event.start_mark, what);
}

static void count_nodes(lua_State *L, yaml_ctx *c, size_t n) {
  if (n > c->lim.max_nodes || c->nodes > c->lim.max_nodes - n) {
    lua_pushfstring(L, "document has more than %I nodes (aliases count as "
                    "their expansion); refusing to expand it",
                    (lua_Integer)c->lim.max_nodes);
    raise_at(L, c, c->event.start_mark, lua_tostring(L, -1));
  }
  c->nodes += n;
}

static void check_depth(lua_State *L, yaml_ctx *c, int depth) {
  if (depth > c->lim.max_depth) {
    lua_pushfstring(L, "nesting deeper than %d levels", c->lim.max_depth);
    raise_at(L, c, c->event.start_mark, lua_tostring(L, -1));
  }
}

/* ---- scalar typing ----------------------------------------------------- */

static int text_is(const char *s, size_t n, const char *a, const char *b,
                   const char *d) {
  return (n == strlen(a) && memcmp(s, a, n) == 0) ||
         (n == strlen(b) && memcmp(s, b, n) == 0) ||
         (n == strlen(d) && memcmp(s, d, n) == 0);
}

static int is_null_text(const char *s, size_t n) {
  return n == 0 || (n == 1 && s[0] == '~') || text_is(s, n, "null", "Null", "NULL");
}

static int bool_of_text(const char *s, size_t n, int *out) {
  if (text_is(s, n, "true", "True", "TRUE")) { *out = 1; return 1; }
  if (text_is(s, n, "false", "False", "FALSE")) { *out = 0; return 1; }
  return 0;
}

static int digit_value(char ch, int base) {
  int v = -1;
  if (ch >= '0' && ch <= '9') v = ch - '0';
  else if (ch >= 'a' && ch <= 'f') v = ch - 'a' + 10;
  else if (ch >= 'A' && ch <= 'F') v = ch - 'A' + 10;
  return v < base ? v : -1;
}

/* 1: integer in *out; 0: not an integer; -1: integer syntax, outside int64. */
static int int_of_text(const char *s, size_t n, lua_Integer *out) {
  size_t i = 0;
  int base = 10, negative = 0;
  if (n > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
    base = s[1] == 'o' ? 8 : 16;
    i = 2;
  } else if (n > 0 && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    i = 1;
  }
  if (i == n) return 0;
  uint64_t acc = 0;
  int overflow = 0;
  for (; i < n; i++) {
    int d = digit_value(s[i], base);
    if (d < 0) return 0;
    if (acc > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) overflow = 1;
    else acc = acc * (uint64_t)base + (uint64_t)d;
  }
  uint64_t limit = negative ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
  if (overflow || acc > limit) return -1;
  if (negative) *out = acc == limit ? INT64_MIN : -(lua_Integer)acc;
  else *out = (lua_Integer)acc;
  return 1;
}

static int is_digit(char ch) { return ch >= '0' && ch <= '9'; }

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int is_float_syntax(const char *s, size_t n) {
  size_t i = 0, digits = 0;
  if (i < n && (s[i] == '-' || s[i] == '+')) i++;
  while (i < n && is_digit(s[i])) { i++; digits++; }
  if (i < n && s[i] == '.') {
    i++;
    while (i < n && is_digit(s[i])) { i++; digits++; }
  }
  if (digits == 0) return 0;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    size_t exp_digits = 0;
    i++;
    if (i < n && (s[i] == '-' || s[i] == '+')) i++;
    while (i < n && is_digit(s[i])) { i++; exp_digits++; }
    if (exp_digits == 0) return 0;
  }
  return i == n;
}

/* Pushes a float for float syntax or .inf/.nan; returns 0 if not a float. */
static int push_float_of_text(lua_State *L, const char *s, size_t n) {
  const char *body = s;
  size_t bn = n;
  int sign = 1;
  if (bn > 0 && (body[0] == '-' || body[0] == '+')) {
    sign = body[0] == '-' ? -1 : 1;
    body++;
    bn--;
  }
  if (text_is(body, bn, ".inf", ".Inf", ".INF")) {
    lua_pushnumber(L, sign * HUGE_VAL);
    return 1;
  }
  if (text_is(s, n, ".nan", ".NaN", ".NAN")) {
    lua_pushnumber(L, (lua_Number)NAN);
    return 1;
  }
  if (!is_float_syntax(s, n)) return 0;
  lua_pushlstring(L, s, n);
  int ok = lua_stringtonumber(L, lua_tostring(L, -1)) != 0;
  lua_remove(L, -2);
  if (!ok) return 0;
  lua_pushnumber(L, lua_tonumber(L, -1));
  lua_remove(L, -2);
  return 1;
}

/* Pushes the core-schema value of a plain scalar. */
static void push_plain_scalar(lua_State *L, const char *s, size_t n) {
  int b;
  lua_Integer i;
  if (is_null_text(s, n)) { yaml_push_null(L); return; }
  if (bool_of_text(s, n, &b)) { lua_pushboolean(L, b); return; }
  int r = int_of_text(s, n, &i);
  if (r == 1) { lua_pushinteger(L, i); return; }
  if (r == -1) { lua_pushlstring(L, s, n); return; }
  if (push_float_of_text(L, s, n)) return;
  lua_pushlstring(L, s, n);
}

/* Pushes a scalar forced by an explicit core tag; raises when it does not fit. */
static void push_tagged_scalar(lua_State *L, yaml_ctx *c, const char *tag,
                               const char *s, size_t n) {
  const char *t = tag + strlen(TAG_PREFIX);
  int b;
  lua_Integer i;
  int fits = 1;
  if (strcmp(t, "str") == 0) lua_pushlstring(L, s, n);
  else if (strcmp(t, "null") == 0) { fits = is_null_text(s, n); if (fits) yaml_push_null(L); }
  else if (strcmp(t, "bool") == 0) { fits = bool_of_text(s, n, &b); if (fits) lua_pushboolean(L, b); }
  else if (strcmp(t, "int") == 0) { fits = int_of_text(s, n, &i) == 1; if (fits) lua_pushinteger(L, i); }
  else if (strcmp(t, "float") == 0) {
    if (int_of_text(s, n, &i) == 1) lua_pushnumber(L, (lua_Number)i);
    else fits = push_float_of_text(L, s, n);
  } else {
    lua_pushfstring(L, "unsupported tag '%s'", tag);
    raise_at(L, c, c->event.start_mark, lua_tostring(L, -1));
  }
  if (!fits) {
    lua_pushfstring(L, "value does not match its tag '!!%s'", t);
    raise_at(L, c, c->event.start_mark, lua_tostring(L, -1));
  }
}

static void push_scalar(lua_State *L, yaml_ctx *c) {
  const char *s = (const char *)c->event.data.scalar.value;
  size_t n = c->event.data.scalar.length;
  const char *tag = (const char *)c->event.data.scalar.tag;
  if (tag && strcmp(tag, "!") != 0) {
    if (strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) != 0) {
      lua_pushfstring(L, "unsupported tag '%s'", tag);
      raise_at(L, c, c->event.start_mark, lua_tostring(L, -1));
    }
    push_tagged_scalar(L, c, tag, s, n);
  } else if (!tag && c->event.data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
    push_plain_scalar(L, s, n);
  } else {
    lua_pushlstring(L, s, n);
  }
}

/* ---- collections ------------------------------------------------------- */

static int parse_node(lua_State *L, yaml_ctx *c, int depth, int path);

/* Pushes the path of a child: "key", "parent.key" or "parent[i]". Only
 * called when positions are wanted. */
static void push_child_path(lua_State *L, int parent, const char *key, lua_Integer index) {
  const char *p = lua_tostring(L, parent);
  if (key) lua_pushfstring(L, *p ? "%s.%s" : "%s%s", p, key);
  else lua_pushfstring(L, "%s[%I]", p, index);
}

static void check_collection_tag(lua_State *L, yaml_ctx *c, const yaml_char_t *tag,
                                 const char *expected) {
  if (!tag || strcmp((const char *)tag, "!") == 0 ||
      strcmp((const char *)tag, expected) == 0)
    return;
  lua_pushfstring(L, "unsupported tag '%s'", (const char *)tag);
  raise_at(L, c, c->event.start_mark, lua_tostring(L, -1));
}

/* Current event: SEQUENCE_START. Pushes the array; returns its height. */
static int parse_sequence(lua_State *L, yaml_ctx *c, int depth, int path) {
  check_collection_tag(L, c, c->event.data.sequence_start.tag, TAG_PREFIX "seq");
  check_depth(L, c, depth + 1);
  lua_newtable(L);
  int table = lua_gettop(L);
  int height = 0;
  for (lua_Integer index = 1;; index++) {
    next_event(L, c);
    if (c->event.type == YAML_SEQUENCE_END_EVENT) break;
    int child = 0;
    if (path) {
      push_child_path(L, path, NULL, index);
      child = lua_gettop(L);
    }
    int h = parse_node(L, c, depth + 1, child);
    if (h > height) height = h;
    lua_rawseti(L, table, index);
    lua_settop(L, table);
  }
  return height + 1;
}

/* Current event: the key's event. Pushes the key string. */
static void push_key(lua_State *L, yaml_ctx *c) {
  if (c->event.type != YAML_SCALAR_EVENT)
    raise_at(L, c, c->event.start_mark,
             c->event.type == YAML_ALIAS_EVENT ? "an alias cannot be a mapping key"
                                                : "mapping keys must be scalars");
  const char *s = (const char *)c->event.data.scalar.value;
  size_t n = c->event.data.scalar.length;
  if (c->event.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && n == 2 &&
      memcmp(s, "<<", 2) == 0)
    raise_at(L, c, c->event.start_mark,
             "merge keys (<<) are not supported; write the entries out");
  count_nodes(L, c, 1);
  lua_pushlstring(L, s, n);
}

/* Current event: MAPPING_START. Pushes the table; returns its height. */
static int parse_mapping(lua_State *L, yaml_ctx *c, int depth, int path) {
  check_collection_tag(L, c, c->event.data.mapping_start.tag, TAG_PREFIX "map");
  check_depth(L, c, depth + 1);
  lua_newtable(L);
  int table = lua_gettop(L);
  int height = 0;
  for (;;) {
    next_event(L, c);
    if (c->event.type == YAML_MAPPING_END_EVENT) break;
    yaml_mark_t key_mark = c->event.start_mark;
    push_key(L, c);                               /* table + 1 */
    lua_pushvalue(L, -1);
    if (lua_rawget(L, table) != LUA_TNIL) {
      lua_pushfstring(L, "duplicate key '%s'", lua_tostring(L, table + 1));
      raise_at(L, c, key_mark, lua_tostring(L, -1));
    }
    lua_pop(L, 1);
    int child = 0;
    if (path) {
      push_child_path(L, path, lua_tostring(L, table + 1), 0);
      child = lua_gettop(L);                      /* table + 2 */
    }
    next_event(L, c);
    int h = parse_node(L, c, depth + 1, child);
    if (h > height) height = h;
    if (child) lua_remove(L, child);
    lua_rawset(L, table);
  }
  return height + 1;
}

/* ---- anchors and aliases ----------------------------------------------- */

/* Current event: ALIAS. Pushes the anchored value; returns its height. */
static int parse_alias(lua_State *L, yaml_ctx *c, int depth) {
  const char *anchor = (const char *)c->event.data.alias.anchor;
  if (++c->aliases > c->lim.max_aliases) {
    lua_pushfstring(L, "more than %I aliases", (lua_Integer)c->lim.max_aliases);
    raise_at(L, c, c->event.start_mark, lua_tostring(L, -1));
  }
  if (lua_getfield(L, c->anchors, anchor) != LUA_TTABLE) {
    lua_pushfstring(L, "unknown anchor '%s' (an alias must follow its complete anchor)", anchor);
    raise_at(L, c, c->event.start_mark, lua_tostring(L, -1));
  }
  lua_rawgeti(L, -1, 2);
  size_t nodes = (size_t)lua_tointeger(L, -1);
  lua_rawgeti(L, -2, 3);
  int height = (int)lua_tointeger(L, -1);
  lua_pop(L, 2);
  count_nodes(L, c, nodes);
  check_depth(L, c, depth + height);
  lua_rawgeti(L, -1, 1);
  lua_remove(L, -2);
  return height;
}

static const char *anchor_of_event(const yaml_event_t *e) {
  switch (e->type) {
    case YAML_SCALAR_EVENT: return (const char *)e->data.scalar.anchor;
    case YAML_SEQUENCE_START_EVENT: return (const char *)e->data.sequence_start.anchor;
    case YAML_MAPPING_START_EVENT: return (const char *)e->data.mapping_start.anchor;
    default: return NULL;
  }
}

/* Records the value on top as anchor name (at index name_idx). */
static void remember_anchor(lua_State *L, yaml_ctx *c, int name_idx,
                            size_t nodes, int height) {
  lua_createtable(L, 3, 0);
  lua_pushvalue(L, -2);
  lua_rawseti(L, -2, 1);
  lua_pushinteger(L, (lua_Integer)nodes);
  lua_rawseti(L, -2, 2);
  lua_pushinteger(L, height);
  lua_rawseti(L, -2, 3);
  lua_pushvalue(L, name_idx);
  lua_insert(L, -2);
  lua_rawset(L, c->anchors);
}

/* Records positions[path] = "line:col" of the current event. */
static void remember_position(lua_State *L, yaml_ctx *c, int path) {
  lua_pushvalue(L, path);
  lua_pushfstring(L, "%d:%d", (int)c->event.start_mark.line + 1,
                  (int)c->event.start_mark.column + 1);
  lua_rawset(L, c->positions);
}

/* Converts the node starting at the current event and pushes it. depth is
 * the number of enclosing collections, path the stack index of the node's
 * path (0 when positions are not wanted); returns the node's height. */
static int parse_node(lua_State *L, yaml_ctx *c, int depth, int path) {
  luaL_checkstack(L, 8, "YAML nesting");
  if (path) remember_position(L, c, path);
  if (c->event.type == YAML_ALIAS_EVENT) return parse_alias(L, c, depth);
  const char *anchor = anchor_of_event(&c->event);
  int name_idx = 0;
  if (anchor) {
    lua_pushstring(L, anchor);
    name_idx = lua_gettop(L);
  }
  size_t nodes_before = c->nodes;
  count_nodes(L, c, 1);
  int height = 0;
  switch (c->event.type) {
    case YAML_SCALAR_EVENT: push_scalar(L, c); break;
    case YAML_SEQUENCE_START_EVENT: height = parse_sequence(L, c, depth, path); break;
    case YAML_MAPPING_START_EVENT: height = parse_mapping(L, c, depth, path); break;
    default: raise_at(L, c, c->event.start_mark, "unexpected YAML event");
  }
  if (anchor) {
    remember_anchor(L, c, name_idx, c->nodes - nodes_before, height);
    lua_remove(L, name_idx);
  }
  return height;
}

/* ---- document ---------------------------------------------------------- */

/* Pushes the value, and the positions table when wanted. */
static int decode_protected(lua_State *L) {
  yaml_ctx *c = (yaml_ctx *)lua_touserdata(L, 1);
  int results = c->positions ? 2 : 1;
  int root_path = 0;
  if (c->positions) {
    lua_newtable(L);
    c->positions = lua_gettop(L);
    lua_pushliteral(L, "");
    root_path = lua_gettop(L);
  }
  lua_newtable(L);
  c->anchors = lua_gettop(L);
  expect_event(L, c, YAML_STREAM_START_EVENT, "expected the start of a YAML stream");
  next_event(L, c);
  if (c->event.type == YAML_STREAM_END_EVENT) {
    yaml_push_null(L);
    if (c->positions) lua_pushvalue(L, c->positions);
    return results;
  }
  if (c->event.type != YAML_DOCUMENT_START_EVENT)
    raise_at(L, c, c->event.start_mark, "expected a YAML document");
  next_event(L, c);
  parse_node(L, c, 0, root_path);
  expect_event(L, c, YAML_DOCUMENT_END_EVENT, "expected the end of the document");
  next_event(L, c);
  if (c->event.type != YAML_STREAM_END_EVENT)
    raise_at(L, c, c->event.start_mark,
             "several documents in one file are not supported (remove the second '---')");
  if (c->positions) lua_pushvalue(L, c->positions);
  return results;
}

static void free_ctx(void *p) {
  yaml_ctx *c = p;
  if (c->have_event) yaml_event_delete(&c->event);
  yaml_parser_delete(&c->parser);
  free(c);
}

/* The context (on the heap) is released by the sandbox's hard stop if it
 * abandons the state while converting (ub_budget_hold). */
static int decode(lua_State *L, const char *text, size_t len, const char *name,
                  const yaml_limits *lim, int want_positions) {
  yaml_limits limits;
  if (lim) limits = *lim;
  else yaml_default_limits(&limits);
  name = name ? name : "<yaml>";
  if (len > limits.max_bytes) {
    lua_pushfstring(L, "%s:1:1: document is %I bytes, more than the limit of %I bytes",
                    name, (lua_Integer)len, (lua_Integer)limits.max_bytes);
    return -1;
  }
  yaml_ctx *c = calloc(1, sizeof *c);
  if (!c || !yaml_parser_initialize(&c->parser)) {
    free(c);
    lua_pushfstring(L, "%s:1:1: cannot initialise the YAML parser", name);
    return -1;
  }
  c->name = name;
  c->text = text;
  c->len = len;
  c->positions = want_positions;
  c->lim = limits;
  yaml_parser_set_input_string(&c->parser, (const unsigned char *)text, len);
  lua_pushcfunction(L, decode_protected);
  lua_pushlightuserdata(L, c);
  ub_budget_hold(L, free_ctx, c);
  int rc = lua_pcall(L, 1, want_positions ? 2 : 1, 0);
  ub_budget_release(L, c);
  free_ctx(c);
  return rc == LUA_OK ? 0 : -1;
}

int yaml_decode_lua(lua_State *L, const char *text, size_t len,
                    const char *name, const yaml_limits *lim) {
  return decode(L, text, len, name, lim, 0);
}

int yaml_decode_lua_positions(lua_State *L, const char *text, size_t len,
                              const char *name, const yaml_limits *lim) {
  return decode(L, text, len, name, lim, 1);
}

/* ---- Lua module -------------------------------------------------------- */

static int l_decode(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  const char *name = luaL_optstring(L, 2, "<yaml>");
  int want_positions = 0;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_getfield(L, 3, "positions");
    want_positions = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  if (decode(L, text, len, name, NULL, want_positions) != 0) return lua_error(L);
  return want_positions ? 2 : 1;
}

int luaopen_unbreakable_yaml(lua_State *L) {
  static const luaL_Reg functions[] = {{"decode", l_decode}, {NULL, NULL}};
  luaL_newlib(L, functions);
  yaml_push_null(L);
  lua_setfield(L, -2, "null");
  return 1;
}
