/* report_html.c: page layout of the evaluation report: banner, facts,
 * objectives (monspec verdict table) or SLI results (Keptn shape), the
 * recorded inputs and requests. Charts come from report_svg.c. */
#include "report/report_html.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report/report_doc.h"
#include "report/report_svg.h"
#include "report/report_units.h"
#include "util/text.h"

#ifndef UB_VERSION
#define UB_VERSION "dev"
#endif

static const char CSS[] =
    "*{box-sizing:border-box}"
    "body{margin:0;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
    "color:#1f2328;background:#f6f8fa}"
    "main{max-width:1120px;margin:0 auto;padding:0 24px 32px}"
    ".banner{padding:22px 24px;color:#fff;margin:0 0 20px}"
    ".banner .inner{max-width:1072px;margin:0 auto;display:flex;gap:24px;align-items:center}"
    ".banner .word{font-size:40px;font-weight:800;letter-spacing:.06em}"
    ".banner .sum{font-size:17px}.banner .sub{opacity:.9;font-size:14px}"
    ".v-pass{background:#1a7f37}.v-warning{background:#9a6700}.v-fail{background:#cf222e}"
    ".v-inconclusive{background:#57606a}.v-error{background:#8250df}.v-unknown{background:#57606a}"
    ".card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:16px 20px;margin:0 0 18px}"
    "h1{font-size:20px;margin:0 0 4px}h2{font-size:18px;margin:0 0 12px}h3{font-size:16px;margin:0 0 8px}"
    "dl.facts{display:grid;grid-template-columns:max-content 1fr max-content 1fr;gap:4px 16px;margin:0}"
    "dl.facts.one{grid-template-columns:max-content 1fr}"
    "dl.facts dt{color:#57606a}dl.facts dd{margin:0;font-weight:600;overflow-wrap:anywhere}"
    "table{border-collapse:collapse;width:100%}"
    "th,td{text-align:left;padding:7px 10px;border-bottom:1px solid #d8dee4;vertical-align:top}"
    "th{font-size:13px;color:#57606a;font-weight:600;background:#f6f8fa}"
    "td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    ".badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px;"
    "font-weight:700;text-transform:uppercase;letter-spacing:.04em}"
    ".s-pass{background:#1a7f37}.s-warning{background:#9a6700}.s-fail{background:#cf222e}"
    ".s-inconclusive,.s-info,.s-unknown{background:#57606a}.s-error{background:#8250df}"
    "code{font:13px/1.4 ui-monospace,'DejaVu Sans Mono',monospace;background:#f6f8fa;"
    "padding:1px 4px;border-radius:4px;overflow-wrap:anywhere}"
    ".why{margin:6px 0 0}.muted{color:#57606a}.crit{font-weight:700;color:#cf222e}"
    ".notice{border-left:6px solid #9a6700;background:#fff8c5}"
    ".nodata{padding:28px;text-align:center;color:#57606a;background:#f6f8fa;border-radius:6px}"
    "svg.chart{width:100%;height:auto;display:block;margin:4px 0 8px}"
    "svg .grid{stroke:#eaeef2;stroke-width:1}svg .frame{fill:none;stroke:#d0d7de}"
    "svg .tick{font-size:12px;fill:#57606a}svg .axis{font-size:12px;fill:#57606a}"
    "svg .legend{font-size:12px;fill:#1f2328}"
    "svg .series{fill:none;stroke:#0969da;stroke-width:2.2}"
    "svg .bseries{fill:none;stroke:#8c959f;stroke-width:1.6;stroke-dasharray:2 3}"
    "svg .threshold{stroke:#cf222e;stroke-width:2;stroke-dasharray:8 5}"
    "svg .baseline{stroke:#6e7781;stroke-width:2;stroke-dasharray:3 3}"
    "svg .value{stroke:#1f2328;stroke-width:1.4}svg .dot{fill:#1f2328}"
    ".table-wrap{overflow-x:auto}td.obj{overflow-wrap:anywhere;min-width:180px}td.why{min-width:260px}"
    "details summary{cursor:pointer;font-weight:600}"
    "footer{color:#57606a;font-size:13px;text-align:center;margin-top:24px}";

typedef struct page {
  ub_buf *out;
  const ledger_evaluation *e;
  rd_node *verdict;          /* parsed verdict JSON, or NULL */
  char parse_error[200];
} page;

static void esc(page *p, const char *s) { ub_xml_puts(p->out, s); }

static const char *known_status(const char *s) {
  static const char *const known[] = {"pass", "warning", "fail", "inconclusive", "error", "info"};
  for (size_t i = 0; s && i < sizeof known / sizeof *known; i++)
    if (strcmp(s, known[i]) == 0) return known[i];
  if (s && strcmp(s, "failed") == 0) return "fail";
  return "unknown";
}

static void badge(page *p, const char *status) {
  const char *s = known_status(status);
  ub_buf_printf(p->out, "<span class=\"badge s-%s\">", s);
  esc(p, status ? status : "unknown");
  ub_buf_puts(p->out, "</span>");
}

/* The Keptn evaluation may be nested in evaluation.finished data. */
static const rd_node *keptn_node(const rd_node *v) {
  const rd_node *inner = rd_get(v, "evaluation");
  if (inner && rd_array(inner, "indicatorResults")) return inner;
  return rd_array(v, "indicatorResults") ? v : NULL;
}

static const char *overall_verdict(const page *p) {
  const char *v = rd_str(p->verdict, "verdict");
  const rd_node *k = keptn_node(p->verdict);
  if (!v) v = rd_str(p->verdict, "result");
  if (!v && k) v = rd_str(k, "result");
  if (!v) v = p->e->verdict;
  if (!v && p->e->status && strcmp(p->e->status, "error") == 0) v = "error";
  return v ? v : "unknown";
}

/* ---- page parts ------------------------------------------------------- */

static void head(page *p, const char *verdict) {
  ub_buf_puts(p->out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                      "style-src 'unsafe-inline'; img-src data:\"><title>");
  ub_buf_printf(p->out, "Evaluation %lld: ", (long long)p->e->id);
  esc(p, verdict);
  ub_buf_puts(p->out, " \xc2\xb7 ");
  esc(p, p->e->service);
  ub_buf_puts(p->out, "/");
  esc(p, p->e->stage);
  ub_buf_printf(p->out, " \xc2\xb7 unbreakable</title><style>%s</style></head><body>\n", CSS);
}

static void banner(page *p, const char *verdict) {
  const char *summary = rd_str(p->verdict, "summary");
  const rd_node *k = keptn_node(p->verdict);
  double score;
  ub_buf_printf(p->out, "<header class=\"banner v-%s\"><div class=\"inner\"><div class=\"word\">",
                known_status(verdict));
  char word[32];
  size_t i = 0;
  for (; verdict[i] && i < sizeof word - 1; i++)
    word[i] = (char)(verdict[i] >= 'a' && verdict[i] <= 'z' ? verdict[i] - 32 : verdict[i]);
  word[i] = '\0';
  esc(p, word);
  ub_buf_puts(p->out, "</div><div><div class=\"sum\">");
  if (summary) esc(p, summary);
  else if (k && rd_str(k, "message")) esc(p, rd_str(k, "message"));
  else if (p->e->error) esc(p, p->e->error);
  ub_buf_puts(p->out, "</div><div class=\"sub\">");
  ub_buf_printf(p->out, "Evaluation %lld \xc2\xb7 ", (long long)p->e->id);
  esc(p, p->e->service);
  ub_buf_puts(p->out, " / ");
  esc(p, p->e->stage);
  if (rd_num(p->verdict, "score", &score) || (k && rd_num(k, "score", &score)))
    ub_buf_printf(p->out, " \xc2\xb7 score %.2f", score);
  ub_buf_puts(p->out, "</div></div></div></header>\n<main>\n");
}

static void fact(page *p, const char *name, const char *value) {
  ub_buf_puts(p->out, "<dt>");
  esc(p, name);
  ub_buf_puts(p->out, "</dt><dd>");
  esc(p, value && *value ? value : "\xe2\x80\x94");
  ub_buf_puts(p->out, "</dd>");
}

/* Unix ms of 0001-01-01 and 10000-01-01: outside, a time is "?" (and a
 * double beyond int64 must not be converted at all). */
#define MS_MIN (-62135596800000.0)
#define MS_MAX 253402300800000.0

/* "2026-11-27 09:00:00 UTC" */
static void human_time(double ms, char out[32]) {
  time_t t = (time_t)(ms >= MS_MIN && ms < MS_MAX ? (int64_t)ms / 1000 : 0);
  struct tm tm;
  if (!(ms >= MS_MIN && ms < MS_MAX) || !gmtime_r(&t, &tm) ||
      !strftime(out, 32, "%Y-%m-%d %H:%M:%S UTC", &tm))
    snprintf(out, 32, "?");
}

/* A window bound is Unix ms or an ISO string; same-day windows print the
 * date once. */
static void window_text(const rd_node *w, char *out, size_t outlen) {
  const rd_node *from = rd_get(w, "from"), *to = rd_get(w, "to");
  char a[32] = "?", b[32] = "?";
  if (from && from->type == RD_NUMBER) human_time(from->num, a);
  else if (from && from->type == RD_STRING) snprintf(a, sizeof a, "%s", from->str);
  if (to && to->type == RD_NUMBER) human_time(to->num, b);
  else if (to && to->type == RD_STRING) snprintf(b, sizeof b, "%s", to->str);
  if (from && to && from->type == RD_NUMBER && to->type == RD_NUMBER && strlen(a) == 23 &&
      strlen(b) == 23 && strncmp(a, b, 11) == 0) {
    a[19] = '\0';
    snprintf(out, outlen, "%s \xe2\x80\x93 %s", a, b + 11);
  } else {
    snprintf(out, outlen, "%s \xe2\x80\x93 %s", a, b);
  }
}

static void facts(page *p) {
  const ledger_evaluation *e = p->e;
  char created[32], buf[96];
  const rd_node *windows = rd_get(p->verdict, "windows");
  double violations;
  human_time((double)e->created_ms, created);
  ub_buf_puts(p->out, "<section class=\"card\"><h1>Release gate evaluation</h1><dl class=\"facts\">");
  fact(p, "Service", e->service);
  fact(p, "Stage", e->stage);
  fact(p, "Target", e->target);
  fact(p, "Kind", e->kind);
  fact(p, "Recorded", created);
  fact(p, "Requested by", e->requested_by);
  snprintf(buf, sizeof buf, "%s%s%s", rd_str(p->verdict, "mode") ? rd_str(p->verdict, "mode") : "default",
           e->compat ? ", compat " : "", e->compat ? e->compat : "");
  fact(p, "Mode", buf);
  if (e->finished_ms >= e->created_ms && e->finished_ms > 0)
    snprintf(buf, sizeof buf, "%lld ms", (long long)(e->finished_ms - e->created_ms));
  else snprintf(buf, sizeof buf, "%s", e->status ? e->status : "");
  fact(p, "Duration", buf);
  if (rd_get(windows, "source")) {
    window_text(rd_get(windows, "source"), buf, sizeof buf);
    fact(p, "Source window", buf);
  }
  if (rd_get(windows, "compare")) {
    window_text(rd_get(windows, "compare"), buf, sizeof buf);
    fact(p, "Compare window", buf);
  }
  if (rd_num(p->verdict, "totalViolations", &violations)) {
    snprintf(buf, sizeof buf, "%.0f", violations);
    fact(p, "Violations", buf);
  }
  ub_buf_puts(p->out, "</dl></section>\n");
}

static void notices(page *p) {
  const ledger_evaluation *e = p->e;
  if (e->invalidated) {
    char when[32];
    ledger_format_time(e->invalidated_ms, when);
    ub_buf_puts(p->out, "<section class=\"card notice\"><strong>Invalidated</strong> at ");
    esc(p, when);
    ub_buf_puts(p->out, ": ");
    esc(p, e->invalidated_reason);
    ub_buf_puts(p->out, ". This evaluation is excluded from later baselines.</section>\n");
  }
  if (p->parse_error[0] || (e->error && *e->error)) {
    ub_buf_puts(p->out, "<section class=\"card notice\"><strong>Problem:</strong> ");
    esc(p, p->parse_error[0] ? p->parse_error : e->error);
    ub_buf_puts(p->out, "</section>\n");
  }
}

/* ---- monspec objectives --------------------------------------------------- */

static void value_cell(page *p, const rd_node *o, const char *key, const char *unit) {
  const rd_node *v = rd_get(o, key);
  char text[48];
  ub_buf_puts(p->out, "<td class=\"num\">");
  if (v && v->type == RD_NUMBER) {
    ub_format_value(v->num, unit, text);
    esc(p, text);
  } else if (v && v->type == RD_STRING) {
    esc(p, v->str);
  } else {
    ub_buf_puts(p->out, "<span class=\"muted\">");
    esc(p, strcmp(key, "value") == 0 ? "no data" : "\xe2\x80\x94");
    ub_buf_puts(p->out, "</span>");
  }
  ub_buf_puts(p->out, "</td>");
}

static void objectives_table(page *p, const rd_node *objs) {
  int i = 0;
  ub_buf_puts(p->out, "<section class=\"card\"><h2>Objectives</h2><div class=\"table-wrap\"><table>"
                      "<thead><tr><th>Objective</th>"
                      "<th>Status</th><th>Value</th><th>Baseline</th><th>Threshold</th>"
                      "<th>Critical</th><th>Why</th></tr></thead><tbody>");
  for (const rd_node *o = objs->first; o; o = o->next, i++) {
    const char *unit = rd_str(o, "unit");
    ub_buf_printf(p->out, "<tr><td class=\"obj\"><a href=\"#objective-%d\">", i + 1);
    esc(p, rd_str(o, "name") ? rd_str(o, "name") : rd_str(o, "query"));
    ub_buf_puts(p->out, "</a></td><td>");
    badge(p, rd_str(o, "status"));
    ub_buf_puts(p->out, "</td>");
    value_cell(p, o, "value", unit);
    value_cell(p, o, "baseline", unit);
    value_cell(p, o, "threshold", unit);
    ub_buf_puts(p->out, rd_true(o, "critical") ? "<td class=\"crit\">yes</td>" : "<td>no</td>");
    ub_buf_puts(p->out, "<td class=\"why\">");
    esc(p, rd_str(o, "message"));
    ub_buf_puts(p->out, "</td></tr>");
  }
  ub_buf_puts(p->out, "</tbody></table></div></section>\n");
}

/* Copies a JSON array of numbers (null -> NaN) into a new double array. */
static double *numbers(const rd_node *arr, size_t *n) {
  *n = arr ? arr->count : 0;
  if (!*n) return NULL;
  double *v = malloc(*n * sizeof *v);
  if (!v) { *n = 0; return NULL; }
  size_t i = 0;
  for (const rd_node *c = arr->first; c; c = c->next, i++) v[i] = c->type == RD_NUMBER ? c->num : NAN;
  return v;
}

/* Fills a chart series from {timestamps=[...], values=[...]}; owned arrays
 * are returned through vals/times for the caller to free. */
static void chart_series(const rd_node *s, ub_chart_series *cs, double **vals, double **times) {
  size_t nv, nt;
  *vals = numbers(rd_array(s, "values"), &nv);
  *times = numbers(rd_array(s, "timestamps"), &nt);
  cs->values = *vals;
  cs->n = nv;
  cs->times = nt == nv && nt > 0 ? *times : NULL;
  for (size_t i = 0; cs->times && i < nt; i++)
    if (!isfinite(cs->times[i])) cs->times = NULL;
}

/* For a sum the points are not comparable with the aggregate: plot the
 * running sum, which ends at the value. Missing points stay gaps. */
static void running_sum(double *v, size_t n) {
  double total = 0;
  for (size_t i = 0; v && i < n; i++) {
    if (isnan(v[i])) continue;
    total += v[i];
    v[i] = total;
  }
}

static void objective_chart(page *p, const rd_node *o) {
  ub_chart c = {.title = rd_str(o, "name"), .unit = rd_str(o, "unit")};
  double *v1, *t1, *v2, *t2;
  chart_series(rd_get(o, "series"), &c.series, &v1, &t1);
  chart_series(rd_get(o, "baseline_series"), &c.baseline_series, &v2, &t2);
  const char *agg = rd_str(o, "aggregate");
  if (agg && strcmp(agg, "sum") == 0) {
    running_sum(v1, c.series.n);
    running_sum(v2, c.baseline_series.n);
    c.series_label = "running sum";
  }
  c.has_value = rd_num(o, "value", &c.value);
  c.has_baseline = rd_num(o, "baseline", &c.baseline);
  c.has_threshold = rd_num(o, "threshold", &c.threshold);
  if (!c.has_value && c.series.n == 0) {
    ub_buf_puts(p->out, "<div class=\"nodata\">No data: the source window gave no value "
                        "for this objective.</div>");
  } else {
    if (c.series.n == 0)
      ub_buf_puts(p->out, "<p class=\"muted\">The verdict carries no series for this "
                          "objective: its value against baseline and threshold.</p>");
    report_svg_chart(&c, p->out);
  }
  free(v1);
  free(t1);
  free(v2);
  free(t2);
}

/* {"source": "GET ...", "compare": "GET ..."}: one fact per string member. */
static void string_members(page *p, const rd_node *obj, const char *label) {
  if (!obj || obj->type != RD_OBJECT) return;
  for (const rd_node *m = obj->first; m; m = m->next) {
    if (m->type != RD_STRING) continue;
    ub_buf_printf(p->out, "<dt>%s (", label);
    esc(p, m->key);
    ub_buf_puts(p->out, ")</dt><dd><code>");
    esc(p, m->str);
    ub_buf_puts(p->out, "</code></dd>");
  }
}

/* {"source": ["SERVICE-1", ...], ...}: one fact per array member. */
static void list_members(page *p, const rd_node *obj, const char *label) {
  if (!obj || obj->type != RD_OBJECT) return;
  for (const rd_node *m = obj->first; m; m = m->next) {
    if (m->type != RD_ARRAY) continue;
    ub_buf_printf(p->out, "<dt>%s (", label);
    esc(p, m->key);
    ub_buf_puts(p->out, ")</dt><dd>");
    for (const rd_node *e = m->first; e; e = e->next) {
      if (e->type != RD_STRING) continue;
      ub_buf_puts(p->out, e == m->first ? "<code>" : ", <code>");
      esc(p, e->str);
      ub_buf_puts(p->out, "</code>");
    }
    if (m->count == 0) ub_buf_puts(p->out, "none");
    ub_buf_puts(p->out, "</dd>");
  }
}

static void objective_section(page *p, const rd_node *o, int index) {
  char text[48];
  double v;
  ub_buf_printf(p->out, "<section class=\"card\" id=\"objective-%d\"><h3>", index);
  esc(p, rd_str(o, "name") ? rd_str(o, "name") : rd_str(o, "query"));
  ub_buf_puts(p->out, " ");
  badge(p, rd_str(o, "status"));
  if (rd_true(o, "critical")) ub_buf_puts(p->out, " <span class=\"crit\">critical</span>");
  ub_buf_puts(p->out, "</h3>");
  objective_chart(p, o);
  ub_buf_puts(p->out, "<dl class=\"facts one\">");
  ub_buf_puts(p->out, "<dt>Query</dt><dd><code>");
  esc(p, rd_str(o, "query"));
  ub_buf_puts(p->out, "</code></dd>");
  fact(p, "Aggregate", rd_str(o, "aggregate"));
  if (rd_num(o, "value", &v)) ub_format_value(v, rd_str(o, "unit"), text);
  else snprintf(text, sizeof text, "no data");
  fact(p, "Value", text);
  fact(p, "Unit (as recorded)", rd_str(o, "unit"));
  ub_buf_puts(p->out, "</dl>");
  if (rd_get(o, "requests") || rd_get(o, "entities")) {
    ub_buf_puts(p->out, "<details><summary>Requests and entities</summary><dl class=\"facts one\">");
    string_members(p, rd_get(o, "requests"), "Request");
    list_members(p, rd_get(o, "entities"), "Entities");
    ub_buf_puts(p->out, "</dl></details>");
  }
  ub_buf_puts(p->out, "<p class=\"why\"><strong>Why: </strong>");
  esc(p, rd_str(o, "message") ? rd_str(o, "message") : "the policy gave no explanation");
  ub_buf_puts(p->out, "</p></section>\n");
}

static void monspec_objectives(page *p) {
  const rd_node *objs = rd_array(p->verdict, "objectives");
  int i = 1;
  if (!objs || objs->count == 0) return;
  objectives_table(p, objs);
  for (const rd_node *o = objs->first; o; o = o->next) objective_section(p, o, i++);
}

/* ---- Keptn indicator results ------------------------------------------------ */

static void targets_cell(page *p, const rd_node *targets) {
  ub_buf_puts(p->out, "<td>");
  if (!targets || targets->type != RD_ARRAY || targets->count == 0) {
    ub_buf_puts(p->out, "<span class=\"muted\">\xe2\x80\x94</span></td>");
    return;
  }
  for (const rd_node *t = targets->first; t; t = t->next) {
    char num[32] = "?";
    double tv;
    if (rd_num(t, "targetValue", &tv)) ub_format_number(tv, num);
    ub_buf_puts(p->out, rd_true(t, "violated") ? "\xe2\x9c\x97 <code>" : "\xe2\x9c\x93 <code>");
    esc(p, rd_str(t, "criteria"));
    ub_buf_printf(p->out, "</code> (target %s)%s<br>", num,
                  rd_true(t, "violated") ? " <strong>violated</strong>" : "");
  }
  ub_buf_puts(p->out, "</td>");
}

static void keptn_row(page *p, const rd_node *ir) {
  const rd_node *val = rd_get(ir, "value");
  double d;
  char num[32];
  ub_buf_puts(p->out, "<tr><td>");
  esc(p, rd_str(ir, "displayName") && *rd_str(ir, "displayName") ? rd_str(ir, "displayName")
                                                                : rd_str(val, "metric"));
  ub_buf_puts(p->out, "<br><code>");
  esc(p, rd_str(val, "metric"));
  ub_buf_puts(p->out, "</code></td><td>");
  badge(p, rd_str(ir, "status"));
  ub_buf_puts(p->out, "</td>");
  const char *keys[] = {"value", "comparedValue"};
  for (int k = 0; k < 2; k++) {
    if (rd_num(val, keys[k], &d)) ub_format_number(d, num);
    else snprintf(num, sizeof num, "%s", k == 0 && !rd_true(val, "success") ? "no value" : "\xe2\x80\x94");
    ub_buf_printf(p->out, "<td class=\"num\">%s</td>", num);
  }
  if (rd_num(ir, "score", &d)) ub_format_number(d, num);
  else snprintf(num, sizeof num, "\xe2\x80\x94");
  ub_buf_printf(p->out, "<td class=\"num\">%s</td>", num);
  ub_buf_puts(p->out, rd_true(ir, "keySli") ? "<td class=\"crit\">key</td>" : "<td>no</td>");
  targets_cell(p, rd_get(ir, "passTargets"));
  targets_cell(p, rd_get(ir, "warningTargets"));
  ub_buf_puts(p->out, "</tr>");
  if (rd_str(val, "message") && *rd_str(val, "message")) {
    ub_buf_puts(p->out, "<tr><td></td><td colspan=\"7\" class=\"muted\">");
    esc(p, rd_str(val, "message"));
    ub_buf_puts(p->out, "</td></tr>");
  }
}

static void keptn_results(page *p) {
  const rd_node *k = keptn_node(p->verdict);
  const rd_node *irs = k ? rd_array(k, "indicatorResults") : NULL;
  if (!irs) return;
  ub_buf_puts(p->out, "<section class=\"card\"><h2>SLI results (Keptn evaluation)</h2>"
                      "<table><thead><tr><th>SLI</th><th>Status</th><th>Value</th>"
                      "<th>Compared with</th><th>Score</th><th>Key SLI</th>"
                      "<th>Pass criteria</th><th>Warning criteria</th></tr></thead><tbody>");
  for (const rd_node *ir = irs->first; ir; ir = ir->next) keptn_row(p, ir);
  ub_buf_puts(p->out, "</tbody></table><p class=\"why muted\">\xe2\x9c\x93 criterion met, "
                      "\xe2\x9c\x97 criterion violated. Criteria within one list must all hold.</p>"
                      "</section>\n");
}

/* ---- inputs and requests ----------------------------------------------------- */

static void input_row(page *p, const char *role, const ledger_doc *d) {
  if (!d->data) return;
  ub_buf_puts(p->out, "<tr><td>");
  esc(p, role);
  ub_buf_puts(p->out, "</td><td>");
  esc(p, d->name);
  ub_buf_puts(p->out, "</td><td><code>");
  esc(p, d->digest);
  ub_buf_printf(p->out, "</code></td><td class=\"num\">%zu B</td></tr>", d->len);
}

static void requests_table(page *p) {
  const ledger_evaluation *e = p->e;
  ub_buf_printf(p->out, "<details><summary>Recorded binding requests (%zu)</summary><table><thead><tr>"
                        "<th>#</th><th>Binding</th><th>Request</th><th>Status</th><th>Duration</th>"
                        "</tr></thead><tbody>", e->nrequests);
  for (size_t i = 0; i < e->nrequests; i++) {
    const ledger_request_rec *r = &e->requests[i];
    ub_buf_printf(p->out, "<tr><td class=\"num\">%d</td><td>", r->seq);
    esc(p, r->binding);
    ub_buf_puts(p->out, "</td><td><code>");
    esc(p, r->method);
    ub_buf_puts(p->out, " ");
    esc(p, r->url);
    ub_buf_printf(p->out, "</code></td><td class=\"num\">%d", r->status);
    if (r->error) {
      ub_buf_puts(p->out, " ");
      esc(p, r->error);
    }
    ub_buf_printf(p->out, "</td><td class=\"num\">%.1f ms</td></tr>", r->duration_ms);
  }
  ub_buf_puts(p->out, "</tbody></table></details>");
}

static void inputs(page *p) {
  const ledger_evaluation *e = p->e;
  ub_buf_puts(p->out, "<section class=\"card\"><h2>Recorded inputs</h2><table><thead><tr><th>Role</th>"
                      "<th>Name</th><th>SHA-256</th><th>Size</th></tr></thead><tbody>");
  input_row(p, "spec", &e->spec);
  input_row(p, "sli", &e->sli);
  input_row(p, "policy", &e->policy);
  input_row(p, "context", &e->ctx);
  ub_buf_puts(p->out, "</tbody></table>");
  requests_table(p);
  ub_buf_printf(p->out, "<p class=\"muted\">Replay offline with <code>unbreakable replay %lld</code>."
                        "</p></section>\n", (long long)e->id);
}

int report_html_render(const ledger_evaluation *e, ub_buf *out) {
  page p = {.out = out, .e = e};
  if (e->verdict_json) {
    char why[120];
    p.verdict = rd_parse(e->verdict_json, strlen(e->verdict_json), why, sizeof why);
    if (!p.verdict)
      snprintf(p.parse_error, sizeof p.parse_error, "the recorded verdict JSON is unreadable (%s)", why);
  }
  const char *verdict = overall_verdict(&p);
  head(&p, verdict);
  banner(&p, verdict);
  notices(&p);
  facts(&p);
  monspec_objectives(&p);
  keptn_results(&p);
  inputs(&p);
  ub_buf_printf(out, "<footer>Generated by unbreakable %s from ledger evaluation %lld. "
                     "Self-contained page: no scripts, no external assets.</footer>\n"
                     "</main></body></html>\n", UB_VERSION, (long long)e->id);
  rd_free(p.verdict);
  return out->failed ? -1 : 0;
}
