/* ledger_fixture.h: recorded evaluations used by test_ledger.c and, through
 * "test_ledger --write-fixture DB", by the e2e report tests: a failing
 * monspec gate with series, and an SLO gate in Keptn's shape. Included
 * by test_ledger.c only. Values are fixed so the report screenshot is
 * stable. */
#ifndef UB_TEST_LEDGER_FIXTURE_H
#define UB_TEST_LEDGER_FIXTURE_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util/buf.h"
#include "ledger/ledger.h"

#define FIXTURE_TOKEN "dt0c01.ST2EY72KQINMH574WMNVI7YN.G3DFPBEJYMODIDAEX454M7YWBUVEFOWKPRVMWFASS64NFH52PX6BNDVFFM572RZM"
#define FIXTURE_T0 1795770000000LL /* 2026-11-27T09:00:00Z, source window start */
#define FIXTURE_POINTS 30

static const char FIXTURE_MONSPEC[] =
    "{\n  \"carts\": {\n    \"etype\": \"SERVICE\", \"name\": \"carts\",\n"
    "    \"environments\": {\"Staging\": {\"tags\": [{\"context\": \"CONTEXTLESS\","
    " \"key\": \"Environment\", \"value\": \"Staging\"}]},\n"
    "      \"Production\": {\"tags\": [{\"context\": \"CONTEXTLESS\", \"key\": \"Environment\","
    " \"value\": \"Production\"}]}},\n"
    "    \"comparisons\": [{\"name\": \"StagingToProduction\", \"source\": \"Staging\","
    " \"compare\": \"Production\", \"scalefactorperc\": {\"default\": 10}}],\n"
    "    \"perfsignature\": [\n"
    "      {\"metric\": \"builtin:service.response.time:avg\", \"validate\": \"upper\"},\n"
    "      {\"metric\": \"builtin:service.errors.total.rate:avg\", \"validate\": \"upper\","
    " \"upperlimit\": 2},\n"
    "      {\"metric\": \"builtin:service.requestCount.total:value\", \"validate\": \"lower\","
    " \"lowerlimit\": 1000},\n"
    "      {\"metric\": \"builtin:service.cpu.time:avg\", \"validate\": \"upper\"}\n"
    "    ]\n  }\n}\n";

static const char FIXTURE_POLICY[] =
    "-- policies/monspec.lua (fixture copy)\n"
    "local monspec = require \"unbreakable.monspec\"\n"
    "return function(ctx) return monspec.evaluate(ctx) end\n";

/* Appends {"timestamps":[...],"values":[...]} with a deterministic wave.
 * The objective values below are the true mean or sum of these points. */
static void fixture_series(ub_buf *b, double base, double amp, double trend, int phase,
                           int decimals) {
  ub_buf_puts(b, "{\"timestamps\":[");
  for (int i = 0; i < FIXTURE_POINTS; i++)
    ub_buf_printf(b, "%s%lld", i ? "," : "", FIXTURE_T0 + 60000LL * i);
  ub_buf_puts(b, "],\"values\":[");
  for (int i = 0; i < FIXTURE_POINTS; i++) {
    double v = base + amp * sin((i + phase) * 0.45) + trend * i;
    ub_buf_printf(b, "%s%.*f", i ? "," : "", decimals, v);
  }
  ub_buf_puts(b, "]}");
}

static void fixture_objective(ub_buf *b, const char *name, const char *query, const char *agg,
                              const char *value, const char *unit, const char *baseline,
                              const char *threshold, const char *status, int critical,
                              const char *message) {
  ub_buf_printf(b,
                "{\"name\":\"%s\",\"query\":\"%s\",\"aggregate\":\"%s\",\"value\":%s,"
                "\"unit\":\"%s\",\"baseline\":%s,\"threshold\":%s,\"status\":\"%s\","
                "\"critical\":%s,\"message\":\"%s\"",
                name, query, agg, value, unit, baseline, threshold, status,
                critical ? "true" : "false", message);
}

/* The verdict a failing monspec gate returns (hand-made, plausible numbers). */
static void fixture_monspec_verdict(ub_buf *b) {
  ub_buf_printf(b,
                "{\"verdict\":\"fail\",\"summary\":\"1 of 4 objectives failed: Failure rate "
                "2.53 %% is above its limit of 2 %%\",\"target\":\"carts/StagingToProduction\","
                "\"mode\":\"default\",\"windows\":{\"source\":{\"from\":%lld,\"to\":%lld},"
                "\"compare\":{\"from\":%lld,\"to\":%lld}},\"totalViolations\":1,\"objectives\":[",
                FIXTURE_T0, FIXTURE_T0 + 1800000LL, FIXTURE_T0, FIXTURE_T0 + 1800000LL);
  fixture_objective(b, "Response time (avg)", "builtin:service.response.time:avg", "avg",
                    "412539.8", "MicroSecond", "398605.0", "438465.5", "pass", 1,
                    "412.5 ms is below the threshold 438.5 ms (baseline 398.6 ms + 10 %)");
  ub_buf_puts(b, ",\"series\":");
  fixture_series(b, 405000, 18000, 500, 0, 1);
  ub_buf_puts(b, ",\"baseline_series\":");
  fixture_series(b, 398000, 9000, 0, 3, 1);
  ub_buf_puts(b, "},");
  fixture_objective(b, "Failure rate", "builtin:service.errors.total.rate:avg", "avg", "2.53",
                    "Percent", "0.81", "2", "fail", 1,
                    "2.53 % is above the static upper limit 2 % (baseline 0.81 %)");
  ub_buf_puts(b, ",\"series\":");
  fixture_series(b, 1.2, 0.6, 0.09, 1, 1);
  ub_buf_puts(b, ",\"baseline_series\":");
  fixture_series(b, 0.8, 0.2, 0, 5, 1);
  ub_buf_puts(b, "},");
  fixture_objective(b, "Request count", "builtin:service.requestCount.total:value", "sum",
                    "1841", "Count", "1790", "1000", "pass", 0,
                    "1841 requests are above the lower limit 1000");
  ub_buf_puts(b, ",\"series\":");
  fixture_series(b, 61, 6, 0, 2, 0);
  ub_buf_puts(b, "},");
  fixture_objective(b, "CPU time (avg)", "builtin:service.cpu.time:avg", "avg", "null",
                    "MicroSecond", "52000", "57200", "inconclusive", 0,
                    "no data in the source window; the policy treats missing data as inconclusive");
  ub_buf_puts(b, "}]}");
}

/* The Keptn evaluation.finished shape an SLO gate stores (reference §9). */
static const char FIXTURE_SLO_VERDICT[] =
    "{\"result\":\"warning\",\"score\":66.66666666666667,\"verdict\":\"warning\","
    "\"summary\":\"score 66.7 is below the pass target 90 but reaches the warning target 60\","
    "\"indicatorResults\":["
    "{\"score\":0.5,\"status\":\"warning\",\"displayName\":\"Response time P95\",\"keySli\":false,"
    "\"value\":{\"metric\":\"response_time_p95\",\"value\":560,\"comparedValue\":500,"
    "\"success\":true,\"message\":\"\"},"
    "\"passTargets\":[{\"criteria\":\"<=+10%\",\"targetValue\":550,\"violated\":true},"
    "{\"criteria\":\"<600\",\"targetValue\":600,\"violated\":false}],"
    "\"warningTargets\":[{\"criteria\":\"<=800\",\"targetValue\":800,\"violated\":false}]},"
    "{\"score\":2,\"status\":\"pass\",\"displayName\":\"Error rate\",\"keySli\":true,"
    "\"value\":{\"metric\":\"error_rate\",\"value\":1.2,\"comparedValue\":0.9,"
    "\"success\":true,\"message\":\"\"},"
    "\"passTargets\":[{\"criteria\":\"<=2\",\"targetValue\":2,\"violated\":false}],"
    "\"warningTargets\":null}]}";

static const char FIXTURE_SLO[] =
    "spec_version: '1.0'\ncomparison:\n  compare_with: several_results\n"
    "  number_of_comparison_results: 3\n  include_result_with_score: pass\n"
    "  aggregate_function: avg\nobjectives:\n  - sli: response_time_p95\n"
    "    pass:\n      - criteria:\n          - \"<=+10%\"\n          - \"<600\"\n"
    "    warning:\n      - criteria:\n          - \"<=800\"\n"
    "  - sli: error_rate\n    weight: 2\n    key_sli: true\n    pass:\n"
    "      - criteria:\n          - \"<=2\"\ntotal_score:\n  pass: \"90%\"\n  warning: \"60%\"\n";

/* Records the failing monspec evaluation; returns its id or -1. */
static int64_t fixture_record_monspec(ub_ledger *l) {
  ub_buf verdict, ctx;
  int64_t id = -1;
  ub_buf_init(&verdict);
  ub_buf_init(&ctx);
  fixture_monspec_verdict(&verdict);
  ub_buf_printf(&ctx, "{\"comparison\":\"StagingToProduction\",\"now\":%lld,"
                      "\"dynatraceToken\":\"%s\"}", FIXTURE_T0 + 1800000LL, FIXTURE_TOKEN);
  ledger_eval_start s = {
      .requested_by = "cli:ci@build-agent-7", .service = "carts", .stage = "staging",
      .kind = "monspec", .target = "carts/StagingToProduction",
      .spec = {"monspec/carts.json", FIXTURE_MONSPEC, sizeof FIXTURE_MONSPEC - 1},
      .policy = {"policies/monspec.lua", FIXTURE_POLICY, sizeof FIXTURE_POLICY - 1},
      .ctx_json = ctx.data};
  if (ledger_add_secret(l, FIXTURE_TOKEN) != LEDGER_OK ||
      ledger_begin_evaluation(l, &s, &id) != LEDGER_OK)
    goto out;
  static const char *metrics[] = {"builtin:service.response.time:avg",
                                  "builtin:service.errors.total.rate:avg",
                                  "builtin:service.requestCount.total:value",
                                  "builtin:service.cpu.time:avg"};
  for (int i = 0; i < 4; i++) {
    char url[512], body[256];
    snprintf(url, sizeof url, "/api/v2/metrics/query?metricSelector=%s&from=%lld&to=%lld"
             "&resolution=1m&api-token=%s", metrics[i], FIXTURE_T0, FIXTURE_T0 + 1800000LL,
             FIXTURE_TOKEN);
    snprintf(body, sizeof body, "{\"totalCount\":1,\"resolution\":\"1m\",\"result\":"
             "[{\"metricId\":\"%s\",\"data\":[]}]}", metrics[i]);
    ledger_request r = {.seq = i + 1, .binding = "dynatrace.metrics", .method = "GET",
                        .url = url, .status = 200,
                        .response_headers = "{\"content-type\":\"application/json\"}",
                        .response_body = body, .response_body_len = strlen(body),
                        .duration_ms = 84.5 + i};
    if (ledger_add_request(l, id, &r) != LEDGER_OK) {
      id = -1;
      goto out;
    }
  }
  ledger_eval_result res = {.status = "finished", .verdict = "fail",
                            .verdict_json = verdict.data,
                            .timings_json = "{\"fetch_ms\":212.4,\"policy_ms\":3.1,\"total_ms\":219.0}"};
  if (ledger_finish_evaluation(l, id, &res) != LEDGER_OK) id = -1;
out:
  ub_buf_free(&verdict);
  ub_buf_free(&ctx);
  return id;
}

/* Records the SLO evaluation in Keptn's shape; returns its id or -1. */
static int64_t fixture_record_slo(ub_ledger *l) {
  int64_t id = -1;
  ledger_eval_start s = {
      .requested_by = "http:10.1.2.3", .request_meta = "{\"planId\":\"4e1c\",\"hub\":\"Gates\"}",
      .service = "carts", .stage = "staging", .kind = "slo", .target = "sockshop/staging/carts",
      .compat = "keptn",
      .spec = {"slo.yaml", FIXTURE_SLO, sizeof FIXTURE_SLO - 1},
      .policy = {"policies/slo.lua", FIXTURE_POLICY, sizeof FIXTURE_POLICY - 1},
      .ctx_json = "{\"service\":\"carts\"}"};
  if (ledger_begin_evaluation(l, &s, &id) != LEDGER_OK) return -1;
  ledger_eval_result res = {.status = "finished", .verdict = "warning", .has_score = 1,
                            .score = 66.66666666666667, .verdict_json = FIXTURE_SLO_VERDICT};
  return ledger_finish_evaluation(l, id, &res) == LEDGER_OK ? id : -1;
}

#endif
