/* heal_http.c: one HTTP call of self-healing (Dynatrace or Azure DevOps)
 * through the HTTP engine: 429/502/503/504 and transport errors are
 * retried by the engine (Retry-After honoured); a 500 is retried here for
 * reads only, since a write that answered 500 may have happened (the
 * intent executor checks before calling again). The Authorization value
 * goes only into the header and is wiped after the call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "heal/heal.h"
#include "net/http.h"
#include "util/clock.h"

static void pause_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int once(const char *method, const char *url, const char *auth, const char *body, long timeout_ms,
                int max_attempts, heal_call *out) {
  ub_http_opts o;
  ub_http_default_opts(&o);
  o.concurrency = 1;
  o.max_attempts = max_attempts;
  o.attempt_timeout_ms = timeout_ms;
  o.max_wait_ms = 30000;
  o.backoff_base_ms = 100;
  size_t auth_len = strlen(auth) + 32;
  char *header = malloc(auth_len);
  ub_http *h = ub_http_new(&o);
  if (!header || !h) {
    snprintf(out->error, sizeof out->error, "cannot start an HTTP client");
    free(header);
    ub_http_free(h);
    return -1;
  }
  snprintf(header, auth_len, "Authorization: %s", auth);
  const char *headers[] = {header, "Content-Type: application/json", "Accept: application/json", NULL};
  ub_http_request rq;
  memset(&rq, 0, sizeof rq);
  rq.method = method;
  rq.url = url;
  rq.headers = headers;
  rq.body = body;
  rq.body_len = body ? strlen(body) : 0;
  ub_http_run(h, &rq, 1, ub_clock_ms() + timeout_ms * (max_attempts + 1) + 30000);
  memset(header, 0, auth_len);
  free(header);
  out->status = rq.result == UB_HTTP_DONE ? rq.status : 0;
  ub_buf_reset(&out->body);
  if (rq.response.data) ub_buf_append(&out->body, rq.response.data, rq.response.len);
  const char *path = strstr(url, "/_apis/") ? strstr(url, "/_apis/") : strstr(url, "/api/");
  if (!path) path = "";
  int ok = rq.result == UB_HTTP_DONE && rq.status >= 200 && rq.status < 300;
  if (rq.result != UB_HTTP_DONE)
    snprintf(out->error, sizeof out->error, "%s %.120s: %.150s", method, path, rq.error);
  else if (!ok)
    snprintf(out->error, sizeof out->error, "%s %.120s: HTTP %ld", method, path, rq.status);
  else
    out->error[0] = '\0';
  ub_http_request_clear(&rq);
  ub_http_free(h);
  return ok ? 0 : -1;
}

int heal_http(const char *method, const char *url, const char *auth, const char *body, long timeout_ms,
              int max_attempts, heal_call *out) {
  int read = strcmp(method, "GET") == 0;
  for (int round = 0;; round++) {
    int rc = once(method, url, auth, body, timeout_ms, max_attempts, out);
    if (rc == 0 || !read || out->status != 500 || round >= 2) return rc;
    pause_ms(200L << round);
  }
}

void heal_call_free(heal_call *c) { ub_buf_free(&c->body); }
