/* Folder serve/: `unbreakable serve`, the release gate Azure DevOps calls
 * over HTTP (docs/serve.md): routes, auth, gate requests, the gate worker
 * pool, callbacks, metrics and logs, the specs from a signed bundle.
 * May call net/, azure/, bundle/, ledger/, report/, dynatrace/ and util/;
 * gates run in worker processes (the worker's side is
 * commands/cmd_serve_worker.c), so serve/ never calls gate/ or cli/. */
/* serve.h: what the files of runtime/serve/ share: the configuration, the
 * service state, and the entry points of each concern. */
#ifndef UB_SERVE_H
#define UB_SERVE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "net/server.h"
#include "util/buf.h"

#define SERVE_MAX_ALLOW 16

typedef struct serve_config {
  char listen_addr[64];
  int listen_port;
  char specs[4096];            /* realpath of --specs */
  char ledger[4096];           /* resolved ledger path */
  int workers;
  char *allow[SERVE_MAX_ALLOW];/* --allow-callback prefixes */
  int nallow;
  double drain_seconds;
  double gate_timeout;         /* policy and Dynatrace budget of one gate, s */
  double callback_deadline;    /* how long a callback is retried, s */
  double lease_seconds;        /* PostgreSQL replicas: how long a claimed notification
                                  stays with its replica before another may take it */
  int insecure_no_auth;
  char *token;                 /* inbound shared secret (NULL: none) */
  int heal_dry_run;            /* --dry-run: self-healing executes no intent */
  char stdlib_dir[4096];       /* for self-healing's sandbox (cli/ resolves it) */
  char policies_dir[4096];     /* where the default selfheal.lua is */
  char bundle[4096];           /* --bundle: specs only from this signed bundle ("" = --specs) */
  char pubkey[4096];           /* --pubkey: the key the bundle must be signed with */
} serve_config;

/* ---- configuration (commands/cmd_serve_options.c) ---- */
/* Parses the flags (and --config FILE); returns 0, 1 for --help, or an
 * exit status (usage error printed). */
int serve_config_parse(serve_config *c, int argc, char **argv);
void serve_config_free(serve_config *c);
/* Checks a --config FILE as serve reads it (every setting, its type and
 * range, the listen address): 0, or -1 with err naming the file and the
 * setting. For `unbreakable check` (commands/cmd_check.c). */
int serve_config_check(const char *file, char *err, size_t errlen);

/* ---- inbound auth (serve_auth.c) ---- */
/* Reads UB_SERVE_TOKEN or UB_SERVE_TOKEN_FILE into c->token and removes
 * both from the environment (call it before any thread starts). 0 or -1
 * (message printed). */
int serve_auth_load(serve_config *c);
/* 1 when the request carries the token (Bearer or ?code=), compared in
 * constant time; always 1 without a token (--insecure-no-auth). */
int serve_auth_ok(const serve_config *c, const ub_srv_request *rq);

/* ---- logging (serve_log.c): one JSON object per line on stderr ---- */
typedef struct serve_log_fields {
  const char *level, *request_id, *route, *method, *msg;
  int status;                  /* 0: absent */
  double duration_ms;          /* < 0: absent */
  int64_t evaluation;          /* 0: absent */
} serve_log_fields;
void serve_log(const serve_log_fields *f);
void serve_logf(const char *level, const char *request_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- metrics (serve_metrics.c) ---- */
typedef struct serve_metrics serve_metrics;
serve_metrics *serve_metrics_new(void);
void serve_metrics_free(serve_metrics *m);
void serve_metrics_request(serve_metrics *m, const char *route, int status);
void serve_metrics_gate(serve_metrics *m, const char *verdict, double seconds);
void serve_metrics_dynatrace(serve_metrics *m, size_t requests, size_t retries, int answered);
void serve_metrics_sandbox_kill(serve_metrics *m);
void serve_metrics_callback(serve_metrics *m, int pending_delta, int failed);
/* Counts a gate's outcome: verdict, latency, Dynatrace reads, and a kill
 * (a sandbox limit, the process backstop, a dead worker). */
struct serve_gate_result;
void serve_metrics_outcome(serve_metrics *m, const struct serve_gate_result *r, double seconds);
/* Seconds since a Dynatrace answer last arrived, or -1 when never. */
double serve_metrics_dt_age(serve_metrics *m);
int serve_metrics_render(serve_metrics *m, ub_buf *out);

/* ---- the gate worker processes (serve_pool.c; the worker's side is
 * commands/cmd_serve_worker.c, which runs gates as the CLI does) ---- */
typedef struct serve_pool serve_pool;
/* Starts n workers running `exe serve --internal-worker SERVER-PID`. */
serve_pool *serve_pool_new(const char *exe, int n, char *err, size_t errlen);
void serve_pool_free(serve_pool *p);
/* Takes an idle worker: its index, or -1 when all are busy (503). */
int serve_pool_acquire(serve_pool *p);
void serve_pool_release(serve_pool *p, int w);
int serve_pool_busy(serve_pool *p);
/* Outcome of one gate in a worker. */
typedef struct serve_gate_result {
  int rc;                      /* exit status like the CLI; -1: the worker died */
  int64_t evaluation;
  char verdict[16];
  char summary[1024];
  char error[1400];
  ub_buf verdict_json;
  ub_buf messages;             /* what the gate printed */
  size_t dt_requests, dt_retries;
  int killed;                  /* the backstop or a signal ended the worker */
} serve_gate_result;
void serve_gate_result_init(serve_gate_result *r);
void serve_gate_result_free(serve_gate_result *r);
/* What a caller hears while a gate runs: the evaluation id as soon as it is
 * recorded, and each line the policy prints, as it prints it (already
 * cleaned and redacted by the worker). Either may be NULL. */
typedef struct serve_gate_hooks {
  void (*on_begin)(void *ud, int64_t id);
  void (*on_line)(void *ud, const char *text);
  void *ud;
} serve_gate_hooks;
/* Runs the request (worker JSON, serve_request.c) in worker w, hooks
 * (or NULL) called from this thread. hard_seconds is the process
 * backstop: past it the worker is killed (and replaced). */
int serve_pool_run(serve_pool *p, int w, const char *request_json, double hard_seconds,
                   const serve_gate_hooks *hooks, serve_gate_result *out);
/* The worker's main loop (fds 3 and 4). */
int serve_worker_main(void);

/* ---- gate requests (serve_request.c) ---- */
#define SERVE_BODY_CALLBACK_FIELDS 8
/* The callback data the first generation of the original gate sent in its
 * body: PlanUrl, ProjectId, HubName, PlanId, JobId, TimelineId,
 * TaskInstanceId, AuthToken. */
extern const char *const SERVE_BODY_CALLBACK_NAMES[SERVE_BODY_CALLBACK_FIELDS];

typedef struct serve_gate_req {
  ub_buf worker_json;          /* what the worker runs */
  int fail_on_warning;
  char service[256], stage[256];
  char *body_callback[SERVE_BODY_CALLBACK_FIELDS]; /* dtcli-compat only; NULL when absent */
} serve_gate_req;
/* Parses a POST /v1/gate body into a worker request, names read under
 * the specs folder given (serve_specs_acquire); 0 or -1 with err naming
 * the field (400). */
int serve_parse_gate(const serve_config *c, const char *specs, const char *body, size_t len,
                     const char *requested_by, serve_gate_req *out, char *err, size_t errlen);
/* The same for the original gate's body (POST /v1/gate/dtcli-compat). */
int serve_parse_dtcli(const serve_config *c, const char *specs, const char *body, size_t len,
                      const char *requested_by, serve_gate_req *out, char *err, size_t errlen);
void serve_gate_req_free(serve_gate_req *r);
/* 1 when the gate ended in an error, whatever verdict its policy gave
 * (the worker died, the decision could not be recorded, ...). */
int serve_result_failed(const serve_gate_result *r);
/* "success" | "failure" | "inconclusive" | "error" for a gate result. */
const char *serve_status_of(const serve_gate_result *r, int fail_on_warning);
/* Appends the raw JSON of the top-level key of a JSON object, or "null". */
void serve_json_field(ub_buf *out, const char *json, size_t len, const char *key);

/* ---- the specs folder: --specs, or a verified bundle (serve_bundle.c) ---- */
/* One specs folder. With --bundle it is a private folder the verified
 * bundle was unpacked into; a gate holds a reference from parsing to its
 * end, so that a reload never changes the files of a gate in flight, and
 * the folder is removed when the last reference to a replaced one goes. */
typedef struct serve_specs {
  char dir[4096];
  char bundle[4096];           /* the bundle file ("" = plain --specs) */
  char digest[65];             /* SHA-256 of the verified manifest */
  char key_id[20];
  char signed_at[40];
  int refs;
} serve_specs;
struct serve_state;
/* The first specs (at start): 0, or -1 with err (a bundle that does not
 * verify stops the start). */
int serve_specs_load(struct serve_state *s, char *err, size_t errlen);
/* SIGHUP: verifies the bundle again; a good one becomes live, a bad one is
 * refused with a log line and the last good one stays live. 0 or -1. */
int serve_specs_reload(struct serve_state *s);
serve_specs *serve_specs_acquire(struct serve_state *s);
void serve_specs_release(struct serve_state *s, serve_specs *sp);
/* Once self-healing has read its settings: the specs it started with are
 * kept to the end only when its policy is among them. */
void serve_specs_heal_started(struct serve_state *s);
/* Releases the live specs at exit. */
void serve_specs_close(struct serve_state *s);
/* JSON object describing the live specs, for /readyz; Prometheus lines
 * for /metrics. */
void serve_specs_describe(struct serve_state *s, ub_buf *out);
void serve_specs_metrics(struct serve_state *s, ub_buf *out);

/* ---- the service (serve_routes.c, serve_gate.c, serve_callback.c) ---- */
typedef struct serve_state {
  serve_config *cfg;
  serve_pool *pool;
  serve_metrics *metrics;
  unsigned char seal_key[32];
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int in_flight;               /* gates and callbacks running */
  int draining;
  uint64_t next_request;
  char id_prefix[12];
  /* readiness: a Dynatrace client for probes (one at a time) */
  struct ub_dt_client *dt;
  pthread_mutex_t dt_mu;
  double dt_checked;           /* monotonic s of the last probe */
  int dt_ok;
  struct serve_heal *heal;     /* self-healing (serve_heal.c), NULL when off */
  serve_specs *specs;          /* live specs, guarded by mu (serve_bundle.c) */
  serve_specs *heal_specs;     /* the specs self-healing started with, kept to the end */
  unsigned long long bundle_reloads, bundle_refusals; /* guarded by mu */
  char bundle_refused[900];    /* why the last reload was refused ("" = none), guarded by mu */
} serve_state;

/* Readiness probe: 0 when ready, else -1 with why. */
int serve_ready(serve_state *s, char *why, size_t whylen);
void serve_handle(void *ud, const ub_srv_request *rq, ub_srv_response *rs);
void serve_request_done(void *ud);
void serve_refused(void *ud, const char *method, const char *path, int status, const char *why);
int serve_admit(void *ud, const ub_srv_request *rq, const char **message);
void serve_route_gate(serve_state *s, const ub_srv_request *rq, ub_srv_response *rs,
                      const char *rid, int64_t *evaluation);
void serve_route_dtcli(serve_state *s, const ub_srv_request *rq, ub_srv_response *rs,
                       const char *rid, int64_t *evaluation);
/* Writes an error body {"status":"error","error":msg} with status. */
void serve_error(ub_srv_response *rs, int status, const char *msg);
/* Marks one unit of work started/finished, for draining. */
void serve_work_begin(serve_state *s);
void serve_work_end(serve_state *s);

/* Callback mode: the Azure DevOps ids from the headers, or NULL when the
 * request has none (sync mode). */
typedef struct serve_callback_ids {
  char plan_url[1024], project_id[128], hub_name[64], plan_id[128], job_id[128],
       timeline_id[128], task_instance_id[128];
  char *token;                 /* wiped and freed by serve_callback_ids_free */
} serve_callback_ids;
/* 1 when the headers ask for a callback (ids filled), 0 when they do not,
 * -1 when they are incomplete or the PlanUrl is not allowed (err). */
int serve_callback_from_headers(const serve_config *c, const ub_srv_request *rq,
                                serve_callback_ids *ids, char *err, size_t errlen);
/* The same from the first generation's body fields (dtcli-compat). */
int serve_callback_from_body(const serve_config *c, const serve_gate_req *req,
                             serve_callback_ids *ids, char *err, size_t errlen);
void serve_callback_ids_free(serve_callback_ids *ids);
/* 1 when url starts with an allowed prefix ("*" matches one DNS label). */
int serve_callback_allowed(const serve_config *c, const char *url);
/* Accepts a gate in callback mode: persists it, answers 200 accepted,
 * and completes it in the background; the callback owns the reference to
 * specs from then on (released when its gate ends). */
void serve_callback_accept(serve_state *s, serve_gate_req *req, serve_callback_ids *ids,
                           int worker, const char *rid, ub_srv_response *rs, int64_t *evaluation,
                           serve_specs *specs);
/* Resumes every pending callback of the ledger (at start-up). */
void serve_callback_resume(serve_state *s);

/* ---- self-healing (serve_heal.c, docs/selfheal.md) ---- */
/* Prepares intake (before the server starts); then serve_heal_run starts
 * the healing worker once the port is known (the evaluation links). */
struct serve_heal *serve_heal_start(serve_state *s);
void serve_heal_run(struct serve_heal *h, int port);
/* 1 when healing runs a policy from a file under dir (so dir must stay). */
int serve_heal_reads_under(struct serve_heal *h, const char *dir);
void serve_heal_stop(struct serve_heal *h);
/* 1 when a self-healing freeze holds stage (why in reason). */
int serve_heal_frozen(serve_state *s, const char *stage, char *reason, size_t n);
/* POST /v1/problems and GET /v1/selfheal[/{id}]. */
void serve_route_problems(serve_state *s, const ub_srv_request *rq, ub_srv_response *rs);
void serve_route_selfheal(serve_state *s, const ub_srv_request *rq, ub_srv_response *rs);

/* ---- sealing the job token at rest (serve_seal.c) ---- */
void serve_seal_key(const char *secret, unsigned char key[32]);
int serve_seal(const unsigned char key[32], const char *plain, unsigned char **out, size_t *outlen);
char *serve_unseal(const unsigned char key[32], const unsigned char *in, size_t len);

#endif
