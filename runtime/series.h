/* series.h: packed metric series: double values (NaN marks a missing
 * point), optional int64 millisecond timestamps, labels and a unit. */
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

#endif
