/* gate_slo.c: the Keptn SLO form of `unbreakable gate`: reads slo.yaml and
 * sli.yaml, resolves the timeframe, waits for Dynatrace's data like Keptn
 * did (2 minutes after the end of the timeframe), and gives the policy the
 * earlier evaluations of the same service and stage from the ledger as
 * baseline candidates. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "cli/cli.h"
#include "gate/gate_cmd.h"
#include "util/json.h"
#include "ledger/ledger.h"
#include "lualib/yaml_lua.h"

#define READY_AFTER_MS 120000

/* Unix ms from "2019-11-18T11:21:06[.000][Z]" (UTC) or plain ms. */
static int parse_time(const char *text, int64_t *ms) {
  char *end;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (!*end && !errno && v > 0) { *ms = v; return 0; }
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  const char *rest = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) return -1;
  int millis = 0;
  if (*rest == '.') {
    char *e;
    millis = (int)strtol(rest + 1, &e, 10);
    if (e - rest - 1 != 3) return -1;
    rest = e;
  }
  if (*rest == 'Z') rest++;
  if (*rest) return -1;
  *ms = (int64_t)timegm(&tm) * 1000 + millis;
  return 0;
}

static int timeframe(const gate_args *a, int64_t *from, int64_t *to) {
  if (a->from || a->to) {
    if (!a->from || !a->to) return ub_usage_error("gate", "give both --from and --to");
    if (parse_time(a->from, from) != 0 || parse_time(a->to, to) != 0)
      return ub_usage_error("gate", "--from/--to must be like 2019-11-18T11:21:06.000Z or Unix ms");
  } else {
    /* shift: the window ends that many minutes ago, so its data exists
     * (serve never waits for it) */
    *to = a->now - (int64_t)(a->shift * 60000);
    *from = *to - (int64_t)(a->window * 60000);
  }
  if (*to - *from < 60000) return ub_usage_error("gate", "the timeframe must be at least 1 minute");
  return 0;
}

/* Keptn waited until 2 min after the end of the timeframe
 * (docs/reference/keptn-slo.md Q28). */
static void wait_for_data(gate_args *a, int64_t to) {
  int64_t wait = READY_AFTER_MS - (a->now - to);
  if (wait <= 0 || wait > UB_GATE_SLO_MAX_WAIT_MS || a->no_wait) return;
  fprintf(stderr, "unbreakable gate: waiting %lld s until Dynatrace has the data of the timeframe "
                  "(2 minutes after its end; --no-wait answers inconclusive instead)\n",
          (long long)(wait + 999) / 1000);
  struct timespec ts = {(time_t)(wait / 1000), (long)(wait % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
  a->now += wait;
}

/* Appends the raw JSON of the top-level "indicatorResults" of a stored
 * verdict ([] when it has none): all a baseline needs of it. */
static void append_indicator_results(ub_buf *out, const char *verdict_json) {
  json_reader r;
  json_reader_init(&r, verdict_json, strlen(verdict_json), 200);
  size_t start = 0, end = 0;
  if (json_next(&r) == JSON_OBJECT) {
    for (json_token t = json_next(&r); t == JSON_STRING && !end; t = json_next(&r)) {
      int wanted = json_str_is(&r, "indicatorResults");
      size_t at = json_offset(&r);
      t = json_next(&r);
      if (json_skip(&r, t) != 0) break;
      if (wanted && t == JSON_ARRAY) { start = at; end = json_offset(&r); }
    }
  }
  json_reader_free(&r);
  if (end > start) ub_buf_append(out, verdict_json + start, end - start);
  else ub_buf_puts(out, "[]");
}

/* include_result_with_score of the slo.yaml comparison block, so that the
 * ledger query keeps only qualifying evaluations (the policy validates the
 * file and selects the baseline; this only narrows what is fetched). */
static ledger_include slo_include(const gate_args *a) {
  lua_State *L = luaL_newstate();
  int include = LEDGER_INCLUDE_ALL;
  if (!L) return LEDGER_INCLUDE_ALL;
  if (yaml_decode_lua(L, a->spec_text, a->spec_len, a->slo, NULL) == 0 && lua_istable(L, -1) &&
      lua_getfield(L, -1, "comparison") == LUA_TTABLE &&
      lua_getfield(L, -1, "include_result_with_score") == LUA_TSTRING)
    include = ledger_include_parse(lua_tostring(L, -1));
  lua_close(L);
  return include < 0 ? LEDGER_INCLUDE_ALL : (ledger_include)include;
}

/* The evaluation's key in the ledger: Keptn compares only evaluations of
 * the same project, stage and service. */
static void slo_target(const gate_args *a, char *out, size_t size) {
  if (a->project && *a->project) snprintf(out, size, "%s/%s/%s", a->project, a->service, a->stage);
  else snprintf(out, size, "%s/%s", a->service, a->stage);
}

/* Earlier finished, valid evaluations of this project, service and stage, newest
 * first, as JSON: [{"id":..,"result":..,"indicatorResults":[...]}]. */
static int previous_evaluations(const gate_args *a, ub_buf *out) {
  char path[2048], err[600];
  ub_buf_puts(out, "[");
  if (a->no_ledger) return ub_buf_puts(out, "]");
  ub_ledger *l = NULL;
  if (ledger_resolve_path(a->ledger, path, sizeof path, err, sizeof err) != 0 ||
      !(l = ledger_open(path, err, sizeof err))) {
    fprintf(stderr, "unbreakable gate: ledger: %s (or run with --no-ledger)\n", err);
    return -1;
  }
  char target[600];
  slo_target(a, target, sizeof target);
  ledger_filter f = {.service = a->service, .stage = a->stage, .kind = "slo", .target = target,
                     .limit = 100, .finished_only = 1, .exclude_invalidated = 1,
                     .include = slo_include(a)};
  ledger_evaluation *rows = NULL;
  size_t n = 0;
  int rc = ledger_history(l, &f, &rows, &n) == LEDGER_OK ? 0 : -1;
  if (rc != 0) fprintf(stderr, "unbreakable gate: %s\n", ledger_error(l));
  for (size_t i = 0, k = 0; rc == 0 && i < n; i++) {
    if (!rows[i].verdict_json || !rows[i].verdict) continue;
    const char *result = strcmp(rows[i].verdict, "error") == 0 ? "fail" : rows[i].verdict;
    ub_buf_printf(out, "%s{\"id\":%lld,\"result\":\"%s\",\"indicatorResults\":", k++ ? "," : "",
                  (long long)rows[i].id, result);
    append_indicator_results(out, rows[i].verdict_json);
    ub_buf_putc(out, '}');
  }
  ledger_evaluations_free(rows, n);
  ledger_close(l);
  ub_buf_puts(out, "]");
  return rc;
}

static void put_field(ub_buf *ctx, const char *key, const char *value) {
  ub_buf_printf(ctx, ",\"%s\":", key);
  if (value) json_append_string(ctx, value, strlen(value));
  else ub_buf_puts(ctx, "null");
}

static int slo_ctx(const gate_args *a, int64_t from, int64_t to, const ub_buf *previous, ub_buf *ctx) {
  ub_buf_puts(ctx, "{\"slo_text\":");
  json_append_string(ctx, a->spec_text, a->spec_len);
  ub_buf_puts(ctx, ",\"sli_text\":");
  json_append_string(ctx, a->sli_text, a->sli_len);
  put_field(ctx, "slo_path", a->slo);
  put_field(ctx, "sli_path", a->sli);
  put_field(ctx, "service", a->service);
  put_field(ctx, "stage", a->stage);
  put_field(ctx, "project", a->project ? a->project : "");
  put_field(ctx, "deployment", a->deployment ? a->deployment : "");
  if (a->compat) put_field(ctx, "compat", a->compat);
  ub_buf_printf(ctx, ",\"from\":%lld,\"to\":%lld,\"now\":%lld,\"previous\":%s}", (long long)from,
                (long long)to, (long long)a->now, previous->data);
  return ctx->failed ? -1 : 0;
}

int ub_gate_slo(gate_args *a) {
  char err[600];
  int64_t from, to;
  int rc = timeframe(a, &from, &to);
  if (rc != 0) return rc;
  if (!a->sli) return ub_usage_error("gate", "--slo needs --sli FILE (the Dynatrace sli.yaml)");
  char *slo = ub_read_text(a->slo, (size_t)1 << 20, &a->spec_len, err, sizeof err);
  if (!slo) return ub_usage_error("gate", "%s", err);
  char *sli = ub_read_text(a->sli, (size_t)1 << 20, &a->sli_len, err, sizeof err);
  if (!sli) { free(slo); return ub_usage_error("gate", "%s", err); }
  a->spec_text = slo;
  a->sli_text = sli;
  wait_for_data(a, to);
  ub_buf previous, ctx;
  ub_buf_init(&previous);
  ub_buf_init(&ctx);
  rc = UB_EXIT_ERROR;
  if (previous_evaluations(a, &previous) == 0 && slo_ctx(a, from, to, &previous, &ctx) == 0) {
    char target[600];
    slo_target(a, target, sizeof target);
    a->target = target;
    a->kind = "slo";
    a->default_policy = "slo.lua";
    a->ctx_json = ctx.data;
    a->ctx_len = ctx.len;
    rc = ub_gate_execute(a);
    a->target = NULL;
  }
  ub_buf_free(&previous);
  ub_buf_free(&ctx);
  free(slo);
  free(sli);
  return rc;
}
