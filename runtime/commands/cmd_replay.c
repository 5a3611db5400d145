/* cmd_replay.c: `unbreakable replay ID [--policy FILE.lua]`: re-runs a
 * recorded gate evaluation offline, from the recorded context and the
 * recorded Dynatrace responses, with the recorded policy (the verdict must
 * come out identical, byte for byte) or a new one (the differences are
 * shown). The network is never touched: the binding has no client. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "commands/commands.h"
#include "cli/options.h"
#include "cli/output.h"
#include "gate/gate_run.h"
#include "util/json.h"
#include "ledger/ledger.h"
#include "util/text.h"
#include "policytest/pt_fixture.h"

static const char replay_help[] =
  "usage: unbreakable replay ID [--policy FILE.lua] [--format text|json|junit|dtcli|keptn]\n"
  "                             [--output FILE] [--ledger PATH | --database URL]\n"
  "       unbreakable replay ID --export FILE [--ledger PATH | --database URL]\n"
  "\n"
  "Re-runs evaluation ID offline from what the ledger recorded: the context, the\n"
  "policy (or FILE.lua) and every Dynatrace response. Prints the replayed report,\n"
  "then whether the verdict is identical to the recorded one, or what changed:\n"
  "after the report with --format text, as the field \"replay\" of the verdict with\n"
  "--format json, on stderr with the other formats (stdout holds only the format).\n"
  "What the policy prints goes to stderr, as with gate.\n"
  "\n"
  "  --output FILE   write the report to FILE (whole or not at all) instead of stdout\n"
  "\n"
  "Exit status with the recorded policy: 0 identical, 1 the verdict differs.\n"
  "With --policy, the new verdict as gate answers it: 0 pass or warning, 1 fail,\n"
  "3 error (the policy failed), 4 inconclusive. Both: 2 usage error or unknown ID,\n"
  "3 the replay itself failed.\n"
  "\n"
  "--export FILE writes the evaluation's exact context, every recorded Dynatrace\n"
  "response and the verdict to FILE, as a fixture for specs (fixture.evaluation in\n"
  "'unbreakable test', docs/policies.md), and runs nothing.\n";

/* Content type kept in a recorded request's response headers. */
static char *recorded_content_type(const char *headers) {
  if (!headers) return NULL;
  json_reader r;
  json_reader_init(&r, headers, strlen(headers), 8);
  char *found = NULL;
  if (json_next(&r) == JSON_OBJECT) {
    for (json_token t = json_next(&r); t == JSON_STRING; t = json_next(&r)) {
      int match = json_str_is(&r, "content-type");
      t = json_next(&r);
      if (match && t == JSON_STRING) { found = strdup(r.str.data); break; }
      if (json_skip(&r, t) != 0) break;
    }
  }
  json_reader_free(&r);
  return found;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static ub_recorder *replay_source(const ledger_evaluation *e) {
  ub_recorder *rec = ub_recorder_new();
  for (size_t i = 0; rec && i < e->nrequests; i++) {
    const ledger_request_rec *q = &e->requests[i];
    ub_exchange x;
    memset(&x, 0, sizeof x);
    x.method = dup_or_null(q->method);
    x.target = dup_or_null(q->url);
    x.status = q->status;
    x.content_type = recorded_content_type(q->response_headers);
    x.body = dup_or_null(q->response_body.data ? q->response_body.data : "");
    x.body_len = q->response_body.data ? q->response_body.len : 0;
    x.error = dup_or_null(q->error);
    x.attempts = 1;
    int rc = ub_recorder_add(rec, &x);
    ub_exchange_clear(&x);
    if (rc != 0) { ub_recorder_free(rec); return NULL; }
  }
  if (rec) ub_recorder_set_replay(rec);
  return rec;
}

typedef struct replay_args {
  int64_t id;
  const char *policy, *format, *ledger, *output, *export_path;
} replay_args;

static int parse_replay(replay_args *a, int argc, char **argv) {
  const char *database = NULL;
  const ub_opt opts[] = {
    UB_PATH("policy", &a->policy),
    UB_STRING("format", &a->format),
    UB_PATH("ledger", &a->ledger),
    UB_STRING("database", &database),
    UB_PATH("output", &a->output),
    UB_PATH("export", &a->export_path),
    UB_OPTS_END};
  const ub_opt_spec spec = {"replay", replay_help, opts, 0};
  const char *pos[1];
  int npos = 0;
  a->format = "text";
  int rc = ub_opts_parse(&spec, argc, argv, pos, 1, &npos, NULL);
  if (rc == UB_OPTS_HELP) return 1;
  if (rc != 0) return rc;
  {
    char why[300];
    if (ledger_choose_flag(a->ledger, database, &a->ledger, why, sizeof why) != 0)
      return ub_usage_error("replay", "%s", why);
  }
  if (npos != 1) return ub_usage_error("replay", "give exactly one evaluation ID");
  long long id;
  if (ub_parse_id(pos[0], &id) != 0)
    return ub_usage_error("replay", "'%s' is not an evaluation ID (a positive whole number)", pos[0]);
  a->id = id;
  if (ub_check_output("replay", "--output", a->output) != 0) return UB_EXIT_USAGE;
  static const char *const formats[] = {"text", "json", "junit", "dtcli", "keptn", NULL};
  for (int i = 0; formats[i]; i++)
    if (strcmp(a->format, formats[i]) == 0) return 0;
  return ub_usage_error("replay", "unknown --format '%s'", a->format);
}

static int load_evaluation(const replay_args *a, ledger_evaluation *e) {
  char path[2048], err[600];
  if (ledger_resolve_path(a->ledger, path, sizeof path, err, sizeof err) != 0)
    return ub_usage_error("replay", "%s", err);
  if (!ledger_is_database(path)) {
    int probe = ub_open_regular(path, err, sizeof err); /* never create a ledger just to read it */
    if (probe < 0 && errno == ENOENT) return ub_usage_error("replay", "no ledger at %s", path);
    if (probe < 0) return ub_usage_error("replay", "ledger: %s", err);
    close(probe);
  }
  ub_ledger *l = ledger_open(path, err, sizeof err);
  if (!l) return ub_usage_error("replay", "%s", err);
  int rc = ledger_get_evaluation(l, a->id, e);
  if (rc != LEDGER_OK) {
    if (rc == LEDGER_NOT_FOUND) ub_usage_error("replay", "no evaluation %lld in %s", (long long)a->id, path);
    else fprintf(stderr, "unbreakable replay: %s\n", ledger_error(l));
    ledger_close(l);
    return rc == LEDGER_NOT_FOUND ? UB_EXIT_USAGE : UB_EXIT_ERROR;
  }
  ledger_close(l);
  if (!e->ctx.data || !e->policy.data || !e->verdict_json) {
    fprintf(stderr, "unbreakable replay: evaluation %lld has no recorded context, policy or "
                    "verdict (it did not finish); nothing to replay\n", (long long)a->id);
    return UB_EXIT_USAGE;
  }
  return 0;
}

/* The outcome as human text: one summary line, then one line per change. */
static void outcome_text(const replay_args *a, const ub_gate_job *job, const ledger_evaluation *e,
                         int identical, ub_buf *out) {
  if (identical) {
    ub_buf_printf(out, "replay of evaluation %lld: identical verdict (%s), byte for byte\n",
                  (long long)a->id, job->verdict);
    return;
  }
  ub_buf_printf(out, "replay of evaluation %lld %s: recorded %s, now %s\n", (long long)a->id,
                a->policy ? "with a new policy" : "DIFFERS", e->verdict ? e->verdict : "?",
                job->verdict);
  if (job->diff.len) ub_buf_append(out, job->diff.data, job->diff.len);
  else ub_buf_puts(out, "(the verdict tables differ only in fields outside verdict and objectives)\n");
}

/* --format json: the replayed verdict table with one more field, "replay":
 * {"evaluation", "policy", "identical", "recorded", "verdict", "changes"}. */
static void outcome_json(const replay_args *a, const ub_gate_job *job, const ledger_evaluation *e,
                         int identical, ub_buf *out) {
  const char *doc = job->rendered.data ? job->rendered.data : "{}";
  const char *close = strrchr(doc, '}');
  if (!close) close = doc + strlen(doc);
  int empty = close > doc && strspn(doc, "{ \n") == (size_t)(close - doc);
  ub_buf_append(out, doc, (size_t)(close - doc));
  while (out->len && (out->data[out->len - 1] == '\n' || out->data[out->len - 1] == ' '))
    out->data[--out->len] = '\0';
  ub_buf_printf(out, "%s\n  \"replay\": {\"evaluation\": %lld, \"policy\": \"%s\", "
                "\"identical\": %s, \"recorded\": ", empty ? "" : ",", (long long)a->id,
                a->policy ? "new" : "recorded", identical ? "true" : "false");
  const char *recorded = e->verdict ? e->verdict : "";
  json_append_string(out, recorded, strlen(recorded));
  ub_buf_puts(out, ", \"verdict\": ");
  json_append_string(out, job->verdict, strlen(job->verdict));
  ub_buf_puts(out, ", \"changes\": [");
  const char *p = job->diff.data, *end = p ? p + job->diff.len : NULL;
  for (int n = 0; p && p < end; n++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
    if (n) ub_buf_puts(out, ", ");
    json_append_string(out, p, len);
    p += len + 1;
  }
  ub_buf_puts(out, "]}\n}\n");
}

/* Exit status: with the recorded policy, whether the verdict is identical;
 * with a new policy, the new verdict as gate would answer it. */
static int replay_status(const replay_args *a, const ub_gate_job *job, int identical) {
  if (!a->policy) return identical ? UB_EXIT_OK : UB_EXIT_FAIL;
  return ub_gate_exit_status(job->verdict, job->error_kind, 0);
}

/* stdout (or --output) holds only the chosen format: the text report and
 * outcome, or the JSON with the outcome as a field; other formats (junit,
 * dtcli, keptn) leave the outcome to stderr. */
static int write_outcome(const replay_args *a, const ub_gate_job *job, const ledger_evaluation *e,
                         int identical) {
  ub_buf out, note;
  ub_buf_init(&out);
  ub_buf_init(&note);
  int json = strcmp(a->format, "json") == 0, text = strcmp(a->format, "text") == 0;
  if (json) {
    outcome_json(a, job, e, identical, &out);
  } else {
    ub_buf_append(&out, job->rendered.data ? job->rendered.data : "", job->rendered.len);
    outcome_text(a, job, e, identical, text ? &out : &note);
  }
  int rc = 0;
  if (out.failed || note.failed) {
    fprintf(stderr, "unbreakable replay: out of memory writing the outcome\n");
    rc = -1;
  } else if (ub_write_output(a->output ? a->output : "-", out.data, out.len) != 0) {
    fprintf(stderr, "unbreakable replay: cannot write %s: %s\n", a->output ? a->output : "stdout",
            strerror(errno));
    rc = -1;
  }
  if (note.len) fputs(note.data, stderr);
  ub_buf_free(&out);
  ub_buf_free(&note);
  return rc;
}

static int replay(const replay_args *a, ledger_evaluation *e) {
  ub_gate_job job;
  ub_gate_job_init(&job);
  char *policy_src = NULL, err[600], dir[2048] = ".";
  if (a->policy) {
    policy_src = sb_read_source(a->policy, &job.policy.len, err, sizeof err);
    if (!policy_src) { ub_gate_job_free(&job); return ub_usage_error("replay", "%s", err); }
    const char *slash = strrchr(a->policy, '/');
    if (slash) snprintf(dir, sizeof dir, "%.*s", (int)(slash - a->policy), a->policy);
  }
  job.policy.name = a->policy ? a->policy : e->policy.name;
  job.policy.source = policy_src ? policy_src : e->policy.data;
  if (!policy_src) job.policy.len = e->policy.len;
  job.policy.dir = a->policy ? dir : NULL;
  job.ctx_json = e->ctx.data;
  job.ctx_len = e->ctx.len;
  job.rec = replay_source(e);
  job.format = a->format;
  job.compare_json = e->verdict_json;
  int rc = UB_EXIT_ERROR;
  if (job.rec) {
    /* a failing policy is replayed too: its error verdict is compared; a
     * new policy that fails is a failed replay, never a success */
    ub_gate_run(&job);
    ub_print_policy_log(job.log.data, job.log.len);
    ub_text_sanitize(job.error); /* the policy wrote it */
    if (e->verdict) ub_text_sanitize(e->verdict);
    if (job.error[0]) fprintf(stderr, "unbreakable replay: %s\n", job.error);
    int identical = job.verdict_json.data && strcmp(job.verdict_json.data, e->verdict_json) == 0;
    rc = replay_status(a, &job, identical);
    if (write_outcome(a, &job, e, identical) != 0 && rc == UB_EXIT_OK) rc = UB_EXIT_ERROR;
  }
  ub_recorder_free(job.rec);
  free(policy_src);
  ub_gate_job_free(&job);
  return rc;
}

/* --export: the recorded evaluation as a spec fixture; nothing runs. */
static int export_fixture(const replay_args *a, const ledger_evaluation *e) {
  char err[600];
  if (a->policy) return ub_usage_error("replay", "--export writes what was recorded: drop --policy");
  ub_recorder *rec = replay_source(e);
  if (!rec) return UB_EXIT_ERROR;
  pt_fixture f = {e->kind, e->policy.name, e->ctx.data, e->ctx.len, rec, e->verdict_json};
  int rc = pt_fixture_write(a->export_path, &f, err, sizeof err);
  ub_recorder_free(rec);
  if (rc != 0) {
    fprintf(stderr, "unbreakable replay: %s\n", err);
    return UB_EXIT_ERROR;
  }
  fprintf(stderr, "unbreakable replay: evaluation %lld written to %s\n", (long long)a->id, a->export_path);
  return UB_EXIT_OK;
}

int ub_cmd_replay(int argc, char **argv) {
  replay_args a;
  memset(&a, 0, sizeof a);
  int rc = parse_replay(&a, argc, argv);
  if (rc != 0) return rc == 1 ? UB_EXIT_OK : rc;
  ledger_evaluation e;
  memset(&e, 0, sizeof e);
  rc = load_evaluation(&a, &e);
  if (rc == 0) rc = a.export_path ? export_fixture(&a, &e) : replay(&a, &e);
  ledger_evaluation_free(&e);
  return rc;
}
