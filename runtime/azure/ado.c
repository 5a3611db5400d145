/* ado.c: Azure DevOps distributed-task calls (ado.h). */
#include "azure/ado.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net/http_call.h"
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

/* One request of attempts tries: the engine retries 429/502/503/504 and
 * transport errors (honouring Retry-After up to 30 s); the caller
 * (serve_callback.c) retries the rest, waiting at least retry_after_ms. */
static int call_as(const char *method, const char *url, const char *token, const char *type, const char *body,
                   long timeout_ms, int attempts, ub_buf *answer, ado_call *c) {
  ub_http_opts o;
  ub_http_default_opts(&o);
  o.concurrency = 1;
  o.max_attempts = attempts;
  o.attempt_timeout_ms = timeout_ms;
  o.max_wait_ms = attempts > 1 ? 30000 : 0;
  ub_http_reply r;
  memset(&r, 0, sizeof r);
  int rc = ub_http_call_typed(method, url, "Bearer", token, type, body, &o, &r);
  c->status = r.status;
  c->retry_after_ms = r.retry_after_ms;
  snprintf(c->error, sizeof c->error, "%s", r.error);
  if (answer && r.body.data) ub_buf_append(answer, r.body.data, r.body.len);
  ub_http_reply_free(&r);
  return rc;
}

static int call(const char *method, const char *url, const char *token, const char *body,
                long timeout_ms, ub_buf *answer, ado_call *c) {
  return call_as(method, url, token, "application/json", body, timeout_ms, 3, answer, c);
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
        int is_version = json_str_is(&r, "version");
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

/* The "id" and "location" of a TaskLog answer. */
static int read_log_answer(const ub_buf *answer, long long *id, ub_buf *location) {
  json_reader r;
  json_reader_init(&r, answer->data ? answer->data : "", answer->len, 64);
  int found = 0;
  if (json_next(&r) == JSON_OBJECT) {
    for (json_token t = json_next(&r); t == JSON_STRING; t = json_next(&r)) {
      int is_id = json_str_is(&r, "id"), is_location = json_str_is(&r, "location");
      t = json_next(&r);
      if (is_id && t == JSON_NUMBER && r.is_integer && r.integer > 0) *id = r.integer, found = 1;
      else if (is_location && t == JSON_STRING) ub_buf_append(location, r.str.data, r.str.len);
      else if (json_skip(&r, t) != 0) break;
    }
  }
  json_reader_free(&r);
  return found ? 0 : -1;
}

int ado_open_task_log(const ado_plan *p, const char *token, long timeout_ms, long long *log_id, ado_call *c) {
  ub_buf url, body, answer, location;
  ub_buf_init(&url);
  ub_buf_init(&body);
  ub_buf_init(&answer);
  ub_buf_init(&location);
  plan_base(p, &url);
  ub_buf_puts(&url, "/logs?api-version=4.1");
  char path[200];
  snprintf(path, sizeof path, "logs\\%s", p->task_instance_id);
  ub_buf_puts(&body, "{\"path\":");
  json_append_string(&body, path, strlen(path));
  ub_buf_puts(&body, "}");
  int rc = call_as("POST", url.data, token, "application/json", body.data, timeout_ms, 1, &answer, c);
  if (rc == 0 && (rc = read_log_answer(&answer, log_id, &location)) != 0)
    snprintf(c->error, sizeof c->error, "the log Azure DevOps created has no id");
  if (rc == 0) { /* attach it to the task's timeline record */
    ub_buf_reset(&url);
    ub_buf_reset(&body);
    plan_base(p, &url);
    ub_buf_printf(&url, "/timelines/%s/records?api-version=4.1", p->timeline_id);
    ub_buf_puts(&body, "{\"value\":[{\"id\":");
    json_append_string(&body, p->task_instance_id, strlen(p->task_instance_id));
    ub_buf_printf(&body, ",\"log\":{\"id\":%lld,\"location\":", *log_id);
    json_append_string(&body, location.data ? location.data : "", location.len);
    ub_buf_puts(&body, "}}],\"count\":1}");
    rc = call_as("PATCH", url.data, token, "application/json", body.data, timeout_ms, 1, NULL, c);
  }
  ub_buf_free(&url);
  ub_buf_free(&body);
  ub_buf_free(&answer);
  ub_buf_free(&location);
  return rc;
}

int ado_append_log(const ado_plan *p, const char *token, long timeout_ms, long long log_id, const char *text,
                   ado_call *c) {
  ub_buf url;
  ub_buf_init(&url);
  plan_base(p, &url);
  ub_buf_printf(&url, "/logs/%lld?api-version=4.1", log_id);
  int rc = call_as("POST", url.data, token, "application/octet-stream", text, timeout_ms, 1, NULL, c);
  ub_buf_free(&url);
  return rc;
}
