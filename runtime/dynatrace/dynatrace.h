/* Folder dynatrace/: the Dynatrace API client: configuration, request
 * targets, the calls and their batching, checking and decoding each
 * answer against its documented shape, the error envelope, and recording
 * every exchange for the ledger and replaying it. May call net/ and
 * util/ (dt_decode.c still builds Lua values for lualib/ and asks
 * sandbox/ for budget: see docs/architecture.md). */
/* dynatrace.h: the Dynatrace API client: configuration (tenant URL and
 * token from flags, environment or a token file), request targets with
 * correct percent-encoding, fetching many targets in parallel through the
 * HTTP engine, the error envelope and token redaction. The token lives
 * only inside ub_dt_client; nothing this API returns contains it. */
#ifndef UB_DYNATRACE_H
#define UB_DYNATRACE_H

#include <stddef.h>
#include <stdint.h>
#include "util/buf.h"
#include "dynatrace/recorder.h"

/* Values given on the command line; any may be NULL. */
typedef struct ub_dt_flags {
  const char *url;          /* --dt-url */
  const char *token;        /* --dt-token (visible in ps; prefer a file) */
  const char *token_file;   /* --dt-token-file */
  const char *ca_bundle;    /* --dt-ca-bundle */
} ub_dt_flags;

typedef struct ub_dt_config {
  char *base_url;           /* without trailing '/' */
  char *token;              /* secret; ub_dt_config_free wipes it */
  char *ca_bundle;          /* NULL = system CAs */
  int concurrency;          /* default 10 */
  long timeout_ms;          /* overall per batch, default 60000 */
  long attempt_timeout_ms;  /* one HTTP attempt, default 30000 */
  int max_attempts;         /* default 4 */
  long backoff_base_ms;     /* default 200 */
  long max_wait_ms;         /* longest Retry-After honoured, default 60000 */
  size_t max_response_bytes;/* default 64 MiB */
} ub_dt_config;

/* Fills c: URL from flags->url or DT_TENANT_URL; token from
 * flags->token, flags->token_file, DT_API_TOKEN, DT_API_TOKEN_FILE (first
 * found). Returns 0 or -1 with err naming the missing or bad setting and
 * the fix. The token is never copied into err. */
int ub_dt_config_resolve(ub_dt_config *c, const ub_dt_flags *flags, char *err, size_t errlen);
void ub_dt_config_free(ub_dt_config *c);

typedef struct ub_dt_client ub_dt_client;

/* Copies what it needs from c (c may be freed afterwards). */
ub_dt_client *ub_dt_client_new(const ub_dt_config *c, char *err, size_t errlen);
void ub_dt_client_free(ub_dt_client *client);
const char *ub_dt_client_base_url(const ub_dt_client *client);
long ub_dt_client_timeout_ms(const ub_dt_client *client);

/* Fetches every exchange (method and target set) in parallel and fills
 * the response parts; bodies have the token redacted. deadline_ms is
 * monotonic (ub_clock_ms()); 0 = now + timeout_ms. Returns 0, or -1
 * when the engine failed (each exchange then carries an error). */
int ub_dt_fetch(ub_dt_client *client, ub_exchange *xs, size_t n, int64_t deadline_ms);

/* Sends one POST (x->method "POST", x->target set) with a JSON body and
 * fills the response parts like ub_dt_fetch. A POST is retried only when
 * Dynatrace surely did not act on it (429, 503, no connection made): after
 * it may have been received (a timeout, a cut connection, 502, 504) it is
 * not sent again, and the caller must treat the outcome as unknown.
 * Returns 0, or -1 when the engine failed (x then carries an error). */
int ub_dt_post(ub_dt_client *client, ub_exchange *x, const char *body, size_t body_len,
               int64_t deadline_ms);

/* Replaces every occurrence of the client's token in b by "[REDACTED]". */
void ub_dt_redact(const ub_dt_client *client, ub_buf *b);

/* ---- targets ------------------------------------------------------ */

/* RFC 3986: everything except ALPHA / DIGIT / "-" / "." / "_" / "~" is
 * percent-encoded; in a path segment ':' is kept (as Dynatrace ids and
 * the original CLI use it). */
int ub_dt_encode(ub_buf *out, const char *s, int path_segment);
/* Appends s as a quoted selector value: in double quotes, with '"' and
 * '~' escaped by '~' (so an id or tag cannot close the value and add
 * terms of its own). */
void ub_dt_selector_quote(ub_buf *out, const char *s, size_t len);

typedef struct ub_dt_target {
  ub_buf buf;
  int has_query;
} ub_dt_target;

/* Starts "prefix" + encoded(segment) (segment may be NULL). */
int ub_dt_target_init(ub_dt_target *t, const char *prefix, const char *segment);
/* Appends key=encoded(value); a NULL value is skipped. */
int ub_dt_target_param(ub_dt_target *t, const char *key, const char *value);
/* Takes the finished string (caller frees). NULL if any step failed. */
char *ub_dt_target_take(ub_dt_target *t);

/* ---- responses ---------------------------------------------------- */

/* 0 when x is a successful JSON answer (2xx and a JSON content type);
 * otherwise -1 and err gets the one-line message
 *   Dynatrace API error (<code>): <message> [path: <p> - msg: <m>] - URL: <target>
 * (or "Dynatrace request failed: <error> - URL: <target>" when no answer
 * arrived). A 2xx with another content type is "received invalid
 * response". */
int ub_dt_check(const ub_exchange *x, char *err, size_t errlen);

/* The message for a 2xx whose body failed to decode. */
void ub_dt_invalid_response(const ub_exchange *x, const char *why, char *err, size_t errlen);

#endif
