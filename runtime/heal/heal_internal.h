/* heal_internal.h: helpers shared by the files of runtime/heal/: reading
 * decoded JSON (a plain host lua_State used as the document tree, never
 * the sandbox) and building request URLs. */
#ifndef UB_HEAL_INTERNAL_H
#define UB_HEAL_INTERNAL_H

#include <lua.h>
#include <stdint.h>

#include "heal/heal.h"
#include "net/http_call.h"

#define HEAL_ATTEMPTS 4     /* attempts of one call (the engine's) */

/* Field key of the table at idx as a string (numbers converted), or NULL. */
const char *heal_str(lua_State *L, int idx, const char *key);
/* Field key as an integer (numeric strings accepted), or dflt. */
int64_t heal_int(lua_State *L, int idx, const char *key, int64_t dflt);
/* ---- HTTP (heal_http.c) ---- */
typedef enum heal_service { HEAL_DT, HEAL_ADO } heal_service;
/* One request to Dynatrace (Api-Token) or Azure DevOps (Basic ":" + PAT)
 * with c's credential and timeout, retried as heal_http.c says. 0 on a
 * 2xx answer, -1 otherwise (out->error says why; caller frees out). */
int heal_http(const heal_config *c, heal_service to, const char *method, const char *url, const char *body,
              ub_http_reply *out);
/* GET url and push the decoded answer, which must be a JSON object (an
 * empty answer is an empty one); nil pushed and -1 when not (call->error
 * says why). */
int heal_fetch_json(lua_State *L, const heal_config *c, heal_service to, const char *url, ub_http_reply *call);
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
 * state) and the context. payload is the decoded notification. Returns
 * how many reads got no usable answer (each is in ctx.reads with its
 * error): the healing then counts as failed, whatever its intents did. */
int heal_context_push(lua_State *L, const heal_config *c, const heal_problem *p, int payload, int64_t now_ms,
                      int64_t notification_id);

#endif
