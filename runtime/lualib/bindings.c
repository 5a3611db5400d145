/* bindings.c: the native modules granted to every policy. */
#include "lualib/bindings.h"

#include "lualib/ljson.h"
#include "lualib/lseries.h"
#include "lualib/ltext.h"
#include "lualib/yaml_lua.h"

int ub_grant_defaults(sandbox *sb) {
  int rc = 0;
  rc |= sb_grant(sb, "unbreakable.json", luaopen_unbreakable_json);
  rc |= sb_grant(sb, "unbreakable.stats", luaopen_unbreakable_stats);
  rc |= sb_grant(sb, "unbreakable.yaml", luaopen_unbreakable_yaml);
  rc |= sb_grant(sb, "unbreakable.text", luaopen_unbreakable_text);
  return rc ? -1 : 0;
}
