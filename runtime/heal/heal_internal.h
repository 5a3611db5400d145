/* heal_internal.h: helpers shared by the files of runtime/heal/: reading
 * decoded JSON (a plain host lua_State used as the document tree, never
 * the sandbox) and building request URLs. */
#ifndef UB_HEAL_INTERNAL_H
#define UB_HEAL_INTERNAL_H

#include <lua.h>
#include <stdint.h>

#include "heal/heal.h"

/* Field key of the table at idx as a string (numbers converted), or NULL. */
const char *heal_str(lua_State *L, int idx, const char *key);
/* Field key as an integer (numeric strings accepted), or dflt. */
int64_t heal_int(lua_State *L, int idx, const char *key, int64_t dflt);
/* GET/POST url (Dynatrace: Api-Token; Azure DevOps: Basic ":" + PAT) and
 * push the decoded JSON answer (nil when it failed; call->error says why). */
int heal_fetch_json(lua_State *L, const char *method, const char *url, const char *auth, const char *body,
                    long timeout_ms, heal_call *call);
/* "Api-Token <t>" / "Basic base64(:<t>)" (caller frees and wipes). */
char *heal_dt_auth(const heal_config *c);
char *heal_ado_auth(const heal_config *c);
void heal_wipe_free(char *s);
/* Appends s percent-encoded for a path segment. */
void heal_url_segment(ub_buf *b, const char *s);
/* Azure DevOps Release API urls. */
void heal_release_url(ub_buf *b, const heal_config *c, const char *project, int64_t release);
void heal_deployments_url(ub_buf *b, const heal_config *c, const char *project, int64_t definition,
                          int64_t definition_environment, int top);
/* Same organisation (case and trailing '/' ignored). */
int heal_same_url(const char *a, const char *b);

/* Reads everything the policy sees (heal_context.c) and pushes two
 * tables: the allowed rollback targets ("project/stage" -> Azure DevOps
 * state) and the context. payload is the decoded notification. */
int heal_context_push(lua_State *L, const heal_config *c, const heal_problem *p, int payload, int64_t now_ms,
                      int64_t notification_id);

#endif
