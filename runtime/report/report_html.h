/* Folder report/: rendering decisions for people and CI: the HTML page
 * of a recorded evaluation (report_html.c, report_svg.c, report_doc.c,
 * report_units.c) and the one JUnit XML writer (report_junit.c). Text goes
 * through util/text.h's escapers. May call ledger/ (the records it
 * renders) and util/. */
/* report_html.h: the HTML report of one recorded evaluation: a single
 * self-contained page (inline CSS and SVG, no script, no external asset,
 * a Content-Security-Policy that forbids both) with the verdict, a table
 * of objectives, and per objective a chart of the series against its
 * threshold and baseline, the query and why it passed or failed. Renders
 * the monspec verdict table (objectives) and Keptn's shape (result, score,
 * indicatorResults). Output depends only on the record (no clock). */
#ifndef UB_REPORT_HTML_H
#define UB_REPORT_HTML_H

#include "util/buf.h"
#include "ledger/ledger.h"

/* Appends the page for e (from ledger_get_evaluation). A missing or
 * unreadable verdict JSON is shown on the page, not hidden. Returns 0, or
 * -1 when out ran out of memory. */
int report_html_render(const ledger_evaluation *e, ub_buf *out);

#endif
