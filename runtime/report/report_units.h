/* report_units.h: human units for reports: Dynatrace unit names mapped to
 * a display unit and a factor (microseconds are shown as milliseconds),
 * and compact number formatting. */
#ifndef UB_REPORT_UNITS_H
#define UB_REPORT_UNITS_H

typedef struct ub_unit_display {
  double factor;      /* display value = raw value * factor */
  const char *label;  /* "ms", "%", "" (a count), or the raw unit */
  int space;          /* 1: "412.3 ms", 0: "2.6%" */
} ub_unit_display;

/* Maps a Dynatrace unit ("MicroSecond", "MilliSecond", "Percent", "Count",
 * "Byte", "PerMinute", "µs", ...); NULL or unknown units stay as given. */
ub_unit_display ub_unit_for(const char *unit);

/* Formats v for reading: up to 4 significant digits below 1000, whole
 * numbers above; NaN (no data) becomes "no data". */
void ub_format_number(double v, char out[32]);

/* Formats a raw value in the display unit: "412.3 ms", "2.6%", "1834". */
void ub_format_value(double raw, const char *unit, char out[48]);

#endif
