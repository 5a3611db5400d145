/* Folder lualib/: the `unbreakable.*` native Lua modules a policy may
 * require (json, stats and series, yaml, text, dynatrace) and the plain
 * Lua C module build/lua/unbreakable.so that exposes them to lua5.4 and
 * busted (luamodule.c). May call sandbox/ (budget checks), dynatrace/
 * (the client the binding wraps) and util/. */
/* bindings.h: which native modules a policy may require, in one place. */
#ifndef UB_BINDINGS_H
#define UB_BINDINGS_H

#include "sandbox/sandbox.h"

/* Grants the modules every policy may use (unbreakable.json,
 * unbreakable.stats, unbreakable.yaml, unbreakable.text). Data sources (unbreakable.dynatrace) are granted by
 * the commands that configure them. */
int ub_grant_defaults(sandbox *sb);

#endif
