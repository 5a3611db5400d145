/* buf.c: growable byte buffer, and reading a whole file into one. */
#include "util/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ub_buf_init(ub_buf *b) { memset(b, 0, sizeof *b); }

void ub_buf_free(ub_buf *b) {
  free(b->data);
  ub_buf_init(b);
}

void ub_buf_reset(ub_buf *b) {
  b->len = 0;
  b->failed = 0;
  if (b->data) b->data[0] = '\0';
}

int ub_buf_reserve(ub_buf *b, size_t extra) {
  if (b->failed) return -1;
  if (extra > ((size_t)-1) / 2 - b->len) { b->failed = 1; return -1; }
  size_t need = b->len + extra + 1;
  if (need <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need) cap *= 2;
  char *d = realloc(b->data, cap);
  if (!d) { b->failed = 1; return -1; }
  d[b->len] = '\0'; /* a fresh buffer is the empty string at once */
  b->data = d;
  b->cap = cap;
  return 0;
}

int ub_buf_append(ub_buf *b, const void *data, size_t len) {
  if (ub_buf_reserve(b, len) != 0) return -1;
  if (len) memcpy(b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = '\0';
  return 0;
}

int ub_buf_puts(ub_buf *b, const char *s) { return ub_buf_append(b, s, strlen(s)); }

int ub_buf_putc(ub_buf *b, char c) { return ub_buf_append(b, &c, 1); }

int ub_buf_printf(ub_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || ub_buf_reserve(b, (size_t)n) != 0) return -1;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return 0;
}

char *ub_buf_steal(ub_buf *b, size_t *len) {
  if (ub_buf_reserve(b, 0) != 0) return NULL;
  char *d = b->data;
  if (len) *len = b->len;
  ub_buf_init(b);
  return d;
}

char *ub_read_all(const char *path, size_t max, size_t *len, char *err, size_t errlen) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    return NULL;
  }
  ub_buf b;
  ub_buf_init(&b);
  char chunk[65536];
  size_t n;
  int too_big = 0;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    if (b.len + n > max) { too_big = 1; break; }
    ub_buf_append(&b, chunk, n);
  }
  int bad = ferror(f) || b.failed;
  if (f != stdin) fclose(f);
  if (too_big || bad) {
    if (too_big) snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
    else snprintf(err, errlen, "cannot read %s", path);
    ub_buf_free(&b);
    return NULL;
  }
  if (ub_buf_reserve(&b, 0) != 0) {
    snprintf(err, errlen, "out of memory reading %s", path);
    return NULL;
  }
  return ub_buf_steal(&b, len);
}
