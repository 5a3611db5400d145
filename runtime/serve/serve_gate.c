/* serve_gate.c: POST /v1/gate (sync and callback mode) and POST
 * /v1/gate/dtcli-compat. A gate takes one worker; with none free the
 * answer is 503 with Retry-After, never a queue that outlives the
 * caller's time limit. Sync mode answers the verdict with the status Azure
 * DevOps's success criterion eq(root['status'], 'success') reads. */
#include <stdio.h>
#include <string.h>

#include "serve/serve.h"
#include "util/clock.h"
#include "util/json.h"

static void requested_by(const ub_srv_request *rq, const char *rid, char *out, size_t size) {
  snprintf(out, size, "http:%s %s", rq->remote, rid);
}

static int take_worker(serve_state *s, ub_srv_response *rs) {
  int w = s->draining ? -1 : serve_pool_acquire(s->pool);
  if (w < 0) {
    serve_error(rs, 503, s->draining ? "the server is shutting down; retry on another replica"
                                     : "every gate worker is busy; retry after the Retry-After seconds");
    snprintf(rs->retry_after, sizeof rs->retry_after, "%d", s->draining ? 5 : 1);
  }
  return w;
}

/* Runs the gate in worker w and records metrics. */
static void run_sync(serve_state *s, int w, const serve_gate_req *req, serve_gate_result *r) {
  double t0 = (double)ub_clock_ms();
  serve_pool_run(s->pool, w, req->worker_json.data, 2 * s->cfg->gate_timeout + 5, NULL, r);
  serve_pool_release(s->pool, w);
  serve_metrics_outcome(s->metrics, r, ((double)ub_clock_ms() - t0) / 1000);
}

/* The error a caller sees: the gate's own, else the policy's account of
 * its error verdict, else (a run that failed after the policy decided) the
 * last line the gate printed. */
static void error_text(const serve_gate_result *r, char *out, size_t size) {
  out[0] = '\0';
  if (r->error[0]) {
    snprintf(out, size, "%s", r->error);
    return;
  }
  if (r->summary[0] && strcmp(r->verdict, "error") == 0) {
    snprintf(out, size, "%s", r->summary);
    return;
  }
  if (!r->messages.len) return;
  const char *end = r->messages.data + r->messages.len;
  while (end > r->messages.data && end[-1] == '\n') end--;
  const char *start = end;
  while (start > r->messages.data && start[-1] != '\n') start--;
  snprintf(out, size, "%.*s", (int)(end - start), start);
}

static void put_string(ub_buf *b, const char *key, const char *v) {
  ub_buf_printf(b, ",\"%s\":", key);
  json_append_string(b, v, strlen(v));
}

static void sync_answer(const serve_gate_req *req, const serve_gate_result *r, const char *rid,
                        ub_srv_response *rs) {
  const char *status = serve_status_of(r, req->fail_on_warning);
  ub_buf *b = &rs->body;
  rs->status = 200;
  ub_buf_printf(b, "{\"status\":\"%s\"", status);
  put_string(b, "verdict", r->verdict[0] ? r->verdict : "error");
  if (r->evaluation) ub_buf_printf(b, ",\"evaluation\":%lld", (long long)r->evaluation);
  else ub_buf_puts(b, ",\"evaluation\":null");
  put_string(b, "summary", r->summary);
  ub_buf_puts(b, ",\"objectives\":");
  if (r->verdict_json.len) serve_json_field(b, r->verdict_json.data, r->verdict_json.len, "objectives");
  else ub_buf_puts(b, "null");
  if (r->evaluation) ub_buf_printf(b, ",\"report\":\"/v1/evaluations/%lld/report\"", (long long)r->evaluation);
  char err[1500];
  error_text(r, err, sizeof err);
  if (strcmp(status, "error") == 0) put_string(b, "error", err[0] ? err : "the gate failed");
  put_string(b, "request_id", rid);
  ub_buf_puts(b, "}");
}

/* Takes a worker, then accepts the gate for a callback (which takes over
 * the reference to the specs) or runs it now into r. 1 when r holds a
 * result to answer; 0 when rs is answered (a callback accepted, or 503). */
static int run_or_accept(serve_state *s, serve_gate_req *req, serve_callback_ids *ids, int callback,
                         const char *rid, ub_srv_response *rs, int64_t *evaluation, serve_gate_result *r,
                         serve_specs **specs) {
  int w = take_worker(s, rs);
  if (w < 0) return 0;
  if (callback) {
    serve_callback_accept(s, req, ids, w, rid, rs, evaluation, *specs);
    *specs = NULL;
    return 0;
  }
  run_sync(s, w, req, r);
  *evaluation = r->evaluation;
  return 1;
}

void serve_route_gate(serve_state *s, const ub_srv_request *rq, ub_srv_response *rs, const char *rid,
                      int64_t *evaluation) {
  char err[1200], who[128];
  serve_callback_ids ids;
  serve_gate_req req;
  memset(&req, 0, sizeof req); /* freed below even when it was never parsed */
  requested_by(rq, rid, who, sizeof who);
  int callback = serve_callback_from_headers(s->cfg, rq, &ids, err, sizeof err);
  serve_specs *specs = serve_specs_acquire(s); /* the gate runs on these to its end */
  if (callback < 0 || serve_parse_gate(s->cfg, specs->dir, rq->body, rq->body_len, who, &req, err, sizeof err) != 0) {
    serve_error(rs, 400, err);
  } else if (!callback && serve_heal_frozen(s, req.stage, err, sizeof err)) { /* docs/selfheal.md: freeze */
    rs->status = 200;
    ub_buf_puts(&rs->body, "{\"status\":\"failure\",\"frozen\":true");
    put_string(&rs->body, "summary", err);
    ub_buf_puts(&rs->body, "}");
  } else {
    serve_gate_result r;
    serve_gate_result_init(&r);
    if (run_or_accept(s, &req, &ids, callback, rid, rs, evaluation, &r, &specs)) sync_answer(&req, &r, rid, rs);
    serve_gate_result_free(&r);
  }
  serve_specs_release(s, specs);
  serve_callback_ids_free(&ids);
  serve_gate_req_free(&req);
}

/* The original gate's answer: {"status": "success|failure|exception", "comment": ...}. */
static void dtcli_answer(int http, const char *status, const char *comment, const serve_gate_result *r,
                         ub_srv_response *rs) {
  rs->status = http;
  ub_buf_reset(&rs->body);
  ub_buf_printf(&rs->body, "{\"status\":\"%s\"", status);
  put_string(&rs->body, "comment", comment);
  if (r) {
    put_string(&rs->body, "verdict", r->verdict[0] ? r->verdict : "error");
    if (r->evaluation) ub_buf_printf(&rs->body, ",\"evaluation\":%lld", (long long)r->evaluation);
  }
  ub_buf_puts(&rs->body, "}");
}

/* A result in the original gate's words: only success passes. */
static void dtcli_result(const serve_gate_result *r, ub_srv_response *rs) {
  char err[1500], comment[1600];
  const char *status = serve_status_of(r, 0);
  if (strcmp(status, "success") == 0) {
    dtcli_answer(200, "success", "", r, rs);
  } else if (strcmp(status, "error") == 0) {
    error_text(r, err, sizeof err);
    snprintf(comment, sizeof comment, "Exception: %s", err[0] ? err : "the gate failed");
    dtcli_answer(200, "exception", comment, r, rs);
  } else {
    snprintf(comment, sizeof comment, "%s, sending fail to gate", r->summary[0] ? r->summary : r->verdict);
    dtcli_answer(200, "failure", comment, r, rs);
  }
}

/* Callback mode of the original gate: the headers, else (first generation)
 * the same names in the body; headers take precedence. */
static int dtcli_callback(serve_state *s, const ub_srv_request *rq, const serve_gate_req *req,
                          serve_callback_ids *ids, char *err, size_t errlen) {
  int callback = serve_callback_from_headers(s->cfg, rq, ids, err, errlen);
  return callback != 0 ? callback : serve_callback_from_body(s->cfg, req, ids, err, errlen);
}

void serve_route_dtcli(serve_state *s, const ub_srv_request *rq, ub_srv_response *rs, const char *rid,
                       int64_t *evaluation) {
  char err[1200], who[128], comment[1600];
  serve_gate_req req;
  serve_callback_ids ids;
  memset(&ids, 0, sizeof ids);
  requested_by(rq, rid, who, sizeof who);
  int callback = 0;
  serve_specs *specs = serve_specs_acquire(s); /* the gate runs on these to its end */
  if (serve_parse_dtcli(s->cfg, specs->dir, rq->body, rq->body_len, who, &req, err, sizeof err) != 0 ||
      (callback = dtcli_callback(s, rq, &req, &ids, err, sizeof err)) < 0) {
    snprintf(comment, sizeof comment, "Exception: %s", err);
    dtcli_answer(400, "exception", comment, NULL, rs);
  } else if (!callback && serve_heal_frozen(s, req.stage, err, sizeof err)) { /* docs/selfheal.md: freeze */
    snprintf(comment, sizeof comment, "%s, sending fail to gate", err);
    rs->status = 200;
    ub_buf_puts(&rs->body, "{\"status\":\"failure\",\"frozen\":true");
    put_string(&rs->body, "comment", comment);
    ub_buf_puts(&rs->body, "}");
  } else {
    serve_gate_result r;
    serve_gate_result_init(&r);
    if (run_or_accept(s, &req, &ids, callback, rid, rs, evaluation, &r, &specs)) dtcli_result(&r, rs);
    serve_gate_result_free(&r);
  }
  serve_specs_release(s, specs);
  serve_callback_ids_free(&ids);
  serve_gate_req_free(&req);
}
