/* serve_callback.c: callback mode. A gate asked with Azure DevOps's
 * headers (serve_callback_ids.c) is persisted in the ledger (token sealed)
 * before it is accepted; a background thread runs it and raises exactly
 * one TaskCompleted, retried on 5xx, 429 and transport errors until the
 * callback's deadline. While the gate runs, its lines go to the task's log
 * on the timeline record as they happen (created and attached as soon as
 * the evaluation is recorded: its id, each line the policy prints), then
 * the outcome, also to the live console feed. A server killed and restarted
 * resumes every pending callback from the ledger. Replicas on PostgreSQL
 * hold each callback under a lease renewed by its writes; the healing
 * worker's loop looks for expired ones now and then (serve_heal.c), so the
 * callbacks of a replica that died are completed by another. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>

#include "azure/ado.h"
#include "ledger/ledger.h"
#include "ledger/ledger_redact.h"
#include "serve/serve.h"
#include "util/clock.h"
#include "util/json.h"

#define BACKOFF_BASE_MS 500
#define BACKOFF_MAX_MS 30000
#define CALL_TIMEOUT_MS 10000
#define LOG_TIMEOUT_MS 5000     /* one attempt per live log call: it never holds a gate up */

/* ---- one callback ---------------------------------------------------- */

typedef struct callback_job {
  serve_state *s;
  int64_t id;                  /* pending_callbacks row */
  serve_callback_ids ids;
  char *request_json;
  int fail_on_warning;
  int worker;                  /* -1: take one when needed */
  int64_t deadline_ms;
  char rid[40];
  /* hand-over with the accepting thread */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int begun, done, detached;
  int64_t evaluation;
  /* resume: the evaluation already finished */
  char known_verdict[16];
  /* the task's live log (callback thread only) */
  int log_tried;               /* open_log ran */
  long long log_id;            /* 0: none (not opened, or a call failed: then no more) */
  int live_lines;              /* policy lines the log received while the gate ran */
  serve_specs *specs;          /* the specs the gate was parsed on (NULL on resume) */
} callback_job;

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static ub_ledger *open_ledger(serve_state *s) {
  char err[600];
  ub_ledger *l = ledger_open(s->cfg->ledger, err, sizeof err);
  if (!l) serve_logf("error", NULL, "ledger: %s", err);
  else ledger_set_lease_ms(l, (int64_t)(s->cfg->lease_seconds * 1000));
  return l;
}

static ado_plan plan_of(const serve_callback_ids *ids) {
  ado_plan p = {ids->plan_url, ids->project_id, ids->hub_name, ids->plan_id, ids->job_id,
                ids->timeline_id, ids->task_instance_id};
  return p;
}

static void job_free(callback_job *j) {
  serve_specs_release(j->s, j->specs);
  serve_callback_ids_free(&j->ids);
  free(j->request_json);
  pthread_mutex_destroy(&j->mu);
  pthread_cond_destroy(&j->cv);
  free(j);
}

/* ---- the live log ------------------------------------------------------ */

/* text with the job token, the serve token and anything shaped like a
 * credential redacted as the ledger redacts (every line that goes to Azure
 * DevOps passes through here). */
static void redact_into(callback_job *j, const char *text, ub_buf *out) {
  const char *secrets[] = {j->ids.token ? j->ids.token : "", j->s->cfg->token ? j->s->cfg->token : ""};
  ledger_redact(text ? text : "", text ? strlen(text) : 0, secrets, 2, out);
}

/* Creates the task's log and attaches it to its timeline record, once, as
 * soon as the gate has begun (never before: the 200 accepted answer waits
 * for the evaluation id, not for Azure DevOps's log calls). */
static void open_log(callback_job *j) {
  if (j->log_tried) return;
  j->log_tried = 1;
  ado_plan p = plan_of(&j->ids);
  ado_call c;
  if (ado_open_task_log(&p, j->ids.token, LOG_TIMEOUT_MS, &j->log_id, &c) != 0) {
    serve_logf("warn", j->rid, "callback %lld: no live task log: %s", (long long)j->id, c.error);
    j->log_id = 0;
  }
}

/* Appends text (lines ending in '\n') to the task's log, redacted. After a
 * failed call the log is given up: the outcome still reaches the feed,
 * and TaskCompleted never waits for a log. */
static void log_text(callback_job *j, const char *text) {
  open_log(j);
  if (!j->log_id || !text || !*text) return;
  ub_buf clean;
  ub_buf_init(&clean);
  redact_into(j, text, &clean);
  ado_plan p = plan_of(&j->ids);
  ado_call c;
  if (!clean.failed && clean.data &&
      ado_append_log(&p, j->ids.token, LOG_TIMEOUT_MS, j->log_id, clean.data, &c) != 0) {
    serve_logf("warn", j->rid, "callback %lld: the task log stops here: %s", (long long)j->id, c.error);
    j->log_id = 0;
  }
  ub_buf_free(&clean);
}

static void log_line(callback_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_line(callback_job *j, const char *fmt, ...) {
  char line[1600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  strcat(line, "\n");
  log_text(j, line);
}

static void on_line(void *ud, const char *text) {
  callback_job *j = ud;
  for (const char *c = text; *c; c++) j->live_lines += *c == '\n';
  log_text(j, text);
}

static void on_begin(void *ud, int64_t evaluation) {
  callback_job *j = ud;
  ub_ledger *l = open_ledger(j->s);
  if (l) {
    ledger_callback_set_evaluation(l, j->id, evaluation);
    ledger_close(l);
  }
  pthread_mutex_lock(&j->mu);
  j->begun = 1;
  j->evaluation = evaluation;
  pthread_cond_broadcast(&j->cv);
  pthread_mutex_unlock(&j->mu);
  log_line(j, "unbreakable: gate request %s: evaluation %lld started (callback %lld, report: "
           "/v1/evaluations/%lld/report)", j->rid, (long long)evaluation, (long long)j->id, (long long)evaluation);
}

/* Runs the gate in a worker (waiting for a free one on resume). */
static void run_gate(callback_job *j, serve_gate_result *r) {
  serve_state *s = j->s;
  while (j->worker < 0 && ub_clock_wall_ms() < j->deadline_ms) {
    j->worker = serve_pool_acquire(s->pool);
    if (j->worker < 0) sleep_ms(200);
  }
  if (j->worker < 0) {
    snprintf(r->error, sizeof r->error, "no gate worker became free before the callback's deadline");
    return;
  }
  double t0 = (double)ub_clock_wall_ms();
  serve_gate_hooks hooks = {on_begin, on_line, j};
  serve_pool_run(s->pool, j->worker, j->request_json, 2 * s->cfg->gate_timeout + 5, &hooks, r);
  serve_pool_release(s->pool, j->worker);
  j->worker = -1;
  serve_metrics_outcome(s->metrics, r, ((double)ub_clock_wall_ms() - t0) / 1000);
}

#define MAX_FEED_LINES 60

/* The rest of the gate's lines once it ended: to the task log, what the
 * gate printed that the log has not had yet (the policy's lines went
 * live), then the verdict, summary and error; the same to the live console
 * feed (control characters already escaped by the JSON encoding). */
static void stream_lines(callback_job *j, serve_gate_result *r, const char *status) {
  const char *lines[MAX_FEED_LINES + 3];
  size_t n = 0;
  ub_buf clean, tail;
  ub_buf_init(&clean);
  ub_buf_init(&tail);
  redact_into(j, r->messages.data, &clean);
  char *text = clean.failed ? NULL : clean.data;
  int skip = j->live_lines;    /* "[policy] " lines the log already has */
  for (char *line = text; line && *line;) {
    char *nl = strchr(line, '\n');
    if (nl) *nl = '\0';
    int live = skip > 0 && strncmp(line, "[policy] ", 9) == 0;
    skip -= live;
    if (*line && !live) log_line(j, "%s", line);
    if (*line && n < MAX_FEED_LINES) lines[n++] = line;
    line = nl ? nl + 1 : NULL;
  }
  char outcome[2900];           /* verdict, summary, error: one line each, then redacted */
  snprintf(outcome, sizeof outcome, "unbreakable: evaluation %lld: verdict %s, gate %s\nunbreakable: %s\n%s%s",
           (long long)r->evaluation, r->verdict[0] ? r->verdict : "error", status,
           r->summary[0] ? r->summary : "(no summary)", r->error[0] ? "unbreakable: error: " : "", r->error);
  redact_into(j, outcome, &tail);
  for (char *line = tail.failed ? NULL : tail.data; line && *line;) {
    char *nl = strchr(line, '\n');
    if (nl) *nl = '\0';
    if (*line && n < MAX_FEED_LINES + 3) log_line(j, "%s", line), lines[n++] = line;
    line = nl ? nl + 1 : NULL;
  }
  ado_plan p = plan_of(&j->ids);
  ado_call c;
  if (n && ado_post_feed(&p, j->ids.token, CALL_TIMEOUT_MS, lines, n, &c) != 0)
    serve_logf("warn", j->rid, "callback %lld: the log lines were not accepted: %s", (long long)j->id, c.error);
  ub_buf_free(&clean);
  ub_buf_free(&tail);
}

static int retryable(const ado_call *c) {
  return c->status == 0 || c->status == 408 || c->status == 429 || c->status >= 500;
}

/* Raises TaskCompleted once; returns 0 when Azure DevOps accepted it. */
static int complete(callback_job *j, const char *result, char *why, size_t whylen) {
  ado_plan p = plan_of(&j->ids);
  int version = 0, have_version = !ado_needs_plan_version(&p);
  ub_ledger *l = open_ledger(j->s);
  int rc = -1;
  for (int attempt = 0; ub_clock_wall_ms() < j->deadline_ms; attempt++) {
    ado_call c;
    int ok = have_version || ado_get_plan_version(&p, j->ids.token, CALL_TIMEOUT_MS, &version, &c) == 0;
    if (ok) {
      have_version = 1;
      ok = ado_task_completed(&p, j->ids.token, CALL_TIMEOUT_MS, version, result, &c) == 0;
    }
    if (ok) {
      rc = 0;
      break;
    }
    snprintf(why, whylen, "%s", c.error);
    if (l) ledger_callback_attempt(l, j->id, c.error);
    if (!retryable(&c)) break;
    long wait = BACKOFF_BASE_MS << (attempt < 6 ? attempt : 6);
    if (wait > BACKOFF_MAX_MS) wait = BACKOFF_MAX_MS;
    if (c.retry_after_ms > wait) wait = c.retry_after_ms;
    serve_logf("warn", j->rid, "callback %lld: %s; retrying in %ld ms", (long long)j->id, c.error, wait);
    sleep_ms(wait);
  }
  if (rc != 0 && !why[0]) snprintf(why, whylen, "the callback's deadline passed");
  if (l) {
    ledger_callback_finish(l, j->id, rc == 0 ? "completed" : "failed", result, rc == 0 ? NULL : why);
    ledger_close(l);
  }
  return rc;
}

static void *callback_thread(void *ud) {
  callback_job *j = ud;
  serve_state *s = j->s;
  serve_gate_result r;
  serve_gate_result_init(&r);
  if (j->known_verdict[0]) {
    snprintf(r.verdict, sizeof r.verdict, "%s", j->known_verdict);
    r.rc = 0;
    r.evaluation = j->evaluation;
  } else {
    run_gate(j, &r);
  }
  serve_specs_release(s, j->specs); /* its files are no longer read */
  j->specs = NULL;
  pthread_mutex_lock(&j->mu);
  j->done = 1;
  pthread_cond_broadcast(&j->cv);
  pthread_mutex_unlock(&j->mu);
  const char *status = serve_status_of(&r, j->fail_on_warning);
  const char *result = strcmp(status, "success") == 0 ? "succeeded" : "failed";
  if (!j->known_verdict[0]) stream_lines(j, &r, status);
  char why[300] = "";
  int rc = complete(j, result, why, sizeof why);
  serve_metrics_callback(s->metrics, -1, rc != 0);
  serve_log_fields f = {.level = rc == 0 ? "info" : "error", .request_id = j->rid, .route = "callback",
                        .evaluation = r.evaluation, .duration_ms = -1,
                        .msg = rc == 0 ? (strcmp(result, "succeeded") == 0 ? "TaskCompleted succeeded"
                                                                           : "TaskCompleted failed")
                                       : why};
  serve_log(&f);
  serve_gate_result_free(&r);
  serve_work_end(s);
  pthread_mutex_lock(&j->mu);
  int free_it = j->detached;
  j->detached = 1;
  pthread_mutex_unlock(&j->mu);
  if (free_it) job_free(j);
  return NULL;
}

static callback_job *job_new(serve_state *s, const char *rid) {
  callback_job *j = calloc(1, sizeof *j);
  if (!j) return NULL;
  j->s = s;
  j->worker = -1;
  pthread_mutex_init(&j->mu, NULL);
  pthread_cond_init(&j->cv, NULL);
  snprintf(j->rid, sizeof j->rid, "%s", rid ? rid : "");
  return j;
}

static int start_thread(callback_job *j) {
  pthread_t t;
  pthread_attr_t at;
  pthread_attr_init(&at);
  pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
  serve_work_begin(j->s);
  serve_metrics_callback(j->s->metrics, 1, 0);
  int rc = pthread_create(&t, &at, callback_thread, j);
  pthread_attr_destroy(&at);
  if (rc != 0) {
    serve_metrics_callback(j->s->metrics, -1, 1);
    serve_work_end(j->s);
  }
  return rc;
}

/* Persists the callback; 0 or -1 (message in err). */
static int persist(callback_job *j, const char *request_json, char *err, size_t errlen) {
  unsigned char *sealed = NULL;
  size_t sealed_len = 0;
  if (serve_seal(j->s->seal_key, j->ids.token, &sealed, &sealed_len) != 0) {
    snprintf(err, errlen, "cannot seal the job token");
    return -1;
  }
  ub_ledger *l = open_ledger(j->s);
  ledger_callback c = {.plan_url = j->ids.plan_url, .project_id = j->ids.project_id,
                       .hub_name = j->ids.hub_name, .plan_id = j->ids.plan_id, .job_id = j->ids.job_id,
                       .timeline_id = j->ids.timeline_id, .task_instance_id = j->ids.task_instance_id,
                       .token_sealed = sealed, .token_sealed_len = sealed_len,
                       .request_json = (char *)request_json, .deadline_ms = j->deadline_ms};
  int rc = l && ledger_callback_put(l, &c, &j->id) == LEDGER_OK ? 0 : -1;
  if (rc != 0) snprintf(err, errlen, "the callback could not be recorded: %s", l ? ledger_error(l) : "no ledger");
  if (l) ledger_close(l);
  memset(sealed, 0, sealed_len);
  free(sealed);
  return rc;
}

void serve_callback_accept(serve_state *s, serve_gate_req *req, serve_callback_ids *ids, int worker,
                           const char *rid, ub_srv_response *rs, int64_t *evaluation, serve_specs *specs) {
  char err[800];
  callback_job *j = job_new(s, rid);
  if (j) j->specs = specs;
  else serve_specs_release(s, specs);
  if (!j || !(j->request_json = strdup(req->worker_json.data))) {
    serve_pool_release(s->pool, worker);
    if (j) job_free(j);
    serve_error(rs, 500, "out of memory");
    return;
  }
  j->ids = *ids;
  ids->token = NULL; /* the job owns it now */
  j->fail_on_warning = req->fail_on_warning;
  j->deadline_ms = ub_clock_wall_ms() + (int64_t)(s->cfg->callback_deadline * 1000);
  if (persist(j, j->request_json, err, sizeof err) != 0) {
    serve_pool_release(s->pool, worker);
    job_free(j);
    serve_error(rs, 503, err);
    snprintf(rs->retry_after, sizeof rs->retry_after, "5");
    return;
  }
  j->worker = worker;
  if (start_thread(j) != 0) {
    serve_pool_release(s->pool, worker); /* the row stays pending: resumed at the next start */
    job_free(j);
    serve_error(rs, 503, "cannot start the callback; it is recorded and resumes at the next start");
    return;
  }
  /* answer within 3 s: wait briefly for the evaluation id */
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 2;
  pthread_mutex_lock(&j->mu);
  while (!j->begun && !j->done)
    if (pthread_cond_timedwait(&j->cv, &j->mu, &until) == ETIMEDOUT) break;
  int64_t id = j->evaluation;
  int free_it = j->detached;
  j->detached = 1;
  pthread_mutex_unlock(&j->mu);
  if (free_it) job_free(j);
  *evaluation = id;
  rs->status = 200;
  if (id) ub_buf_printf(&rs->body, "{\"status\":\"accepted\",\"evaluation\":%lld}", (long long)id);
  else ub_buf_puts(&rs->body, "{\"status\":\"accepted\",\"evaluation\":null}");
}

/* ---- resume after a restart ------------------------------------------ */

static int request_fail_on_warning(const char *json) {
  ub_buf v;
  ub_buf_init(&v);
  serve_json_field(&v, json, strlen(json), "fail_on_warning");
  int on = v.data && strcmp(v.data, "1") == 0;
  ub_buf_free(&v);
  return on;
}

/* The verdict of a finished evaluation, or "" when it did not finish; an
 * evaluation the restart interrupted is closed as an error (the gate runs
 * again as a new one), so that history shows no gate running forever. */
static void finished_verdict(serve_state *s, int64_t id, char *out, size_t size) {
  out[0] = '\0';
  if (id <= 0) return;
  ub_ledger *l = open_ledger(s);
  ledger_evaluation e;
  if (l && ledger_get_evaluation(l, id, &e) == LEDGER_OK) {
    if (e.verdict && e.status && strcmp(e.status, "running") != 0) {
      snprintf(out, size, "%s", e.verdict);
    } else if (e.status && strcmp(e.status, "running") == 0) {
      ledger_eval_result res = {.status = "error", .verdict = "error",
                                .error = "interrupted: the server stopped before the gate finished; "
                                         "the callback ran it again as a new evaluation"};
      ledger_finish_evaluation(l, id, &res);
    }
    ledger_evaluation_free(&e);
  }
  if (l) ledger_close(l);
}

static void resume_one(serve_state *s, ledger_callback *c) {
  char rid[40];
  snprintf(rid, sizeof rid, "resume-%lld", (long long)c->id);
  callback_job *j = job_new(s, rid);
  if (!j) return;
  j->id = c->id;
  j->deadline_ms = c->deadline_ms;
  j->fail_on_warning = request_fail_on_warning(c->request_json);
  j->evaluation = c->evaluation_id;
  j->detached = 1; /* nobody waits for the answer */
  snprintf(j->ids.plan_url, sizeof j->ids.plan_url, "%s", c->plan_url);
  snprintf(j->ids.project_id, sizeof j->ids.project_id, "%s", c->project_id);
  snprintf(j->ids.hub_name, sizeof j->ids.hub_name, "%s", c->hub_name);
  snprintf(j->ids.plan_id, sizeof j->ids.plan_id, "%s", c->plan_id);
  snprintf(j->ids.job_id, sizeof j->ids.job_id, "%s", c->job_id);
  snprintf(j->ids.timeline_id, sizeof j->ids.timeline_id, "%s", c->timeline_id);
  snprintf(j->ids.task_instance_id, sizeof j->ids.task_instance_id, "%s", c->task_instance_id);
  j->ids.token = c->token_sealed ? serve_unseal(s->seal_key, c->token_sealed, c->token_sealed_len) : NULL;
  j->request_json = strdup(c->request_json);
  const char *why = !j->ids.token ? "the job token cannot be unsealed (was the serve token changed?)"
                  : ub_clock_wall_ms() >= j->deadline_ms ? "the callback's deadline passed while the server was down"
                  : !j->request_json ? "out of memory" : NULL;
  if (why) {
    ub_ledger *l = open_ledger(s);
    if (l) ledger_callback_finish(l, c->id, "failed", NULL, why), ledger_close(l);
    serve_metrics_callback(s->metrics, 0, 1);
    serve_logf("error", rid, "callback %lld given up: %s", (long long)c->id, why);
    job_free(j);
    return;
  }
  finished_verdict(s, c->evaluation_id, j->known_verdict, sizeof j->known_verdict);
  serve_logf("info", rid, "resuming callback %lld (evaluation %lld, %s)", (long long)c->id,
             (long long)c->evaluation_id, j->known_verdict[0] ? "finished: completing it" : "running the gate again");
  if (start_thread(j) != 0) job_free(j);
}

void serve_callback_resume(serve_state *s) {
  ub_ledger *l = open_ledger(s);
  if (!l) return;
  ledger_callback *v = NULL;
  size_t n = 0;
  if (ledger_callbacks_pending(l, &v, &n) != LEDGER_OK)
    serve_logf("error", NULL, "cannot read pending callbacks: %s", ledger_error(l));
  ledger_close(l);
  for (size_t i = 0; i < n; i++) resume_one(s, &v[i]);
  ledger_callbacks_free(v, n);
}
