/* report_svg.h: one inline SVG line chart per objective: the series of the
 * source window, the baseline series (compare window, aligned to the same
 * start), and horizontal lines for threshold, baseline and value. No
 * script, no external reference; the text inside is escaped. */
#ifndef UB_REPORT_SVG_H
#define UB_REPORT_SVG_H

#include <stddef.h>
#include "util/buf.h"

typedef struct ub_chart_series {
  const double *values;     /* NaN = missing point (breaks the line) */
  const double *times;      /* Unix ms, or NULL (points evenly spaced) */
  size_t n;
} ub_chart_series;

typedef struct ub_chart {
  const char *title;        /* objective name, for the accessible label */
  const char *unit;         /* raw unit, converted with report_units */
  const char *series_label; /* legend text of the series; NULL: "series" */
  ub_chart_series series, baseline_series;
  int has_threshold, has_baseline, has_value;
  double threshold, baseline, value;  /* raw units */
} ub_chart;

/* Appends the <svg> element: a line chart, or without any series a number
 * line with the value (dot), baseline and threshold. Returns 0, or -1 when
 * out ran out of memory. */
int report_svg_chart(const ub_chart *c, ub_buf *out);

#endif
