/* ado.c: Azure DevOps distributed-task calls (ado.h). */
#include "azure/ado.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net/http.h"
#include "util/clock.h"
#include "util/buf.h"
#include "util/json.h"

int ado_needs_plan_version(const ado_plan *p) { return strcasecmp(p->hub_name, "gates") == 0; }

void ado_completed_ids(const ado_plan *p, int plan_version, const char **job_id, const char **task_id) {
  if (ado_needs_plan_version(p) && plan_version <= 12) {
    *job_id = p->task_instance_id;
    *task_id = ADO_EMPTY_GUID;
  } else {
    *job_id = p->job_id;
    *task_id = p->task_instance_id;
  }
}

/* {PlanUrl without trailing /}/{ProjectId}/_apis/distributedtask/hubs/{Hub}/plans/{PlanId} */
static void plan_base(const ado_plan *p, ub_buf *url) {
  size_t n = strlen(p->plan_url);
  while (n && p->plan_url[n - 1] == '/') n--;
  ub_buf_append(url, p->plan_url, n);
  ub_buf_printf(url, "/%s/_apis/distributedtask/hubs/%s/plans/%s", p->project_id, p->hub_name, p->plan_id);
}

/* One request, retried by the engine on 429/502/503/504 and transport
 * errors (honouring Retry-After); the caller retries the rest. */
static int call(const char *method, const char *url, const char *token, const char *body,
                long timeout_ms, ub_buf *answer, ado_call *c) {
  ub_http_opts o;
  ub_http_default_opts(&o);
  o.concurrency = 1;
  o.max_attempts = 3;
  o.attempt_timeout_ms = timeout_ms;
  o.max_wait_ms = 30000;
  size_t auth_len = strlen(token) + 32;
  char *auth = malloc(auth_len);
  ub_http *h = ub_http_new(&o);
  memset(c, 0, sizeof *c);
  c->retry_after_ms = -1;
  if (!auth || !h) {
    snprintf(c->error, sizeof c->error, "cannot start an HTTP client");
    free(auth);
    ub_http_free(h);
    return -1;
  }
  snprintf(auth, auth_len, "Authorization: Bearer %s", token);
  const char *headers[] = {auth, "Content-Type: application/json", "Accept: application/json", NULL};
  ub_http_request rq;
  memset(&rq, 0, sizeof rq);
  rq.method = method;
  rq.url = url;
  rq.headers = headers;
  rq.body = body;
  rq.body_len = body ? strlen(body) : 0;
  ub_http_run(h, &rq, 1, ub_clock_ms() + timeout_ms * 3 + 30000);
  memset(auth, 0, auth_len);
  free(auth);
  c->status = rq.status;
  c->retry_after_ms = ub_http_parse_wait(rq.priv_retry_after, "", ub_clock_wall_ms());
  int ok = rq.result == UB_HTTP_DONE && rq.status >= 200 && rq.status < 300;
  if (rq.result != UB_HTTP_DONE)
    snprintf(c->error, sizeof c->error, "%s %s: %s", method, strstr(url, "/_apis/") ? strstr(url, "/_apis/") : url,
             rq.error);
  else if (!ok)
    snprintf(c->error, sizeof c->error, "%s %s: HTTP %ld", method,
             strstr(url, "/_apis/") ? strstr(url, "/_apis/") : url, rq.status);
  if (answer && rq.response.data) ub_buf_append(answer, rq.response.data, rq.response.len);
  ub_http_request_clear(&rq);
  ub_http_free(h);
  return ok ? 0 : -1;
}

int ado_get_plan_version(const ado_plan *p, const char *token, long timeout_ms, int *version, ado_call *c) {
  ub_buf url, answer;
  ub_buf_init(&url);
  ub_buf_init(&answer);
  plan_base(p, &url);
  ub_buf_puts(&url, "?api-version=4.1");
  int rc = call("GET", url.data, token, NULL, timeout_ms, &answer, c);
  if (rc == 0) {
    json_reader r;
    json_reader_init(&r, answer.data ? answer.data : "", answer.len, 64);
    rc = -1;
    if (json_next(&r) == JSON_OBJECT) {
      for (json_token t = json_next(&r); t == JSON_STRING; t = json_next(&r)) {
        int is_version = strcmp(r.str.data, "version") == 0;
        t = json_next(&r);
        if (is_version && t == JSON_NUMBER && r.is_integer) {
          *version = (int)r.integer;
          rc = 0;
          break;
        }
        if (json_skip(&r, t) != 0) break;
      }
    }
    json_reader_free(&r);
    if (rc != 0) snprintf(c->error, sizeof c->error, "the plan has no version number");
  }
  ub_buf_free(&url);
  ub_buf_free(&answer);
  return rc;
}

int ado_post_feed(const ado_plan *p, const char *token, long timeout_ms, const char *const *lines,
                  size_t n, ado_call *c) {
  ub_buf url, body;
  ub_buf_init(&url);
  ub_buf_init(&body);
  plan_base(p, &url);
  ub_buf_printf(&url, "/timelines/%s/records/%s/feed?api-version=4.1", p->timeline_id, p->job_id);
  ub_buf_puts(&body, "{\"value\":[");
  for (size_t i = 0; i < n; i++) {
    if (i) ub_buf_putc(&body, ',');
    json_append_string(&body, lines[i], strlen(lines[i]));
  }
  ub_buf_printf(&body, "],\"count\":%zu}", n);
  int rc = call("POST", url.data, token, body.data, timeout_ms, NULL, c);
  ub_buf_free(&url);
  ub_buf_free(&body);
  return rc;
}

int ado_task_completed(const ado_plan *p, const char *token, long timeout_ms, int plan_version,
                       const char *result, ado_call *c) {
  const char *job_id, *task_id;
  ado_completed_ids(p, plan_version, &job_id, &task_id);
  ub_buf url, body;
  ub_buf_init(&url);
  ub_buf_init(&body);
  plan_base(p, &url);
  ub_buf_puts(&url, "/events?api-version=2.0-preview.1");
  ub_buf_puts(&body, "{\"name\":\"TaskCompleted\",\"taskId\":");
  json_append_string(&body, task_id, strlen(task_id));
  ub_buf_puts(&body, ",\"jobId\":");
  json_append_string(&body, job_id, strlen(job_id));
  ub_buf_puts(&body, ",\"result\":");
  json_append_string(&body, result, strlen(result));
  ub_buf_puts(&body, "}");
  int rc = call("POST", url.data, token, body.data, timeout_ms, NULL, c);
  ub_buf_free(&url);
  ub_buf_free(&body);
  return rc;
}
