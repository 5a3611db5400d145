/* dt_error.c: turns a failed Dynatrace exchange into the one-line error
 *   Dynatrace API error (<code>): <message> [path: <p> - msg: <m>] - URL: <target>
 * reading Dynatrace's error envelope {"error":{"code","message",
 * "constraintViolations":[{"path","message"}]}} when the body has one. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dynatrace/dynatrace.h"
#include "util/json.h"
#include "util/text.h"

typedef struct envelope {
  long code;
  ub_buf text;        /* message and violations, already formatted */
} envelope;

/* Appends at most max bytes of s made safe as one terminal line
 * (util/text.h), with "..." when it was cut. */
static void put_clean(ub_buf *b, const char *s, size_t max) {
  size_t n = strnlen(s, max);
  ub_text_line(b, s, n);
  if (s[n]) ub_buf_puts(b, "...");
}

static int read_violation(json_reader *r, ub_buf *out) {
  char path[200] = "", msg[400] = "";
  json_token t;
  while ((t = json_next(r)) == JSON_STRING) {
    int is_path = json_str_is(r, "path"), is_message = json_str_is(r, "message");
    json_token v = json_next(r);
    if (v == JSON_STRING && is_path) snprintf(path, sizeof path, "%s", r->str.data);
    else if (v == JSON_STRING && is_message) snprintf(msg, sizeof msg, "%s", r->str.data);
    else if (json_skip(r, v) != 0) return -1;
  }
  if (t != JSON_OBJECT_END) return -1;
  ub_buf_puts(out, " [path: ");
  put_clean(out, path, sizeof path);
  ub_buf_puts(out, " - msg: ");
  put_clean(out, msg, sizeof msg);
  ub_buf_putc(out, ']');
  return 0;
}

static int read_violations(json_reader *r, json_token first, ub_buf *out) {
  if (first != JSON_ARRAY) return json_skip(r, first);   /* null or absent */
  json_token t;
  int n = 0;
  while ((t = json_next(r)) != JSON_ARRAY_END) {
    if (t == JSON_OBJECT && n < 10) {
      if (read_violation(r, out) != 0) return -1;
    } else if (json_skip(r, t) != 0) {
      return -1;
    }
    n++;
  }
  return 0;
}

static int read_error_object(json_reader *r, envelope *e, ub_buf *violations) {
  json_token t;
  while ((t = json_next(r)) == JSON_STRING) {
    char key[32];
    snprintf(key, sizeof key, "%s", r->str.data);
    json_token v = json_next(r);
    if (!strcmp(key, "code") && v == JSON_NUMBER && r->is_integer) {
      e->code = (long)r->integer;
    } else if (!strcmp(key, "message") && v == JSON_STRING) {
      put_clean(&e->text, r->str.data, 500);
    } else if (!strcmp(key, "constraintViolations")) {
      if (read_violations(r, v, violations) != 0) return -1;
    } else if (json_skip(r, v) != 0) {
      return -1;
    }
  }
  return t == JSON_OBJECT_END ? 0 : -1;
}

/* 0 when body is a JSON object with an "error" object. */
static int parse_envelope(const char *body, size_t len, envelope *e) {
  json_reader r;
  ub_buf violations;
  ub_buf_init(&violations);
  json_reader_init(&r, body, len, 32);
  int found = 0, bad = json_next(&r) != JSON_OBJECT;
  json_token t;
  while (!bad && (t = json_next(&r)) == JSON_STRING) {
    int is_error = json_str_is(&r, "error");
    json_token v = json_next(&r);
    if (is_error && v == JSON_OBJECT) {
      bad = read_error_object(&r, e, &violations) != 0;
      found = 1;
    } else {
      bad = json_skip(&r, v) != 0;
    }
  }
  if (!bad && json_next(&r) != JSON_END) bad = 1;
  if (violations.len) ub_buf_append(&e->text, violations.data, violations.len);
  ub_buf_free(&violations);
  json_reader_free(&r);
  return found && !bad ? 0 : -1;
}

static int is_json_type(const char *ct) {
  if (!ct) return 0;
  size_t n = strcspn(ct, ";");
  for (size_t i = 0; i + 4 <= n; i++)
    if (!strncasecmp(ct + i, "json", 4)) return 1;
  return 0;
}

static void finish(ub_buf *b, const ub_exchange *x, char *err, size_t errlen) {
  ub_buf_puts(b, " - URL: ");
  put_clean(b, x->target ? x->target : "?", 2000);
  snprintf(err, errlen, "%s", b->failed || !b->data ? "out of memory" : b->data);
  ub_buf_free(b);
}

void ub_dt_invalid_response(const ub_exchange *x, const char *why, char *err, size_t errlen) {
  ub_buf b;
  ub_buf_init(&b);
  ub_buf_printf(&b, "Dynatrace API error (%ld): received invalid response (", x->status);
  put_clean(&b, why, 300);
  ub_buf_putc(&b, ')');
  finish(&b, x, err, errlen);
}

static void http_error(const ub_exchange *x, char *err, size_t errlen) {
  envelope e = {.code = 0};
  ub_buf_init(&e.text);
  ub_buf b;
  ub_buf_init(&b);
  if (x->body && parse_envelope(x->body, x->body_len, &e) == 0 && e.text.len) {
    ub_buf_printf(&b, "Dynatrace API error (%ld): %s", e.code ? e.code : x->status, e.text.data);
  } else {
    ub_buf_printf(&b, "Dynatrace API error (%ld): HTTP %ld with a non-JSON body (", x->status, x->status);
    put_clean(&b, x->content_type && x->content_type[0] ? x->content_type : "no content type", 200);
    ub_buf_putc(&b, ')');
  }
  if (x->error) {
    ub_buf_puts(&b, " (");
    put_clean(&b, x->error, 300);
    ub_buf_putc(&b, ')');
  }
  ub_buf_free(&e.text);
  finish(&b, x, err, errlen);
}

int ub_dt_check(const ub_exchange *x, char *err, size_t errlen) {
  int ok_status = x->status >= 200 && x->status < 300;
  if (x->status == 0 || (ok_status && x->error)) {
    ub_buf b;
    ub_buf_init(&b);
    ub_buf_puts(&b, "Dynatrace request failed: ");
    put_clean(&b, x->error ? x->error : "no answer", 300);
    finish(&b, x, err, errlen);
    return -1;
  }
  if (!ok_status) {
    http_error(x, err, errlen);
    return -1;
  }
  if (!is_json_type(x->content_type)) {
    char why[200];
    snprintf(why, sizeof why, "Content-Type %.100s, expected application/json",
             x->content_type && x->content_type[0] ? x->content_type : "missing");
    ub_dt_invalid_response(x, why, err, errlen);
    return -1;
  }
  return 0;
}
