/* serve_metrics.c: the counters behind GET /metrics (Prometheus text
 * format 0.0.4): requests by route and status, gate verdicts, a gate
 * latency histogram, callbacks pending and failed, Dynatrace requests and
 * retries, sandbox kills. One mutex; every update is a few additions. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/serve.h"
#include "util/clock.h"

#define MAX_SERIES 64
static const double BUCKETS[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 60};
#define NBUCKETS (sizeof BUCKETS / sizeof BUCKETS[0])
static const char *const VERDICTS[] = {"pass", "warning", "fail", "inconclusive", "error"};
#define NVERDICTS 5

typedef struct series {
  char route[32];
  int status;
  unsigned long long count;
} series;

struct serve_metrics {
  pthread_mutex_t mu;
  series requests[MAX_SERIES];
  int nrequests;
  unsigned long long verdicts[NVERDICTS];
  unsigned long long buckets[NBUCKETS];
  unsigned long long gate_count;
  double gate_sum;
  long long callbacks_pending;
  unsigned long long callbacks_failed, dt_requests, dt_retries, sandbox_kills;
  double dt_last_answer;      /* monotonic seconds, 0 = never */
};

serve_metrics *serve_metrics_new(void) {
  serve_metrics *m = calloc(1, sizeof *m);
  if (m) pthread_mutex_init(&m->mu, NULL);
  return m;
}

void serve_metrics_free(serve_metrics *m) {
  if (!m) return;
  pthread_mutex_destroy(&m->mu);
  free(m);
}

void serve_metrics_request(serve_metrics *m, const char *route, int status) {
  pthread_mutex_lock(&m->mu);
  int i;
  for (i = 0; i < m->nrequests; i++)
    if (m->requests[i].status == status && strcmp(m->requests[i].route, route) == 0) break;
  if (i == m->nrequests && i < MAX_SERIES) {
    snprintf(m->requests[i].route, sizeof m->requests[i].route, "%s", route);
    m->requests[i].status = status;
    m->nrequests++;
  }
  if (i < MAX_SERIES) m->requests[i].count++;
  pthread_mutex_unlock(&m->mu);
}

void serve_metrics_gate(serve_metrics *m, const char *verdict, double seconds) {
  pthread_mutex_lock(&m->mu);
  int v = NVERDICTS - 1; /* anything unknown counts as error */
  for (int i = 0; i < NVERDICTS; i++)
    if (verdict && strcmp(verdict, VERDICTS[i]) == 0) v = i;
  m->verdicts[v]++;
  for (size_t i = 0; i < NBUCKETS; i++)
    if (seconds <= BUCKETS[i]) m->buckets[i]++;
  m->gate_count++;
  m->gate_sum += seconds;
  pthread_mutex_unlock(&m->mu);
}

void serve_metrics_dynatrace(serve_metrics *m, size_t requests, size_t retries, int answered) {
  pthread_mutex_lock(&m->mu);
  m->dt_requests += requests;
  m->dt_retries += retries;
  if (answered) m->dt_last_answer = ub_clock_seconds();
  pthread_mutex_unlock(&m->mu);
}

void serve_metrics_sandbox_kill(serve_metrics *m) {
  pthread_mutex_lock(&m->mu);
  m->sandbox_kills++;
  pthread_mutex_unlock(&m->mu);
}

void serve_metrics_callback(serve_metrics *m, int pending_delta, int failed) {
  pthread_mutex_lock(&m->mu);
  m->callbacks_pending += pending_delta;
  if (failed) m->callbacks_failed++;
  pthread_mutex_unlock(&m->mu);
}

void serve_metrics_outcome(serve_metrics *m, const serve_gate_result *r, double seconds) {
  serve_metrics_gate(m, serve_result_failed(r) ? "error" : r->verdict, seconds);
  serve_metrics_dynatrace(m, r->dt_requests, r->dt_retries, r->dt_requests > 0);
  /* the sandbox's limits stop a policy with "evaluation stopped: ..." */
  if (r->killed || strstr(r->error, "evaluation stopped: ")) serve_metrics_sandbox_kill(m);
}

double serve_metrics_dt_age(serve_metrics *m) {
  pthread_mutex_lock(&m->mu);
  double age = m->dt_last_answer > 0 ? ub_clock_seconds() - m->dt_last_answer : -1;
  pthread_mutex_unlock(&m->mu);
  return age;
}

static void counter(ub_buf *b, const char *name, const char *help, unsigned long long v) {
  ub_buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name, v);
}

int serve_metrics_render(serve_metrics *m, ub_buf *b) {
  pthread_mutex_lock(&m->mu);
  ub_buf_puts(b, "# HELP unbreakable_http_requests_total HTTP requests by route and status.\n"
                 "# TYPE unbreakable_http_requests_total counter\n");
  for (int i = 0; i < m->nrequests; i++)
    ub_buf_printf(b, "unbreakable_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                  m->requests[i].route, m->requests[i].status, m->requests[i].count);
  ub_buf_puts(b, "# HELP unbreakable_gate_verdicts_total Gate verdicts.\n"
                 "# TYPE unbreakable_gate_verdicts_total counter\n");
  for (int i = 0; i < NVERDICTS; i++)
    ub_buf_printf(b, "unbreakable_gate_verdicts_total{verdict=\"%s\"} %llu\n", VERDICTS[i], m->verdicts[i]);
  ub_buf_puts(b, "# HELP unbreakable_gate_duration_seconds Gate latency, request to verdict.\n"
                 "# TYPE unbreakable_gate_duration_seconds histogram\n");
  for (size_t i = 0; i < NBUCKETS; i++)
    ub_buf_printf(b, "unbreakable_gate_duration_seconds_bucket{le=\"%g\"} %llu\n", BUCKETS[i], m->buckets[i]);
  ub_buf_printf(b, "unbreakable_gate_duration_seconds_bucket{le=\"+Inf\"} %llu\n", m->gate_count);
  ub_buf_printf(b, "unbreakable_gate_duration_seconds_sum %.6f\n", m->gate_sum);
  ub_buf_printf(b, "unbreakable_gate_duration_seconds_count %llu\n", m->gate_count);
  ub_buf_printf(b, "# HELP unbreakable_callbacks_pending Azure DevOps callbacks not yet completed.\n"
                   "# TYPE unbreakable_callbacks_pending gauge\nunbreakable_callbacks_pending %lld\n",
                m->callbacks_pending);
  counter(b, "unbreakable_callbacks_failed_total", "Callbacks given up (deadline, token, 4xx).",
          m->callbacks_failed);
  counter(b, "unbreakable_dynatrace_requests_total", "Dynatrace API requests made by gates.",
          m->dt_requests);
  counter(b, "unbreakable_dynatrace_retries_total", "Retried Dynatrace attempts.", m->dt_retries);
  counter(b, "unbreakable_sandbox_kills_total",
          "Gates ended by a sandbox limit or the process backstop.", m->sandbox_kills);
  pthread_mutex_unlock(&m->mu);
  return b->failed ? -1 : 0;
}
