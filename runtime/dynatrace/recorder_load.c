/* recorder_load.c: reads the JSON written by ub_recorder_to_json back
 * into a replay source (strictly: unknown keys and wrong types are
 * errors, so a damaged record never replays as something else). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "dynatrace/recorder.h"

typedef struct loader {
  json_reader r;
  char *err;
  size_t errlen;
} loader;

static int fail(loader *l, const char *what) {
  if (l->r.err[0]) snprintf(l->err, l->errlen, "recording %s", l->r.err);
  else {
    char where[96];
    json_position(&l->r, where, sizeof where);
    snprintf(l->err, l->errlen, "recording %s: %s", where, what);
  }
  return -1;
}

static int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

/* Decodes padded base64 into a new NUL-terminated buffer. */
static char *from_base64(const char *s, size_t n, size_t *out_len) {
  if (n % 4) return NULL;
  char *out = malloc(n / 4 * 3 + 1);
  if (!out) return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i += 4) {
    int v[4];
    for (int j = 0; j < 4; j++) {
      v[j] = s[i + j] == '=' && i + 4 == n && j >= 2 ? 0 : b64_value(s[i + j]);
      if (v[j] < 0) { free(out); return NULL; }
    }
    unsigned bits = (unsigned)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
    out[k++] = (char)(bits >> 16);
    if (s[i + 2] != '=') out[k++] = (char)(bits >> 8 & 255);
    if (s[i + 3] != '=') out[k++] = (char)(bits & 255);
  }
  out[k] = '\0';
  *out_len = k;
  return out;
}

static int opt_string(loader *l, json_token t, char **out) {
  if (t == JSON_NULL) return 0;
  if (t != JSON_STRING) return fail(l, "expected a string or null");
  *out = malloc(l->r.str.len + 1);
  if (!*out) return fail(l, "out of memory");
  memcpy(*out, l->r.str.data, l->r.str.len + 1);
  return 0;
}

static int body_field(loader *l, json_token t, int base64, ub_exchange *x) {
  if (t == JSON_NULL) return 0;
  if (t != JSON_STRING) return fail(l, "expected the body as a string");
  if (base64) {
    x->body = from_base64(l->r.str.data, l->r.str.len, &x->body_len);
    return x->body ? 0 : fail(l, "body_base64 is not valid base64");
  }
  x->body_len = l->r.str.len;
  return opt_string(l, t, &x->body);
}

static int int_field(loader *l, json_token t, long *out) {
  if (t != JSON_NUMBER || !l->r.is_integer) return fail(l, "expected an integer");
  *out = (long)l->r.integer;
  return 0;
}

static int exchange_field(loader *l, const char *key, json_token t, ub_exchange *x) {
  long v = 0;
  if (!strcmp(key, "method")) return t == JSON_STRING ? opt_string(l, t, &x->method) : fail(l, "method must be a string");
  if (!strcmp(key, "target")) return t == JSON_STRING ? opt_string(l, t, &x->target) : fail(l, "target must be a string");
  if (!strcmp(key, "content_type")) return opt_string(l, t, &x->content_type);
  if (!strcmp(key, "error")) return opt_string(l, t, &x->error);
  if (!strcmp(key, "body")) return body_field(l, t, 0, x);
  if (!strcmp(key, "body_base64")) return body_field(l, t, 1, x);
  if (!strcmp(key, "status")) { if (int_field(l, t, &v)) return -1; x->status = v; return 0; }
  if (!strcmp(key, "attempts")) { if (int_field(l, t, &v)) return -1; x->attempts = (int)v; return 0; }
  return fail(l, "unknown key in an exchange");
}

static int read_exchange(loader *l, ub_exchange *x) {
  json_token t;
  while ((t = json_next(&l->r)) == JSON_STRING) {
    char key[32];
    snprintf(key, sizeof key, "%s", l->r.str.data);
    if (exchange_field(l, key, json_next(&l->r), x) != 0) return -1;
  }
  if (t != JSON_OBJECT_END) return fail(l, "expected a key or '}'");
  if (!x->method || !x->target) return fail(l, "an exchange needs method and target");
  return 0;
}

static int read_exchanges(loader *l, ub_recorder *rec) {
  if (json_next(&l->r) != JSON_ARRAY) return fail(l, "exchanges must be an array");
  json_token t;
  while ((t = json_next(&l->r)) == JSON_OBJECT) {
    ub_exchange x = {0};
    int rc = read_exchange(l, &x) == 0 && ub_recorder_add(rec, &x) == 0 ? 0 : -1;
    ub_exchange_clear(&x);
    if (rc) return l->err[0] ? -1 : fail(l, "out of memory");
  }
  return t == JSON_ARRAY_END ? 0 : fail(l, "exchanges must hold objects");
}

static int read_top(loader *l, ub_recorder *rec) {
  if (json_next(&l->r) != JSON_OBJECT) return fail(l, "expected an object");
  int seen_exchanges = 0;
  json_token t;
  while ((t = json_next(&l->r)) == JSON_STRING) {
    if (json_str_is(&l->r, "version")) {
      long v = 0;
      if (int_field(l, json_next(&l->r), &v)) return -1;
      if (v != 1) return fail(l, "unsupported version (expected 1)");
    } else if (json_str_is(&l->r, "exchanges")) {
      if (read_exchanges(l, rec) != 0) return -1;
      seen_exchanges = 1;
    } else {
      return fail(l, "unknown top-level key (expected version, exchanges)");
    }
  }
  if (t != JSON_OBJECT_END || json_next(&l->r) != JSON_END) return fail(l, "malformed document");
  return seen_exchanges ? 0 : fail(l, "no exchanges");
}

ub_recorder *ub_recorder_from_json(const char *json, size_t len, char *err, size_t errlen) {
  loader l = {.err = err, .errlen = errlen};
  err[0] = '\0';
  ub_recorder *rec = ub_recorder_new();
  if (!rec) { snprintf(err, errlen, "out of memory"); return NULL; }
  json_reader_init(&l.r, json, len, 16);
  int rc = read_top(&l, rec);
  json_reader_free(&l.r);
  if (rc != 0) { ub_recorder_free(rec); return NULL; }
  ub_recorder_set_replay(rec);
  return rec;
}
