/* Folder net/: HTTP. The libcurl engine (http.c) that every outgoing
 * request goes through; the HTTP server of the service mode will live
 * beside it (net/server.c, routes in service/). May call util/ only;
 * knows nothing about Dynatrace. */
/* http.h: parallel HTTP requests over the libcurl multi interface with
 * bounded concurrency, connection reuse, per-attempt and overall
 * deadlines, retries with exponential backoff and jitter on 429/502/503/
 * 504 and connection errors (honouring Retry-After and
 * X-RateLimit-Reset), and a response size cap. Only http and https; no
 * redirects; TLS verification always on; proxies from the standard
 * environment variables (http_proxy, https_proxy, no_proxy). */
#ifndef UB_HTTP_H
#define UB_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/clock.h" /* deadlines are ub_clock_ms() values */

typedef struct ub_http_opts {
  int concurrency;            /* requests in flight at once (default 10) */
  long connect_timeout_ms;    /* per attempt (default 5000) */
  long attempt_timeout_ms;    /* whole attempt (default 30000) */
  int max_attempts;           /* first try included (default 4) */
  long backoff_base_ms;       /* first backoff (default 200) */
  long backoff_max_ms;        /* cap of one backoff (default 10000) */
  long max_wait_ms;           /* longest server-requested wait (default 60000) */
  long call_deadline_ms;      /* ub_http_call: the whole call, every attempt and wait
                                 (default 0: attempts × attempt timeout + max_wait) */
  size_t max_response_bytes;  /* body cap (default 64 MiB) */
  const char *ca_bundle;      /* CA file, NULL = system default */
  const char *user_agent;     /* default "unbreakable/<version>" */
  uint64_t jitter_seed;       /* 0 = seeded from the clock */
} ub_http_opts;

void ub_http_default_opts(ub_http_opts *o);

/* Outcome of one request after all its attempts. */
typedef enum ub_http_result {
  UB_HTTP_PENDING = 0,
  UB_HTTP_DONE,          /* a final HTTP answer arrived (any status) */
  UB_HTTP_ETRANSPORT,    /* connection or protocol failure after retries */
  UB_HTTP_ETOOLARGE,     /* body exceeded max_response_bytes */
  UB_HTTP_EDEADLINE      /* the overall deadline passed first */
} ub_http_result;

/* Zero-initialise a request before its first run. */
typedef struct ub_http_request {
  /* input (owned by the caller, must stay valid during ub_http_run) */
  const char *method;              /* "GET" (default) or "POST" */
  const char *url;
  const char *const *headers;      /* NULL-terminated "Name: value" list */
  const char *body;                /* POST body or NULL */
  size_t body_len;
  /* output */
  ub_http_result result;
  long status;                     /* last HTTP status, 0 if none */
  ub_buf response;                 /* body of the last attempt */
  char content_type[128];          /* "" when absent */
  int attempts;
  long waited_ms;                  /* total time spent waiting to retry */
  double elapsed_ms;               /* time on the wire (every attempt, as curl
                                      measured it) plus waited_ms */
  char error[256];                 /* one line when result != DONE */
  /* private engine state */
  void *priv_easy;
  int64_t priv_not_before;
  struct curl_slist *priv_headers;
  size_t priv_cap;                 /* max_response_bytes */
  int priv_too_large;
  int priv_oom;
  char priv_retry_after[64];       /* Retry-After of the last answer */
  char priv_ratelimit_reset[64];   /* X-RateLimit-Reset of the last answer */
  char priv_errbuf[256];           /* CURL_ERROR_SIZE */
} ub_http_request;

typedef struct ub_http ub_http;

/* NULL on failure (curl could not be initialised or out of memory). */
ub_http *ub_http_new(const ub_http_opts *o);
void ub_http_free(ub_http *h);

/* Runs the n requests concurrently and returns when each has a result or
 * the deadline (monotonic ms, 0 = none) has passed; unfinished requests
 * then end with UB_HTTP_EDEADLINE. Returns 0, or -1 when the engine
 * itself failed (every request then carries an error). Responses are
 * reset first, so a request array may be run again. */
int ub_http_run(ub_http *h, ub_http_request *reqs, size_t n, int64_t deadline_ms);

/* Frees what ub_http_run left in a request (response body, headers). */
void ub_http_request_clear(ub_http_request *r);

/* Retry rules, exposed for tests. */
int ub_http_status_retryable(long status);
/* Wait requested by the headers, in ms, or -1: Retry-After seconds
 * first, else X-RateLimit-Reset (Unix epoch microseconds) against
 * now_epoch_ms. */
long ub_http_parse_wait(const char *retry_after, const char *ratelimit_reset,
                        int64_t now_epoch_ms);
/* Backoff before attempt number `attempt` (1 = first retry): a random
 * value in [b/2, b] where b = min(base * 2^(attempt-1), max). */
long ub_http_backoff_ms(const ub_http_opts *o, int attempt, uint64_t *rng);

#endif
