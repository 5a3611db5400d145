/* report_units.c: unit mapping and number formatting for reports. */
#include "report/report_units.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct unit_row {
  const char *name;
  double factor;
  const char *label;
  int space;
} unit_row;

static const unit_row UNITS[] = {
    {"MicroSecond", 0.001, "ms", 1},   {"\xc2\xb5s", 0.001, "ms", 1},
    {"\xce\xbcs", 0.001, "ms", 1},     {"us", 0.001, "ms", 1},
    {"NanoSecond", 1e-6, "ms", 1},     {"MilliSecond", 1, "ms", 1},
    {"ms", 1, "ms", 1},                {"Second", 1, "s", 1},
    {"s", 1, "s", 1},                  {"Percent", 1, "%", 0},
    {"%", 1, "%", 0},                  {"Count", 1, "", 0},
    {"count", 1, "", 0},               {"Unspecified", 1, "", 0},
    {"PerMinute", 1, "/min", 0},       {"PerSecond", 1, "/s", 0},
    {"Byte", 1.0 / 1048576.0, "MiB", 1}, {"KiloByte", 1.0 / 1024.0, "MiB", 1},
    {"MegaByte", 1, "MiB", 1},
};

/* Dynatrace v1 spells units "MicroSecond (µs)", "Percent (%)": the name
 * before " (" decides. */
static size_t unit_name_len(const char *unit) {
  const char *paren = strstr(unit, " (");
  return paren ? (size_t)(paren - unit) : strlen(unit);
}

ub_unit_display ub_unit_for(const char *unit) {
  ub_unit_display d = {1, unit ? unit : "", 1};
  if (!unit) return d;
  size_t n = unit_name_len(unit);
  for (size_t i = 0; i < sizeof UNITS / sizeof *UNITS; i++) {
    if (strlen(UNITS[i].name) == n && strncasecmp(unit, UNITS[i].name, n) == 0) {
      d.factor = UNITS[i].factor;
      d.label = UNITS[i].label;
      d.space = UNITS[i].space;
      return d;
    }
  }
  return d;
}

void ub_format_number(double v, char out[32]) {
  if (isnan(v)) {
    snprintf(out, 32, "no data");
    return;
  }
  if (isinf(v)) {
    snprintf(out, 32, "%s", v > 0 ? "\xe2\x88\x9e" : "-\xe2\x88\x9e");
    return;
  }
  if (fabs(v) >= 1000) snprintf(out, 32, "%.0f", v);
  else snprintf(out, 32, "%.4g", v);
  if (strcmp(out, "-0") == 0) snprintf(out, 32, "0");
}

void ub_format_value(double raw, const char *unit, char out[48]) {
  ub_unit_display d = ub_unit_for(unit);
  char num[32];
  ub_format_number(raw * d.factor, num);
  if (isnan(raw) || !*d.label) snprintf(out, 48, "%s", num);
  else snprintf(out, 48, "%s%s%s", num, d.space ? " " : "", d.label);
}
