/* Folder ledger/: the decision ledger: every gate evaluation with its
 * inputs, responses and verdict, deployment events, invalidations; the
 * schema and its migrations, redaction of secrets before anything is
 * stored. One SQLite file or one PostgreSQL database, through store/.
 * May call util/ and store/ only. */
/* ledger.h: the decision ledger, one SQLite file (WAL) or one PostgreSQL
 * database shared by several serve replicas (store/), that records every
 * gate evaluation with its inputs and every binding response, deployment
 * events, and problems/healing actions. Tables: docs/ledger.md.
 *
 * Conventions:
 *  - Functions return LEDGER_OK (0), LEDGER_NOT_FOUND (1) or
 *    LEDGER_ERROR (-1); after an error ledger_error() says what failed, in
 *    one line naming the ledger file and the fix.
 *  - Every string written is passed through ledger_redact() with the
 *    secrets registered by ledger_add_secret(); content is stored by its
 *    SHA-256 digest (of the redacted bytes) once.
 *  - Each write is one BEGIN IMMEDIATE transaction, retried on
 *    SQLITE_BUSY, so several processes may write the same file at once.
 *  - A handle belongs to one thread at a time; open one per worker.
 *  - Strings in returned records are owned by the record; free them with
 *    the matching *_free function. */
#ifndef UB_LEDGER_H
#define UB_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define LEDGER_OK 0
#define LEDGER_NOT_FOUND 1
#define LEDGER_ERROR (-1)

/* Schema version this build writes (PRAGMA user_version). */
#define LEDGER_SCHEMA_VERSION 4

typedef struct ub_ledger ub_ledger;

/* Chooses the ledger: flag_path when non-NULL (a file, or a PostgreSQL
 * URL from --database), else $UB_DATABASE_URL, else $UB_LEDGER, else
 * $XDG_DATA_HOME/unbreakable/ledger.db, else
 * $HOME/.local/share/unbreakable/ledger.db. Returns 0 or -1 (err set). */
int ledger_resolve_path(const char *flag_path, char *out, size_t outlen,
                        char *err, size_t errlen);

/* 1 when target names a PostgreSQL database (postgres:// or postgresql://
 * URI, or a libpq "host=... dbname=..." string) rather than a file. */
int ledger_is_database(const char *target);

/* The one flag of --ledger PATH and --database URL given (NULL: neither);
 * -1 with err set when both are, or --database is no PostgreSQL URL. */
int ledger_choose_flag(const char *ledger_flag, const char *database_flag, const char **out,
                       char *err, size_t errlen);

/* What to call target in messages: the file path, or "PostgreSQL database
 * DB on HOST:PORT as USER" (never the password of a URL). */
void ledger_display_name(const char *target, char *out, size_t outlen);

/* Opens (creating when missing, with its directory, mode 0600) and
 * checks the file: SQLite header, application id, schema version (older
 * schemas are migrated forward, newer ones refused), PRAGMA quick_check.
 * A foreign or corrupt file gets NULL and a clear message, never a crash. */
ub_ledger *ledger_open(const char *path, char *err, size_t errlen);
void ledger_close(ub_ledger *l);
const char *ledger_error(const ub_ledger *l);
const char *ledger_path(const ub_ledger *l);

/* Registers a secret (an API token) to be redacted from everything this
 * handle writes. The copy is kept in memory only. */
int ledger_add_secret(ub_ledger *l, const char *secret);

/* "HOST PIDNS pid N": this process, as the owner of a lease. */
void ledger_owner_name(char *out, size_t outlen);

/* "cli:USER@HOST", the requester of evaluations started from the CLI. */
void ledger_cli_requester(char *out, size_t outlen);

/* ---- evaluations ---------------------------------------------------- */

/* One stored input document: a name (file path or label) and content. */
typedef struct ledger_input {
  const char *name;
  const char *data;      /* NULL: no such input */
  size_t len;
} ledger_input;

typedef struct ledger_eval_start {
  const char *requested_by;  /* "cli:user@host", "http:1.2.3.4" ... */
  const char *request_meta;  /* JSON object or NULL (HTTP request details) */
  const char *service, *stage;
  const char *kind;          /* "monspec" or "slo" */
  const char *target;        /* "Entity/Comparison", "Entity/Environment" ... */
  const char *compat;        /* NULL, "dtcli", "keptn" */
  ledger_input spec;         /* monspec JSON or slo.yaml */
  ledger_input sli;          /* sli.yaml (SLO gate) or {NULL} */
  ledger_input policy;       /* the policy source that ran */
  const char *ctx_json;      /* the context given to the policy (JSON) */
} ledger_eval_start;

/* Inserts an evaluation with status "running"; *id receives its id. */
int ledger_begin_evaluation(ub_ledger *l, const ledger_eval_start *s, int64_t *id);

/* One host binding request and its recorded response. */
typedef struct ledger_request {
  int seq;                   /* order of issue within the evaluation, unique */
  const char *binding;       /* "dynatrace.metrics", ... */
  const char *method;        /* "GET" */
  const char *url;           /* path and query; the host part may be kept */
  const char *request_body;  /* NULL when none */
  size_t request_body_len;
  int status;                /* HTTP status, 0 when no response */
  const char *response_headers; /* JSON object of a header subset, or NULL */
  const char *response_body; /* NULL when none */
  size_t response_body_len;
  double duration_ms;
  const char *error;         /* transport error text, or NULL */
} ledger_request;

int ledger_add_request(ub_ledger *l, int64_t eval_id, const ledger_request *r);
/* Records n requests in one transaction: all of them or none. */
int ledger_add_requests(ub_ledger *l, int64_t eval_id, const ledger_request *r, size_t n);

typedef struct ledger_eval_result {
  const char *status;        /* "finished" or "error" */
  const char *verdict;       /* pass|warning|fail|inconclusive|error, or NULL */
  int has_score;
  double score;              /* SLO score 0..100 when has_score */
  const char *verdict_json;  /* the verdict table as JSON, or NULL */
  const char *timings_json;  /* {"fetch_ms":..,"policy_ms":..}, or NULL */
  const char *error;         /* what went wrong when status is "error" */
  const ledger_request *requests; /* recorded in the same transaction, or NULL */
  size_t nrequests;
} ledger_eval_result;

/* Records the outcome (and r->requests first) in one transaction: a crash
 * leaves both or neither. LEDGER_NOT_FOUND when the evaluation is unknown
 * or already finished (then nothing is written). */
int ledger_finish_evaluation(ub_ledger *l, int64_t id, const ledger_eval_result *r);

/* A stored document read back. */
typedef struct ledger_doc {
  char *name;
  char digest[65];           /* "" when absent */
  char *data;                /* NUL-terminated; NULL when absent */
  size_t len;
} ledger_doc;

typedef struct ledger_request_rec {
  int seq;
  char *binding, *method, *url, *response_headers, *error;
  ledger_doc request_body, response_body;
  int status;
  double duration_ms;
} ledger_request_rec;

typedef struct ledger_evaluation {
  int64_t id;
  int64_t created_ms, finished_ms;   /* Unix ms; finished_ms 0 while running */
  char *requested_by, *request_meta;
  char *service, *stage, *kind, *target, *compat;
  char *status, *verdict;            /* verdict NULL until finished */
  int has_score;
  double score;
  char *verdict_json, *timings_json, *error;
  int invalidated;
  char *invalidated_reason;
  int64_t invalidated_ms;
  /* Filled by ledger_get_evaluation() only: */
  ledger_doc spec, sli, policy, ctx;
  size_t nrequests;
  ledger_request_rec *requests;      /* ordered by seq */
} ledger_evaluation;

/* Everything needed to replay evaluation id: row, inputs, requests with
 * their bodies. LEDGER_NOT_FOUND when there is no such id. */
int ledger_get_evaluation(ub_ledger *l, int64_t id, ledger_evaluation *out);
void ledger_evaluation_free(ledger_evaluation *e);

/* include filter on the overall verdict, as Keptn's include_result_with_score. */
typedef enum ledger_include {
  LEDGER_INCLUDE_ALL = 0, LEDGER_INCLUDE_PASS, LEDGER_INCLUDE_PASS_OR_WARN
} ledger_include;
/* "all" | "pass" | "pass_or_warn" -> enum; -1 when unknown. */
int ledger_include_parse(const char *s);

typedef struct ledger_filter {
  const char *service, *stage, *kind;  /* NULL: any */
  const char *target;                  /* NULL: any */
  int limit;                           /* <= 0: no limit */
  int finished_only;                   /* only status "finished" */
  int exclude_invalidated;
  ledger_include include;
  int64_t before_id;                   /* > 0: only ids below it */
} ledger_filter;

/* Summary rows (no inputs or requests), newest first. */
int ledger_history(ub_ledger *l, const ledger_filter *f,
                   ledger_evaluation **out, size_t *count);
void ledger_evaluations_free(ledger_evaluation *v, size_t count);

/* The baseline for a new evaluation: the newest n finished, non-invalidated
 * evaluations of the same service, stage and kind (kind NULL: any) whose
 * verdict passes include, with ids below before_id (0: all), newest first.
 * Their verdict_json carries the values to compare with. */
int ledger_baseline(ub_ledger *l, const char *service, const char *stage,
                    const char *kind, ledger_include include, int n,
                    int64_t before_id, ledger_evaluation **out, size_t *count);

/* Excludes evaluation id from baselines without deleting it. reason must
 * be non-empty. Invalidating twice keeps the first reason and time. */
int ledger_invalidate(ub_ledger *l, int64_t id, const char *reason);

/* ---- deployment events ---------------------------------------------- */

typedef struct ledger_event {
  const char *requested_by;
  const char *api;            /* "v1" | "v2" */
  const char *target;         /* selector, entity ids or tag rules (text) */
  const char *request_body;   /* JSON sent */
  int status;                 /* HTTP status, 0 when none */
  const char *response_body;  /* or NULL */
  const char *outcome;        /* "ok" | "error" | "dry-run" */
  const char *message;        /* or NULL */
} ledger_event;

int ledger_record_event(ub_ledger *l, const ledger_event *e, int64_t *id);

/* ---- problems and healing actions ----------------------------------- */

/* Inserts an action unless one with the same idempotency_key exists;
 * *id gets the row either way and *existed says which (then state and
 * payload are left as they were). kind: "problem", "rollback", ... */
int ledger_action_put(ub_ledger *l, const char *kind, const char *key,
                      const char *idempotency_key, const char *state,
                      const char *payload_json, int64_t *id, int *existed);
/* Many ledger_action_put in one transaction (group commit): v[i] is
 * {kind, key, idempotency_key, state, payload_json}; ids[i] and existed[i]
 * as for one. All or nothing. */
typedef struct ledger_action_new {
  const char *kind, *key, *idempotency_key, *state, *payload_json;
} ledger_action_new;
int ledger_actions_put_many(ub_ledger *l, const ledger_action_new *v, size_t n, int64_t *ids, int *existed);
/* Updates state (and payload when non-NULL) of action id. */
int ledger_action_update(ub_ledger *l, int64_t id, const char *state,
                         const char *payload_json);

typedef struct ledger_action {
  int64_t id, created_ms, updated_ms;
  char *kind, *key, *idempotency_key, *state, *payload_json;
} ledger_action;

int ledger_action_get(ub_ledger *l, const char *idempotency_key, ledger_action *out);
/* Every action of kind recorded for key, oldest first. */
int ledger_actions_for_key(ub_ledger *l, const char *kind, const char *key,
                           ledger_action **out, size_t *count);
/* The oldest action of kind in state (the selfheal queue); LEDGER_NOT_FOUND
 * when there is none. */
int ledger_action_next(ub_ledger *l, const char *kind, const char *state, ledger_action *out);
/* The queue shared by several serve replicas on PostgreSQL: the oldest
 * action of kind in state that no live lease holds, leased to owner for
 * lease_ms (UPDATE ... FOR UPDATE SKIP LOCKED, committed at once: two
 * replicas never take the same one; a replica that dies loses the lease
 * when it expires and another takes the action). On SQLite, one process,
 * it is ledger_action_next. */
int ledger_action_claim(ub_ledger *l, const char *kind, const char *state, const char *owner,
                        int64_t lease_ms, ledger_action *out);
/* Extends the lease owner holds on action id to lease_ms from now, before
 * each call whose repetition must be ruled out (fencing): LEDGER_NOT_FOUND
 * when the lease expired or another replica holds it, and then the caller
 * must stop. On SQLite, one process and no leases, LEDGER_OK. */
int ledger_action_renew(ub_ledger *l, int64_t id, const char *owner, int64_t lease_ms);
/* The newest actions of kind (NULL: any), newest first, at most limit. */
int ledger_actions_recent(ub_ledger *l, const char *kind, int limit, ledger_action **out,
                          size_t *count);
void ledger_action_free(ledger_action *a);
void ledger_actions_free(ledger_action *v, size_t count);

/* ---- Azure DevOps callbacks owed by serve (ledger_callbacks.c) ------- */

typedef struct ledger_callback {
  int64_t id, created_ms, updated_ms, evaluation_id, deadline_ms;
  char *plan_url, *project_id, *hub_name, *plan_id, *job_id, *timeline_id, *task_instance_id;
  unsigned char *token_sealed;       /* encrypted job token, NULL once done */
  size_t token_sealed_len;
  char *request_json;                /* the gate request, to run it again */
  char *state, *result, *last_error; /* pending|completed|failed */
  int attempts;
} ledger_callback;

/* Replicas on PostgreSQL: a pending callback belongs to the replica that
 * accepted or resumed it for lease_ms (default LEDGER_DEFAULT_LEASE_MS),
 * renewed by each of its writes (evaluation, attempt); ledger_callbacks_pending
 * takes only callbacks whose lease expired. SQLite: no leases. */
#define LEDGER_DEFAULT_LEASE_MS 60000
void ledger_set_lease_ms(ub_ledger *l, int64_t lease_ms);
/* 1 on PostgreSQL (several processes on several hosts may share it). */
int ledger_is_shared(const ub_ledger *l);

/* Inserts a pending callback; *id gets its id. Strings are stored as
 * given (no redaction: ids and URLs), the token only sealed. */
int ledger_callback_put(ub_ledger *l, const ledger_callback *c, int64_t *id);
/* Every pending callback, oldest first; on PostgreSQL only those whose
 * lease expired (or that never had one), leased to this process at once
 * (FOR UPDATE SKIP LOCKED: two replicas never take the same one). */
int ledger_callbacks_pending(ub_ledger *l, ledger_callback **out, size_t *count);
int ledger_callback_set_evaluation(ub_ledger *l, int64_t id, int64_t evaluation_id);
/* Counts an attempt and its error (NULL: none) on a pending callback. */
int ledger_callback_attempt(ub_ledger *l, int64_t id, const char *error);
/* Ends a callback: state "completed" or "failed", result (succeeded|failed
 * or NULL), and drops the sealed token. */
int ledger_callback_finish(ub_ledger *l, int64_t id, const char *state, const char *result,
                           const char *error);
void ledger_callbacks_free(ledger_callback *v, size_t count);

/* WAL checkpoints: by default a commit that finds the WAL over 1000 pages
 * checkpoints it (and with synchronous=NORMAL that syncs the file). A
 * connection on a latency-bound path sets 0 (never) and another one calls
 * ledger_checkpoint (PASSIVE: never waits for readers or writers). */
int ledger_set_autocheckpoint(ub_ledger *l, int pages);
int ledger_checkpoint(ub_ledger *l);

/* Copies every record of src into dst, which must be empty (a new file
 * or database; ids are kept), in one transaction, then compares both per
 * table: row count and SHA-256 of every value. report gets one line per
 * table. LEDGER_ERROR (dst's error says why) on any difference. */
int ledger_export(ub_ledger *src, ub_ledger *dst, ub_buf *report);

/* Formats Unix ms as "YYYY-MM-DDTHH:MM:SS.mmmZ". */
void ledger_format_time(int64_t ms, char out[32]);

#endif
