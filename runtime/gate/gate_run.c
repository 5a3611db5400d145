/* gate_run.c: runs a gate policy and turns what it returns into a checked
 * verdict and a report. Everything that reads the policy's result happens
 * inside the sandbox's protected call, with raw accessors. A policy that
 * fails, or returns no valid verdict, yields verdict "error": never a pass. */
#include "gate/gate_run.h"

#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "gate/gate_monspec.h"
#include "lualib/bindings.h"
#include "cli/cli.h"
#include "net/http.h"
#include "util/json.h"
#include "lualib/ldynatrace.h"
#include "report/report_junit.h"
#include "util/text.h"

static const char *const verdicts[] = {"pass", "warning", "fail", "inconclusive", "error", NULL};

void ub_gate_job_init(ub_gate_job *job) {
  memset(job, 0, sizeof *job);
  sb_default_limits(&job->limits);
  job->limits.seconds = 60;
  job->format = "text";
  ub_buf_init(&job->verdict_json);
  ub_buf_init(&job->rendered);
  ub_buf_init(&job->diff);
  ub_buf_init(&job->log);
}

void ub_gate_job_free(ub_gate_job *job) {
  ub_buf_free(&job->verdict_json);
  ub_buf_free(&job->rendered);
  ub_buf_free(&job->diff);
  ub_buf_free(&job->log);
}

static int prepare_binding(lua_State *L, void *ud) {
  ub_gate_job *job = ud;
  ub_dt_bind(L, job->client, job->rec);
  /* leave a second for the policy to judge after the last fetch */
  int64_t ms = (int64_t)(job->limits.seconds * 1000) - 1000;
  ub_dt_set_deadline(L, ub_clock_ms() + (ms > 1000 ? ms : 1000));
  return 0;
}

static int push_ctx(lua_State *L, void *ud) {
  ub_gate_job *job = ud;
  char err[256];
  if (json_decode_lua(L, job->ctx_json, job->ctx_len, 200, err, sizeof err) != 0)
    return luaL_error(L, "gate context is not valid JSON: %s", err);
  if (job->monspec_doc) {   /* decoded once by the host: the policy need not decode the text */
    ub_monspec_push(L, job->monspec_doc);
    lua_setfield(L, -2, "monspec");
  }
  return 1;
}

/* Raw string field of the table at idx, or NULL. */
static const char *raw_string(lua_State *L, int idx, const char *key) {
  lua_pushstring(L, key);
  const char *s = lua_rawget(L, idx) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  lua_pop(L, 1); /* the string stays anchored in the table */
  return s;
}

/* 1 when the objective at idx was judged: a table whose status is a
 * judgement (pass, warning, fail, error) and that does not say
 * judged = false (a value reported without a limit, no baseline, no data). */
static int judged_objective(lua_State *L, int idx) {
  static const char *const judgements[] = {"pass", "warning", "fail", "error", NULL};
  if (lua_type(L, idx) != LUA_TTABLE) return 0;
  lua_pushliteral(L, "judged");
  int unjudged = lua_rawget(L, idx) == LUA_TBOOLEAN && !lua_toboolean(L, -1);
  lua_pop(L, 1);
  const char *status = raw_string(L, idx, "status");
  int judgement = 0;
  for (int i = 0; status && judgements[i]; i++) judgement |= strcmp(status, judgements[i]) == 0;
  return judgement && !unjudged;
}

/* Number of judged objectives in the verdict's objectives list. */
static lua_Integer judged_count(lua_State *L, int v) {
  lua_pushliteral(L, "objectives");
  lua_Integer judged = 0;
  if (lua_rawget(L, v) == LUA_TTABLE) {
    int list = lua_gettop(L);
    lua_Integer n = (lua_Integer)lua_rawlen(L, list);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, list, i);
      judged += judged_objective(L, lua_gettop(L));
      lua_pop(L, 1);
      if ((i & 0xfff) == 0) ub_budget_check(L);
    }
  }
  lua_pop(L, 1);
  return judged;
}

/* A pass or warning that judged no objective approves nothing: the host
 * makes it inconclusive (docs/gate.md), in the table itself so that the
 * recorded verdict and every report say the same. */
static void require_judgement(lua_State *L, ub_gate_job *job, int v) {
  if (strcmp(job->verdict, "pass") != 0 && strcmp(job->verdict, "warning") != 0) return;
  if (judged_count(L, v) > 0) return;
  const char *was = strcmp(job->verdict, "pass") == 0 ? "pass" : "warning";
  lua_pushfstring(L, "inconclusive: the policy answered %s but judged no objective "
                     "(a gate that checked nothing approves nothing)", was);
  snprintf(job->summary, sizeof job->summary, "%s", lua_tostring(L, -1));
  lua_pushliteral(L, "summary");
  lua_insert(L, -2);
  lua_rawset(L, v);                                  /* raw: no metamethod of the policy runs */
  lua_pushliteral(L, "verdict");
  lua_pushliteral(L, "inconclusive");
  lua_rawset(L, v);
  snprintf(job->verdict, sizeof job->verdict, "inconclusive");
}

static int check_verdict(lua_State *L, ub_gate_job *job, int v) {
  if (lua_type(L, v) != LUA_TTABLE)
    return luaL_error(L, "the policy returned a %s, not a verdict table", luaL_typename(L, v));
  const char *verdict = raw_string(L, v, "verdict");
  for (int i = 0; verdict && verdicts[i]; i++)
    if (strcmp(verdict, verdicts[i]) == 0) {
      snprintf(job->verdict, sizeof job->verdict, "%s", verdict);
      const char *kind = raw_string(L, v, "error_kind");
      snprintf(job->error_kind, sizeof job->error_kind, "%s", kind ? kind : "");
      lua_pushliteral(L, "score");
      if (lua_rawget(L, v) == LUA_TNUMBER) {
        job->has_score = 1;
        job->score = lua_tonumber(L, -1);
      }
      lua_pop(L, 1);
      const char *summary = raw_string(L, v, "summary");
      snprintf(job->summary, sizeof job->summary, "%s", summary ? summary : "");
      require_judgement(L, job, v);
      return 0;
    }
  return luaL_error(L, "the policy returned verdict %s; expected pass, warning, fail, "
                       "inconclusive or error", verdict ? verdict : "(none)");
}

/* Calls unbreakable.report's fn(verdict, {color, fail_on_warning}),
 * inside the sandbox; leaves the module and the result on the stack. */
static void call_report(lua_State *L, ub_gate_job *job, int v, const char *fn) {
  sb_require_fresh(L, "unbreakable.report");
  lua_getfield(L, -1, fn);
  lua_pushvalue(L, v);
  lua_createtable(L, 0, 2);
  lua_pushboolean(L, job->color);
  lua_setfield(L, -2, "color");
  lua_pushboolean(L, job->fail_on_warning);
  lua_setfield(L, -2, "fail_on_warning");
  lua_call(L, 2, 1);
}

/* The text report, for a terminal or a CI log: coloured text was cleaned
 * string by string by the report (unbreakable.text), plain text is
 * cleaned here line by line (ub_text_lines: no control character, no line
 * that can start a CI logging command). */
static void render_text(lua_State *L, ub_gate_job *job, int v) {
  call_report(L, job, v, "text");
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  if (!s) luaL_error(L, "unbreakable.report returned no text");
  if (job->color) ub_buf_append(&job->rendered, s, len);
  else ub_text_lines(&job->rendered, s, len, NULL);
  lua_pop(L, 2);
}

/* One case of the table at the top, as the JUnit writer takes it. */
static report_junit_case junit_case_at(lua_State *L, int idx) {
  report_junit_case tc = {raw_string(L, idx, "name"), REPORT_JUNIT_ERROR,
                          raw_string(L, idx, "message"), raw_string(L, idx, "detail")};
  int outcome = report_junit_outcome_of(raw_string(L, idx, "outcome"));
  if (outcome < 0) luaL_error(L, "unbreakable.report: a JUnit case has no valid outcome");
  tc.outcome = (report_junit_outcome)outcome;
  return tc;
}

/* JUnit: the report chooses the cases, report_junit.c writes the XML. */
static void render_junit(lua_State *L, ub_gate_job *job, int v) {
  call_report(L, job, v, "junit_cases");
  int r = lua_gettop(L);
  const char *suite = lua_type(L, r) == LUA_TTABLE ? raw_string(L, r, "suite") : NULL;
  lua_pushliteral(L, "cases");
  if (!suite || lua_rawget(L, r) != LUA_TTABLE) luaL_error(L, "unbreakable.report returned no JUnit cases");
  int cases = lua_gettop(L);
  lua_Integer n = (lua_Integer)lua_rawlen(L, cases);
  report_junit_counts counts = {0, 0, 0, 0};
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 1) report_junit_begin(&job->rendered, suite, &counts);
    for (lua_Integer i = 1; i <= n; i++) {
      if (lua_rawgeti(L, cases, i) != LUA_TTABLE) luaL_error(L, "unbreakable.report: JUnit case %d is not a table", (int)i);
      report_junit_case tc = junit_case_at(L, lua_gettop(L));
      if (pass == 0) report_junit_count(&counts, tc.outcome);
      else report_junit_case_xml(&job->rendered, suite, &tc);
      lua_pop(L, 1);
      if (pass == 1 && ub_budget_charge(L, job->rendered.cap) != 0)
        luaL_error(L, "the JUnit report does not fit in the memory limit");
    }
  }
  report_junit_end(&job->rendered);
  lua_pop(L, 3);
}

/* The original document is printed only for runs that did not end in an
 * error (docs/reference/monspec.md M6): errors go to stderr and the exit status. */
static void render_dtcli(lua_State *L, ub_gate_job *job, int v) {
  if (strcmp(job->verdict, "error") == 0) return;
  lua_pushliteral(L, "dtcli");
  if (lua_rawget(L, v) == LUA_TTABLE) {
    const char *s = raw_string(L, lua_gettop(L), "json");
    if (s) ub_text_lines(&job->rendered, s, strlen(s), NULL); /* the policy wrote it */
  }
  lua_pop(L, 1);
  if (job->rendered.len == 0)
    luaL_error(L, "--format dtcli needs --compat dtcli (the policy returned no dtcli document)");
}

/* Replay: lists what changed against the recorded verdict. */
static void diff_with_recorded(lua_State *L, ub_gate_job *job, int v) {
  char err[256];
  sb_require_fresh(L, "unbreakable.verdict_diff");
  lua_getfield(L, -1, "diff");
  if (json_decode_lua(L, job->compare_json, strlen(job->compare_json), 200, err, sizeof err) != 0)
    luaL_error(L, "the recorded verdict is not valid JSON: %s", err);
  lua_pushvalue(L, v);
  lua_call(L, 2, 1);
  lua_Integer n = luaL_len(L, -1);
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_rawgeti(L, -1, i) == LUA_TSTRING) {
      size_t len;
      const char *line = lua_tolstring(L, -1, &len);
      ub_text_line(&job->diff, line, len); /* it quotes the policy's strings */
      ub_buf_putc(&job->diff, '\n');
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 2);
}

static int take_verdict(lua_State *L, void *ud) {
  ub_gate_job *job = ud;
  int v = lua_gettop(L);
  char err[512];
  check_verdict(L, job, v);
  json_enc_opts compact = {0, 0, 100, 1, "verdict"};
  if (json_encode_lua(L, v, &compact, &job->verdict_json, err, sizeof err) != 0)
    return luaL_error(L, "the verdict cannot be encoded as JSON: %s", err);
  if (strcmp(job->format, "none") == 0) {
    /* a host that wants only verdict_json (serve): no report */
  } else if (strcmp(job->format, "json") == 0) {
    json_enc_opts pretty = {2, 0, 100, 1, "verdict"};
    if (json_encode_lua(L, v, &pretty, &job->rendered, err, sizeof err) != 0)
      return luaL_error(L, "%s", err);
    ub_buf_putc(&job->rendered, '\n');
  } else if (strcmp(job->format, "dtcli") == 0) {
    render_dtcli(L, job, v);
  } else if (strcmp(job->format, "keptn") == 0) {
    json_enc_opts pretty = {2, 0, 100, 1, "verdict.keptn"};
    lua_pushliteral(L, "keptn");
    if (lua_rawget(L, v) != LUA_TTABLE)
      return luaL_error(L, "--format keptn: the policy returned no Keptn evaluation data");
    if (json_encode_lua(L, -1, &pretty, &job->rendered, err, sizeof err) != 0)
      return luaL_error(L, "%s", err);
    lua_pop(L, 1);
    ub_buf_putc(&job->rendered, '\n');
  } else if (strcmp(job->format, "junit") == 0) {
    render_junit(L, job, v);
  } else {
    render_text(L, job, v);
  }
  if (job->compare_json) diff_with_recorded(L, job, v);
  return 0;
}

/* The verdict and report of a policy that failed: an error, never a pass. */
static void describe_failure(ub_gate_job *job) {
  snprintf(job->verdict, sizeof job->verdict, "error");
  job->error_kind[0] = '\0';
  ub_buf_reset(&job->verdict_json);
  ub_buf_reset(&job->rendered);
  ub_buf_puts(&job->verdict_json, "{\"errors\":[");
  json_append_string(&job->verdict_json, job->error, strlen(job->error));
  ub_buf_puts(&job->verdict_json, "],\"summary\":\"the policy failed\",\"verdict\":\"error\"}");
  if (strcmp(job->format, "junit") == 0) {
    report_junit_case failed = {"policy", REPORT_JUNIT_ERROR, job->error, NULL};
    report_junit_render(&job->rendered, "unbreakable.gate", &failed, 1);
  } else if (strcmp(job->format, "json") == 0) {
    ub_buf_append(&job->rendered, job->verdict_json.data, job->verdict_json.len);
    ub_buf_putc(&job->rendered, '\n');
  }
}

/* A gate's sandbox: the standard library, the default grants and the
 * Dynatrace binding. */
static sandbox *gate_sandbox(const sb_limits *limits) {
  sandbox *sb = sb_new(limits, ub_stdlib_dir());
  if (sb && (ub_grant_defaults(sb) != 0 ||
             sb_grant(sb, "unbreakable.dynatrace", luaopen_unbreakable_dynatrace) != 0)) {
    sb_free(sb);
    return NULL;
  }
  return sb;
}

/* A kept sandbox serves many jobs: each run gets fresh globals, modules
 * and limits, its compiled chunks stay cached, and a state that was
 * killed or grew is replaced (sandbox.c finish_run; docs/reference/
 * sandbox.md fact 11). */
int ub_gate_run(ub_gate_job *job) {
  sandbox *sb = job->keep && *job->keep ? *job->keep : gate_sandbox(&job->limits);
  if (!sb) {
    snprintf(job->error, sizeof job->error, "cannot create the sandbox");
    describe_failure(job);
    return -1;
  }
  if (job->keep) *job->keep = sb;
  sb_set_limits(sb, &job->limits);
  sb_set_prepare(sb, prepare_binding, job);
  sb_set_print_hook(sb, job->on_print, job->print_ud);
  double t0 = (double)ub_clock_ms();
  sb_status st = sb_run_policy(sb, &job->policy, push_ctx, take_verdict, job);
  job->policy_ms = (double)ub_clock_ms() - t0;
  size_t log_len;
  const char *log = sb_log(sb, &log_len);
  ub_buf_append(&job->log, log, log_len);
  int rc = 0;
  if (st != SB_OK) {
    snprintf(job->error, sizeof job->error, "%s", sb_error(sb));
    describe_failure(job);
    rc = -1;
  }
  sb_set_prepare(sb, NULL, NULL); /* the job ends here */
  sb_set_print_hook(sb, NULL, NULL);
  if (!job->keep) sb_free(sb);
  return rc;
}

int ub_gate_exit_status(const char *verdict, const char *error_kind, int fail_on_warning) {
  if (strcmp(verdict, "pass") == 0) return UB_EXIT_OK;
  if (strcmp(verdict, "warning") == 0) return fail_on_warning ? UB_EXIT_FAIL : UB_EXIT_OK;
  if (strcmp(verdict, "fail") == 0) return UB_EXIT_FAIL;
  if (strcmp(verdict, "inconclusive") == 0) return UB_EXIT_INCONCLUSIVE;
  if (error_kind && strcmp(error_kind, "input") == 0) return UB_EXIT_USAGE;
  return UB_EXIT_ERROR;
}
