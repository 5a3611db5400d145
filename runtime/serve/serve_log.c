/* serve_log.c: the service's log: one JSON object per line on stderr
 * (time, level, request id, route, status, duration, evaluation id).
 * Callers never pass a token; messages are escaped, so a value cannot
 * forge a line. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "serve/serve.h"
#include "util/clock.h"
#include "util/json.h"

static void put_string(ub_buf *b, const char *key, const char *value) {
  if (!value) return;
  ub_buf_printf(b, ",\"%s\":", key);
  json_append_string(b, value, strlen(value));
}

void serve_log(const serve_log_fields *f) {
  int64_t now = ub_clock_wall_ms();
  time_t secs = (time_t)(now / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char when[40];
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  ub_buf b;
  ub_buf_init(&b);
  ub_buf_printf(&b, "{\"time\":\"%s.%03dZ\"", when, (int)(now % 1000));
  put_string(&b, "level", f->level ? f->level : "info");
  put_string(&b, "request_id", f->request_id);
  put_string(&b, "method", f->method);
  put_string(&b, "route", f->route);
  if (f->status) ub_buf_printf(&b, ",\"status\":%d", f->status);
  if (f->duration_ms >= 0) ub_buf_printf(&b, ",\"duration_ms\":%.1f", f->duration_ms);
  if (f->evaluation) ub_buf_printf(&b, ",\"evaluation\":%lld", (long long)f->evaluation);
  put_string(&b, "msg", f->msg);
  ub_buf_puts(&b, "}\n");
  if (!b.failed) {
    flockfile(stderr);
    fwrite(b.data, 1, b.len, stderr);
    fflush(stderr);
    funlockfile(stderr);
  }
  ub_buf_free(&b);
}

void serve_logf(const char *level, const char *request_id, const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  serve_log_fields f = {.level = level, .request_id = request_id, .msg = msg, .duration_ms = -1};
  serve_log(&f);
}
