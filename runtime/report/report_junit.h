/* report_junit.h: the one JUnit XML writer, for verdicts (cases chosen by
 * unbreakable.report.junit_cases) and for runs that ended in an error
 * (one error case written by the host). Text goes through ub_xml_escape,
 * so any bytes make well-formed XML 1.0.
 *
 * How CI test tabs show the outcomes: a failure and an error fail the
 * build's test run; a warning or inconclusive objective is a skipped case
 * with the reason in <skipped message="...">, which Azure DevOps lists as
 * "Not executed" (the "Others" outcome), GitLab and GitHub test reporters
 * as skipped: visible, never green; passed cases carry the details in
 * <system-out>. */
#ifndef UB_REPORT_JUNIT_H
#define UB_REPORT_JUNIT_H

#include <stddef.h>

#include "util/buf.h"

typedef enum report_junit_outcome {
  REPORT_JUNIT_PASSED,
  REPORT_JUNIT_FAILED,
  REPORT_JUNIT_ERROR,
  REPORT_JUNIT_SKIPPED
} report_junit_outcome;

typedef struct report_junit_case {
  const char *name;
  report_junit_outcome outcome;
  const char *message;          /* why (failed, error, skipped); may be NULL */
  const char *detail;           /* values, threshold, query; may be NULL */
} report_junit_case;

typedef struct report_junit_counts {
  size_t tests, failures, errors, skipped;
} report_junit_counts;

/* Outcome named "passed", "failed", "error" or "skipped"; -1 otherwise. */
int report_junit_outcome_of(const char *name);

/* Counts one case of outcome o. */
void report_junit_count(report_junit_counts *c, report_junit_outcome o);

/* The document in three steps, so that cases can be streamed: the head
 * with the counts, each case, the tail. suite names the suite and is the
 * classname of every case. */
void report_junit_begin(ub_buf *out, const char *suite, const report_junit_counts *c);
void report_junit_case_xml(ub_buf *out, const char *suite, const report_junit_case *tc);
void report_junit_end(ub_buf *out);

/* The whole document for n cases. */
void report_junit_render(ub_buf *out, const char *suite, const report_junit_case *cases, size_t n);

#endif
