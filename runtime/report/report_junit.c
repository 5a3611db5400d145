/* report_junit.c: the JUnit XML writer (report_junit.h). */
#include "report/report_junit.h"

#include <string.h>

#include "util/text.h"

static const char *const outcome_names[] = {"passed", "failed", "error", "skipped"};

int report_junit_outcome_of(const char *name) {
  for (int i = 0; name && i < 4; i++)
    if (strcmp(name, outcome_names[i]) == 0) return i;
  return -1;
}

void report_junit_count(report_junit_counts *c, report_junit_outcome o) {
  c->tests++;
  if (o == REPORT_JUNIT_FAILED) c->failures++;
  else if (o == REPORT_JUNIT_ERROR) c->errors++;
  else if (o == REPORT_JUNIT_SKIPPED) c->skipped++;
}

static void counts(ub_buf *out, const report_junit_counts *c) {
  ub_buf_printf(out, " tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\">\n",
                c->tests, c->failures, c->errors, c->skipped);
}

void report_junit_begin(ub_buf *out, const char *suite, const report_junit_counts *c) {
  ub_buf_puts(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"unbreakable\"");
  counts(out, c);
  ub_buf_puts(out, "  <testsuite name=\"");
  ub_xml_puts(out, suite);
  ub_buf_putc(out, '"');
  counts(out, c);
}

/* <tag message="..." type="type">detail</tag>, or self-closed without detail. */
static void element(ub_buf *out, const char *tag, const char *type, const report_junit_case *tc) {
  ub_buf_printf(out, "      <%s message=\"", tag);
  ub_xml_puts(out, tc->message ? tc->message : type);
  ub_buf_putc(out, '"');
  if (type) ub_buf_printf(out, " type=\"%s\"", type);
  if (!tc->detail || !*tc->detail || !type) {
    ub_buf_puts(out, "/>\n");
    return;
  }
  ub_buf_putc(out, '>');
  ub_xml_puts(out, tc->detail);
  ub_buf_printf(out, "</%s>\n", tag);
}

static void system_out(ub_buf *out, const char *text) {
  if (!text || !*text) return;
  ub_buf_puts(out, "      <system-out>");
  ub_xml_puts(out, text);
  ub_buf_puts(out, "</system-out>\n");
}

void report_junit_case_xml(ub_buf *out, const char *suite, const report_junit_case *tc) {
  ub_buf_puts(out, "    <testcase classname=\"");
  ub_xml_puts(out, suite);
  ub_buf_puts(out, "\" name=\"");
  ub_xml_puts(out, tc->name ? tc->name : "?");
  ub_buf_puts(out, "\" time=\"0\">\n");
  switch (tc->outcome) {
    case REPORT_JUNIT_FAILED: element(out, "failure", "fail", tc); break;
    case REPORT_JUNIT_ERROR: element(out, "error", "error", tc); break;
    case REPORT_JUNIT_SKIPPED: element(out, "skipped", NULL, tc); system_out(out, tc->detail); break;
    default: system_out(out, tc->detail);
  }
  ub_buf_puts(out, "    </testcase>\n");
}

void report_junit_end(ub_buf *out) { ub_buf_puts(out, "  </testsuite>\n</testsuites>\n"); }

void report_junit_render(ub_buf *out, const char *suite, const report_junit_case *cases, size_t n) {
  report_junit_counts c = {0, 0, 0, 0};
  for (size_t i = 0; i < n; i++) report_junit_count(&c, cases[i].outcome);
  report_junit_begin(out, suite, &c);
  for (size_t i = 0; i < n; i++) report_junit_case_xml(out, suite, &cases[i]);
  report_junit_end(out);
}
