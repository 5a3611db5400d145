/* serve_heal.c: self-healing inside serve (docs/selfheal.md). POST
 * /v1/problems validates a Dynatrace problem notification, writes it to
 * the ledger, and only then answers 202; the same PID and state again is
 * a duplicate. Intake uses one ledger connection and group commit: the
 * first request to find no write running becomes the writer and commits
 * every notification queued meanwhile in one transaction, the others wait
 * for it; so concurrent notifications share a commit and none is answered
 * before its own commit. One healing worker thread takes recorded notifications
 * oldest first and runs them (runtime/heal/); after a crash or restart it
 * picks up whatever is still pending. Replicas sharing a PostgreSQL ledger
 * each take a notification under a lease (ledger_action_claim): never the
 * same one, and the one of a replica that died once its lease expired. GET /v1/selfheal[/{id}] shows the
 * healings. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "heal/heal.h"
#include "ledger/ledger.h"
#include "serve/serve.h"
#include "util/json.h"

#define IDLE_POLL_SECONDS 1
#define CHECKPOINT_SECONDS 10        /* a checkpoint syncs: not more often than this */

/* A notification waiting for its commit (on the request's stack). */
typedef struct intake_wait {
  heal_intake in;
  pthread_cond_t cv;           /* its own, so a commit wakes only its batch */
  int done, rc;
  struct intake_wait *next;
} intake_wait;

#define MAX_BATCH 256

typedef struct serve_heal {
  serve_state *s;
  heal_config cfg;
  int configured;              /* the worker can run */
  ub_ledger *intake;           /* used by the writer only */
  pthread_mutex_t intake_mu;   /* guards queue and writing */
  intake_wait *queue, **queue_tail;
  int writing;
  ub_ledger *reader;           /* freeze checks of gates, guarded by reader_mu */
  pthread_mutex_t reader_mu;
  pthread_mutex_t mu;          /* guards stop and wake */
  pthread_cond_t cv;
  int stop, wake, started;
  pthread_t worker;
} serve_heal;

static void add_secrets(serve_heal *h, ub_ledger *l) {
  if (h->cfg.dt_token) ledger_add_secret(l, h->cfg.dt_token);
  if (h->cfg.ado_token) ledger_add_secret(l, h->cfg.ado_token);
  if (h->s->cfg->token) ledger_add_secret(l, h->s->cfg->token);
}

static int handle_one(serve_heal *h, ub_ledger *l, const ledger_action *n) {
  heal_result r;
  serve_work_begin(h->s);
  int rc = heal_handle(&h->cfg, l, n, &r);
  serve_work_end(h->s);
  if (rc == HEAL_LEASE_LOST)
    serve_logf("warn", NULL, "selfheal: notification %lld (problem %s): this replica lost its lease before a call, "
               "so it called nothing more; the replica that holds it finishes the healing", (long long)n->id, n->key);
  else if (rc != 0)
    serve_logf("error", NULL, "selfheal: notification %lld (problem %s) could not be handled; it stays queued",
               (long long)n->id, n->key);
  else
    serve_logf(r.failed ? "warn" : "info", NULL,
               "selfheal: notification %lld (problem %s) handled: %d intent(s) executed, %d already done%s%s",
               (long long)n->id, n->key, r.executed, r.skipped, h->cfg.dry_run ? ", dry run" : "",
               r.failed ? ", with failures" : "");
  heal_result_free(&r);
  return rc;
}

/* Waits for a wake-up or the poll interval; 1 when asked to stop. */
static int idle(serve_heal *h) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += IDLE_POLL_SECONDS;
  pthread_mutex_lock(&h->mu);
  while (!h->stop && !h->wake)
    if (pthread_cond_timedwait(&h->cv, &h->mu, &until) == ETIMEDOUT) break;
  h->wake = 0;
  int stop = h->stop;
  pthread_mutex_unlock(&h->mu);
  return stop;
}

static void *worker_main(void *ud) {
  serve_heal *h = ud;
  char err[600];
  ub_ledger *l = ledger_open(h->s->cfg->ledger, err, sizeof err);
  if (!l) {
    serve_logf("error", NULL, "selfheal: the ledger cannot be opened: %s; no healing runs", err);
    return NULL;
  }
  add_secrets(h, l);
  char owner[300];   /* this replica, for the lease of what it takes */
  ledger_owner_name(owner, sizeof owner);
  int64_t lease_ms = (int64_t)(h->s->cfg->lease_seconds * 1000);
  if (ledger_is_shared(l)) /* only this thread reads the lease settings */
    heal_config_bound_to_lease(&h->cfg, owner, lease_ms);
  time_t last_checkpoint = 0, last_callback_scan;
  struct timespec started;
  clock_gettime(CLOCK_MONOTONIC, &started);
  last_callback_scan = started.tv_sec;   /* serve resumed them just before */
  for (;;) {
    pthread_mutex_lock(&h->mu);
    int stop = h->stop;
    pthread_mutex_unlock(&h->mu);
    if (stop) break;
    ledger_action n;
    int rc = h->configured ? ledger_action_claim(l, "problem", "pending", owner, lease_ms, &n)
                           : LEDGER_NOT_FOUND;
    if (rc == LEDGER_OK) {
      int failed = handle_one(h, l, &n) != 0;
      ledger_action_free(&n);
      if (!failed) continue;
      if (idle(h)) break; /* the ledger failed: wait before trying again */
      continue;
    }
    if (rc != LEDGER_NOT_FOUND) serve_logf("error", NULL, "selfheal: reading the queue failed");
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    /* replicas: take over the callbacks of a replica whose lease expired */
    if (ledger_is_shared(l) && now.tv_sec - last_callback_scan >= h->s->cfg->lease_seconds / 3) {
      serve_callback_resume(h->s);
      last_callback_scan = now.tv_sec;
    }
    if (now.tv_sec - last_checkpoint >= CHECKPOINT_SECONDS) { /* intake never checkpoints itself */
      ledger_checkpoint(l);
      last_checkpoint = now.tv_sec;
    }
    if (idle(h)) break;
  }
  ledger_close(l);
  return NULL;
}

serve_heal *serve_heal_start(serve_state *s) {
  serve_heal *h = calloc(1, sizeof *h);
  char err[600];
  if (!h) return NULL;
  h->s = s;
  pthread_mutex_init(&h->intake_mu, NULL);
  pthread_mutex_init(&h->reader_mu, NULL);
  h->queue_tail = &h->queue;
  pthread_mutex_init(&h->mu, NULL);
  pthread_cond_init(&h->cv, NULL);
  if (heal_config_load(&h->cfg, s->cfg->stdlib_dir, s->cfg->policies_dir, s->cfg->specs, NULL, err, sizeof err) != 0) {
    serve_logf("warn", NULL, "selfheal: %s; notifications are recorded but not acted on", err);
  } else {
    h->configured = 1;
    h->cfg.dry_run |= s->cfg->heal_dry_run;
    if (h->cfg.ado_error[0]) serve_logf("warn", NULL, "selfheal: %s (no rollback will run)", h->cfg.ado_error);
  }
  h->intake = ledger_open(s->cfg->ledger, err, sizeof err);
  if (!h->intake) {
    serve_logf("error", NULL, "selfheal: the ledger cannot be opened: %s", err);
  } else {
    add_secrets(h, h->intake);
    ledger_set_autocheckpoint(h->intake, 0);
    h->reader = ledger_open(s->cfg->ledger, err, sizeof err);
  }
  return h;
}

int serve_heal_reads_under(serve_heal *h, const char *dir) {
  size_t n = strlen(dir);
  return h && h->configured && strncmp(h->cfg.policy, dir, n) == 0 && h->cfg.policy[n] == '/';
}

void serve_heal_run(serve_heal *h, int port) {
  if (!h) return;
  if (!h->cfg.link_base[0])
    snprintf(h->cfg.link_base, sizeof h->cfg.link_base, "http://%s:%d", h->s->cfg->listen_addr, port);
  if (pthread_create(&h->worker, NULL, worker_main, h) == 0) h->started = 1;
  serve_logf("info", NULL, "selfheal: %s, policy %s%s",
             h->started && h->configured ? "healing worker running" : "intake only",
             h->cfg.policy, h->cfg.dry_run ? ", dry run" : "");
}

void serve_heal_stop(serve_heal *h) {
  if (!h) return;
  pthread_mutex_lock(&h->mu);
  h->stop = 1;
  pthread_cond_broadcast(&h->cv);
  pthread_mutex_unlock(&h->mu);
  if (h->started) pthread_join(h->worker, NULL);
  ledger_close(h->intake);
  heal_config_free(&h->cfg);
  pthread_mutex_destroy(&h->intake_mu);
  pthread_mutex_destroy(&h->reader_mu);
  ledger_close(h->reader);
  pthread_mutex_destroy(&h->mu);
  pthread_cond_destroy(&h->cv);
  free(h);
}

/* Writes up to MAX_BATCH queued notifications in one transaction (called
 * with intake_mu held and writing set; releases the lock meanwhile). */
static void write_batch(serve_heal *h) {
  intake_wait *batch[MAX_BATCH];
  heal_intake rows[MAX_BATCH];
  size_t n = 0;
  while (h->queue && n < MAX_BATCH) {
    batch[n++] = h->queue;
    h->queue = h->queue->next;
  }
  if (!h->queue) h->queue_tail = &h->queue;
  pthread_mutex_unlock(&h->intake_mu);
  for (size_t i = 0; i < n; i++) rows[i] = batch[i]->in;
  int rc = heal_record_many(h->intake, rows, n);
  if (rc != LEDGER_OK) serve_logf("error", NULL, "selfheal: %s", ledger_error(h->intake));
  pthread_mutex_lock(&h->intake_mu);
  for (size_t i = 0; i < n; i++) {
    batch[i]->in.id = rows[i].id;
    batch[i]->in.duplicate = rows[i].duplicate;
    batch[i]->rc = rc;
    batch[i]->done = 1;
    pthread_cond_signal(&batch[i]->cv);
  }
}

/* Queues w and returns once it is committed (or failed). After a commit
 * the writer hands the next batch to the oldest waiter. */
static int record(serve_heal *h, intake_wait *w) {
  pthread_cond_init(&w->cv, NULL);
  pthread_mutex_lock(&h->intake_mu);
  *h->queue_tail = w;
  h->queue_tail = &w->next;
  while (!w->done) {
    if (!h->writing) {
      h->writing = 1;
      write_batch(h);
      h->writing = 0;
      if (h->queue) pthread_cond_signal(&h->queue->cv);
    } else {
      pthread_cond_wait(&w->cv, &h->intake_mu);
    }
  }
  pthread_mutex_unlock(&h->intake_mu);
  pthread_cond_destroy(&w->cv);
  return w->rc;
}

int serve_heal_frozen(serve_state *s, const char *stage, char *reason, size_t n) {
  serve_heal *h = s->heal;
  if (!stage || !*stage) return 0;
  if (!h || !h->reader) {
    snprintf(reason, n, "the ledger cannot be read to check for a freeze");
    return 1;
  }
  pthread_mutex_lock(&h->reader_mu);
  int frozen = heal_frozen(h->reader, stage, reason, n);
  pthread_mutex_unlock(&h->reader_mu);
  return frozen;
}

void serve_route_problems(serve_state *s, const ub_srv_request *rq, ub_srv_response *rs) {
  serve_heal *h = s->heal;
  heal_problem p;
  char err[400];
  if (!h || !h->intake) return serve_error(rs, 503, "self-healing cannot record notifications (see the log)");
  if (heal_parse_payload(rq->body, rq->body_len, &p, err, sizeof err) != 0) return serve_error(rs, 400, err);
  intake_wait w;
  memset(&w, 0, sizeof w);
  w.in.p = p;
  w.in.body = rq->body;
  int rc = record(h, &w);
  int64_t id = w.in.id;
  int duplicate = w.in.duplicate;
  if (rc != LEDGER_OK) return serve_error(rs, 503, "the notification could not be recorded; send it again");
  if (!duplicate && !p.is_test) {
    pthread_mutex_lock(&h->mu);
    h->wake = 1;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
  }
  rs->status = 202;
  ub_buf_puts(&rs->body, "{\"problem\":");
  json_append_string(&rs->body, p.pid, strlen(p.pid));
  ub_buf_puts(&rs->body, ",\"state\":");
  json_append_string(&rs->body, p.state, strlen(p.state));
  ub_buf_printf(&rs->body, ",\"duplicate\":%s,\"test\":%s,\"notification\":%lld}", duplicate ? "true" : "false",
                p.is_test ? "true" : "false", (long long)id);
}

static void decision_json(const ledger_action *a, ub_buf *b) {
  ub_buf_printf(b, "{\"id\":%lld,\"problem\":", (long long)a->id);
  json_append_string(b, a->key, strlen(a->key));
  ub_buf_puts(b, ",\"state\":");
  json_append_string(b, a->state, strlen(a->state));
  ub_buf_printf(b, ",\"decision\":%s}", a->payload_json && *a->payload_json ? a->payload_json : "null");
}

void serve_route_selfheal(serve_state *s, const ub_srv_request *rq, ub_srv_response *rs) {
  char err[600];
  const char *rest = rq->path + strlen("/v1/selfheal");
  ub_ledger *l = ledger_open(s->cfg->ledger, err, sizeof err);
  if (!l) return serve_error(rs, 503, "the ledger cannot be opened");
  if (*rest == '\0') {
    ledger_action *v = NULL;
    size_t n = 0;
    if (ledger_actions_recent(l, "selfheal", 50, &v, &n) != LEDGER_OK) {
      serve_error(rs, 500, "the ledger could not be read");
    } else {
      rs->status = 200;
      ub_buf_puts(&rs->body, "{\"healings\":[");
      for (size_t i = 0; i < n; i++) {
        if (i) ub_buf_putc(&rs->body, ',');
        decision_json(&v[i], &rs->body);
      }
      ub_buf_puts(&rs->body, "]}");
    }
    ledger_actions_free(v, n);
  } else {
    char *end = NULL;
    long long id = rest[0] == '/' ? strtoll(rest + 1, &end, 10) : -1;
    int html = end && strcmp(end, "/report") == 0;
    if (html) end += strlen(end);
    char key[64];
    ledger_action a;
    snprintf(key, sizeof key, "selfheal:%lld", id);
    if (id <= 0 || !end || *end) {
      serve_error(rs, 404, "no such route");
    } else if (ledger_action_get(l, key, &a) != LEDGER_OK) {
      serve_error(rs, 404, "no healing for that notification");
    } else {
      rs->status = 200;
      if (html) rs->content_type = "text/html; charset=utf-8";
      if (html ? heal_report_html(&a, &rs->body) != 0 : (decision_json(&a, &rs->body), 0))
        serve_error(rs, 500, "out of memory");
      ledger_action_free(&a);
    }
  }
  ledger_close(l);
}
