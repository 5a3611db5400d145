/* bindings.c: the native modules granted to every policy. */
#include "bindings.h"

#include "ljson.h"

int ub_grant_defaults(sandbox *sb) {
  int rc = 0;
  rc |= sb_grant(sb, "unbreakable.json", luaopen_unbreakable_json);
  return rc ? -1 : 0;
}
