/* heal_run.c: one healing run of a recorded notification. The decision
 * (context read, policy run, intents) is recorded in the ledger before any
 * intent is executed, so that a run interrupted by a crash resumes with the
 * same intents instead of deciding again on a world its own first half
 * changed; each intent then runs under its idempotency key (heal_exec.c).
 * A policy error becomes a comment saying so: never a guess. */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heal/heal_internal.h"
#include "lualib/bindings.h"
#include "sandbox/sandbox.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/text.h"

typedef struct policy_job {
  const char *ctx_json;
  size_t ctx_len;
  ub_buf result;
} policy_job;

static int push_ctx(lua_State *L, void *ud) {
  policy_job *job = ud;
  return json_decode_lua_or_raise(L, job->ctx_json, job->ctx_len, 200, "the context");
}

static int take_result(lua_State *L, void *ud) {
  policy_job *job = ud;
  char err[512];
  json_enc_opts o = {0, 0, 100, 1, "result"};
  if (!lua_isnil(L, -1) && !lua_istable(L, -1))
    return luaL_error(L, "the selfheal policy must return a table {intents = {...}} or nil");
  if (lua_isnil(L, -1)) {
    ub_buf_puts(&job->result, "{}");
    return 0;
  }
  if (json_encode_lua(L, -1, &o, &job->result, err, sizeof err) != 0)
    return luaL_error(L, "the result cannot be encoded as JSON: %s", err);
  return 0;
}

/* Runs the policy on ctx_json; 0 with the result JSON, or -1 with err. */
static int run_policy(const heal_config *c, const char *ctx_json, size_t len, ub_buf *result, ub_buf *log,
                      char *err, size_t errlen) {
  sb_limits lim;
  sb_default_limits(&lim);
  sandbox *sb = sb_new(&lim, c->stdlib_dir);
  if (!sb || ub_grant_defaults(sb) != 0) {
    snprintf(err, errlen, "cannot create the sandbox");
    sb_free(sb);
    return -1;
  }
  policy_job job = {ctx_json, len, {0}};
  ub_buf_init(&job.result);
  sb_status st = sb_run(sb, c->policy, push_ctx, take_result, &job);
  size_t log_len;
  const char *text = sb_log(sb, &log_len);
  ub_buf_append(log, text, log_len);
  int rc = 0;
  if (st != SB_OK) {
    snprintf(err, errlen, "%s", sb_error(sb));
    rc = -1;
  } else {
    ub_buf_append(result, job.result.data, job.result.len);
  }
  ub_buf_free(&job.result);
  sb_free(sb);
  return rc;
}

static const char *const KINDS[] = {"rollback", "comment", "event", "freeze"};

/* More intents than any healing needs: a policy returning thousands would
 * post as many comments or events and hold the one healing worker, every
 * later notification waiting, for as long as they take. */
#define MAX_INTENTS 32

/* Checks intent i of the array at list; NULL when fine, else why. */
static const char *check_intent(lua_State *L, int list, lua_Integer i) {
  lua_rawgeti(L, list, i);
  int t = lua_gettop(L);
  const char *why = NULL;
  const char *kind = lua_istable(L, t) ? heal_str(L, t, "kind") : NULL;
  int known = 0;
  for (size_t k = 0; kind && k < sizeof KINDS / sizeof *KINDS; k++) known |= strcmp(kind, KINDS[k]) == 0;
  if (!lua_istable(L, t)) why = "an intent must be a table";
  else if (!known) why = "an intent's kind must be rollback, comment, event or freeze";
  else if (!heal_str(L, t, "reason")) why = "every intent needs a reason";
  else if (strcmp(kind, "rollback") == 0 &&
           (!heal_str(L, t, "project") || !heal_str(L, t, "stage") ||
            (heal_int(L, t, "release", 0) <= 0) == (heal_int(L, t, "build", 0) <= 0)))
    why = "a rollback needs project, stage, and either release (a classic release id) or build (a YAML run id)";
  else if (strcmp(kind, "comment") == 0 && !heal_str(L, t, "text")) why = "a comment needs text";
  else if (strcmp(kind, "event") == 0 && (!heal_str(L, t, "type") || !heal_str(L, t, "title")))
    why = "an event needs type and title";
  else if (strcmp(kind, "freeze") == 0 && !heal_str(L, t, "stage")) why = "a freeze needs a stage";
  lua_pop(L, 1);
  return why;
}

/* decision.intents from the policy's result (or the comment saying why
 * there are none). */
static void set_intents(lua_State *L, int decision, int result, const heal_problem *p, const char *policy_error) {
  char why[700];
  why[0] = '\0';
  if (policy_error) snprintf(why, sizeof why, "%s", policy_error);
  lua_getfield(L, result, "intents");
  int list = lua_gettop(L);
  if (!*why && !lua_isnil(L, list) && !lua_istable(L, list)) snprintf(why, sizeof why, "result.intents must be a list");
  lua_Integer n = lua_istable(L, list) ? luaL_len(L, list) : 0;
  if (!*why && n > MAX_INTENTS)
    snprintf(why, sizeof why, "result.intents has %lld intents; at most %d", (long long)n, MAX_INTENTS);
  for (lua_Integer i = 1; i <= n && !*why; i++) {
    const char *bad = check_intent(L, list, i);
    if (bad) snprintf(why, sizeof why, "intent %lld: %s", (long long)i, bad);
  }
  if (*why) {
    lua_pop(L, 1);
    lua_pushstring(L, why);
    lua_setfield(L, decision, "policy_error");
    lua_newtable(L);
    list = lua_gettop(L);
    if (!p->is_test && strcmp(p->state, "MERGED") != 0) {
      lua_newtable(L);
      lua_pushliteral(L, "comment");
      lua_setfield(L, -2, "kind");
      lua_pushfstring(L, "unbreakable selfheal: the policy failed, so nothing was rolled back: %s", why);
      lua_setfield(L, -2, "text");
      lua_pushliteral(L, "the policy failed");
      lua_setfield(L, -2, "reason");
      lua_rawseti(L, list, 1);
    }
  }
  if (!lua_istable(L, list)) {
    lua_pop(L, 1);
    lua_newtable(L);
  }
  json_mark_array(L, -1);
  lua_setfield(L, decision, "intents");
  lua_getfield(L, result, "summary");
  lua_setfield(L, decision, "summary");
}

static int encode(lua_State *L, int idx, ub_buf *out, char *err, size_t errlen) {
  json_enc_opts o = {0, 0, 200, 1, "decision"};
  ub_buf_reset(out);
  return json_encode_lua(L, idx, &o, out, err, errlen);
}

/* A decision that cannot be encoded will not encode on the next try
 * either: it is recorded as failed with why, and so is the notification,
 * rather than left pending to be retried, every second, ahead of every
 * notification after it. */
static int give_up(ub_ledger *l, const ledger_action *n, int64_t decision_id, const char *why, heal_result *out) {
  ub_buf_reset(&out->json);
  ub_buf_printf(&out->json, "{\"notification\":%lld,\"error\":", (long long)n->id);
  json_append_string(&out->json, why, strlen(why));
  ub_buf_puts(&out->json, "}");
  out->failed = 1;
  if (ledger_action_update(l, decision_id, "failed", out->json.data) != LEDGER_OK) return -1;
  return ledger_action_update(l, n->id, "failed", NULL);
}

#define DECIDE_UNENCODABLE (-2)

/* Reads, runs the policy and records the decision (state "executing"). */
static int decide(const heal_config *c, ub_ledger *l, const ledger_action *n, const heal_problem *p, lua_State *L,
                  int payload, int decision, int64_t decision_id, ub_buf *json, char *json_err, size_t json_errlen) {
  int failed_reads = heal_context_push(L, c, p, payload, ub_clock_wall_ms(), n->id);
  int ctx = lua_gettop(L);
  lua_pushinteger(L, failed_reads);
  lua_setfield(L, decision, "failed_reads");
  lua_pushvalue(L, ctx - 1);
  lua_setfield(L, decision, "targets");
  lua_pushvalue(L, ctx);
  lua_setfield(L, decision, "context");
  ub_buf ctx_json, result, log;
  ub_buf_init(&ctx_json);
  ub_buf_init(&result);
  ub_buf_init(&log);
  char err[600];
  const char *policy_error = NULL;
  if (encode(L, ctx, &ctx_json, err, sizeof err) != 0) policy_error = "the context could not be encoded";
  else if (run_policy(c, ctx_json.data, ctx_json.len, &result, &log, err, sizeof err) != 0) policy_error = err;
  if (!policy_error && json_decode_lua(L, result.data, result.len, 100, err, sizeof err) != 0)
    policy_error = "the policy's result is not JSON";
  /* what the policy printed and its error message are any bytes it chose
   * (not UTF-8, terminal controls): made safe text before they are recorded */
  if (policy_error == err) ub_text_sanitize(err);
  if (policy_error) lua_newtable(L);
  set_intents(L, decision, lua_gettop(L), p, policy_error);
  if (log.len) {
    ub_buf clean;
    ub_buf_init(&clean);
    ub_text_lines(&clean, log.data, log.len, NULL);
    lua_pushlstring(L, clean.data ? clean.data : "", clean.len);
    lua_setfield(L, decision, "log");
    ub_buf_free(&clean);
  }
  ub_buf_free(&ctx_json);
  ub_buf_free(&result);
  ub_buf_free(&log);
  lua_settop(L, decision);
  if (encode(L, decision, json, err, sizeof err) != 0) {
    snprintf(json_err, json_errlen, "the decision cannot be recorded: %.300s", err);
    return DECIDE_UNENCODABLE;
  }
  return ledger_action_update(l, decision_id, "executing", json->data) == LEDGER_OK ? 0 : -1;
}

static void put_base(lua_State *L, int decision, const heal_config *c, const ledger_action *n, const heal_problem *p,
                     int dry_run) {
  const char *const text[][2] = {
    {"pid", p->pid}, {"problem_id", p->problem_id}, {"state", p->state}, {"title", p->title}, {"policy", c->policy},
  };
  for (size_t i = 0; i < sizeof text / sizeof *text; i++) {
    lua_pushstring(L, text[i][1]);
    lua_setfield(L, decision, text[i][0]);
  }
  lua_pushinteger(L, n->id);
  lua_setfield(L, decision, "notification");
  lua_pushboolean(L, dry_run);
  lua_setfield(L, decision, "dry_run");
}

/* Executes decision.intents; outcomes go to decision.outcomes. */
static int execute(const heal_config *c, ub_ledger *l, const heal_problem *p, int64_t notification,
                   lua_State *L, int decision, int dry_run, heal_result *out) {
  int lost = 0;
  lua_getfield(L, decision, "intents");
  int list = lua_gettop(L);
  lua_getfield(L, decision, "targets");
  int targets = lua_gettop(L);
  if (!lua_istable(L, targets)) {
    lua_pop(L, 1);
    lua_newtable(L);
  }
  ub_buf outcomes;
  ub_buf_init(&outcomes);
  ub_buf_putc(&outcomes, '[');
  lua_Integer n = lua_istable(L, list) ? luaL_len(L, list) : 0;
  for (lua_Integer i = 1; i <= n; i++) {
    if (i > 1) ub_buf_putc(&outcomes, ',');
    lua_rawgeti(L, list, i);
    if (dry_run) {
      ub_buf_printf(&outcomes, "{\"intent\":%lld,\"status\":\"dry-run\"}", (long long)i);
    } else {
      int rc = heal_exec_intent(c, l, p, notification, L, lua_gettop(L), (int)i, targets, &outcomes,
                                &out->executed, &out->skipped);
      out->failed |= rc != 0;
      lost = rc == HEAL_LEASE_LOST;
    }
    lua_pop(L, 1);
    if (lost) break; /* another replica holds the notification now */
  }
  ub_buf_putc(&outcomes, ']');
  char err[200];
  if (json_decode_lua(L, outcomes.data, outcomes.len, 20, err, sizeof err) != 0) lua_newtable(L);
  json_mark_array(L, -1);
  lua_setfield(L, decision, "outcomes");
  ub_buf_free(&outcomes);
  lua_settop(L, decision);
  return lost ? HEAL_LEASE_LOST : 0;
}

enum { PRIOR_NONE, PRIOR_RESUME, PRIOR_SETTLED, PRIOR_ERROR };

/* The healing already recorded under idem. NONE (or only "running": the
 * crash came before the decision was recorded, so nothing ran); RESUME:
 * interrupted after its decision, which is pushed; SETTLED: finished
 * (out holds the record and whether it failed), so its notification
 * only needs marking handled: deciding again would overwrite the record
 * of what was done; ERROR: the ledger failed, so nothing is decided. */
static int prior_decision(ub_ledger *l, const char *idem, lua_State *L, heal_result *out) {
  ledger_action prior;
  int rc = ledger_action_get(l, idem, &prior);
  if (rc == LEDGER_NOT_FOUND) return PRIOR_NONE;
  if (rc != LEDGER_OK) return PRIOR_ERROR;
  const char *json = prior.payload_json ? prior.payload_json : "";
  char err[200];
  int kind = PRIOR_NONE;
  if (strcmp(prior.state, "executing") == 0) { /* a record that does not decode is decided again */
    if (json_decode_lua(L, json, strlen(json), 200, err, sizeof err) == 0)
      kind = lua_istable(L, -1) ? PRIOR_RESUME : (lua_pop(L, 1), PRIOR_NONE);
  } else if (strcmp(prior.state, "running") != 0) {
    kind = PRIOR_SETTLED;
    out->decision_id = prior.id;
    out->failed = strcmp(prior.state, "done") != 0 && strcmp(prior.state, "dry-run") != 0;
    ub_buf_puts(&out->json, *json ? json : "{}");
  }
  ledger_action_free(&prior);
  return kind;
}

static int handle_in(const heal_config *c, ub_ledger *l, const ledger_action *n, lua_State *L, heal_result *out) {
  heal_problem p;
  char err[400];
  const char *body = n->payload_json ? n->payload_json : "";
  if (heal_parse_payload(body, strlen(body), &p, err, sizeof err) != 0 ||
      json_decode_lua(L, body, strlen(body), 40, err, sizeof err) != 0) {
    ub_buf_printf(&out->json, "{\"notification\":%lld,\"error\":", (long long)n->id);
    json_append_string(&out->json, err, strlen(err));
    ub_buf_puts(&out->json, "}");
    out->failed = 1;
    return ledger_action_update(l, n->id, "failed", NULL);
  }
  int payload = lua_gettop(L);
  char idem[64];
  snprintf(idem, sizeof idem, "selfheal:%lld", (long long)n->id);
  int prior = prior_decision(l, idem, L, out);
  if (prior == PRIOR_ERROR) return -1;
  if (prior == PRIOR_SETTLED) return ledger_action_update(l, n->id, p.is_test ? "test" : "handled", NULL);
  int resume = prior == PRIOR_RESUME;
  if (!resume) lua_newtable(L);
  int decision = lua_gettop(L);
  lua_getfield(L, decision, "dry_run"); /* a dry run's decision stays one when resumed */
  int dry_run = c->dry_run || lua_toboolean(L, -1);
  lua_pop(L, 1);
  put_base(L, decision, c, n, &p, dry_run);
  int existed = 0;
  if (ledger_action_put(l, "selfheal", p.pid, idem, "running", NULL, &out->decision_id, &existed) != LEDGER_OK)
    return -1;
  if (p.is_test) {
    lua_pushliteral(L, "the test notification: recorded, never acted on");
    lua_setfield(L, decision, "summary");
    lua_newtable(L);
    json_mark_array(L, -1);
    lua_setfield(L, decision, "intents");
  } else if (!resume) {
    int rc = decide(c, l, n, &p, L, payload, decision, out->decision_id, &out->json, err, sizeof err);
    if (rc == DECIDE_UNENCODABLE) return give_up(l, n, out->decision_id, err, out);
    if (rc != 0) return -1;
  }
  if (execute(c, l, &p, n->id, L, decision, dry_run, out) == HEAL_LEASE_LOST) {
    /* the decision stays "executing" and the notification pending: the
     * replica holding the lease resumes them (intents are keyed) */
    return HEAL_LEASE_LOST;
  }
  lua_getfield(L, decision, "policy_error");
  int policy_failed = !lua_isnil(L, -1);
  lua_pop(L, 1);
  out->failed |= heal_int(L, decision, "failed_reads", 0) > 0; /* from the record: a resumed run keeps it */
  char why[400];
  if (encode(L, decision, &out->json, why, sizeof why) != 0) {
    snprintf(err, sizeof err, "the decision cannot be recorded: %.300s", why);
    return give_up(l, n, out->decision_id, err, out);
  }
  const char *state = out->failed ? "failed" : dry_run ? "dry-run" : policy_failed ? "policy-error" : "done";
  if (c->lease_ms > 0 && ledger_action_renew(l, n->id, c->lease_owner, c->lease_ms) != LEDGER_OK)
    return HEAL_LEASE_LOST; /* the holder records the healing; this replica's view may be stale */
  if (ledger_action_update(l, out->decision_id, state, out->json.data) != LEDGER_OK) return -1;
  out->failed |= policy_failed;
  return ledger_action_update(l, n->id, p.is_test ? "test" : "handled", NULL);
}

int heal_handle(const heal_config *c, ub_ledger *l, const ledger_action *n, heal_result *out) {
  memset(out, 0, sizeof *out);
  ub_buf_init(&out->json);
  lua_State *L = luaL_newstate();
  if (!L) return -1;
  int rc = handle_in(c, l, n, L, out);
  lua_close(L);
  return rc == LEDGER_OK ? 0 : rc == HEAL_LEASE_LOST ? HEAL_LEASE_LOST : -1;
}

void heal_result_free(heal_result *r) { ub_buf_free(&r->json); }
