/* serve_routes.c: the service's HTTP routes: authentication, dispatch,
 * the evaluation reads (verdict JSON, HTML report, history), health,
 * readiness and metrics, and one JSON log line per request. /healthz,
 * /readyz and /metrics are open (they reveal no evaluation); everything
 * under /v1 needs the token, and a wrong one gets 401 without detail. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dynatrace/dynatrace.h"
#include "ledger/ledger.h"
#include "net/http.h"
#include "report/report_html.h"
#include "serve/serve.h"
#include "util/clock.h"
#include "util/json.h"

#define DT_FRESH_SECONDS 300.0
#define DT_PROBE_EVERY 30.0

void serve_error(ub_srv_response *rs, int status, const char *msg) {
  rs->status = status;
  ub_buf_reset(&rs->body);
  ub_buf_puts(&rs->body, "{\"status\":\"error\",\"error\":");
  json_append_string(&rs->body, msg, strlen(msg));
  ub_buf_puts(&rs->body, "}");
}

void serve_work_begin(serve_state *s) {
  pthread_mutex_lock(&s->mu);
  s->in_flight++;
  pthread_mutex_unlock(&s->mu);
}

void serve_work_end(serve_state *s) {
  pthread_mutex_lock(&s->mu);
  s->in_flight--;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

/* ---- evaluations --------------------------------------------------------- */

static ub_ledger *open_ledger(serve_state *s, ub_srv_response *rs) {
  char err[600];
  ub_ledger *l = ledger_open(s->cfg->ledger, err, sizeof err);
  if (!l) serve_error(rs, 503, "the ledger cannot be opened");
  if (!l) serve_logf("error", NULL, "ledger: %s", err);
  return l;
}

static void put_str(ub_buf *b, const char *key, const char *v) {
  ub_buf_printf(b, ",\"%s\":", key);
  if (v) json_append_string(b, v, strlen(v));
  else ub_buf_puts(b, "null");
}

static void put_raw(ub_buf *b, const char *key, const char *json) {
  ub_buf_printf(b, ",\"%s\":%s", key, json && *json ? json : "null");
}

static void evaluation_json(const ledger_evaluation *e, int full, ub_buf *b) {
  char created[32], finished[32];
  ledger_format_time(e->created_ms, created);
  ledger_format_time(e->finished_ms, finished);
  ub_buf_printf(b, "{\"id\":%lld", (long long)e->id);
  put_str(b, "created", created);
  put_str(b, "finished", e->finished_ms ? finished : NULL);
  put_str(b, "status", e->status);
  put_str(b, "verdict", e->verdict);
  put_str(b, "service", e->service);
  put_str(b, "stage", e->stage);
  put_str(b, "kind", e->kind);
  put_str(b, "target", e->target);
  if (e->has_score) ub_buf_printf(b, ",\"score\":%.17g", e->score);
  put_str(b, "requested_by", e->requested_by);
  put_raw(b, "request", e->request_meta);
  ub_buf_printf(b, ",\"invalidated\":%s", e->invalidated ? "true" : "false");
  if (full) {
    put_str(b, "error", e->error);
    put_raw(b, "verdict_json", e->verdict_json);
  }
  ub_buf_printf(b, ",\"report\":\"/v1/evaluations/%lld/report\"}", (long long)e->id);
}

static void route_evaluation(serve_state *s, int64_t id, int html, ub_srv_response *rs) {
  ub_ledger *l = open_ledger(s, rs);
  if (!l) return;
  ledger_evaluation e;
  int rc = ledger_get_evaluation(l, id, &e);
  if (rc == LEDGER_NOT_FOUND) {
    serve_error(rs, 404, "no such evaluation");
  } else if (rc != LEDGER_OK) {
    serve_error(rs, 500, "the ledger could not be read");
  } else {
    rs->status = 200;
    if (html) {
      rs->content_type = "text/html; charset=utf-8";
      if (report_html_render(&e, &rs->body) != 0) serve_error(rs, 500, "out of memory");
    } else {
      evaluation_json(&e, 1, &rs->body);
    }
    ledger_evaluation_free(&e);
  }
  ledger_close(l);
}

static void route_history(serve_state *s, const ub_srv_request *rq, ub_srv_response *rs) {
  const char *limit_text = ub_srv_query(rq, "limit");
  char *end = NULL;
  long limit = limit_text ? strtol(limit_text, &end, 10) : 50;
  if (limit <= 0 || limit > 500 || (end && (*end || end == limit_text))) {
    serve_error(rs, 400, "query 'limit' must be 1 to 500");
    return;
  }
  ub_ledger *l = open_ledger(s, rs);
  if (!l) return;
  ledger_filter f = {.service = ub_srv_query(rq, "service"), .stage = ub_srv_query(rq, "stage"),
                     .limit = (int)limit};
  ledger_evaluation *v = NULL;
  size_t n = 0;
  if (ledger_history(l, &f, &v, &n) != LEDGER_OK) {
    serve_error(rs, 500, "the ledger could not be read");
  } else {
    rs->status = 200;
    ub_buf_puts(&rs->body, "{\"evaluations\":[");
    for (size_t i = 0; i < n; i++) {
      if (i) ub_buf_putc(&rs->body, ',');
      evaluation_json(&v[i], 0, &rs->body);
    }
    ub_buf_puts(&rs->body, "]}");
  }
  ledger_evaluations_free(v, n);
  ledger_close(l);
}

/* ---- health ------------------------------------------------------------- */

/* Any answer but an auth refusal or a server error shows the tenant is
 * reachable with our token. */
static int probe_dynatrace(serve_state *s) {
  ub_exchange x;
  memset(&x, 0, sizeof x);
  x.method = (char *)"GET";
  x.target = (char *)"/api/v2/metrics/builtin:service.response.time";
  ub_dt_fetch(s->dt, &x, 1, ub_clock_ms() + 5000);
  int ok = x.status >= 200 && x.status < 500 && x.status != 401 && x.status != 403;
  x.method = x.target = NULL;
  ub_exchange_clear(&x);
  return ok;
}

int serve_ready(serve_state *s, char *why, size_t whylen) {
  char err[600];
  ub_ledger *l = ledger_open(s->cfg->ledger, err, sizeof err);
  if (!l || (!ledger_is_database(s->cfg->ledger) && access(s->cfg->ledger, W_OK) != 0)) {
    snprintf(why, whylen, "the ledger is not writable");
    if (l) ledger_close(l);
    return -1;
  }
  ledger_close(l);
  serve_specs *specs = serve_specs_acquire(s);
  DIR *d = opendir(specs->dir);
  serve_specs_release(s, specs);
  if (!d) {
    snprintf(why, whylen, "the specs folder is not readable");
    return -1;
  }
  closedir(d);
  double age = serve_metrics_dt_age(s->metrics);
  if (age >= 0 && age < DT_FRESH_SECONDS) return 0;
  if (!s->dt) {
    snprintf(why, whylen, "Dynatrace is not configured (DT_TENANT_URL, DT_API_TOKEN)");
    return -1;
  }
  pthread_mutex_lock(&s->dt_mu);
  if (s->dt_checked == 0 || ub_clock_seconds() - s->dt_checked > DT_PROBE_EVERY) {
    s->dt_ok = probe_dynatrace(s);
    s->dt_checked = ub_clock_seconds();
  }
  int ok = s->dt_ok;
  pthread_mutex_unlock(&s->dt_mu);
  if (!ok) snprintf(why, whylen, "Dynatrace was not reachable recently");
  return ok ? 0 : -1;
}

static void route_readyz(serve_state *s, ub_srv_response *rs) {
  char why[200];
  if (s->draining) {
    serve_error(rs, 503, "shutting down");
  } else if (serve_ready(s, why, sizeof why) != 0) {
    serve_error(rs, 503, why);
  } else {
    rs->status = 200;
    ub_buf_puts(&rs->body, "{\"status\":\"ready\",\"specs\":");
    serve_specs_describe(s, &rs->body); /* which bundle is live */
    ub_buf_puts(&rs->body, "}");
  }
}

/* ---- dispatch ----------------------------------------------------------- */

/* "/v1/evaluations/123" or ".../123/report": the id, and html set. */
static int64_t evaluation_id(const char *path, int *html) {
  const char *p = path + strlen("/v1/evaluations/");
  char *end;
  long long id = strtoll(p, &end, 10);
  if (end == p || id <= 0) return -1;
  if (*end == '\0') return *html = 0, id;
  if (strcmp(end, "/report") == 0) return *html = 1, id;
  return -1;
}

static const char *route_name(const char *path) {
  if (strcmp(path, "/v1/gate") == 0) return "/v1/gate";
  if (strcmp(path, "/v1/gate/dtcli-compat") == 0) return "/v1/gate/dtcli-compat";
  if (strcmp(path, "/v1/evaluations") == 0) return "/v1/evaluations";
  if (strcmp(path, "/v1/problems") == 0) return "/v1/problems";
  if (strncmp(path, "/v1/selfheal", 12) == 0) return "/v1/selfheal";
  if (strncmp(path, "/v1/evaluations/", 16) == 0)
    return strstr(path, "/report") ? "/v1/evaluations/{id}/report" : "/v1/evaluations/{id}";
  if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0 || strcmp(path, "/metrics") == 0)
    return path;
  return "other";
}

static void method_not_allowed(ub_srv_response *rs) { serve_error(rs, 405, "method not allowed"); }

static void route(serve_state *s, const ub_srv_request *rq, ub_srv_response *rs, const char *rid,
                  int64_t *evaluation) {
  const char *path = rq->path;
  int get = strcmp(rq->method, "GET") == 0, post = strcmp(rq->method, "POST") == 0;
  if (strcmp(path, "/healthz") == 0) {
    if (!get) return method_not_allowed(rs);
    rs->status = 200;
    ub_buf_puts(&rs->body, "{\"status\":\"ok\"}");
    return;
  }
  if (strcmp(path, "/readyz") == 0) return get ? route_readyz(s, rs) : method_not_allowed(rs);
  if (strcmp(path, "/metrics") == 0) {
    if (!get) return method_not_allowed(rs);
    rs->status = 200;
    rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
    serve_metrics_render(s->metrics, &rs->body);
    ub_buf_printf(&rs->body, "# HELP unbreakable_gate_workers_busy Gate workers running a gate.\n"
                             "# TYPE unbreakable_gate_workers_busy gauge\nunbreakable_gate_workers_busy %d\n"
                             "# HELP unbreakable_gate_workers Gate worker processes (--workers).\n"
                             "# TYPE unbreakable_gate_workers gauge\nunbreakable_gate_workers %d\n",
                  serve_pool_busy(s->pool), s->cfg->workers);
    serve_specs_metrics(s, &rs->body);
    return;
  }
  if (strncmp(path, "/v1/", 4) != 0) return serve_error(rs, 404, "no such route");
  if (!serve_auth_ok(s->cfg, rq)) return serve_error(rs, 401, "unauthorized");
  if (strcmp(path, "/v1/gate") == 0)
    return post ? serve_route_gate(s, rq, rs, rid, evaluation) : method_not_allowed(rs);
  if (strcmp(path, "/v1/gate/dtcli-compat") == 0)
    return post ? serve_route_dtcli(s, rq, rs, rid, evaluation) : method_not_allowed(rs);
  if (strcmp(path, "/v1/evaluations") == 0) return get ? route_history(s, rq, rs) : method_not_allowed(rs);
  if (strcmp(path, "/v1/problems") == 0) return post ? serve_route_problems(s, rq, rs) : method_not_allowed(rs);
  if (strncmp(path, "/v1/selfheal", 12) == 0) return get ? serve_route_selfheal(s, rq, rs) : method_not_allowed(rs);
  if (strncmp(path, "/v1/evaluations/", 16) == 0) {
    int html = 0;
    int64_t id = evaluation_id(path, &html);
    if (id < 0) return serve_error(rs, 404, "no such route");
    if (!get) return method_not_allowed(rs);
    *evaluation = id;
    return route_evaluation(s, id, html, rs);
  }
  serve_error(rs, 404, "no such route");
}

/* A request counts as work in flight from the handler until its answer has
 * been sent (serve_request_done), so that draining never cuts one off. */
void serve_request_done(void *ud) { serve_work_end(ud); }

void serve_handle(void *ud, const ub_srv_request *rq, ub_srv_response *rs) {
  serve_state *s = ud;
  serve_work_begin(s);
  pthread_mutex_lock(&s->mu);
  unsigned long long n = ++s->next_request;
  pthread_mutex_unlock(&s->mu);
  snprintf(rs->request_id, sizeof rs->request_id, "%s-%llu", s->id_prefix, n);
  double t0 = ub_clock_seconds();
  int64_t evaluation = 0;
  route(s, rq, rs, rs->request_id, &evaluation);
  const char *name = route_name(rq->path);
  serve_metrics_request(s->metrics, name, rs->status);
  serve_log_fields f = {.level = rs->status >= 500 ? "error" : rs->status >= 400 ? "warn" : "info",
                        .request_id = rs->request_id, .method = rq->method, .route = name,
                        .status = rs->status, .duration_ms = (ub_clock_seconds() - t0) * 1000,
                        .evaluation = evaluation};
  serve_log(&f);
}

void serve_refused(void *ud, const char *method, const char *path, int status, const char *why) {
  serve_state *s = ud;
  const char *name = route_name(path);
  serve_metrics_request(s->metrics, name, status);
  serve_log_fields f = {.level = "warn", .method = method, .route = name, .status = status,
                        .duration_ms = -1, .msg = why};
  serve_log(&f);
}

/* Before a body is read: a request under /v1 without the token is refused
 * at once, so that nobody without it has a body of up to 1 MiB read and
 * held (route() checks again, for requests admitted here). */
int serve_admit(void *ud, const ub_srv_request *rq, const char **message) {
  serve_state *s = ud;
  if (strncmp(rq->path, "/v1/", 4) != 0 || serve_auth_ok(s->cfg, rq)) return 0;
  *message = "unauthorized";
  return 401;
}
