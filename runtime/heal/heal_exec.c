/* heal_exec.c: executing one intent exactly once. The idempotency key
 * (PID, state, intent, target) is recorded as "started" before the call
 * and confirmed "done" (or "failed") after it; a key found "done" is not
 * called again, nor one found "failed" (still reported failed); a key
 * found "started" means a crash between the call and its confirmation, so
 * the remote side is checked first (is that release already redeploying
 * or redeployed to the stage? is the comment already on the problem? is
 * that YAML run running again?), and a check that cannot tell calls
 * nothing. The same check runs before retrying a write whose answer was
 * lost, a 5xx or a 429 (write_checked). A rollback is
 * executed only towards a stage the context read from the configured
 * organisation, and only to a release whose deployment to that stage
 * succeeded (classic: redeploy PATCH) or a run that succeeded (YAML: the
 * stage re-run of the stages API). */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "heal/heal_internal.h"
#include "util/json.h"

#define WRITE_ROUNDS 3

typedef struct intent_run {
  const heal_config *c;
  ub_ledger *l;
  int64_t notification;    /* the "problem" action, whose lease fences every write */
  int lease_lost;          /* a renewal failed: nothing more is called */
  const heal_problem *p;
  lua_State *L;
  int intent, targets;
  char error[400];
  char detail[400];
} intent_run;

/* ---- a write under its check ---------------------------------------------- */

/* Did the write already happen? 1 yes, 0 no, -1 unknown (r->error set). */
typedef int (*happened_fn)(intent_run *r, const void *what);

typedef struct checked_write {
  heal_service to;
  const char *method, *url, *body;
  happened_fn happened;    /* NULL: the write cannot be checked, so it is never retried */
  const void *what;        /* happened's argument */
  int look_first;          /* check before the first call too */
  const char *already;     /* the detail when it had happened */
  const char *called;      /* the detail's prefix when the call took */
} checked_write;

/* Replicas: the lease on the notification is renewed before each write
 * and before an intent's outcome is recorded; a replica that cannot renew
 * it calls and records nothing more (fencing): the one that holds it now
 * may already be checking, calling and recording. A call ends
 * well inside the renewed lease (heal_config_bound_to_lease), so the new
 * holder cannot take over while it is in flight. 1 when the lease is held. */
static int lease_held(intent_run *r) {
  if (r->c->lease_ms <= 0) return 1;
  if (ledger_action_renew(r->l, r->notification, r->c->lease_owner, r->c->lease_ms) == LEDGER_OK) return 1;
  r->lease_lost = 1;
  snprintf(r->error, sizeof r->error, "not called: this replica no longer holds notification %lld "
           "(%s); the replica that holds it finishes the healing", (long long)r->notification, ledger_error(r->l));
  return 0;
}

/* Calls w once: looks first when asked, and after an answer that may hide
 * a write that happened (none, 5xx, 429) looks again before calling again,
 * WRITE_ROUNDS calls at most; a check that cannot tell ends it with no
 * call, a 4xx ends it. 0 (r->detail says how), or -1 (r->error says why). */
static int write_checked(intent_run *r, const checked_write *w) {
  int look = w->look_first && w->happened;
  for (int round = 0; round < WRITE_ROUNDS; round++) {
    int happened = look ? w->happened(r, w->what) : 0;
    if (happened != 0) {
      if (happened == 1) snprintf(r->detail, sizeof r->detail, "%s", w->already);
      return happened == 1 ? 0 : -1;
    }
    if (!lease_held(r)) return -1;
    ub_http_reply call;
    memset(&call, 0, sizeof call);
    int rc = heal_http(r->c, w->to, w->method, w->url, w->body, &call);
    if (rc == 0) snprintf(r->detail, sizeof r->detail, "%sHTTP %ld", w->called, call.status);
    else snprintf(r->error, sizeof r->error, "%s", call.error);
    look = call.status == 0 || call.status >= 500 || call.status == 429;
    ub_http_reply_free(&call);
    if (rc == 0) return 0;
    if (!look || !w->happened) return -1;
  }
  return -1;
}

/* ---- rollback ------------------------------------------------------------ */

/* The target entry of the context for project/stage, pushed (nil when the
 * context has none). */
static void push_target(intent_run *r, const char *project, const char *stage) {
  char key[600];
  snprintf(key, sizeof key, "%s/%s", project, stage);
  lua_getfield(r->L, r->targets, key);
}

/* 1 when the deployments of the target list release as succeeded. */
static int release_succeeded_there(lua_State *L, int target, int64_t release, int64_t *env_id,
                                   int64_t *def_env) {
  lua_getfield(L, target, "deployments");
  int list = lua_gettop(L);
  lua_Integer n = lua_istable(L, list) ? luaL_len(L, list) : 0;
  int found = 0;
  for (lua_Integer i = 1; i <= n && !found; i++) {
    lua_rawgeti(L, list, i);
    int d = lua_gettop(L);
    if (!lua_istable(L, d)) { /* an answer may list anything */
      lua_pop(L, 1);
      continue;
    }
    lua_getfield(L, d, "release");
    int64_t id = heal_int(L, -1, "id", 0);
    lua_pop(L, 1);
    const char *status = heal_str(L, d, "deploymentStatus");
    if (id == release && status && strcasecmp(status, "succeeded") == 0) {
      found = 1;
      lua_getfield(L, d, "releaseEnvironment");
      *env_id = heal_int(L, -1, "id", 0);
      lua_pop(L, 1);
      *def_env = heal_int(L, d, "definitionEnvironmentId", 0);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return found;
}

/* GET url (freed) for the check before a write: pushes the answer's field
 * and returns 0 when it has the type want; else returns -1 with nothing
 * pushed and r->error saying "checking <what>: why". An answer without the
 * field is unknown, never "not done". */
static int check_read(intent_run *r, heal_service to, ub_buf *url, const char *what, const char *field, int want) {
  lua_State *L = r->L;
  ub_http_reply call;
  memset(&call, 0, sizeof call);
  int rc = heal_fetch_json(L, r->c, to, url->data, &call);
  ub_buf_free(url);
  if (rc != 0) {
    snprintf(r->error, sizeof r->error, "checking %s: %s", what, call.error);
  } else {
    lua_getfield(L, -1, field);
    lua_remove(L, -2);
    if (lua_type(L, -1) != want) {
      snprintf(r->error, sizeof r->error, "checking %s: the answer has no %s", what, field);
      rc = -1;
    }
  }
  if (rc != 0) lua_pop(L, 1);
  ub_http_reply_free(&call);
  return rc;
}

/* Is release already redeploying or redeployed to the stage: the newest
 * deployment of the stage is of that release and newer than the ones the
 * context saw. 1 yes, 0 no, -1 unknown (error set). */
typedef struct redeploy {
  const char *project;
  int64_t release, definition, def_env, newest_seen;
} redeploy;

static int rollback_happened(intent_run *r, const void *what) {
  const redeploy *d = what;
  lua_State *L = r->L;
  ub_buf url;
  ub_buf_init(&url);
  heal_deployments_url(&url, r->c, d->project, d->definition, d->def_env, 5);
  if (check_read(r, HEAL_ADO, &url, "the stage", "value", LUA_TTABLE) != 0) return -1;
  lua_rawgeti(L, -1, 1);
  int applied = 0;
  if (lua_istable(L, -1)) {
    int64_t id = heal_int(L, -1, "id", 0);
    lua_getfield(L, -1, "release");
    applied = heal_int(L, -1, "id", 0) == d->release && id > d->newest_seen;
    lua_pop(L, 1);
  }
  lua_pop(L, 2);
  return applied;
}

static int64_t newest_deployment_id(lua_State *L, int target) {
  lua_getfield(L, target, "deployments");
  lua_rawgeti(L, -1, 1);
  int64_t id = heal_int(L, -1, "id", 0);
  lua_pop(L, 2);
  return id;
}

/* YAML: 1 when run build succeeded according to the target's builds. */
static int build_succeeded_there(lua_State *L, int target, int64_t build) {
  lua_getfield(L, target, "builds");
  int list = lua_gettop(L);
  lua_Integer n = lua_istable(L, list) ? luaL_len(L, list) : 0;
  int found = 0;
  for (lua_Integer i = 1; i <= n && !found; i++) {
    lua_rawgeti(L, list, i);
    const char *result = heal_str(L, -1, "result");
    found = heal_int(L, -1, "id", 0) == build && result && strcasecmp(result, "succeeded") == 0;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return found;
}

/* Is that run running again (its stage re-run already requested)? 1, 0,
 * or -1 (error set). */
typedef struct rerun {
  const char *project;
  int64_t build;
} rerun;

static int yaml_happened(intent_run *r, const void *what) {
  const rerun *y = what;
  ub_buf url;
  ub_buf_init(&url);
  ub_buf_printf(&url, "%s/", r->c->ado_org_url);
  heal_url_segment(&url, y->project);
  ub_buf_printf(&url, "/_apis/build/builds/%lld?api-version=7.1", (long long)y->build);
  if (check_read(r, HEAL_ADO, &url, "the run", "status", LUA_TSTRING) != 0) return -1;
  int applied = strcasecmp(lua_tostring(r->L, -1), "completed") != 0;
  lua_pop(r->L, 1);
  return applied;
}

/* YAML rollback: re-run the stage of the last good run (stages API). */
static int do_yaml_rollback(intent_run *r, int target, const char *project, const char *stage) {
  lua_State *L = r->L;
  int64_t build = heal_int(L, r->intent, "build", 0);
  if (!build_succeeded_there(L, target, build)) {
    snprintf(r->error, sizeof r->error, "refused: run %lld did not succeed according to the context", (long long)build);
    return -1;
  }
  ub_buf url;
  ub_buf_init(&url);
  ub_buf_printf(&url, "%s/", r->c->ado_org_url);
  heal_url_segment(&url, project);
  ub_buf_printf(&url, "/_apis/build/builds/%lld/stages/", (long long)build);
  heal_url_segment(&url, stage);
  ub_buf_puts(&url, "?api-version=7.1");
  rerun y = {project, build};
  char called[300], already[100];
  snprintf(called, sizeof called, "re-ran stage %s of run %lld: ", stage, (long long)build);
  snprintf(already, sizeof already, "run %lld is already running again; not called again", (long long)build);
  checked_write w = {HEAL_ADO, "PATCH", url.data, "{\"state\":\"retry\",\"forceRetryAllJobs\":true}", yaml_happened,
                     &y, 1, already, called};
  int rc = write_checked(r, &w);
  ub_buf_free(&url);
  return rc;
}

/* Classic release: redeploy release to the stage (its release environment
 * env_id) with the Release API's PATCH. */
static int do_classic_rollback(intent_run *r, int target, const char *project, int64_t release,
                               int64_t env_id, int64_t def_env) {
  lua_State *L = r->L;
  lua_getfield(L, target, "release");
  lua_getfield(L, -1, "releaseDefinition");
  int64_t definition = heal_int(L, -1, "id", 0);
  lua_pop(L, 2);
  ub_buf url, body;
  ub_buf_init(&url);
  ub_buf_init(&body);
  ub_buf_printf(&url, "%s/", r->c->ado_release_url);
  heal_url_segment(&url, project);
  ub_buf_printf(&url, "/_apis/Release/releases/%lld/environments/%lld?api-version=7.1", (long long)release,
                (long long)env_id);
  char comment[600];
  snprintf(comment, sizeof comment, "Automatic rollback by unbreakable: Dynatrace problem %s (%s): %s",
           r->p->problem_id[0] ? r->p->problem_id : r->p->pid, r->p->title, heal_str(L, r->intent, "reason"));
  ub_buf_puts(&body, "{\"status\":\"inProgress\",\"scheduledDeploymentTime\":null,\"variables\":{},\"comment\":");
  json_append_string(&body, comment, strlen(comment));
  ub_buf_putc(&body, '}');
  /* always look first: an existing redeploy of the target is success (4.6 step 5), and after a crash
     it is what tells whether the call happened */
  redeploy d = {project, release, definition, def_env, newest_deployment_id(L, target)};
  char called[200];
  snprintf(called, sizeof called, "PATCH release %lld environment %lld: ", (long long)release, (long long)env_id);
  checked_write w = {HEAL_ADO, "PATCH", url.data, body.data, rollback_happened, &d, 1,
                     "already redeploying or redeployed; not called again", called};
  int rc = write_checked(r, &w);
  ub_buf_free(&url);
  ub_buf_free(&body);
  return rc;
}

static int do_rollback(intent_run *r) {
  lua_State *L = r->L;
  const char *project = heal_str(L, r->intent, "project"), *stage = heal_str(L, r->intent, "stage");
  int64_t release = heal_int(L, r->intent, "release", 0), env_id = 0, def_env = 0;
  if (*r->c->ado_error) {
    snprintf(r->error, sizeof r->error, "%s", r->c->ado_error);
    return -1;
  }
  push_target(r, project, stage);
  int target = lua_gettop(L);
  int rc = -1;
  const char *kind = lua_istable(L, target) ? heal_str(L, target, "kind") : NULL;
  if (!lua_istable(L, target)) {
    snprintf(r->error, sizeof r->error, "refused: the context read no stage %s/%s from the configured "
             "organisation", project, stage);
  } else if ((kind && strcmp(kind, "yaml") == 0) != (heal_int(L, r->intent, "build", 0) > 0)) {
    snprintf(r->error, sizeof r->error, "refused: %s/%s is a %s stage", project, stage,
             kind && strcmp(kind, "yaml") == 0 ? "YAML (give build)" : "classic release (give release)");
  } else if (kind && strcmp(kind, "yaml") == 0) {
    rc = do_yaml_rollback(r, target, project, stage);
  } else if (!release_succeeded_there(L, target, release, &env_id, &def_env) || env_id <= 0) {
    snprintf(r->error, sizeof r->error, "refused: release %lld has no succeeded deployment to %s",
             (long long)release, stage);
  } else {
    rc = do_classic_rollback(r, target, project, release, env_id, def_env);
  }
  lua_settop(L, target - 1);
  return rc;
}

/* ---- Dynatrace writes ------------------------------------------------------ */

static void problem_url(ub_buf *b, const intent_run *r, const char *suffix) {
  ub_buf_printf(b, "%s/api/v2/problems/", r->c->dt_url);
  heal_url_segment(b, r->p->pid);
  ub_buf_puts(b, suffix);
}

/* 1 when the problem already carries a comment with exactly text, 0 when
 * not, -1 unknown (error set). */
static int comment_present(intent_run *r, const void *what) {
  const char *text = what;
  lua_State *L = r->L;
  ub_buf url;
  ub_buf_init(&url);
  problem_url(&url, r, "/comments?pageSize=500");
  if (check_read(r, HEAL_DT, &url, "the comments", "comments", LUA_TTABLE) != 0) return -1;
  lua_Integer n = luaL_len(L, -1);
  int found = 0;
  for (lua_Integer i = 1; i <= n && !found; i++) {
    lua_rawgeti(L, -1, i);
    const char *content = heal_str(L, -1, "content");
    found = content && strcmp(content, text) == 0;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return found;
}

static int do_comment(intent_run *r, int crashed) {
  const char *text = heal_str(r->L, r->intent, "text");
  ub_buf url, body;
  ub_buf_init(&url);
  ub_buf_init(&body);
  problem_url(&url, r, "/comments");
  ub_buf_puts(&body, "{\"context\":\"unbreakable selfheal\",\"message\":");
  json_append_string(&body, text, strlen(text));
  ub_buf_putc(&body, '}');
  checked_write w = {HEAL_DT, "POST", url.data, body.data, comment_present, text, crashed,
                     "already on the problem; not posted again", ""};
  int rc = write_checked(r, &w);
  ub_buf_free(&url);
  ub_buf_free(&body);
  return rc;
}

/* A CUSTOM_* event on the impacted entities (Events API v2 ingest). */
static int do_event(intent_run *r, int crashed) {
  lua_State *L = r->L;
  if (crashed) {
    snprintf(r->detail, sizeof r->detail, "interrupted earlier; not sent twice");
    return 0; /* an annotation sent twice is worse than one missing: say so */
  }
  ub_buf url, body;
  ub_buf_init(&url);
  ub_buf_init(&body);
  ub_buf_printf(&url, "%s/api/v2/events/ingest", r->c->dt_url);
  lua_newtable(L);
  int ev = lua_gettop(L);
  lua_getfield(L, r->intent, "type");
  lua_setfield(L, ev, "eventType");
  lua_getfield(L, r->intent, "title");
  lua_setfield(L, ev, "title");
  lua_getfield(L, r->intent, "properties");
  lua_setfield(L, ev, "properties");
  lua_getfield(L, r->intent, "entity_selector");
  lua_setfield(L, ev, "entitySelector");
  char err[200];
  json_enc_opts o = {0, 0, 20, 1, "event"};
  int rc = json_encode_lua(L, ev, &o, &body, err, sizeof err);
  lua_pop(L, 1);
  if (rc != 0) snprintf(r->error, sizeof r->error, "the event cannot be encoded: %s", err);
  else {
    checked_write w = {HEAL_DT, "POST", url.data, body.data, NULL, NULL, 0, NULL, ""};
    rc = write_checked(r, &w); /* cannot be checked: called once */
  }
  ub_buf_free(&url);
  ub_buf_free(&body);
  return rc;
}

/* ---- the key and its record ------------------------------------------------ */

static void intent_key(lua_State *L, int intent, const heal_problem *p, int ordinal, char *key, size_t n) {
  const char *kind = heal_str(L, intent, "kind");
  if (strcmp(kind, "rollback") == 0)
    snprintf(key, n, "selfheal:%s:%s:rollback:%s/%s", p->pid, p->state, heal_str(L, intent, "project"),
             heal_str(L, intent, "stage"));
  else if (strcmp(kind, "freeze") == 0)
    snprintf(key, n, "selfheal:%s:%s:freeze:%s", p->pid, p->state, heal_str(L, intent, "stage"));
  else
    snprintf(key, n, "selfheal:%s:%s:%s:#%d", p->pid, p->state, kind, ordinal);
}

static void outcome(ub_buf *out, int ordinal, const char *kind, const char *status, const char *key,
                    const char *detail) {
  ub_buf_printf(out, "{\"intent\":%d,\"kind\":", ordinal);
  json_append_string(out, kind, strlen(kind));
  ub_buf_puts(out, ",\"status\":");
  json_append_string(out, status, strlen(status));
  ub_buf_puts(out, ",\"key\":");
  json_append_string(out, key, strlen(key));
  if (detail && *detail) {
    ub_buf_puts(out, ",\"detail\":");
    json_append_string(out, detail, strlen(detail));
  }
  ub_buf_putc(out, '}');
}

/* An intent whose key was already recorded: 0 done before (outcome
 * "already-done"), -1 failed before (outcome "failed": not retried, and
 * the healing still counts as failed), 1 "started" or unreadable (a crash
 * between call and confirmation: the caller checks and calls). */
static int settled_outcome(ub_ledger *l, const char *key, const char *kind, int ordinal, ub_buf *outcomes,
                           int *skipped) {
  ledger_action prior;
  if (ledger_action_get(l, key, &prior) != LEDGER_OK) return 1;
  int rc = 1;
  if (strcmp(prior.state, "failed") == 0) {
    outcome(outcomes, ordinal, kind, "failed", key, "failed in an earlier run; not tried again");
    rc = -1;
  } else if (strcmp(prior.state, "started") != 0) {
    outcome(outcomes, ordinal, kind, "already-done", key, prior.state);
    (*skipped)++;
    rc = 0;
  }
  ledger_action_free(&prior);
  return rc;
}

int heal_exec_intent(const heal_config *c, ub_ledger *l, const heal_problem *p, int64_t notification,
                     lua_State *L, int intent, int ordinal, int targets, ub_buf *outcomes, int *executed,
                     int *skipped) {
  intent_run r;
  memset(&r, 0, sizeof r);
  r.c = c, r.l = l, r.notification = notification, r.p = p, r.L = L, r.intent = intent, r.targets = targets;
  const char *kind = heal_str(L, intent, "kind");
  char key[900];
  intent_key(L, intent, p, ordinal, key, sizeof key);
  ub_buf payload;
  ub_buf_init(&payload);
  char err[200];
  json_enc_opts o = {0, 0, 20, 1, "intent"};
  json_encode_lua(L, intent, &o, &payload, err, sizeof err);
  int64_t id = 0;
  int existed = 0;
  int put = ledger_action_put(l, strcmp(kind, "freeze") == 0 ? "freeze" : "selfheal.intent",
                              strcmp(kind, "freeze") == 0 ? heal_str(L, intent, "stage") : p->pid, key, "started",
                              payload.data, &id, &existed);
  ub_buf_free(&payload);
  if (put != LEDGER_OK) {
    outcome(outcomes, ordinal, kind, "failed", key, "the ledger could not record the intent; not executed");
    return -1;
  }
  if (existed) {
    int settled = settled_outcome(l, key, kind, ordinal, outcomes, skipped);
    if (settled != 1) return settled;
  }
  int rc;
  if (strcmp(kind, "rollback") == 0) rc = do_rollback(&r);
  else if (strcmp(kind, "comment") == 0) rc = do_comment(&r, existed);
  else if (strcmp(kind, "event") == 0) rc = do_event(&r, existed);
  else rc = 0, snprintf(r.detail, sizeof r.detail, "gates on this stage answer failure until lifted");
  if (r.lease_lost || !lease_held(&r)) { /* left as it is: the holder checks, then calls */
    outcome(outcomes, ordinal, kind, "not-called", key, r.error);
    return HEAL_LEASE_LOST;
  }
  const char *state = rc == 0 ? (strcmp(kind, "freeze") == 0 ? "active" : "done") : "failed";
  if (ledger_action_update(l, id, state, NULL) != LEDGER_OK) {
    /* the call happened but is not confirmed: the next run checks before calling again */
    outcome(outcomes, ordinal, kind, "unconfirmed", key, "executed, but the ledger could not confirm it");
    return -1;
  }
  outcome(outcomes, ordinal, kind, rc == 0 ? "done" : "failed", key, rc == 0 ? r.detail : r.error);
  if (rc == 0) (*executed)++;
  return rc;
}
