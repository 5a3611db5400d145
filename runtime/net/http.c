/* http.c: the libcurl multi engine behind every outgoing HTTP request
 * (see http.h for the contract). One ub_http owns one multi handle, so
 * connections are reused across requests and across runs. */
#include "net/http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#ifndef UB_VERSION
#define UB_VERSION "dev"
#endif

struct ub_http {
  ub_http_opts opts;
  CURLM *multi;
  uint64_t rng;       /* jitter state (splitmix64) */
};

void ub_http_default_opts(ub_http_opts *o) {
  memset(o, 0, sizeof *o);
  o->concurrency = 10;
  o->connect_timeout_ms = 5000;
  o->attempt_timeout_ms = 30000;
  o->max_attempts = 4;
  o->backoff_base_ms = 200;
  o->backoff_max_ms = 10000;
  o->max_wait_ms = 60000;
  o->max_response_bytes = (size_t)64 << 20;
}

static uint64_t next_random(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

ub_http *ub_http_new(const ub_http_opts *o) {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return NULL;  /* refcounted */
  ub_http *h = calloc(1, sizeof *h);
  if (!h) return NULL;
  if (o) h->opts = *o; else ub_http_default_opts(&h->opts);
  if (h->opts.concurrency < 1) h->opts.concurrency = 1;
  if (h->opts.max_attempts < 1) h->opts.max_attempts = 1;
  h->rng = h->opts.jitter_seed ? h->opts.jitter_seed
                               : (uint64_t)ub_clock_wall_ms() ^ (uint64_t)(uintptr_t)h;
  h->multi = curl_multi_init();
  if (!h->multi) { free(h); return NULL; }
  curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)h->opts.concurrency);
  curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)h->opts.concurrency);
  return h;
}

void ub_http_free(ub_http *h) {
  if (!h) return;
  curl_multi_cleanup(h->multi);
  free(h);
  curl_global_cleanup();
}

void ub_http_request_clear(ub_http_request *r) {
  ub_buf_free(&r->response);
  curl_slist_free_all(r->priv_headers);
  r->priv_headers = NULL;
}

/* ---- retry rules -------------------------------------------------- */

int ub_http_status_retryable(long status) {
  return status == 429 || status == 502 || status == 503 || status == 504;
}

/* A non-idempotent request is retried only when the server surely did
 * not act on it: rate limited, unavailable, or never connected. */
static int is_idempotent(const ub_http_request *r) {
  return !r->method || !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD");
}

static int status_retryable_for(const ub_http_request *r, long status) {
  if (is_idempotent(r)) return ub_http_status_retryable(status);
  return status == 429 || status == 503;
}

static int transport_retryable_for(const ub_http_request *r, CURLcode c) {
  switch (c) {
  case CURLE_COULDNT_CONNECT:
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
    return 1;
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_GOT_NOTHING:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_PARTIAL_FILE:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
    return is_idempotent(r);
  default:
    return 0;
  }
}

static int parse_int64(const char *s, int64_t *out) {
  while (*s == ' ' || *s == '\t') s++;
  if (!isdigit((unsigned char)*s)) return -1;
  errno = 0;
  char *end;
  long long v = strtoll(s, &end, 10);
  while (*end == ' ' || *end == '\t') end++;
  if (errno || *end) return -1;
  *out = (int64_t)v;
  return 0;
}

static long clamp_wait(int64_t ms) {
  if (ms < 0) return 0;
  if (ms > 86400000) return 86400000;
  return (long)ms;
}

long ub_http_parse_wait(const char *retry_after, const char *ratelimit_reset,
                        int64_t now_epoch_ms) {
  int64_t v;
  if (retry_after && *retry_after) {
    if (parse_int64(retry_after, &v) == 0) return clamp_wait(v * 1000);
    time_t t = curl_getdate(retry_after, NULL);          /* HTTP-date form */
    if (t != -1) return clamp_wait((int64_t)t * 1000 - now_epoch_ms);
  }
  if (ratelimit_reset && *ratelimit_reset && parse_int64(ratelimit_reset, &v) == 0)
    return clamp_wait((v + 999) / 1000 - now_epoch_ms);   /* epoch µs, rounded up */
  return -1;
}

long ub_http_backoff_ms(const ub_http_opts *o, int attempt, uint64_t *rng) {
  long b = o->backoff_base_ms > 0 ? o->backoff_base_ms : 1;
  for (int i = 1; i < attempt && b < o->backoff_max_ms; i++) b *= 2;
  if (b > o->backoff_max_ms) b = o->backoff_max_ms;
  long half = b / 2;
  return half + (long)(next_random(rng) % (uint64_t)(b - half + 1));
}

/* ---- curl callbacks ----------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud) {
  ub_http_request *r = ud;
  size_t n = size * nmemb;
  if (r->response.len + n > r->priv_cap) {
    r->priv_too_large = 1;
    return 0;                                  /* aborts the transfer */
  }
  if (ub_buf_append(&r->response, data, n) != 0) {
    r->priv_oom = 1;
    return 0;
  }
  return n;
}

/* Copies the value of header line `line` into out when its name is
 * `name` (case-insensitive); trailing CR/LF and blanks are dropped. */
static void capture_header(const char *line, size_t len, const char *name,
                           char *out, size_t outlen) {
  size_t nl = strlen(name);
  if (len <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0) return;
  const char *v = line + nl + 1, *end = line + len;
  while (v < end && (*v == ' ' || *v == '\t')) v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) end--;
  size_t vl = (size_t)(end - v);
  if (vl >= outlen) vl = outlen - 1;
  memcpy(out, v, vl);
  out[vl] = '\0';
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *ud) {
  ub_http_request *r = ud;
  size_t n = size * nmemb;
  if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {   /* a new response starts */
    r->priv_retry_after[0] = '\0';
    r->priv_ratelimit_reset[0] = '\0';
  }
  capture_header(line, n, "Retry-After", r->priv_retry_after, sizeof r->priv_retry_after);
  capture_header(line, n, "X-RateLimit-Reset", r->priv_ratelimit_reset,
                 sizeof r->priv_ratelimit_reset);
  return n;
}

/* ---- one attempt -------------------------------------------------- */

/* A timeout of at most `a` ms that also ends by the deadline (0 = none). */
static long bounded(long a, int64_t now, int64_t deadline) {
  if (!deadline) return a;
  int64_t left = deadline - now;
  if (left < 1) left = 1;
  return left < a ? (long)left : a;
}

static int build_headers(ub_http_request *r) {
  if (r->priv_headers || !r->headers) return 0;
  for (const char *const *h = r->headers; *h; h++) {
    struct curl_slist *n = curl_slist_append(r->priv_headers, *h);
    if (!n) return -1;
    r->priv_headers = n;
  }
  return 0;
}

static int set_method(CURL *e, const ub_http_request *r) {
  const char *m = r->method ? r->method : "GET";
  if (!strcmp(m, "GET")) return curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) != CURLE_OK;
  if (curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len) ||
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? r->body : ""))
    return -1;
  if (strcmp(m, "POST") != 0 && curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m)) return -1;
  return 0;
}

static int configure(ub_http *h, CURL *e, ub_http_request *r, int64_t now, int64_t deadline) {
  const ub_http_opts *o = &h->opts;
  int bad = 0;
  bad |= curl_easy_setopt(e, CURLOPT_URL, r->url) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
  if (o->ca_bundle) bad |= curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_bundle) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                          bounded(o->connect_timeout_ms, now, deadline)) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                          bounded(o->attempt_timeout_ms, now, deadline)) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "") != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_USERAGENT,
                          o->user_agent ? o->user_agent : "unbreakable/" UB_VERSION) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, r) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, r) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->priv_errbuf) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, r) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->priv_headers) != CURLE_OK;
  bad |= set_method(e, r) != 0;
  return bad ? -1 : 0;
}

static void fail_request(ub_http_request *r, ub_http_result res, const char *msg) {
  r->result = res;
  snprintf(r->error, sizeof r->error, "%s", msg);
}

static int start_attempt(ub_http *h, ub_http_request *r, int64_t now, int64_t deadline) {
  ub_buf_reset(&r->response);
  r->status = 0;
  r->content_type[0] = r->priv_errbuf[0] = '\0';
  r->priv_retry_after[0] = r->priv_ratelimit_reset[0] = '\0';
  r->priv_too_large = r->priv_oom = 0;
  r->priv_cap = h->opts.max_response_bytes;
  CURL *e = curl_easy_init();
  if (!e || build_headers(r) != 0 || configure(h, e, r, now, deadline) != 0 ||
      curl_multi_add_handle(h->multi, e) != CURLM_OK) {
    if (e) curl_easy_cleanup(e);
    fail_request(r, UB_HTTP_ETRANSPORT, "could not set up the HTTP request");
    return -1;
  }
  r->priv_easy = e;
  r->attempts++;
  return 0;
}

/* ---- ending an attempt -------------------------------------------- */

/* Appends "; note" (or "note") to the request's error text. */
static void add_note(ub_http_request *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_note(ub_http_request *r, const char *fmt, ...) {
  size_t used = strlen(r->error);
  if (used + 3 >= sizeof r->error) return;
  if (used) { memcpy(r->error + used, "; ", 3); used += 2; }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->error + used, sizeof r->error - used, fmt, ap);
  va_end(ap);
}

/* Schedules another attempt after `wait` ms, or ends the request with
 * `final` (and a note saying why) when no attempt is left, the server
 * asks for too long a wait, or the wait would pass the deadline. */
static void retry_or_finish(ub_http *h, ub_http_request *r, long wait, int64_t now,
                            int64_t deadline, ub_http_result final) {
  if (r->attempts >= h->opts.max_attempts) {
    r->result = final;
    if (r->attempts > 1) add_note(r, "gave up after %d attempts", r->attempts);
  } else if (wait > h->opts.max_wait_ms) {
    r->result = final;
    add_note(r, "not retried: the server asked to wait %ld ms, more than the limit of %ld ms", wait,
             h->opts.max_wait_ms);
  } else if (deadline && now + wait >= deadline) {
    r->result = final;
    add_note(r, "not retried: waiting %ld ms would pass the deadline", wait);
  } else {
    /* from the clock now, not `now`: a wait until an absolute time (a
     * rate-limit reset) was measured against the clock now, and counting
     * it from the older `now` would send the retry early */
    r->priv_not_before = ub_clock_ms() + wait;
    r->waited_ms += wait;
  }
}

/* Server-requested waits: Retry-After on any retryable answer; the
 * X-RateLimit-Reset budget time only on 429 (on other answers it is just
 * the end of the current rate window). Otherwise, and on transport
 * errors (status 0), the exponential backoff. */
static long next_wait(ub_http *h, ub_http_request *r, long status) {
  if (status > 0) {
    long w = ub_http_parse_wait(r->priv_retry_after, status == 429 ? r->priv_ratelimit_reset : NULL,
                                ub_clock_wall_ms());
    if (w > 0) return w;
  }
  return ub_http_backoff_ms(&h->opts, r->attempts, &h->rng);
}

static void finish_transport(ub_http *h, ub_http_request *r, CURLcode code, int64_t now,
                             int64_t deadline) {
  char detail[120];
  snprintf(detail, sizeof detail, "%.119s",
           r->priv_errbuf[0] ? r->priv_errbuf : curl_easy_strerror(code));
  if (code == CURLE_OPERATION_TIMEDOUT && deadline && now >= deadline - 5) {
    r->result = UB_HTTP_EDEADLINE;
    snprintf(r->error, sizeof r->error, "deadline passed during the request (%s)", detail);
    return;
  }
  snprintf(r->error, sizeof r->error, "%s", detail);
  if (!transport_retryable_for(r, code)) {
    r->result = UB_HTTP_ETRANSPORT;
    return;
  }
  retry_or_finish(h, r, next_wait(h, r, 0), now, deadline, UB_HTTP_ETRANSPORT);
}

/* Adds the attempt's duration as curl measured it (microseconds). */
static void add_attempt_time(ub_http_request *r, CURL *e) {
  curl_off_t us = 0;
  if (curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &us) == CURLE_OK && us > 0)
    r->elapsed_ms += (double)us / 1000.0;
}

static void finish_attempt(ub_http *h, ub_http_request *r, CURLcode code, int64_t now,
                           int64_t deadline) {
  CURL *e = r->priv_easy;
  long status = 0;
  char *ct = NULL;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
  snprintf(r->content_type, sizeof r->content_type, "%s", ct ? ct : "");
  r->status = status;
  add_attempt_time(r, e);
  curl_multi_remove_handle(h->multi, e);
  curl_easy_cleanup(e);
  r->priv_easy = NULL;
  r->error[0] = '\0';
  if (r->priv_too_large) {
    snprintf(r->error, sizeof r->error, "response larger than the limit of %zu bytes",
             h->opts.max_response_bytes);
    r->result = UB_HTTP_ETOOLARGE;
  } else if (r->priv_oom) {
    fail_request(r, UB_HTTP_ETRANSPORT, "out of memory while reading the response");
  } else if (code != CURLE_OK) {
    finish_transport(h, r, code, now, deadline);
  } else if (status_retryable_for(r, status)) {
    retry_or_finish(h, r, next_wait(h, r, status), now, deadline, UB_HTTP_DONE);
  } else {
    r->result = UB_HTTP_DONE;
  }
  if (r->result != UB_HTTP_PENDING) r->elapsed_ms += (double)r->waited_ms;
}

/* ---- the loop ----------------------------------------------------- */

static void reset_request(ub_http_request *r) {
  ub_buf_reset(&r->response);
  r->result = UB_HTTP_PENDING;
  r->status = 0;
  r->attempts = 0;
  r->waited_ms = 0;
  r->elapsed_ms = 0;
  r->content_type[0] = r->error[0] = '\0';
  r->priv_easy = NULL;
  r->priv_not_before = 0;
}

static void abandon(ub_http *h, ub_http_request *r, ub_http_result res, const char *why) {
  r->elapsed_ms += (double)r->waited_ms;
  if (r->priv_easy) {
    add_attempt_time(r, r->priv_easy);
    curl_multi_remove_handle(h->multi, r->priv_easy);
    curl_easy_cleanup(r->priv_easy);
    r->priv_easy = NULL;
  }
  char last[64] = "";
  if (r->status) snprintf(last, sizeof last, " (last status %ld)", r->status);
  r->result = res;
  snprintf(r->error, sizeof r->error, "%s after %d attempt%s%s", why, r->attempts,
           r->attempts == 1 ? "" : "s", last);
}

/* Starts every request that is due while slots are free; returns the
 * number in flight and sets *wake to the earliest pending start time. */
static size_t start_due(ub_http *h, ub_http_request *reqs, size_t n, int64_t now,
                        int64_t deadline, int64_t *wake) {
  size_t active = 0;
  for (size_t i = 0; i < n; i++)
    if (reqs[i].priv_easy) active++;
  *wake = INT64_MAX;
  for (size_t i = 0; i < n; i++) {
    ub_http_request *r = &reqs[i];
    if (r->result != UB_HTTP_PENDING || r->priv_easy) continue;
    if (r->priv_not_before > now) {
      if (r->priv_not_before < *wake) *wake = r->priv_not_before;
      continue;
    }
    if (active >= (size_t)h->opts.concurrency) continue;  /* a finish wakes us */
    if (start_attempt(h, r, now, deadline) == 0) active++;
  }
  return active;
}

static size_t collect_done(ub_http *h, int64_t deadline) {
  CURLMsg *m;
  int left;
  size_t finished = 0;
  while ((m = curl_multi_info_read(h->multi, &left))) {
    if (m->msg != CURLMSG_DONE) continue;
    ub_http_request *r = NULL;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
    if (r) finish_attempt(h, r, m->data.result, ub_clock_ms(), deadline);
    finished++;
  }
  return finished;
}

static size_t count_pending(const ub_http_request *reqs, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) k += reqs[i].result == UB_HTTP_PENDING;
  return k;
}

static void abandon_all(ub_http *h, ub_http_request *reqs, size_t n, ub_http_result res,
                        const char *why) {
  for (size_t i = 0; i < n; i++)
    if (reqs[i].result == UB_HTTP_PENDING) abandon(h, &reqs[i], res, why);
}

static int poll_timeout(int64_t now, int64_t wake, int64_t deadline, size_t active) {
  int64_t t = active ? 1000 : 60000;
  if (wake != INT64_MAX && wake - now < t) t = wake - now;
  if (deadline && deadline - now < t) t = deadline - now;
  return t < 0 ? 0 : (int)t;
}

int ub_http_run(ub_http *h, ub_http_request *reqs, size_t n, int64_t deadline) {
  for (size_t i = 0; i < n; i++) reset_request(&reqs[i]);
  while (count_pending(reqs, n) > 0) {
    int64_t now = ub_clock_ms(), wake;
    if (deadline && now >= deadline) {
      abandon_all(h, reqs, n, UB_HTTP_EDEADLINE, "deadline passed");
      break;
    }
    size_t active = start_due(h, reqs, n, now, deadline, &wake);
    if (active == 0 && wake == INT64_MAX && count_pending(reqs, n) == 0) break;
    int running = 0;
    if (curl_multi_perform(h->multi, &running) != CURLM_OK) {
      abandon_all(h, reqs, n, UB_HTTP_ETRANSPORT, "HTTP engine failure");
      return -1;
    }
    if (collect_done(h, deadline) > 0) continue;      /* free slots: start more */
    now = ub_clock_ms();
    if (curl_multi_poll(h->multi, NULL, 0, poll_timeout(now, wake, deadline, (size_t)running),
                        NULL) != CURLM_OK) {
      abandon_all(h, reqs, n, UB_HTTP_ETRANSPORT, "HTTP engine failure");
      return -1;
    }
  }
  return 0;
}
