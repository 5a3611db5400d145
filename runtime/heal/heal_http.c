/* heal_http.c: one HTTP call of self-healing to Dynatrace or Azure DevOps
 * (net/http_call.h): 429/502/503/504 and transport errors are retried by
 * the engine (4 attempts, Retry-After honoured up to 30 s); a 500 is
 * retried here for reads only, since a write that answered 500 may have
 * happened (the intent executor checks before calling again). The
 * credential goes only into the header. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "heal/heal_internal.h"

#define HEAL_READ_ROUNDS 3  /* a read answered 500 is asked again, twice */

static void pause_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void base64(ub_buf *out, const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0) | (i + 2 < n ? s[i + 2] : 0);
    ub_buf_putc(out, B64[v >> 18 & 63]);
    ub_buf_putc(out, B64[v >> 12 & 63]);
    ub_buf_putc(out, i + 1 < n ? B64[v >> 6 & 63] : '=');
    ub_buf_putc(out, i + 2 < n ? B64[v & 63] : '=');
  }
}

/* Azure DevOps takes a PAT as Basic base64(":" + PAT); wiped after use. */
static void ado_credential(const heal_config *c, ub_buf *out) {
  ub_buf plain;
  ub_buf_init(&plain);
  ub_buf_printf(&plain, ":%s", c->ado_token ? c->ado_token : "");
  base64(out, (const unsigned char *)plain.data, plain.len);
  if (plain.data) memset(plain.data, 0, plain.len);
  ub_buf_free(&plain);
}

int heal_http(const heal_config *c, heal_service to, const char *method, const char *url, const char *body,
              ub_http_reply *out) {
  ub_http_opts o;
  ub_http_default_opts(&o);
  o.concurrency = 1;
  o.max_attempts = HEAL_ATTEMPTS;
  o.attempt_timeout_ms = c->timeout_ms;
  o.max_wait_ms = 30000;
  o.call_deadline_ms = c->call_deadline_ms;
  o.backoff_base_ms = 100;
  ub_buf ado;
  ub_buf_init(&ado);
  if (to == HEAL_ADO) ado_credential(c, &ado);
  const char *scheme = to == HEAL_ADO ? "Basic" : "Api-Token";
  const char *credential = to == HEAL_ADO ? (ado.data ? ado.data : "") : c->dt_token;
  int read = strcmp(method, "GET") == 0, rc;
  for (int round = 1;; round++) {
    rc = ub_http_call(method, url, scheme, credential, body, &o, out);
    if (rc == 0 || !read || out->status != 500 || round >= HEAL_READ_ROUNDS) break;
    pause_ms(200L << (round - 1));
  }
  if (ado.data) memset(ado.data, 0, ado.len);
  ub_buf_free(&ado);
  return rc;
}
