/* cmd_gate.c: `unbreakable gate`: evaluates a release against a monspec
 * file (or Keptn SLO files, gate_slo.c) with a policy, records the
 * decision in the ledger and answers with a report and an exit status. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger/ledger.h"
#include "cli/cli.h"
#include "commands/commands.h"
#include "cli/options.h"
#include "gate/gate_cmd.h"
#include "gate/gate_monspec.h"
#include "gate/gate_run.h"
#include "cli/isolate.h"
#include "util/clock.h"
#include "util/json.h"

static const char gate_help[] =
  "usage: unbreakable gate --monspec FILE (--compare ENTITY/COMPARISON | --pull ENTITY/ENVIRONMENT)\n"
  "                        [--window MINUTES] [--shift MINUTES] [--shift-source SECONDS]\n"
  "                        [--shift-compare SECONDS] [--policy FILE.lua] [--compat dtcli]\n"
  "                        [--format text|json|junit|dtcli] [--output FILE] [--fail-on-warning]\n"
  "       unbreakable gate --slo slo.yaml --sli sli.yaml --service S --stage S [--project P]\n"
  "                        [--deployment D] [--window MINUTES | --from ISO --to ISO]\n"
  "                        [--no-wait] [--compat keptn] [--format text|json|junit|keptn] ...\n"
  "\n"
  "Evaluates a release and answers pass, warning, fail, inconclusive or error,\n"
  "explaining every objective. All Dynatrace queries of a gate run in parallel.\n"
  "\n"
  "  --monspec FILE       monspec file (docs/gate.md)\n"
  "  --compare E/C        pullcompare: comparison C of entity E (source vs baseline)\n"
  "  --pull E/ENV         pull: environment ENV of entity E against its static limits\n"
  "  --window MINUTES     length of the evaluated window (default 5, at least 1)\n"
  "  --shift MINUTES      pull and SLO: end the window this many minutes ago (default 0)\n"
  "  --shift-source S, --shift-compare S   override the comparison's shifts (seconds)\n"
  "  --policy FILE.lua    policy deciding the verdict (default: the monspec's 'policy'\n"
  "                       key, else the shipped policies/monspec.lua)\n"
  "  --compat dtcli       reproduce the original Dynatrace CLI's numbers and document\n"
  "  --format F           text (default), json (the verdict table), junit (one test case\n"
  "                       per objective), dtcli (the original document, with --compat dtcli)\n"
  "  --output FILE        write the report to FILE instead of stdout (a temporary file\n"
  "                       renamed over FILE: never half a report)\n"
  "  --fail-on-warning    exit 1 on a warning verdict\n"
  "  --slo F, --sli F     Keptn slo.yaml and Dynatrace sli.yaml (docs/slo.md); the baseline\n"
  "                       comes from earlier evaluations of --service/--stage in the ledger\n"
  "  --from T, --to T     SLO timeframe (2019-11-18T11:21:06.000Z or Unix ms); default: the\n"
  "                       --window minutes up to now\n"
  "  --no-wait            SLO: answer inconclusive instead of waiting until 2 minutes after\n"
  "                       the end of the timeframe (Keptn's data readiness delay)\n"
  "  --compat keptn       SLO: reproduce Keptn's lighthouse quirks (docs/slo.md)\n"
  "  --now MS             the clock of the run, Unix ms (default: now; for reproducible runs)\n"
  "  --timeout S          deadline of the whole evaluation in seconds (default 60, at most 86400)\n"
  "  --memory MIB         memory cap of the policy (default 64, at most 65536)\n"
  "  --service S, --stage S   labels recorded in the ledger (monspec default: entity, environment)\n"
  "  --ledger PATH | --no-ledger   where to record the decision (default: $UB_LEDGER or\n"
  "                       ~/.local/share/unbreakable/ledger.db)\n"
  "  --database URL       record in a PostgreSQL ledger instead (postgres://USER@HOST:PORT/DB;\n"
  "                       default $UB_DATABASE_URL when set)\n"
  "  --dt-url URL         Dynatrace tenant (default $DT_TENANT_URL)\n"
  "  --dt-token-file F    file holding the API token (default $DT_API_TOKEN, $DT_API_TOKEN_FILE)\n"
  "  --dt-ca-bundle F     CA certificates for the tenant's TLS\n"
  "  --concurrency N      Dynatrace requests in flight at once (default 10, at most 1000)\n"
  "  --dump-ctx FILE      also write the context the policy received, every Dynatrace\n"
  "                       response and the verdict to FILE: a fixture for specs\n"
  "                       (fixture.evaluation in 'unbreakable test', docs/policies.md)\n"
  "  --bundle B --pubkey K   take the policy only from bundle B, verified with public key\n"
  "                       K (signature and every file); --policy names a file inside it\n"
  "                       (default policy.lua)\n"
  "\n"
  "Exit status: 0 pass (and warning), 1 fail, 2 usage or invalid input file,\n"
  "3 evaluation error (data source, policy) or a report that could not be written\n"
  "(the decision is recorded first), 4 inconclusive.\n";

static int check_args(gate_args *a) {
  static const char *const formats[] = {"text", "json", "junit", "dtcli", "keptn", NULL};
  int ok = 0;
  if (a->pubkey && !a->bundle) return ub_usage_error("gate", "--pubkey goes with --bundle");
  if (a->bundle && !a->pubkey) return ub_usage_error("gate", "--bundle needs --pubkey KEY.pub");
  for (int i = 0; formats[i]; i++) ok |= strcmp(a->format, formats[i]) == 0;
  if (!ok) return ub_usage_error("gate", "unknown --format '%s'", a->format);
  if (ub_check_output("gate", "--output", a->output) != 0) return UB_EXIT_USAGE;
  if (a->slo) {
    if (a->monspec || a->nmodes) return ub_usage_error("gate", "--slo cannot be combined with --monspec");
    if (!a->service || !a->stage) return ub_usage_error("gate", "--slo needs --service and --stage");
    if (a->compat && strcmp(a->compat, "keptn") != 0)
      return ub_usage_error("gate", "--compat with --slo must be 'keptn'");
    return 0;
  }
  if (!a->monspec) return ub_usage_error("gate", "missing --monspec FILE (or --slo FILE)");
  if (a->nmodes != 1) return ub_usage_error("gate", "give exactly one of --compare or --pull");
  if (!strchr(a->target, '/') || a->target[0] == '/')
    return ub_usage_error("gate", "'%s' must be ENTITY/%s", a->target,
                          strcmp(a->mode, "pull") == 0 ? "ENVIRONMENT" : "COMPARISON");
  if (a->compat && strcmp(a->compat, "dtcli") != 0)
    return ub_usage_error("gate", "--compat with --monspec must be 'dtcli'");
  if (strcmp(a->format, "dtcli") == 0 && !a->compat)
    return ub_usage_error("gate", "--format dtcli needs --compat dtcli");
  if (strcmp(a->format, "keptn") == 0) return ub_usage_error("gate", "--format keptn needs --slo");
  return 0;
}

#define MAX_MINUTES (60.0 * 24 * 366 * 10)    /* windows and shifts: ten years */
#define MAX_SECONDS (MAX_MINUTES * 60)

/* The options of gate, checked by the shared parser (options.h). The caps
 * keep every later conversion (to int milliseconds, bytes, counts) in
 * range; a window under one minute would send queries with an empty
 * timeframe. */
static int parse_args(gate_args *a, int argc, char **argv) {
  const char *compare = NULL, *pull = NULL;
  int compare_seen = 0, pull_seen = 0;
  const char *database = NULL;
  const ub_opt opts[] = {
    UB_PATH("monspec", &a->monspec),
    {.name = "compare", .kind = UB_OPT_STRING, .dest = &compare, .seen = &compare_seen},
    {.name = "pull", .kind = UB_OPT_STRING, .dest = &pull, .seen = &pull_seen},
    UB_NUMBER("window", &a->window, 1, MAX_MINUTES, .unit = "(minutes)"),
    UB_NUMBER("shift", &a->shift, 0, MAX_MINUTES, .unit = "(minutes)"),
    UB_NUMBER("shift-source", &a->shift_source, 0, MAX_SECONDS, .unit = "(seconds)",
     .seen = &a->has_shift_source),
    UB_NUMBER("shift-compare", &a->shift_compare, 0, MAX_SECONDS, .unit = "(seconds)",
     .seen = &a->has_shift_compare),
    UB_PATH("policy", &a->policy),
    UB_STRING("compat", &a->compat),
    UB_STRING("format", &a->format),
    UB_PATH("output", &a->output),
    UB_FLAG("fail-on-warning", &a->fail_on_warning),
    UB_NUMBER("now", &a->now_ms, 0, 1e15, .whole = 1, .unit = "(Unix ms)"),
    UB_NUMBER("timeout", &a->timeout, 0, 86400, .above_min = 1, .unit = "(seconds)"),
    UB_NUMBER("memory", &a->memory_mib, 0, 65536, .above_min = 1, .unit = "(MiB)"),
    UB_STRING("service", &a->service),
    UB_STRING("stage", &a->stage),
    UB_STRING("project", &a->project),
    UB_PATH("ledger", &a->ledger),
    UB_STRING("database", &database),
    UB_FLAG("no-ledger", &a->no_ledger),
    UB_STRING("dt-url", &a->dt.url),
    UB_PATH("dt-token-file", &a->dt.token_file),
    UB_PATH("dt-ca-bundle", &a->dt.ca_bundle),
    UB_NUMBER("concurrency", &a->concurrency, 1, 1000, .whole = 1),
    UB_PATH("slo", &a->slo),
    UB_PATH("sli", &a->sli),
    UB_STRING("from", &a->from),
    UB_STRING("to", &a->to),
    UB_STRING("deployment", &a->deployment),
    UB_FLAG("no-wait", &a->no_wait),
    UB_PATH("dump-ctx", &a->dump_ctx),
    UB_PATH("bundle", &a->bundle),
    UB_PATH("pubkey", &a->pubkey),
    UB_OPTS_END};
  const ub_opt_spec spec = {"gate", gate_help, opts, 0};
  int rc = ub_opts_parse(&spec, argc, argv, NULL, 0, NULL, NULL);
  if (rc == UB_OPTS_HELP) return 1;
  if (rc != 0) return rc;
  {
    char why[300];
    if (ledger_choose_flag(a->ledger, database, &a->ledger, why, sizeof why) != 0)
      return ub_usage_error("gate", "%s", why);
  }
  a->nmodes = compare_seen + pull_seen;
  a->target = pull_seen ? pull : compare;
  a->mode = pull_seen ? "pull" : "pullcompare";
  return check_args(a);
}

/* The context of a monspec gate, as JSON: the policy gets the file's text
 * (so that key order survives for the dtcli document) and the run's one
 * clock. */
static int monspec_ctx(const gate_args *a, const char *text, size_t len, ub_buf *ctx) {
  char num[32];
  ub_buf_puts(ctx, "{\"monspec_text\":");
  json_append_string(ctx, text, len);
  ub_buf_puts(ctx, ",\"monspec_path\":");
  json_append_string(ctx, a->monspec, strlen(a->monspec));
  ub_buf_puts(ctx, ",\"target\":");
  json_append_string(ctx, a->target, strlen(a->target));
  ub_buf_printf(ctx, ",\"mode\":\"%s\"", a->mode);
  json_format_double(a->window, 0, num);
  ub_buf_printf(ctx, ",\"window_minutes\":%s", num);
  json_format_double(a->shift, 0, num);
  ub_buf_printf(ctx, ",\"shift_minutes\":%s", num);
  if (a->has_shift_source) {
    json_format_double(a->shift_source, 0, num);
    ub_buf_printf(ctx, ",\"shift_source_seconds\":%s", num);
  }
  if (a->has_shift_compare) {
    json_format_double(a->shift_compare, 0, num);
    ub_buf_printf(ctx, ",\"shift_compare_seconds\":%s", num);
  }
  if (a->compat) ub_buf_printf(ctx, ",\"compat\":\"%s\"", a->compat);
  ub_buf_printf(ctx, ",\"now\":%lld,\"fail_on_warning\":%s}", (long long)a->now,
                a->fail_on_warning ? "true" : "false");
  return ctx->failed ? -1 : 0;
}

/* A long-running caller's gates share one decoder (created by the first). */
static ub_monspec_doc *decode_monspec(gate_args *a, const char *text, size_t len, int *invalid,
                                      char *err, size_t errlen) {
  if (!a->host) return ub_monspec_decode(ub_stdlib_dir(), text, len, invalid, err, errlen);
  if (!a->host->monspec_decoder)
    a->host->monspec_decoder = ub_monspec_decoder_new(ub_stdlib_dir(), err, errlen);
  if (!a->host->monspec_decoder) return NULL;
  return ub_monspec_decode_with(a->host->monspec_decoder, text, len, invalid, err, errlen);
}

int ub_gate_monspec(gate_args *a) {
  char err[600];
  size_t len;
  char *text = ub_read_text(a->monspec, (size_t)4 << 20, &len, err, sizeof err);
  if (!text) return ub_usage_error("gate", "%s", err);
  int invalid = 0;
  a->monspec_doc = decode_monspec(a, text, len, &invalid, err, sizeof err);
  if (!a->monspec_doc) {
    free(text);
    if (invalid) return ub_usage_error("gate", "%s: invalid JSON: %s", a->monspec, err);
    fprintf(stderr, "unbreakable gate: %s\n", err);
    return UB_EXIT_ERROR;
  }
  ub_buf ctx;
  ub_buf_init(&ctx);
  int rc = monspec_ctx(a, text, len, &ctx);
  if (rc == 0) {
    a->ctx_json = ctx.data;
    a->ctx_len = ctx.len;
    a->spec_text = text;
    a->spec_len = len;
    a->kind = "monspec";
    a->default_policy = "monspec.lua";
    rc = ub_gate_execute(a);
  } else {
    fprintf(stderr, "unbreakable gate: out of memory\n");
    rc = UB_EXIT_ERROR;
  }
  ub_buf_free(&ctx);
  ub_monspec_free(a->monspec_doc);
  a->monspec_doc = NULL;
  free(text);
  return rc;
}

static int run_gate(void *ud) {
  gate_args *a = ud;
  return a->slo ? ub_gate_slo(a) : ub_gate_monspec(a);
}

int ub_cmd_gate(int argc, char **argv) {
  gate_args a;
  memset(&a, 0, sizeof a);
  a.window = 5;
  a.timeout = 60;
  a.memory_mib = 64;
  a.concurrency = 10;
  a.format = "text";
  int rc = parse_args(&a, argc, argv);
  if (rc != 0) return rc == 1 ? UB_EXIT_OK : rc;
  a.now = a.now_ms > 0 ? (int64_t)a.now_ms : ub_clock_wall_ms();
  const char *no_color = getenv("NO_COLOR");
  a.color = !a.output && isatty(STDOUT_FILENO) && !(no_color && *no_color);
  double backstop = 2 * a.timeout + 5;
  if (a.slo && !a.no_wait) backstop += UB_GATE_SLO_MAX_WAIT_MS / 1000.0; /* not evaluation time */
  return ub_isolate_run("gate", run_gate, &a, backstop);
}
