/* yaml_lua.h: safe YAML -> Lua value converter (libyaml event parser) with
 * caps on size, nodes, depth and alias expansion; exposed to Lua as
 * require "unbreakable.yaml" (yaml.decode, yaml.null).
 *
 * Typing (YAML 1.2 core schema, plain scalars only; see docs/slo.md):
 *   null: ~ null Null NULL and the empty plain scalar -> yaml.null
 *   bool: true True TRUE false False FALSE (yes/no/on/off stay strings)
 *   int:  [-+]?[0-9]+, 0o[0-7]+, 0x[0-9a-fA-F]+ -> Lua integer
 *         (outside int64: the text stays a string, never a rounded float)
 *   float: [-+]?(.[0-9]+|[0-9]+(.[0-9]*)?)([eE][-+]?[0-9]+)?, [-+]?.inf,
 *          .nan (each in lower, Title or UPPER case) -> Lua float
 *   anything else, and every quoted, literal or folded scalar -> string.
 * Explicit tags !!str !!int !!float !!bool !!null force a type (error when
 * the text does not fit); other tags are errors. Mapping keys are always
 * strings (the key's text); duplicate keys, non-scalar keys and merge keys
 * (<<) are errors. Several documents in one stream are an error; an empty
 * stream decodes to yaml.null.
 *
 * Aliases are expanded by reference: *a yields the same Lua table as &a
 * (treat decoded values as read-only). Every alias adds the node count of
 * its anchor to the document's node count, so an alias bomb fails at the
 * first alias that would cross max_nodes. */
#ifndef UB_YAML_LUA_H
#define UB_YAML_LUA_H

#include <stddef.h>
#include <lua.h>

typedef struct yaml_limits {
  size_t max_bytes;    /* document size (default 1 MiB) */
  size_t max_nodes;    /* nodes, aliases counted as their expansion (100000) */
  int max_depth;       /* nesting of collections (default 64) */
  size_t max_aliases;  /* alias events (default 1000) */
} yaml_limits;

void yaml_default_limits(yaml_limits *lim);

/* Decodes text (len bytes) and pushes one Lua value; returns 0. On failure
 * pushes the message "name:line:col: problem" (line and column 1-based)
 * and returns -1. Never raises except on memory errors outside the
 * protected decode; the libyaml parser is always freed. lim may be NULL
 * (defaults). name names the document in messages ("<yaml>" if NULL). */
int yaml_decode_lua(lua_State *L, const char *text, size_t len,
                    const char *name, const yaml_limits *lim);

/* Same, and on success also pushes a table mapping the path of every node
 * ("objectives[1].pass[1].criteria[2]", "" for the root) to "line:col"
 * (two values pushed; one message on failure). Nodes inside an alias's
 * expansion have no entry of their own. */
int yaml_decode_lua_positions(lua_State *L, const char *text, size_t len,
                              const char *name, const yaml_limits *lim);

/* The sentinel pushed for YAML null (a light userdata). */
void yaml_push_null(lua_State *L);

/* Lua module: yaml.decode(text [, name [, {positions = true}]]) returns
 * the value (and the positions table when asked) or raises the message
 * above; yaml.null is the null sentinel. */
int luaopen_unbreakable_yaml(lua_State *L);

#endif
