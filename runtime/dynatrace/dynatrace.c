/* dynatrace.c: Dynatrace client configuration, parallel fetches through
 * the HTTP engine, target building and token redaction (see dynatrace.h).
 * The error envelope lives in dt_error.c. */
#include "dynatrace/dynatrace.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "net/http.h"

struct ub_dt_client {
  ub_http *http;
  char *base_url;
  char *token;                 /* kept only to redact it */
  char *auth_header;           /* "Authorization: Api-Token <token>" */
  const char *headers[3];      /* GET: authorization, accept */
  const char *post_headers[4]; /* POST: the same and the JSON content type */
  long timeout_ms;
};

/* ---- configuration ------------------------------------------------ */

static void wipe_free(char *s) {
  if (!s) return;
  volatile char *p = s;
  while (*p) *p++ = 0;
  free(s);
}

void ub_dt_config_free(ub_dt_config *c) {
  free(c->base_url);
  wipe_free(c->token);
  free(c->ca_bundle);
  memset(c, 0, sizeof *c);
}

static const char *first_set(const char *a, const char *b) {
  if (a && *a) return a;
  if (b && *b) return b;
  return NULL;
}

/* Reads at most 64 KiB of a regular file (a FIFO or device is refused at
 * once, never waited on); trims surrounding white space. The error never
 * quotes the file's content. */
static char *read_token_file(const char *path, char *err, size_t errlen) {
  char why[512];
  size_t n;
  char *buf = ub_read_all(path, 65536, &n, why, sizeof why);
  if (!buf) {
    if (strstr(why, "larger than"))
      snprintf(err, errlen, "the Dynatrace token file %s is larger than 64 KiB: it must "
               "contain only the API token", path);
    else
      snprintf(err, errlen, "cannot read the Dynatrace token file (%s): check the path given "
               "with --dt-token-file or DT_API_TOKEN_FILE", why);
    return NULL;
  }
  while (n > 0 && isspace((unsigned char)buf[n - 1])) buf[--n] = '\0';
  size_t lead = strspn(buf, " \t\r\n");
  memmove(buf, buf + lead, n - lead + 1);
  return buf;
}

/* A token goes into a header: printable ASCII without blanks only. */
static int token_is_valid(const char *t) {
  if (!*t) return 0;
  for (const unsigned char *p = (const unsigned char *)t; *p; p++)
    if (*p <= 0x20 || *p >= 0x7f) return 0;
  return 1;
}

static int resolve_token(ub_dt_config *c, const ub_dt_flags *f, char *err, size_t errlen) {
  const char *direct = first_set(f ? f->token : NULL, NULL);
  const char *file = first_set(f ? f->token_file : NULL, NULL);
  const char *source = direct ? "--dt-token" : "--dt-token-file";
  if (!direct && !file) {
    direct = first_set(getenv("DT_API_TOKEN"), NULL);
    file = direct ? NULL : first_set(getenv("DT_API_TOKEN_FILE"), NULL);
    source = direct ? "DT_API_TOKEN" : "DT_API_TOKEN_FILE";
  }
  if (!direct && !file) {
    snprintf(err, errlen, "no Dynatrace API token: set DT_API_TOKEN, DT_API_TOKEN_FILE or "
             "--dt-token-file");
    return -1;
  }
  c->token = direct ? strdup(direct) : read_token_file(file, err, errlen);
  if (!c->token) {
    if (direct) snprintf(err, errlen, "out of memory");
    return -1;
  }
  if (!token_is_valid(c->token)) {
    snprintf(err, errlen, "the Dynatrace API token from %s is empty or contains blanks or "
             "control characters: it must be the token alone", source);
    return -1;
  }
  return 0;
}

/* Plain http is for a simulator on this machine: the host is exactly
 * localhost, 127.0.0.1 or [::1], followed by the end, a port or a path. */
static int is_loopback_http(const char *url) {
  static const char *const hosts[] = {"localhost", "127.0.0.1", "[::1]"};
  if (strncasecmp(url, "http://", 7) != 0) return 0;
  const char *h = url + 7;
  for (size_t i = 0; i < sizeof hosts / sizeof *hosts; i++) {
    size_t n = strlen(hosts[i]);
    if (strncasecmp(h, hosts[i], n) == 0 && (h[n] == '\0' || h[n] == ':' || h[n] == '/')) return 1;
  }
  return 0;
}

static int resolve_url(ub_dt_config *c, const ub_dt_flags *f, char *err, size_t errlen) {
  const char *url = first_set(f ? f->url : NULL, getenv("DT_TENANT_URL"));
  if (!url) {
    snprintf(err, errlen, "no Dynatrace tenant URL: set DT_TENANT_URL or --dt-url "
             "(e.g. https://abc12345.live.dynatrace.com)");
    return -1;
  }
  if (strncasecmp(url, "https://", 8) != 0 && !is_loopback_http(url)) {
    snprintf(err, errlen, "the Dynatrace tenant URL must start with https:// (got '%.100s'; "
             "plain http:// only to localhost, where the token cannot be overheard)", url);
    return -1;
  }
  for (const unsigned char *p = (const unsigned char *)url; *p; p++) {
    if (*p <= 0x20 || *p >= 0x7f || *p == '?' || *p == '#') {
      snprintf(err, errlen, "the Dynatrace tenant URL contains a blank, '?', '#' or a control "
               "character: give only scheme, host and optional /e/<environment-id>");
      return -1;
    }
  }
  c->base_url = strdup(url);
  if (!c->base_url) { snprintf(err, errlen, "out of memory"); return -1; }
  size_t n = strlen(c->base_url);
  while (n > 0 && c->base_url[n - 1] == '/') c->base_url[--n] = '\0';
  return 0;
}

int ub_dt_config_resolve(ub_dt_config *c, const ub_dt_flags *f, char *err, size_t errlen) {
  ub_http_opts http; /* the engine's defaults, in one place */
  ub_http_default_opts(&http);
  memset(c, 0, sizeof *c);
  c->concurrency = http.concurrency;
  c->timeout_ms = 60000;
  c->attempt_timeout_ms = http.attempt_timeout_ms;
  c->max_attempts = http.max_attempts;
  c->backoff_base_ms = http.backoff_base_ms;
  c->max_wait_ms = http.max_wait_ms;
  c->max_response_bytes = http.max_response_bytes;
  if (resolve_url(c, f, err, errlen) != 0 || resolve_token(c, f, err, errlen) != 0) {
    ub_dt_config_free(c);
    return -1;
  }
  const char *ca = f ? f->ca_bundle : NULL;
  char why[600];
  int probe = ca && *ca ? ub_open_regular(ca, why, sizeof why) : -2;
  if (probe == -1) {   /* TLS would block on a FIFO as the CA file */
    snprintf(err, errlen, "--dt-ca-bundle: %s", why);
    ub_dt_config_free(c);
    return -1;
  }
  if (probe >= 0) close(probe);
  if (ca && *ca && !(c->ca_bundle = strdup(ca))) {
    snprintf(err, errlen, "out of memory");
    ub_dt_config_free(c);
    return -1;
  }
  return 0;
}

/* ---- client ------------------------------------------------------- */

void ub_dt_client_free(ub_dt_client *cl) {
  if (!cl) return;
  ub_http_free(cl->http);
  free(cl->base_url);
  wipe_free(cl->token);
  wipe_free(cl->auth_header);
  free(cl);
}

ub_dt_client *ub_dt_client_new(const ub_dt_config *c, char *err, size_t errlen) {
  ub_dt_client *cl = calloc(1, sizeof *cl);
  ub_buf auth;
  ub_buf_init(&auth);
  if (!cl || !c->base_url || !c->token) goto fail;
  ub_buf_printf(&auth, "Authorization: Api-Token %s", c->token);
  cl->auth_header = ub_buf_steal(&auth, NULL);
  cl->base_url = strdup(c->base_url);
  cl->token = strdup(c->token);
  ub_http_opts o;
  ub_http_default_opts(&o);
  if (c->concurrency > 0) o.concurrency = c->concurrency;
  if (c->attempt_timeout_ms > 0) o.attempt_timeout_ms = c->attempt_timeout_ms;
  if (c->max_attempts > 0) o.max_attempts = c->max_attempts;
  if (c->backoff_base_ms > 0) o.backoff_base_ms = c->backoff_base_ms;
  if (c->max_wait_ms > 0) o.max_wait_ms = c->max_wait_ms;
  if (c->max_response_bytes > 0) o.max_response_bytes = c->max_response_bytes;
  o.ca_bundle = c->ca_bundle;   /* curl copies option strings */
  cl->http = ub_http_new(&o);
  if (!cl->auth_header || !cl->base_url || !cl->token || !cl->http) goto fail;
  cl->headers[0] = cl->auth_header;
  cl->headers[1] = "Accept: application/json; charset=utf-8";
  cl->headers[2] = NULL;
  cl->post_headers[0] = cl->auth_header;
  cl->post_headers[1] = "Content-Type: application/json; charset=utf-8";
  cl->post_headers[2] = cl->headers[1];
  cl->post_headers[3] = NULL;
  cl->timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : 60000;
  return cl;
fail:
  ub_buf_free(&auth);
  ub_dt_client_free(cl);
  snprintf(err, errlen, "cannot create the Dynatrace client (missing URL or token, or out of memory)");
  return NULL;
}

const char *ub_dt_client_base_url(const ub_dt_client *cl) { return cl->base_url; }
long ub_dt_client_timeout_ms(const ub_dt_client *cl) { return cl->timeout_ms; }

/* memmem is a GNU extension: a plain search keeps the file portable. */
static char *find_bytes(const char *hay, size_t n, const char *needle, size_t k) {
  if (k == 0 || n < k) return NULL;
  for (const char *p = hay; (p = memchr(p, needle[0], n - k + 1 - (size_t)(p - hay))); p++)
    if (!memcmp(p, needle, k)) return (char *)p;
  return NULL;
}

void ub_dt_redact(const ub_dt_client *cl, ub_buf *b) {
  if (!cl || !b->data || !cl->token[0]) return;
  size_t tl = strlen(cl->token);
  if (!find_bytes(b->data, b->len, cl->token, tl)) return;
  ub_buf out;
  ub_buf_init(&out);
  const char *p = b->data, *end = b->data + b->len, *hit;
  while ((hit = find_bytes(p, (size_t)(end - p), cl->token, tl))) {
    ub_buf_append(&out, p, (size_t)(hit - p));
    ub_buf_puts(&out, "[REDACTED]");
    p = hit + tl;
  }
  ub_buf_append(&out, p, (size_t)(end - p));
  if (out.failed) {                      /* cannot rebuild: blank it in place */
    ub_buf_free(&out);
    char *q = b->data;
    while ((q = find_bytes(q, (size_t)(b->data + b->len - q), cl->token, tl))) memset(q, '*', tl);
    return;
  }
  ub_buf_free(b);
  *b = out;
}

static char *redacted_copy(const ub_dt_client *cl, const char *s) {
  ub_buf b;
  ub_buf_init(&b);
  ub_buf_puts(&b, s);
  ub_dt_redact(cl, &b);
  if (b.failed) { ub_buf_free(&b); return NULL; }
  return ub_buf_steal(&b, NULL);
}

/* ---- fetching ----------------------------------------------------- */

static void take_response(ub_dt_client *cl, ub_exchange *x, ub_http_request *r) {
  x->attempts = r->attempts;
  x->duration_ms = (double)r->elapsed_ms;
  x->status = r->result == UB_HTTP_DONE ? r->status : 0;
  if (r->content_type[0]) x->content_type = strdup(r->content_type);
  if (r->error[0]) x->error = redacted_copy(cl, r->error);
  if (r->result == UB_HTTP_DONE) {
    ub_dt_redact(cl, &r->response);
    if (!r->response.data) ub_buf_reserve(&r->response, 1);
    x->body = ub_buf_steal(&r->response, &x->body_len);
    if (!x->body && !x->error) x->error = strdup("out of memory");
  }
}

/* Runs the n exchanges through the engine; body (POST only) goes with
 * each of them. */
static int run_exchanges(ub_dt_client *cl, ub_exchange *xs, size_t n, int64_t deadline,
                         const char *body, size_t body_len) {
  if (n == 0) return 0;
  ub_http_request *reqs = calloc(n, sizeof *reqs);
  char **urls = calloc(n, sizeof *urls);
  int rc = -1;
  if (!reqs || !urls) goto out;
  for (size_t i = 0; i < n; i++) {
    ub_buf u;
    ub_buf_init(&u);
    ub_buf_printf(&u, "%s%s", cl->base_url, xs[i].target);
    urls[i] = ub_buf_steal(&u, NULL);
    if (!urls[i]) goto out;
    reqs[i].method = xs[i].method;
    reqs[i].url = urls[i];
    reqs[i].headers = body ? cl->post_headers : cl->headers;
    reqs[i].body = body;
    reqs[i].body_len = body_len;
  }
  if (!deadline) deadline = ub_clock_ms() + cl->timeout_ms;
  rc = ub_http_run(cl->http, reqs, n, deadline);
  for (size_t i = 0; i < n; i++) take_response(cl, &xs[i], &reqs[i]);
out:
  for (size_t i = 0; reqs && urls && i < n; i++) {
    ub_http_request_clear(&reqs[i]);
    free(urls[i]);
  }
  if (rc != 0)
    for (size_t i = 0; i < n; i++)
      if (!xs[i].error && !xs[i].body) xs[i].error = strdup("out of memory");
  free(reqs);
  free(urls);
  return rc;
}

int ub_dt_fetch(ub_dt_client *cl, ub_exchange *xs, size_t n, int64_t deadline) {
  return run_exchanges(cl, xs, n, deadline, NULL, 0);
}

int ub_dt_post(ub_dt_client *cl, ub_exchange *x, const char *body, size_t body_len,
               int64_t deadline) {
  if (!x->method || strcmp(x->method, "POST") != 0 || !body) {
    if (!x->error) x->error = strdup("ub_dt_post needs the method POST and a body");
    return -1;
  }
  return run_exchanges(cl, x, 1, deadline, body, body_len);
}

/* ---- targets ------------------------------------------------------ */

static int unreserved(unsigned char c, int path_segment) {
  return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (path_segment && c == ':');
}

int ub_dt_encode(ub_buf *out, const char *s, int path_segment) {
  static const char hex[] = "0123456789ABCDEF";
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (unreserved(*p, path_segment)) {
      ub_buf_putc(out, (char)*p);
    } else {
      char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
      ub_buf_append(out, e, 3);
    }
  }
  return out->failed ? -1 : 0;
}

void ub_dt_selector_quote(ub_buf *out, const char *s, size_t len) {
  ub_buf_putc(out, '"');
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '"' || s[i] == '~') ub_buf_putc(out, '~');
    ub_buf_putc(out, s[i]);
  }
  ub_buf_putc(out, '"');
}

int ub_dt_target_init(ub_dt_target *t, const char *prefix, const char *segment) {
  ub_buf_init(&t->buf);
  t->has_query = 0;
  ub_buf_puts(&t->buf, prefix);
  if (segment) ub_dt_encode(&t->buf, segment, 1);
  return t->buf.failed ? -1 : 0;
}

int ub_dt_target_param(ub_dt_target *t, const char *key, const char *value) {
  if (!value) return 0;
  ub_buf_putc(&t->buf, t->has_query ? '&' : '?');
  t->has_query = 1;
  ub_dt_encode(&t->buf, key, 0);
  ub_buf_putc(&t->buf, '=');
  return ub_dt_encode(&t->buf, value, 0);
}

char *ub_dt_target_take(ub_dt_target *t) {
  if (t->buf.failed) { ub_buf_free(&t->buf); return NULL; }
  return ub_buf_steal(&t->buf, NULL);
}
