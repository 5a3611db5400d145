/* series.c: layout and copy helpers for packed metric series (series.h).
 * No allocation here: callers provide the blocks (the Lua binding takes
 * them from the Lua allocator so the sandbox memory cap counts them). */
#include "kernels/series.h"

#include <math.h>
#include <string.h>

/* The header size rounded up so the values that follow it are aligned. */
static size_t header_size(void) {
  size_t align = sizeof(double) > sizeof(int64_t) ? sizeof(double) : sizeof(int64_t);
  return (sizeof(ub_series) + align - 1) / align * align;
}

size_t ub_series_block_size(size_t n, int with_timestamps) {
  if (n > UB_SERIES_MAX_LEN) return 0;
  size_t per_point = sizeof(double) + (with_timestamps ? sizeof(int64_t) : 0);
  return header_size() + n * per_point;
}

ub_series *ub_series_layout(void *block, size_t n, int with_timestamps) {
  ub_series *s = block;
  char *data = (char *)block + header_size();
  s->len = n;
  s->values = (double *)(void *)data;
  s->timestamps = with_timestamps ? (int64_t *)(void *)(data + n * sizeof(double)) : NULL;
  s->entity = s->metric = s->unit = NULL;
  return s;
}

void ub_series_fill_missing(ub_series *s) {
  for (size_t i = 0; i < s->len; i++) s->values[i] = NAN;
  if (s->timestamps) memset(s->timestamps, 0, s->len * sizeof *s->timestamps);
}

static int in_window(int64_t t, int64_t from, int64_t to) { return t >= from && t < to; }

size_t ub_series_window_count(const ub_series *s, int64_t from, int64_t to) {
  size_t c = 0;
  for (size_t i = 0; i < s->len; i++) c += (size_t)in_window(s->timestamps[i], from, to);
  return c;
}

void ub_series_copy_window(const ub_series *s, int64_t from, int64_t to,
                           ub_series *out) {
  size_t o = 0;
  for (size_t i = 0; i < s->len && o < out->len; i++) {
    if (!in_window(s->timestamps[i], from, to)) continue;
    out->values[o] = s->values[i];
    out->timestamps[o] = s->timestamps[i];
    o++;
  }
}

size_t ub_series_copy_present(const ub_series *s, ub_series *out) {
  size_t o = 0;
  for (size_t i = 0; i < s->len && o < out->len; i++) {
    if (isnan(s->values[i])) continue;
    out->values[o] = s->values[i];
    if (out->timestamps && s->timestamps) out->timestamps[o] = s->timestamps[i];
    o++;
  }
  return o;
}

void ub_series_copy_scaled(const ub_series *s, double factor, ub_series *out) {
  for (size_t i = 0; i < s->len && i < out->len; i++) out->values[i] = s->values[i] * factor;
  if (out->timestamps && s->timestamps && out->timestamps != s->timestamps)
    memcpy(out->timestamps, s->timestamps, s->len * sizeof *s->timestamps);
}

void ub_series_copy_into(const ub_series *src, ub_series *dst, size_t at) {
  if (at > dst->len || src->len > dst->len - at) return;
  if (src->len == 0) return;
  memcpy(dst->values + at, src->values, src->len * sizeof *src->values);
  if (dst->timestamps && src->timestamps)
    memcpy(dst->timestamps + at, src->timestamps, src->len * sizeof *src->timestamps);
}
