/* report_svg.c: scales, nice ticks and the SVG markup of a chart. */
#include "report/report_svg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "report/report_units.h"
#include "util/text.h"

#define W 1000.0
#define H 260.0
#define LEFT 70.0
#define RIGHT 34.0
#define TOP 14.0
#define BOTTOM 58.0

typedef struct scale {
  double lo, hi;            /* data range (display units / ms offset) */
  double px_lo, px_hi;
} scale;

/* Magnitudes beyond this are drawn at the edge, so that hi - lo of a
 * scale stays finite (1e308 - -1e308 is not). */
#define PLOT_MAX 1e300

static double clamp_plot(double v) { return v > PLOT_MAX ? PLOT_MAX : v < -PLOT_MAX ? -PLOT_MAX : v; }

static double project(const scale *s, double v) {
  return s->px_lo + (clamp_plot(v) - s->lo) / (s->hi - s->lo) * (s->px_hi - s->px_lo);
}

static double nice_step(double range, int target) {
  double raw = range / target;
  double mag = pow(10, floor(log10(raw)));
  double f = raw / mag;
  double nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return nice * mag;
}

static void widen(double *lo, double *hi, double v) {
  if (!isfinite(v)) return;
  v = clamp_plot(v);
  if (v < *lo) *lo = v;
  if (v > *hi) *hi = v;
}

/* Y range over every plotted value in display units, padded to ticks. */
static scale y_scale(const ub_chart *c, double factor, double *step) {
  double lo = INFINITY, hi = -INFINITY;
  const ub_chart_series *all[] = {&c->series, &c->baseline_series};
  for (int k = 0; k < 2; k++)
    for (size_t i = 0; i < all[k]->n; i++) widen(&lo, &hi, all[k]->values[i] * factor);
  if (c->has_threshold) widen(&lo, &hi, c->threshold * factor);
  if (c->has_baseline) widen(&lo, &hi, c->baseline * factor);
  if (c->has_value) widen(&lo, &hi, c->value * factor);
  if (!isfinite(lo)) lo = 0, hi = 1;
  if (hi - lo < 1e-9 * (fabs(hi) + 1)) {
    double pad = fabs(hi) > 1e-300 ? fabs(hi) * 0.1 : 1; /* a tenth of a denormal is 0 */
    lo -= pad;
    hi += pad;
  }
  if (lo > 0 && lo < (hi - lo) * 0.5) lo = 0; /* start at zero when close */
  *step = nice_step(hi - lo, 5);
  scale s = {floor(lo / *step) * *step, ceil(hi / *step) * *step, H - BOTTOM, TOP};
  return s;
}

static double x_of(const ub_chart_series *s, size_t i) {
  if (s->times) return s->times[i] - s->times[0];
  return s->n > 1 ? (double)i : 0;
}

static void y_axis(ub_buf *out, const scale *y, double step, const char *label) {
  for (double v = y->lo; v <= y->hi + step * 1e-6; v += step) {
    char num[32];
    double py = project(y, v);
    ub_format_number(fabs(v) < step * 1e-6 ? 0 : v, num);
    ub_buf_printf(out, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                       "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>",
                  LEFT, W - RIGHT, py, py, LEFT - 6, py + 4, num);
  }
  ub_buf_printf(out, "<text class=\"axis\" x=\"14\" y=\"%.1f\" transform=\"rotate(-90 14 %.1f)\" "
                     "text-anchor=\"middle\">", (TOP + H - BOTTOM) / 2, (TOP + H - BOTTOM) / 2);
  ub_xml_puts(out, label);
  ub_buf_puts(out, "</text>");
}

static const double MINUTE_STEPS[] = {1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440};

static void x_axis(ub_buf *out, const ub_chart_series *s, const scale *x) {
  double span = x->hi - x->lo, step;
  if (s->times) {
    step = MINUTE_STEPS[sizeof MINUTE_STEPS / sizeof *MINUTE_STEPS - 1] * 60000;
    for (size_t i = 0; i < sizeof MINUTE_STEPS / sizeof *MINUTE_STEPS; i++)
      if (span / (MINUTE_STEPS[i] * 60000) <= 7) { step = MINUTE_STEPS[i] * 60000; break; }
  } else {
    step = span > 0 ? fmax(1, nice_step(span, 6)) : 1;
  }
  while (span / step > 12) step *= 2; /* windows of days or weeks */
  for (double v = x->lo; v <= x->hi + 1e-6; v += step) {
    char label[32];
    if (s->times) {
      double ms = s->times[0] + v;
      int in_calendar = ms > -62135596800000.0 && ms < 253402300800000.0; /* years 1-9999 */
      time_t t = in_calendar ? (time_t)(ms / 1000) : 0;
      struct tm tm;
      if (!in_calendar || !gmtime_r(&t, &tm) ||
          !strftime(label, sizeof label, span > 86400000.0 ? "%m-%d %H:%M" : "%H:%M", &tm))
        snprintf(label, sizeof label, "?");
    } else {
      snprintf(label, sizeof label, "%.0f", v + 1);
    }
    ub_buf_printf(out, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>",
                  project(x, v), H - BOTTOM + 16, label);
  }
  ub_buf_printf(out, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>",
                (LEFT + W - RIGHT) / 2, H - BOTTOM + 32,
                s->times ? "source window (UTC)" : "data point");
}

/* A path with one segment per run of present points. */
static void line(ub_buf *out, const ub_chart_series *s, const scale *x, const scale *y,
                 double factor, const char *cls) {
  int pen = 0, any = 0;
  for (size_t i = 0; i < s->n; i++) {
    double v = s->values[i];
    if (!isfinite(v)) { pen = 0; continue; }
    if (!any) ub_buf_printf(out, "<path class=\"%s\" d=\"", cls);
    any = 1;
    ub_buf_printf(out, "%c%.1f %.1f ", pen ? 'L' : 'M', project(x, x_of(s, i)), project(y, v * factor));
    pen = 1;
  }
  if (any) ub_buf_puts(out, "\"/>");
}

static void hline(ub_buf *out, const scale *y, double v, const char *cls) {
  double py = project(y, v);
  ub_buf_printf(out, "<line class=\"%s\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>",
                cls, LEFT, W - RIGHT, py, py);
}

static void legend_item(ub_buf *out, double *x, double y, const char *cls, const char *text) {
  ub_buf_printf(out, "<line class=\"%s key\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                     "<text class=\"legend\" x=\"%.1f\" y=\"%.1f\">", cls, *x, *x + 22, y - 4, y - 4,
                *x + 27, y);
  ub_xml_puts(out, text);
  ub_buf_puts(out, "</text>");
  *x += 36 + 6.6 * (double)strlen(text);
}

static void legend(ub_buf *out, const ub_chart *c, double y) {
  double x = LEFT;
  char text[96], v[48];
  const char *label = c->series_label ? c->series_label : "series";
  if (c->series.n) legend_item(out, &x, y, "series", label);
  snprintf(text, sizeof text, "baseline %s", label);
  if (c->baseline_series.n) legend_item(out, &x, y, "bseries", text);
  if (c->has_value) {
    ub_format_value(c->value, c->unit, v);
    snprintf(text, sizeof text, "value %s", v);
    legend_item(out, &x, y, "value", text);
  }
  if (c->has_baseline) {
    ub_format_value(c->baseline, c->unit, v);
    snprintf(text, sizeof text, "baseline %s", v);
    legend_item(out, &x, y, "baseline", text);
  }
  if (c->has_threshold) {
    ub_format_value(c->threshold, c->unit, v);
    snprintf(text, sizeof text, "threshold %s", v);
    legend_item(out, &x, y, "threshold", text);
  }
}

/* X range over both series (offsets from each series' first point);
 * out-of-order timestamps stay inside the frame. */
static scale x_scale(const ub_chart *c) {
  double lo = INFINITY, hi = -INFINITY;
  const ub_chart_series *all[] = {&c->series, &c->baseline_series};
  for (int k = 0; k < 2; k++)
    for (size_t i = 0; i < all[k]->n; i++) widen(&lo, &hi, x_of(all[k], i));
  if (!isfinite(lo)) lo = 0, hi = 1;
  if (hi <= lo) hi = lo + 1;
  scale s = {lo, hi, LEFT, W - RIGHT};
  return s;
}

#define LEVELS_H 100.0

static void vline(ub_buf *out, double x, double y1, double y2, const char *cls) {
  ub_buf_printf(out, "<line class=\"%s\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>",
                cls, x, x, y1, y2);
}

/* Without a series: value, baseline and threshold on one number line. */
static int levels_chart(const ub_chart *c, ub_buf *out) {
  ub_unit_display d = ub_unit_for(c->unit);
  double step;
  scale s = y_scale(c, d.factor, &step);
  s.px_lo = LEFT;
  s.px_hi = W - RIGHT;
  ub_buf_printf(out, "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" "
                     "xmlns=\"http://www.w3.org/2000/svg\"><title>", W, LEVELS_H);
  ub_xml_puts(out, c->title);
  ub_buf_puts(out, ": value against threshold and baseline (no series recorded)</title>");
  ub_buf_printf(out, "<line class=\"frame\" x1=\"%.1f\" x2=\"%.1f\" y1=\"50\" y2=\"50\"/>",
                LEFT, W - RIGHT);
  for (double v = s.lo; v <= s.hi + step * 1e-6; v += step) {
    char num[32];
    ub_format_number(fabs(v) < step * 1e-6 ? 0 : v, num);
    double px = project(&s, v);
    vline(out, px, 46, 54, "frame");
    ub_buf_printf(out, "<text class=\"tick\" x=\"%.1f\" y=\"70\" text-anchor=\"middle\">%s</text>",
                  px, num);
  }
  ub_buf_printf(out, "<text class=\"axis\" x=\"%.1f\" y=\"54\" text-anchor=\"end\">", LEFT - 8);
  ub_xml_puts(out, *d.label ? d.label : c->unit ? c->unit : "value");
  ub_buf_puts(out, "</text>");
  if (c->has_baseline) vline(out, project(&s, c->baseline * d.factor), 22, 58, "baseline");
  if (c->has_threshold) vline(out, project(&s, c->threshold * d.factor), 22, 58, "threshold");
  if (c->has_value)
    ub_buf_printf(out, "<circle class=\"dot\" cx=\"%.1f\" cy=\"38\" r=\"7\"/>",
                  project(&s, c->value * d.factor));
  legend(out, c, LEVELS_H - 4);
  ub_buf_puts(out, "</svg>");
  return out->failed ? -1 : 0;
}

int report_svg_chart(const ub_chart *c, ub_buf *out) {
  if (c->series.n == 0 && c->baseline_series.n == 0) return levels_chart(c, out);
  ub_unit_display d = ub_unit_for(c->unit);
  double step;
  scale y = y_scale(c, d.factor, &step);
  scale x = x_scale(c);
  ub_buf_printf(out, "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" "
                     "xmlns=\"http://www.w3.org/2000/svg\"><title>", W, H);
  ub_xml_puts(out, c->title);
  ub_buf_puts(out, ": series against threshold and baseline</title>");
  y_axis(out, &y, step, *d.label ? d.label : c->unit ? c->unit : "value");
  x_axis(out, c->series.n ? &c->series : &c->baseline_series, &x);
  ub_buf_printf(out, "<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>",
                LEFT, TOP, W - LEFT - RIGHT, H - TOP - BOTTOM);
  line(out, &c->baseline_series, &x, &y, d.factor, "bseries");
  line(out, &c->series, &x, &y, d.factor, "series");
  if (c->has_baseline) hline(out, &y, c->baseline * d.factor, "baseline");
  if (c->has_threshold) hline(out, &y, c->threshold * d.factor, "threshold");
  if (c->has_value) hline(out, &y, c->value * d.factor, "value");
  legend(out, c, H - 4);
  ub_buf_puts(out, "</svg>");
  return out->failed ? -1 : 0;
}
