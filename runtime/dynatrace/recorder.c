/* recorder.c: records Dynatrace exchanges in order, writes them as JSON
 * for the ledger, and answers requests from such a record (replay). */
#include "dynatrace/recorder.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"

struct ub_recorder {
  ub_exchange *items;
  unsigned char *used;     /* replay: answered already */
  size_t len, cap;
  int replay;
};

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

void ub_exchange_clear(ub_exchange *x) {
  free(x->method);
  free(x->target);
  free(x->content_type);
  free(x->body);
  free(x->error);
  memset(x, 0, sizeof *x);
}

int ub_exchange_copy_response(ub_exchange *dst, const ub_exchange *src) {
  dst->status = src->status;
  dst->attempts = src->attempts;
  dst->duration_ms = src->duration_ms;
  dst->content_type = dup_or_null(src->content_type);
  dst->error = dup_or_null(src->error);
  dst->body_len = src->body_len;
  dst->body = NULL;
  if (src->body) {
    dst->body = malloc(src->body_len + 1);
    if (dst->body) {
      memcpy(dst->body, src->body, src->body_len);
      dst->body[src->body_len] = '\0';
    }
  }
  if ((src->content_type && !dst->content_type) || (src->error && !dst->error) ||
      (src->body && !dst->body))
    return -1;
  return 0;
}

ub_recorder *ub_recorder_new(void) { return calloc(1, sizeof(ub_recorder)); }

void ub_recorder_free(ub_recorder *rec) {
  if (!rec) return;
  for (size_t i = 0; i < rec->len; i++) ub_exchange_clear(&rec->items[i]);
  free(rec->items);
  free(rec->used);
  free(rec);
}

void ub_recorder_set_replay(ub_recorder *rec) { rec->replay = 1; }
int ub_recorder_is_replay(const ub_recorder *rec) { return rec->replay; }
size_t ub_recorder_count(const ub_recorder *rec) { return rec->len; }
const ub_exchange *ub_recorder_get(const ub_recorder *rec, size_t i) {
  return i < rec->len ? &rec->items[i] : NULL;
}

static ub_exchange *append_slot(ub_recorder *rec) {
  if (rec->len == rec->cap) {
    size_t cap = rec->cap ? rec->cap * 2 : 16;
    ub_exchange *items = realloc(rec->items, cap * sizeof *items);
    if (!items) return NULL;
    rec->items = items;
    unsigned char *used = realloc(rec->used, cap);
    if (!used) return NULL;
    rec->used = used;
    rec->cap = cap;
  }
  ub_exchange *x = &rec->items[rec->len];
  memset(x, 0, sizeof *x);
  rec->used[rec->len] = 0;
  rec->len++;
  return x;
}

int ub_recorder_add(ub_recorder *rec, const ub_exchange *x) {
  ub_exchange *slot = append_slot(rec);
  if (!slot) return -1;
  slot->method = dup_or_null(x->method ? x->method : "GET");
  slot->target = dup_or_null(x->target);
  if (ub_exchange_copy_response(slot, x) != 0 || !slot->method || !slot->target) {
    ub_exchange_clear(slot);
    rec->len--;
    return -1;
  }
  return 0;
}

/* ---- canonical targets -------------------------------------------- */

static int compare_params(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int ub_canonical_target(const char *target, ub_buf *out) {
  const char *q = strchr(target, '?');
  if (!q) return ub_buf_puts(out, target);
  ub_buf_append(out, target, (size_t)(q - target));
  char *copy = strdup(q + 1);
  size_t n = 1;
  for (const char *p = q + 1; *p; p++) n += *p == '&';
  char **parts = calloc(n, sizeof *parts);
  if (!copy || !parts) { free(copy); free(parts); return -1; }
  size_t k = 0;
  for (char *save = NULL, *tok = strtok_r(copy, "&", &save); tok; tok = strtok_r(NULL, "&", &save))
    parts[k++] = tok;
  qsort(parts, k, sizeof *parts, compare_params);
  for (size_t i = 0; i < k; i++) {
    ub_buf_putc(out, i ? '&' : '?');
    ub_buf_puts(out, parts[i]);
  }
  free(parts);
  free(copy);
  return out->failed ? -1 : 0;
}

/* ---- replay ------------------------------------------------------- */

static int same_request(const ub_exchange *rec, const char *method, const char *canon) {
  if (strcmp(rec->method, method) != 0) return 0;
  ub_buf c;
  ub_buf_init(&c);
  int same = ub_canonical_target(rec->target, &c) == 0 && !strcmp(c.data, canon);
  ub_buf_free(&c);
  return same;
}

int ub_recorder_answer(ub_recorder *rec, ub_exchange *x) {
  const char *method = x->method ? x->method : "GET";
  ub_buf canon;
  ub_buf_init(&canon);
  if (ub_canonical_target(x->target ? x->target : "", &canon) != 0) {
    ub_buf_free(&canon);
    x->error = strdup("out of memory");
    return -1;
  }
  for (size_t i = 0; i < rec->len; i++) {
    if (rec->used[i] || !same_request(&rec->items[i], method, canon.data)) continue;
    rec->used[i] = 1;
    ub_buf_free(&canon);
    return ub_exchange_copy_response(x, &rec->items[i]);
  }
  ub_buf_free(&canon);
  x->status = 0;
  x->attempts = 0;
  x->error = strdup("not in the recorded evaluation");
  return -1;
}

/* ---- JSON --------------------------------------------------------- */

static int valid_utf8(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!len || i + len > n || c == 0) return 0;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return 0;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    static const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    i += len;
  }
  return 1;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void put_base64(ub_buf *out, const unsigned char *s, size_t n) {
  ub_buf_putc(out, '"');
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)s[i] << 16;
    if (i + 1 < n) v |= (uint32_t)s[i + 1] << 8;
    if (i + 2 < n) v |= s[i + 2];
    char q[4] = {b64[v >> 18], b64[(v >> 12) & 63], i + 1 < n ? b64[(v >> 6) & 63] : '=',
                 i + 2 < n ? b64[v & 63] : '='};
    ub_buf_append(out, q, 4);
  }
  ub_buf_putc(out, '"');
}

static void put_opt_string(ub_buf *out, const char *key, const char *s) {
  ub_buf_printf(out, ",\"%s\":", key);
  if (s) json_append_string(out, s, strlen(s));
  else ub_buf_puts(out, "null");
}

static void put_exchange(ub_buf *out, const ub_exchange *x) {
  ub_buf_puts(out, "{\"method\":");
  json_append_string(out, x->method, strlen(x->method));
  ub_buf_puts(out, ",\"target\":");
  json_append_string(out, x->target, strlen(x->target));
  ub_buf_printf(out, ",\"status\":%ld,\"attempts\":%d", x->status, x->attempts);
  put_opt_string(out, "content_type", x->content_type);
  put_opt_string(out, "error", x->error);
  if (!x->body) {
    ub_buf_puts(out, ",\"body\":null}");
  } else if (valid_utf8((const unsigned char *)x->body, x->body_len)) {
    ub_buf_puts(out, ",\"body\":");
    json_append_string(out, x->body, x->body_len);
    ub_buf_putc(out, '}');
  } else {
    ub_buf_puts(out, ",\"body_base64\":");
    put_base64(out, (const unsigned char *)x->body, x->body_len);
    ub_buf_putc(out, '}');
  }
}

int ub_recorder_to_json(const ub_recorder *rec, ub_buf *out) {
  ub_buf_puts(out, "{\"version\":1,\"exchanges\":[");
  for (size_t i = 0; i < rec->len; i++) {
    if (i) ub_buf_putc(out, ',');
    put_exchange(out, &rec->items[i]);
  }
  ub_buf_puts(out, "]}");
  return out->failed ? -1 : 0;
}
