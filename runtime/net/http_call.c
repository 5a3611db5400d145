/* http_call.c: one JSON request with an Authorization header
 * (http_call.h). */
#include "net/http_call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The part of url an error may show: from /_apis/ (Azure DevOps) or
 * /api/ (Dynatrace) on, else nothing. */
static const char *shown_path(const char *url) {
  const char *p = strstr(url, "/_apis/");
  if (!p) p = strstr(url, "/api/");
  return p ? p : "";
}

int ub_http_call(const char *method, const char *url, const char *scheme, const char *credential, const char *body,
                 const ub_http_opts *o, ub_http_reply *out) {
  return ub_http_call_typed(method, url, scheme, credential, "application/json", body, o, out);
}

int ub_http_call_typed(const char *method, const char *url, const char *scheme, const char *credential,
                       const char *content_type, const char *body, const ub_http_opts *o, ub_http_reply *out) {
  out->status = 0;
  out->retry_after_ms = -1;
  out->error[0] = '\0';
  ub_buf_reset(&out->body);
  size_t header_len = strlen(scheme) + strlen(credential) + sizeof "Authorization:  ";
  char *header = malloc(header_len);
  ub_http *h = header ? ub_http_new(o) : NULL;
  if (!h) {
    snprintf(out->error, sizeof out->error, "cannot start an HTTP client");
    free(header);
    return -1;
  }
  snprintf(header, header_len, "Authorization: %s %s", scheme, credential);
  char type[120];
  snprintf(type, sizeof type, "Content-Type: %s", content_type);
  const char *headers[] = {header, type, "Accept: application/json", NULL};
  ub_http_request rq;
  memset(&rq, 0, sizeof rq);
  rq.method = method;
  rq.url = url;
  rq.headers = headers;
  rq.body = body;
  rq.body_len = body ? strlen(body) : 0;
  long whole = o->call_deadline_ms > 0 ? o->call_deadline_ms
                                       : o->attempt_timeout_ms * (o->max_attempts + 1) + o->max_wait_ms;
  ub_http_run(h, &rq, 1, ub_clock_ms() + whole);
  memset(header, 0, header_len);
  free(header);
  int answered = rq.result == UB_HTTP_DONE;
  int ok = answered && rq.status >= 200 && rq.status < 300;
  out->status = answered ? rq.status : 0;
  out->retry_after_ms = ub_http_parse_wait(rq.priv_retry_after, "", ub_clock_wall_ms());
  if (rq.response.data) ub_buf_append(&out->body, rq.response.data, rq.response.len);
  if (!answered)
    snprintf(out->error, sizeof out->error, "%s %.120s: %.150s", method, shown_path(url), rq.error);
  else if (!ok)
    snprintf(out->error, sizeof out->error, "%s %.120s: HTTP %ld", method, shown_path(url), rq.status);
  ub_http_request_clear(&rq);
  ub_http_free(h);
  return ok ? 0 : -1;
}

void ub_http_reply_free(ub_http_reply *r) { ub_buf_free(&r->body); }
