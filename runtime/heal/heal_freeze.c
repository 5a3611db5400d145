/* heal_freeze.c: stage freezes. A freeze intent leaves an action of kind
 * "freeze" (key: the stage) in state "active"; while one is active, gates
 * on that stage answer failure (serve's sync gates); lifting sets every
 * active freeze of the stage to "lifted". */
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "heal/heal_internal.h"
#include "util/json.h"

int heal_frozen(ub_ledger *l, const char *stage, char *reason, size_t n) {
  ledger_action *v = NULL;
  size_t count = 0;
  if (!stage || !*stage) return 0;
  if (ledger_actions_for_key(l, "freeze", stage, &v, &count) != LEDGER_OK) {
    snprintf(reason, n, "the ledger could not be read to check for a freeze");
    return 1; /* fail closed */
  }
  int frozen = 0;
  for (size_t i = 0; i < count && !frozen; i++) {
    if (strcmp(v[i].state, "active") != 0) continue;
    frozen = 1;
    lua_State *L = luaL_newstate();
    char err[100];
    const char *p = v[i].payload_json ? v[i].payload_json : "{}";
    if (L && json_decode_lua(L, p, strlen(p), 20, err, sizeof err) == 0)
      snprintf(reason, n, "stage %s is frozen by self-healing (%s): %s", stage, v[i].idempotency_key,
               heal_str(L, -1, "reason") ? heal_str(L, -1, "reason") : "no reason given");
    else
      snprintf(reason, n, "stage %s is frozen by self-healing (%s)", stage, v[i].idempotency_key);
    if (L) lua_close(L);
  }
  ledger_actions_free(v, count);
  return frozen;
}

int heal_lift(ub_ledger *l, const char *stage, int *lifted) {
  ledger_action *v = NULL;
  size_t count = 0;
  *lifted = 0;
  if (ledger_actions_for_key(l, "freeze", stage, &v, &count) != LEDGER_OK) return -1;
  int rc = 0;
  for (size_t i = 0; i < count && rc == 0; i++) {
    if (strcmp(v[i].state, "active") != 0) continue;
    rc = ledger_action_update(l, v[i].id, "lifted", NULL) == LEDGER_OK ? 0 : -1;
    if (rc == 0) (*lifted)++;
  }
  ledger_actions_free(v, count);
  return rc;
}
