/* heal.h: self-healing (docs/selfheal.md). A Dynatrace problem
 * notification is validated and recorded durably in the ledger; a healing
 * run reads the deployment events of the impacted entities (Events v2,
 * else v1) and the release state from Azure DevOps, runs the selfheal
 * policy in the sandbox, and executes the intents it returns (rollback,
 * comment, event, freeze) exactly once, each under an idempotency key
 * recorded before the call and confirmed after it. Used by `serve` (POST
 * /v1/problems and its healing worker) and by `unbreakable selfheal`. */
#ifndef UB_HEAL_H
#define UB_HEAL_H

#include <stddef.h>
#include <stdint.h>

#include "ledger/ledger.h"
#include "util/buf.h"

#define HEAL_TEST_TITLE "Dynatrace problem notification test run"
#define HEAL_DEFAULT_WINDOW_MINUTES 60

/* ---- the notification (heal_payload.c) ---- */
typedef struct heal_problem {
  char state[16];          /* OPEN | RESOLVED | MERGED */
  char pid[160];           /* {PID}: the internal problem id */
  char problem_id[64];     /* {ProblemID}: the display id */
  char title[256];
  int is_test;             /* the "send test notification" payload */
  int64_t start_ms;        /* ProblemDetails.startTime, 0 when absent */
} heal_problem;

/* Validates a custom-integration payload. 0, or -1 with err naming the
 * field and the fix (for a 400). */
int heal_parse_payload(const char *body, size_t len, heal_problem *p, char *err, size_t errlen);

/* Records the notification (kind "problem", key PID, idempotency key
 * "problem:PID:STATE", state "pending", or "test" for the test
 * notification). *duplicate says the same PID and state were already
 * there (nothing new recorded). */
int heal_record(ub_ledger *l, const heal_problem *p, const char *body, size_t len, int64_t *id,
                int *duplicate);
/* The same for n notifications in one transaction (serve's group commit);
 * bodies NUL-terminated. */
typedef struct heal_intake {
  heal_problem p;
  const char *body;
  int64_t id;
  int duplicate;
} heal_intake;
int heal_record_many(ub_ledger *l, heal_intake *v, size_t n);

/* ---- configuration (heal_config.c) ---- */
typedef struct heal_config {
  char *dt_url, *dt_token;           /* DT_TENANT_URL, DT_API_TOKEN(_FILE) */
  char *ado_org_url, *ado_release_url, *ado_token;
  char policy[4096];                 /* the selfheal policy file */
  char stdlib_dir[4096];             /* the sandbox's require root */
  double window_minutes;
  int dry_run;                       /* --dry-run, or the specs setting */
  char link_base[512];               /* prefix of the evaluation links */
  char ado_error[400];               /* why Azure DevOps is not usable ("" when it is) */
  long timeout_ms;                   /* one attempt of one call */
  long call_deadline_ms;             /* a whole call, its retries included (0: the engine's) */
  /* Replicas on a shared ledger: the lease this replica holds on the
   * notification it handles, renewed before every write it calls (0: one
   * process, no lease). heal_config_bound_to_lease keeps a call shorter. */
  char lease_owner[300];
  int64_t lease_ms;
} heal_config;

/* Reads the environment, and from specs_dir (may be NULL) the optional
 * selfheal.json (selfheal_policy, window_minutes, dry_run). policy
 * overrides the policy file (default: policies_dir/selfheal.lua); the
 * caller names the stdlib and policies folders (cli/ resolves them, heal/
 * does not call cli/). 0, or -1 with err. */
int heal_config_load(heal_config *c, const char *stdlib_dir, const char *policies_dir,
                     const char *specs_dir, const char *policy, char *err, size_t errlen);
void heal_config_free(heal_config *c);
/* 1 when url is https, or http to a loopback host, and names no user or
 * password (credentials go in the token variables, never in a URL). */
int heal_url_allowed(const char *url);
/* Holds c's calls under a lease of lease_ms owned by owner: every write is
 * preceded by a renewal, so one call (all its attempts and waits) must end
 * well inside the lease: it is cut at half the lease. */
void heal_config_bound_to_lease(heal_config *c, const char *owner, int64_t lease_ms);

/* ---- one healing run (heal_run.c) ---- */
typedef struct heal_result {
  int64_t decision_id;     /* the "selfheal" ledger row */
  ub_buf json;             /* {notification, problem, context, intents, outcomes, ...} */
  int failed;              /* a read, the policy or an intent failed */
  int executed, skipped;   /* intents called, intents found done already */
} heal_result;

/* Handles recorded notification n (a "problem" action): context, policy,
 * intents. Marks the notification "handled" (or "failed") at the end.
 * 0, -1, or HEAL_LEASE_LOST (replicas: another one holds n now and
 * finishes it; nothing more was called here). */
int heal_handle(const heal_config *c, ub_ledger *l, const ledger_action *n, heal_result *out);
void heal_result_free(heal_result *r);

/* ---- stage freezes (heal_freeze.c) ---- */
/* 1 when an active freeze holds stage (reason says which and why; also 1
 * when the ledger cannot be read: fail closed), else 0. */
int heal_frozen(ub_ledger *l, const char *stage, char *reason, size_t n);
/* Lifts every active freeze of stage; *lifted counts them. 0 or -1. */
int heal_lift(ub_ledger *l, const char *stage, int *lifted);

/* ---- the HTML page of one healing (heal_report.c) ---- */
/* decision is a "selfheal" action. 0, or -1 out of memory. */
int heal_report_html(const ledger_action *decision, ub_buf *out);

/* ---- intents (heal_exec.c) ---- */
/* Executes one intent (a JSON object) of notification (the "problem"
 * action's id) under its idempotency key; appends the outcome object to
 * outcomes. The allowed rollback targets come from the context. Returns 0
 * when done or already done, -1 when it failed, HEAL_LEASE_LOST when this
 * replica no longer holds the notification's lease: nothing was called,
 * the intent stays "started" for the replica that holds it now. */
#define HEAL_LEASE_LOST (-2)
struct lua_State;
int heal_exec_intent(const heal_config *c, ub_ledger *l, const heal_problem *p, int64_t notification,
                     struct lua_State *L, int intent, int ordinal, int targets, ub_buf *outcomes,
                     int *executed, int *skipped);

#endif
