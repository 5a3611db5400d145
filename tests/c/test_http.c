/* test_http.c: the libcurl multi engine (runtime/net/http.c) against a small
 * libmicrohttpd server in this process: retries and their waits (checked
 * with the server's own arrival times), no retry on 4xx, the size cap,
 * the overall deadline, bounded concurrency, connection reuse, refused
 * connections, disallowed protocols and redirects. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "net/http.h"
#include "net/http_call.h"

#include "test_support.h"

enum { MAX_HITS = 16 };

typedef struct route_log {
  char path[64];
  int hits;
  int64_t mono_ms[MAX_HITS];    /* arrival times, monotonic */
  int64_t epoch_ms[MAX_HITS];   /* arrival times, wall clock */
} route_log;

typedef struct test_server {
  struct MHD_Daemon *daemon;
  int port;
  pthread_mutex_t mu;
  route_log routes[16];
  int in_flight, max_in_flight, connections;
  pthread_cond_t flight_changed;   /* signalled when in_flight or hang_released changes */
  int barrier;                     /* /slow holds until this many are in flight */
  int barrier_open;                /* set once the barrier was reached */
  int hang_released;               /* /hang answers once this is set */
  int64_t reset_us;             /* X-RateLimit-Reset sent by /reset */
  char last_auth[128];          /* Authorization of the last /api/auth */
} test_server;

static test_server srv;

/* Logs a hit and returns its 0-based number for this path. */
static int log_hit(const char *path) {
  pthread_mutex_lock(&srv.mu);
  route_log *r = NULL;
  for (int i = 0; i < 16 && !r; i++) {
    if (!srv.routes[i].path[0]) snprintf(srv.routes[i].path, sizeof srv.routes[i].path, "%s", path);
    if (!strcmp(srv.routes[i].path, path)) r = &srv.routes[i];
  }
  int n = r ? r->hits++ : 0;
  if (r && n < MAX_HITS) {
    r->mono_ms[n] = ub_clock_ms();
    r->epoch_ms[n] = ub_clock_wall_ms();
  }
  pthread_mutex_unlock(&srv.mu);
  return n;
}

static route_log *route(const char *path) {
  for (int i = 0; i < 16 && srv.routes[i].path[0]; i++)
    if (!strcmp(srv.routes[i].path, path)) return &srv.routes[i];
  return NULL;
}

static int hits(const char *path) {
  route_log *r = route(path);
  return r ? r->hits : 0;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *body,
                             const char *hname, const char *hvalue) {
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(resp, "Content-Type", "application/json");
  if (hname) MHD_add_response_header(resp, hname, hvalue);
  enum MHD_Result ret = MHD_queue_response(c, status, resp);
  MHD_destroy_response(resp);
  return ret;
}

static void track_flight(int delta) {
  pthread_mutex_lock(&srv.mu);
  srv.in_flight += delta;
  if (srv.in_flight > srv.max_in_flight) srv.max_in_flight = srv.in_flight;
  pthread_cond_broadcast(&srv.flight_changed);
  pthread_mutex_unlock(&srv.mu);
}

/* A /slow request enters and waits until srv.barrier requests are in
 * flight together (then the barrier stays open for the rest), or until a
 * generous deadline passes, so that a client that never reaches the
 * concurrency asked for fails the test's count instead of hanging it. */
static void slow_request(void) {
  track_flight(1);
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += (time_t)(10 * test_time_scale());
  pthread_mutex_lock(&srv.mu);
  while (!srv.barrier_open && srv.in_flight < srv.barrier &&
         pthread_cond_timedwait(&srv.flight_changed, &srv.mu, &until) == 0) {
  }
  srv.barrier_open = 1;   /* reached or timed out: the others pass freely */
  pthread_mutex_unlock(&srv.mu);
  track_flight(-1);
}

/* A /hang request answers only once the test has seen the client give up
 * (release_hang), or after a generous deadline. */
static void hang_request(void) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += (time_t)(30 * test_time_scale());
  pthread_mutex_lock(&srv.mu);
  while (!srv.hang_released &&
         pthread_cond_timedwait(&srv.flight_changed, &srv.mu, &until) == 0) {
  }
  pthread_mutex_unlock(&srv.mu);
}

static void release_hang(void) {
  pthread_mutex_lock(&srv.mu);
  srv.hang_released = 1;
  pthread_cond_broadcast(&srv.flight_changed);
  pthread_mutex_unlock(&srv.mu);
}

static enum MHD_Result route_request(struct MHD_Connection *c, const char *url) {
  int n = log_hit(url);
  char hdr[64];
  if (!strcmp(url, "/ok")) return reply(c, 200, "{\"ok\":true}", NULL, NULL);
  if (!strcmp(url, "http://upstream.invalid/via-proxy"))   /* absolute form: we are the proxy */
    return reply(c, 200, "{\"proxied\":true}", NULL, NULL);
  if (!strcmp(url, "/flaky"))
    return n < 2 ? reply(c, 503, "{\"error\":{\"code\":503}}", NULL, NULL)
                 : reply(c, 200, "{\"ok\":3}", NULL, NULL);
  if (!strcmp(url, "/retry-after"))
    return n < 1 ? reply(c, 429, "{}", "Retry-After", "1") : reply(c, 200, "{}", NULL, NULL);
  if (!strcmp(url, "/reset")) {
    if (n >= 1) return reply(c, 200, "{}", NULL, NULL);
    srv.reset_us = ub_clock_wall_us() + 400000;
    snprintf(hdr, sizeof hdr, "%lld", (long long)srv.reset_us);
    return reply(c, 429, "{}", "X-RateLimit-Reset", hdr);
  }
  if (!strcmp(url, "/503-window")) {             /* rate window header on a 503 */
    if (n >= 1) return reply(c, 200, "{}", NULL, NULL);
    snprintf(hdr, sizeof hdr, "%lld", (long long)(ub_clock_wall_us() + 3600000000LL));
    return reply(c, 503, "{}", "X-RateLimit-Reset", hdr);
  }
  if (!strcmp(url, "/long-wait")) return reply(c, 429, "{}", "Retry-After", "3600");
  if (!strcmp(url, "/api/auth")) {
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    pthread_mutex_lock(&srv.mu);
    snprintf(srv.last_auth, sizeof srv.last_auth, "%s", a ? a : "");
    pthread_mutex_unlock(&srv.mu);
    return reply(c, 401, "{}", "Retry-After", "2");
  }
  if (!strcmp(url, "/bad")) return reply(c, 400, "{\"error\":{\"code\":400}}", NULL, NULL);
  if (!strcmp(url, "/always503")) return reply(c, 503, "{}", NULL, NULL);
  if (!strcmp(url, "/bad-gateway")) return reply(c, 502, "{}", NULL, NULL);
  if (!strcmp(url, "/redirect")) return reply(c, 302, "", "Location", "/ok");
  if (!strcmp(url, "/big")) {
    static char big[100001];
    memset(big, 'x', sizeof big - 1);
    return reply(c, 200, big, NULL, NULL);
  }
  if (!strcmp(url, "/hang")) {
    hang_request();
    return reply(c, 200, "{}", NULL, NULL);
  }
  if (!strcmp(url, "/slow")) {
    slow_request();
    return reply(c, 200, "{}", NULL, NULL);
  }
  return reply(c, 404, "{}", NULL, NULL);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **state) {
  static int started;
  (void)cls; (void)method; (void)version; (void)upload;
  if (!*state) { *state = &started; return MHD_YES; }
  if (*upload_size) { *upload_size = 0; return MHD_YES; }
  return route_request(c, url);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
  (void)cls; (void)c; (void)socket_context;
  if (code != MHD_CONNECTION_NOTIFY_STARTED) return;
  pthread_mutex_lock(&srv.mu);
  srv.connections++;
  pthread_mutex_unlock(&srv.mu);
}

static int start_server(void **state) {
  (void)state;
  memset(&srv, 0, sizeof srv);
  pthread_mutex_init(&srv.mu, NULL);
  pthread_cond_init(&srv.flight_changed, NULL);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  srv.daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
                                0, NULL, NULL, handler, NULL,
                                MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
                                MHD_OPTION_END);
  if (!srv.daemon) return -1;
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv.daemon, MHD_DAEMON_INFO_BIND_PORT);
  srv.port = info ? info->port : 0;
  return srv.port ? 0 : -1;
}

static int stop_server(void **state) {
  (void)state;
  MHD_stop_daemon(srv.daemon);
  return 0;
}

static void url_of(char *out, size_t len, const char *path) {
  snprintf(out, len, "http://127.0.0.1:%d%s", srv.port, path);
}

/* Runs one request with fast backoffs; the caller clears it. */
static void run_one(ub_http_request *r, char *url, const char *path, const ub_http_opts *o,
                    int64_t deadline) {
  ub_http_opts defaults;
  ub_http_default_opts(&defaults);
  defaults.backoff_base_ms = 10;
  defaults.jitter_seed = 42;
  ub_http *h = ub_http_new(o ? o : &defaults);
  assert_non_null(h);
  url_of(url, 128, path);
  memset(r, 0, sizeof *r);
  r->url = url;
  assert_int_equal(ub_http_run(h, r, 1, deadline), 0);
  ub_http_free(h);
}

static void test_plain_get(void **state) {
  (void)state;
  ub_http_request r;
  char url[128];
  run_one(&r, url, "/ok", NULL, 0);
  assert_int_equal(r.result, UB_HTTP_DONE);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.response.data, "{\"ok\":true}");
  assert_string_equal(r.content_type, "application/json");
  assert_int_equal(r.attempts, 1);
  ub_http_request_clear(&r);
}

static void test_retries_503_then_succeeds(void **state) {
  (void)state;
  ub_http_request r;
  char url[128];
  run_one(&r, url, "/flaky", NULL, 0);
  assert_int_equal(r.result, UB_HTTP_DONE);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.attempts, 3);
  assert_int_equal(hits("/flaky"), 3);
  assert_true(r.waited_ms >= 5 + 10);      /* two backoffs of at least b/2 */
  ub_http_request_clear(&r);
}

static void test_retry_after_seconds_is_honoured(void **state) {
  (void)state;
  ub_http_request r;
  char url[128];
  run_one(&r, url, "/retry-after", NULL, 0);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.attempts, 2);
  route_log *log = route("/retry-after");
  assert_true(log->mono_ms[1] - log->mono_ms[0] >= 1000);
  ub_http_request_clear(&r);
}

static void test_ratelimit_reset_is_honoured(void **state) {
  (void)state;
  ub_http_request r;
  char url[128];
  run_one(&r, url, "/reset", NULL, 0);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.attempts, 2);
  route_log *log = route("/reset");
  assert_true(log->epoch_ms[1] >= srv.reset_us / 1000);
  ub_http_request_clear(&r);
}

static void test_ratelimit_reset_only_counts_on_429(void **state) {
  (void)state;
  ub_http_request r;
  char url[128];
  run_one(&r, url, "/503-window", NULL, 0);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.attempts, 2);
  assert_true(r.waited_ms <= 10);          /* the backoff (base 10 ms), not an hour */
  ub_http_request_clear(&r);
}

static void test_wait_beyond_limit_is_not_retried(void **state) {
  (void)state;
  ub_http_request r;
  char url[128];
  run_one(&r, url, "/long-wait", NULL, 0);
  assert_int_equal(r.result, UB_HTTP_DONE);
  assert_int_equal(r.status, 429);
  assert_int_equal(r.attempts, 1);
  assert_non_null(strstr(r.error, "not retried"));
  ub_http_request_clear(&r);
}

static void test_no_retry_on_400(void **state) {
  (void)state;
  ub_http_request r;
  char url[128];
  run_one(&r, url, "/bad", NULL, 0);
  assert_int_equal(r.status, 400);
  assert_int_equal(r.attempts, 1);
  assert_int_equal(hits("/bad"), 1);
  ub_http_request_clear(&r);
}

static void test_gives_up_after_max_attempts(void **state) {
  (void)state;
  ub_http_request r;
  char url[128];
  run_one(&r, url, "/always503", NULL, 0);
  assert_int_equal(r.result, UB_HTTP_DONE);
  assert_int_equal(r.status, 503);
  assert_int_equal(r.attempts, 4);
  assert_int_equal(hits("/always503"), 4);
  assert_string_equal(r.error, "gave up after 4 attempts");
  ub_http_request_clear(&r);
}

static void test_post_not_retried_on_502(void **state) {
  (void)state;
  ub_http_opts o;
  ub_http_default_opts(&o);
  o.backoff_base_ms = 10;
  ub_http *h = ub_http_new(&o);
  char url[128];
  url_of(url, sizeof url, "/bad-gateway");
  ub_http_request r = {.method = "POST", .url = url, .body = "{}", .body_len = 2};
  assert_int_equal(ub_http_run(h, &r, 1, 0), 0);
  assert_int_equal(r.status, 502);
  assert_int_equal(r.attempts, 1);
  ub_http_request_clear(&r);
  ub_http_free(h);
}

static void test_response_size_cap(void **state) {
  (void)state;
  ub_http_opts o;
  ub_http_default_opts(&o);
  o.max_response_bytes = 10000;
  ub_http_request r;
  char url[128];
  run_one(&r, url, "/big", &o, 0);
  assert_int_equal(r.result, UB_HTTP_ETOOLARGE);
  assert_true(r.response.len <= 10000);
  assert_non_null(strstr(r.error, "10000 bytes"));
  ub_http_request_clear(&r);
}

static void test_overall_deadline_holds(void **state) {
  (void)state;
  ub_http_request r;
  char url[128];
  run_one(&r, url, "/hang", NULL, ub_clock_ms() + 300);
  release_hang();
  assert_int_equal(r.result, UB_HTTP_EDEADLINE);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.error, "deadline"));
  ub_http_request_clear(&r);
}

static void test_concurrency_is_bounded(void **state) {
  (void)state;
  ub_http_opts o;
  ub_http_default_opts(&o);
  o.concurrency = 3;
  ub_http *h = ub_http_new(&o);
  char url[128];
  url_of(url, sizeof url, "/slow");
  ub_http_request reqs[12];
  memset(reqs, 0, sizeof reqs);
  for (int i = 0; i < 12; i++) reqs[i].url = url;
  pthread_mutex_lock(&srv.mu);
  srv.max_in_flight = 0;
  srv.barrier = 3;
  srv.barrier_open = 0;
  pthread_mutex_unlock(&srv.mu);
  assert_int_equal(ub_http_run(h, reqs, 12, 0), 0);
  for (int i = 0; i < 12; i++) {
    assert_int_equal(reqs[i].status, 200);
    ub_http_request_clear(&reqs[i]);
  }
  assert_int_equal(hits("/slow"), 12);
  /* the barrier holds the first requests until 3 are in flight together:
   * exactly the concurrency asked for, never more */
  assert_int_equal(srv.max_in_flight, 3);
  ub_http_free(h);
}

static void test_connections_are_reused(void **state) {
  (void)state;
  ub_http_opts o;
  ub_http_default_opts(&o);
  o.concurrency = 1;
  ub_http *h = ub_http_new(&o);
  char url[128];
  url_of(url, sizeof url, "/ok");
  int before = srv.connections;
  for (int i = 0; i < 5; i++) {
    ub_http_request r = {.url = url};
    assert_int_equal(ub_http_run(h, &r, 1, 0), 0);
    assert_int_equal(r.status, 200);
    ub_http_request_clear(&r);
  }
  assert_int_equal(srv.connections - before, 1);
  ub_http_free(h);
}

static void test_refused_connection_is_retried_then_fails(void **state) {
  (void)state;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/x", ntohs(addr.sin_port));
  ub_http_opts o;
  ub_http_default_opts(&o);
  o.max_attempts = 3;
  o.backoff_base_ms = 5;
  ub_http *h = ub_http_new(&o);
  ub_http_request r = {.url = url};
  assert_int_equal(ub_http_run(h, &r, 1, 0), 0);
  assert_int_equal(r.result, UB_HTTP_ETRANSPORT);
  assert_int_equal(r.attempts, 3);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.error, "; gave up after 3 attempts"));
  ub_http_request_clear(&r);
  ub_http_free(h);
  close(fd);
}

static void test_only_http_protocols(void **state) {
  (void)state;
  ub_http *h = ub_http_new(NULL);
  ub_http_request r = {.url = "file:///etc/hostname"};
  assert_int_equal(ub_http_run(h, &r, 1, 0), 0);
  assert_int_equal(r.result, UB_HTTP_ETRANSPORT);
  assert_int_equal(r.attempts, 1);
  assert_int_equal(r.response.len, 0);
  ub_http_request_clear(&r);
  ub_http_free(h);
}

static void test_redirects_are_not_followed(void **state) {
  (void)state;
  ub_http_request r;
  char url[128];
  int ok_before = hits("/ok");
  run_one(&r, url, "/redirect", NULL, 0);
  assert_int_equal(r.result, UB_HTTP_DONE);
  assert_int_equal(r.status, 302);
  assert_int_equal(hits("/ok"), ok_before);
  ub_http_request_clear(&r);
}

static void test_proxy_from_environment(void **state) {
  (void)state;
  char proxy[64];
  snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", srv.port);
  setenv("http_proxy", proxy, 1);
  unsetenv("no_proxy");
  unsetenv("NO_PROXY");
  ub_http *h = ub_http_new(NULL);
  ub_http_request r = {.url = "http://upstream.invalid/via-proxy"};
  assert_int_equal(ub_http_run(h, &r, 1, 0), 0);
  unsetenv("http_proxy");
  assert_int_equal(r.status, 200);
  assert_string_equal(r.response.data, "{\"proxied\":true}");
  assert_int_equal(hits("http://upstream.invalid/via-proxy"), 1);
  ub_http_request_clear(&r);
  ub_http_free(h);
}

/* ub_http_call (http_call.h): the credential travels in the Authorization
 * header only; errors name the method and the path from the API segment
 * on, never the host part a URL may carry credentials in. */
static void test_call_keeps_credentials_out_of_errors(void **state) {
  (void)state;
  ub_http_opts o;
  ub_http_default_opts(&o);
  o.max_attempts = 1;
  o.attempt_timeout_ms = 10000;
  o.max_wait_ms = 1000;
  char url[200];
  ub_http_reply r;
  memset(&r, 0, sizeof r);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/api/auth?x=1", srv.port);
  assert_int_equal(ub_http_call("GET", url, "Bearer", "tok-secret", NULL, &o, &r), -1);
  assert_int_equal(r.status, 401);
  assert_int_equal(r.retry_after_ms, 2000);
  assert_string_equal(r.error, "GET /api/auth?x=1: HTTP 401");
  pthread_mutex_lock(&srv.mu);
  assert_string_equal(srv.last_auth, "Bearer tok-secret");
  pthread_mutex_unlock(&srv.mu);
  snprintf(url, sizeof url, "http://user:url-secret@127.0.0.1:1/_apis/x");
  assert_int_equal(ub_http_call("POST", url, "Basic", "tok-secret", "{}", &o, &r), -1);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.error, "POST /_apis/x: "));
  assert_null(strstr(r.error, "secret"));
  snprintf(url, sizeof url, "http://user:url-secret@127.0.0.1:1/elsewhere");
  assert_int_equal(ub_http_call("GET", url, "Basic", "tok-secret", NULL, &o, &r), -1);
  assert_null(strstr(r.error, "secret"));
  ub_http_reply_free(&r);
}

static void test_parse_wait(void **state) {
  (void)state;
  int64_t now = 1700000000000;
  assert_int_equal(ub_http_parse_wait("2", NULL, now), 2000);
  assert_int_equal(ub_http_parse_wait(" 0 ", NULL, now), 0);
  assert_int_equal(ub_http_parse_wait(NULL, "1700000001500000", now), 1500);
  assert_int_equal(ub_http_parse_wait("3", "1700000001500000", now), 3000);
  assert_int_equal(ub_http_parse_wait(NULL, "1699999999000000", now), 0);
  /* a reset between two milliseconds is waited for up to the later one,
   * never retried a fraction of a millisecond early */
  assert_int_equal(ub_http_parse_wait(NULL, "1700000001500001", now), 1501);
  assert_int_equal(ub_http_parse_wait("soon", NULL, now), -1);
  assert_int_equal(ub_http_parse_wait(NULL, NULL, now), -1);
  /* HTTP-date: Tue, 14 Nov 2023 22:13:25 GMT is 1700000005 s */
  assert_int_equal(ub_http_parse_wait("Tue, 14 Nov 2023 22:13:25 GMT", NULL, now), 5000);
}

static void test_backoff_grows_and_is_capped(void **state) {
  (void)state;
  ub_http_opts o;
  ub_http_default_opts(&o);
  o.backoff_base_ms = 100;
  o.backoff_max_ms = 1000;
  uint64_t rng = 7;
  long expect_max[] = {100, 200, 400, 800, 1000, 1000};
  for (int a = 1; a <= 6; a++) {
    for (int k = 0; k < 50; k++) {
      long b = ub_http_backoff_ms(&o, a, &rng);
      assert_true(b >= expect_max[a - 1] / 2 && b <= expect_max[a - 1]);
    }
  }
  assert_true(ub_http_status_retryable(429) && ub_http_status_retryable(504));
  assert_false(ub_http_status_retryable(500) || ub_http_status_retryable(404));
}

/* ---- TLS ------------------------------------------------------------ */

/* A self-signed certificate for 127.0.0.1 (PEM strings, caller frees). */
static void make_cert(char **cert_pem, char **key_pem) {
  EVP_PKEY *key = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  assert_non_null(key);
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_NAME *name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1", -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509_set_pubkey(x, key);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
  X509_EXTENSION *san = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, "IP:127.0.0.1");
  X509_EXTENSION *bc = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
  X509_add_ext(x, san, -1);
  X509_add_ext(x, bc, -1);
  X509_EXTENSION_free(san);
  X509_EXTENSION_free(bc);
  assert_true(X509_sign(x, key, EVP_sha256()) > 0);
  BIO *c = BIO_new(BIO_s_mem()), *k = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(c, x);
  PEM_write_bio_PrivateKey(k, key, NULL, NULL, 0, NULL, NULL);
  char *p;
  long n = BIO_get_mem_data(c, &p);
  *cert_pem = strndup(p, (size_t)n);
  n = BIO_get_mem_data(k, &p);
  *key_pem = strndup(p, (size_t)n);
  BIO_free(c);
  BIO_free(k);
  X509_free(x);
  EVP_PKEY_free(key);
}

static void test_tls_is_verified_and_ca_bundle_is_used(void **state) {
  (void)state;
  char *cert, *key;
  make_cert(&cert, &key);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_TLS, 0, NULL, NULL,
      handler, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_HTTPS_MEM_KEY, key,
      MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_END);
  assert_non_null(d);
  int port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
  char url[128], ca_path[] = "/tmp/ub_http_caXXXXXX";
  snprintf(url, sizeof url, "https://127.0.0.1:%d/ok", port);
  int fd = mkstemp(ca_path);
  assert_int_equal(write(fd, cert, strlen(cert)), (ssize_t)strlen(cert));
  close(fd);

  ub_http *h = ub_http_new(NULL);                       /* system CAs only */
  ub_http_request r = {.url = url};
  assert_int_equal(ub_http_run(h, &r, 1, 0), 0);
  assert_int_equal(r.result, UB_HTTP_ETRANSPORT);
  assert_int_equal(r.attempts, 1);                      /* a bad certificate is not retried */
  ub_http_request_clear(&r);
  ub_http_free(h);

  ub_http_opts o;
  ub_http_default_opts(&o);
  o.ca_bundle = ca_path;
  h = ub_http_new(&o);
  memset(&r, 0, sizeof r);
  r.url = url;
  assert_int_equal(ub_http_run(h, &r, 1, 0), 0);
  assert_int_equal(r.result, UB_HTTP_DONE);
  assert_int_equal(r.status, 200);
  ub_http_request_clear(&r);
  ub_http_free(h);

  MHD_stop_daemon(d);
  unlink(ca_path);
  free(cert);
  free(key);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plain_get),
      cmocka_unit_test(test_call_keeps_credentials_out_of_errors),
      cmocka_unit_test(test_retries_503_then_succeeds),
      cmocka_unit_test(test_retry_after_seconds_is_honoured),
      cmocka_unit_test(test_ratelimit_reset_is_honoured),
      cmocka_unit_test(test_ratelimit_reset_only_counts_on_429),
      cmocka_unit_test(test_wait_beyond_limit_is_not_retried),
      cmocka_unit_test(test_no_retry_on_400),
      cmocka_unit_test(test_gives_up_after_max_attempts),
      cmocka_unit_test(test_post_not_retried_on_502),
      cmocka_unit_test(test_response_size_cap),
      cmocka_unit_test(test_overall_deadline_holds),
      cmocka_unit_test(test_concurrency_is_bounded),
      cmocka_unit_test(test_connections_are_reused),
      cmocka_unit_test(test_refused_connection_is_retried_then_fails),
      cmocka_unit_test(test_only_http_protocols),
      cmocka_unit_test(test_redirects_are_not_followed),
      cmocka_unit_test(test_tls_is_verified_and_ca_bundle_is_used),
      cmocka_unit_test(test_proxy_from_environment),
      cmocka_unit_test(test_parse_wait),
      cmocka_unit_test(test_backoff_grows_and_is_capped),
  };
  return cmocka_run_group_tests(tests, start_server, stop_server);
}
