/* series.h: packed metric series: double values (NaN marks a missing
 * point), optional int64 millisecond timestamps, labels and a unit.
 * The helpers below are pure C over one contiguous block (header, values,
 * timestamps) so the Lua binding (lseries.h) can place a whole series in
 * one userdata allocated through the Lua allocator. */
#ifndef UB_SERIES_H
#define UB_SERIES_H

#include <stddef.h>
#include <stdint.h>

typedef struct ub_series {
  size_t len;
  double *values;        /* NaN = missing point (JSON null) */
  int64_t *timestamps;   /* NULL when the series carries no timestamps */
  const char *entity;    /* labels; may be NULL */
  const char *metric;
  const char *unit;
} ub_series;

/* Largest length a series may have (keeps every byte count in size_t). */
#define UB_SERIES_MAX_LEN ((size_t)1 << 40)

/* Bytes of a block holding the header, n values and, if asked, n
 * timestamps; 0 when n exceeds UB_SERIES_MAX_LEN. */
size_t ub_series_block_size(size_t n, int with_timestamps);
/* Lays the header out at the start of block (aligned for double, of
 * ub_series_block_size bytes) and points values/timestamps into it. Values
 * and timestamps are left as they are; labels are NULL. */
ub_series *ub_series_layout(void *block, size_t n, int with_timestamps);
void ub_series_fill_missing(ub_series *s);

/* Points with from <= timestamp < to (s must have timestamps). */
size_t ub_series_window_count(const ub_series *s, int64_t from, int64_t to);
/* Copies those points, in order, to out (len = window count). */
void ub_series_copy_window(const ub_series *s, int64_t from, int64_t to,
                           ub_series *out);
/* Copies present points (and their timestamps) to out; returns how many. */
size_t ub_series_copy_present(const ub_series *s, ub_series *out);
/* out[i] = s[i] * factor; missing stays missing (out may equal s). */
void ub_series_copy_scaled(const ub_series *s, double factor, ub_series *out);
/* Copies all of src into dst starting at index at (pooling). dst has
 * timestamps only if src has them too. */
void ub_series_copy_into(const ub_series *src, ub_series *dst, size_t at);

#endif
