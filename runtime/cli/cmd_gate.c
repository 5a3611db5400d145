/* cmd_gate.c: `unbreakable gate`: evaluates a release against a monspec
 * file (or Keptn SLO files, gate_slo.c) with a policy, records the
 * decision in the ledger and answers with a report and an exit status. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "gate/gate_cmd.h"
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
  "  --window MINUTES     length of the evaluated window (default 5)\n"
  "  --shift MINUTES      pull: end the window this many minutes ago (default 0)\n"
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
  "  --dt-url URL         Dynatrace tenant (default $DT_TENANT_URL)\n"
  "  --dt-token-file F    file holding the API token (default $DT_API_TOKEN, $DT_API_TOKEN_FILE)\n"
  "  --dt-ca-bundle F     CA certificates for the tenant's TLS\n"
  "  --concurrency N      Dynatrace requests in flight at once (default 10, at most 1000)\n"
  "\n"
  "Exit status: 0 pass (and warning), 1 fail, 2 usage or invalid input file,\n"
  "3 evaluation error (data source, policy) or a report that could not be written\n"
  "(the decision is recorded first), 4 inconclusive.\n";

enum {
  OPT_MONSPEC = 256, OPT_COMPARE, OPT_PULL, OPT_WINDOW, OPT_SHIFT, OPT_SHIFT_SOURCE,
  OPT_SHIFT_COMPARE, OPT_POLICY, OPT_COMPAT, OPT_FORMAT, OPT_OUTPUT, OPT_FAIL_ON_WARNING,
  OPT_NOW, OPT_TIMEOUT, OPT_MEMORY, OPT_SERVICE, OPT_STAGE, OPT_PROJECT, OPT_LEDGER,
  OPT_NO_LEDGER, OPT_DT_URL, OPT_DT_TOKEN_FILE, OPT_DT_CA, OPT_CONCURRENCY, OPT_SLO, OPT_SLI,
  OPT_FROM, OPT_TO, OPT_DEPLOYMENT, OPT_NO_WAIT, OPT_HELP
};

static const struct option gate_opts[] = {
  {"monspec", required_argument, 0, OPT_MONSPEC}, {"compare", required_argument, 0, OPT_COMPARE},
  {"pull", required_argument, 0, OPT_PULL}, {"window", required_argument, 0, OPT_WINDOW},
  {"shift", required_argument, 0, OPT_SHIFT}, {"shift-source", required_argument, 0, OPT_SHIFT_SOURCE},
  {"shift-compare", required_argument, 0, OPT_SHIFT_COMPARE},
  {"policy", required_argument, 0, OPT_POLICY}, {"compat", required_argument, 0, OPT_COMPAT},
  {"format", required_argument, 0, OPT_FORMAT}, {"output", required_argument, 0, OPT_OUTPUT},
  {"fail-on-warning", no_argument, 0, OPT_FAIL_ON_WARNING}, {"now", required_argument, 0, OPT_NOW},
  {"timeout", required_argument, 0, OPT_TIMEOUT}, {"memory", required_argument, 0, OPT_MEMORY},
  {"service", required_argument, 0, OPT_SERVICE}, {"stage", required_argument, 0, OPT_STAGE},
  {"project", required_argument, 0, OPT_PROJECT}, {"ledger", required_argument, 0, OPT_LEDGER},
  {"no-ledger", no_argument, 0, OPT_NO_LEDGER}, {"dt-url", required_argument, 0, OPT_DT_URL},
  {"dt-token-file", required_argument, 0, OPT_DT_TOKEN_FILE},
  {"dt-ca-bundle", required_argument, 0, OPT_DT_CA},
  {"concurrency", required_argument, 0, OPT_CONCURRENCY}, {"slo", required_argument, 0, OPT_SLO},
  {"sli", required_argument, 0, OPT_SLI}, {"from", required_argument, 0, OPT_FROM},
  {"to", required_argument, 0, OPT_TO}, {"deployment", required_argument, 0, OPT_DEPLOYMENT},
  {"no-wait", no_argument, 0, OPT_NO_WAIT}, {"help", no_argument, 0, OPT_HELP}, {0, 0, 0, 0}};

/* Parses a number in [0 or more than 0, max]; the caps keep every later
 * conversion (to int milliseconds, bytes, counts) in range. */
static int set_number(const char *text, double *out, int allow_zero, double max) {
  char *end;
  double v = strtod(text, &end);
  if (end == text || *end || !(v >= 0) || (!allow_zero && v == 0) || v > max) return -1;
  *out = v;
  return 0;
}

#define MAX_MINUTES (60.0 * 24 * 366 * 10)    /* windows and shifts: ten years */
#define MAX_SECONDS (MAX_MINUTES * 60)

static int parse_option(gate_args *a, int c, const char *arg) {
  switch (c) {
    case OPT_MONSPEC: a->monspec = arg; return 0;
    case OPT_COMPARE: a->target = arg; a->mode = "pullcompare"; a->nmodes++; return 0;
    case OPT_PULL: a->target = arg; a->mode = "pull"; a->nmodes++; return 0;
    case OPT_WINDOW: return set_number(arg, &a->window, 0, MAX_MINUTES);
    case OPT_SHIFT: return set_number(arg, &a->shift, 1, MAX_MINUTES);
    case OPT_SHIFT_SOURCE:
      a->has_shift_source = 1;
      return set_number(arg, &a->shift_source, 1, MAX_SECONDS);
    case OPT_SHIFT_COMPARE:
      a->has_shift_compare = 1;
      return set_number(arg, &a->shift_compare, 1, MAX_SECONDS);
    case OPT_POLICY: a->policy = arg; return 0;
    case OPT_COMPAT: a->compat = arg; return 0;
    case OPT_FORMAT: a->format = arg; return 0;
    case OPT_OUTPUT: a->output = arg; return 0;
    case OPT_FAIL_ON_WARNING: a->fail_on_warning = 1; return 0;
    case OPT_NOW: return set_number(arg, &a->now_ms, 0, 1e15);
    case OPT_TIMEOUT: return set_number(arg, &a->timeout, 0, 86400);
    case OPT_MEMORY: return set_number(arg, &a->memory_mib, 0, 65536);
    case OPT_SERVICE: a->service = arg; return 0;
    case OPT_STAGE: a->stage = arg; return 0;
    case OPT_PROJECT: a->project = arg; return 0;
    case OPT_LEDGER: a->ledger = arg; return 0;
    case OPT_NO_LEDGER: a->no_ledger = 1; return 0;
    case OPT_DT_URL: a->dt.url = arg; return 0;
    case OPT_DT_TOKEN_FILE: a->dt.token_file = arg; return 0;
    case OPT_DT_CA: a->dt.ca_bundle = arg; return 0;
    case OPT_CONCURRENCY: return set_number(arg, &a->concurrency, 0, 1000);
    case OPT_SLO: a->slo = arg; return 0;
    case OPT_SLI: a->sli = arg; return 0;
    case OPT_FROM: a->from = arg; return 0;
    case OPT_TO: a->to = arg; return 0;
    case OPT_DEPLOYMENT: a->deployment = arg; return 0;
    case OPT_NO_WAIT: a->no_wait = 1; return 0;
  }
  return -1;
}

static int check_args(gate_args *a) {
  static const char *const formats[] = {"text", "json", "junit", "dtcli", "keptn", NULL};
  int ok = 0;
  for (int i = 0; formats[i]; i++) ok |= strcmp(a->format, formats[i]) == 0;
  if (!ok) return ub_usage_error("gate", "unknown --format '%s'", a->format);
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

static int parse_args(gate_args *a, int argc, char **argv) {
  int c, li = -1;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "h", gate_opts, &li)) != -1) {
    if (c == 'h' || c == OPT_HELP) { fputs(gate_help, stdout); return 1; }
    if (c == '?' || c == ':') return ub_usage_error("gate", "unknown or incomplete option '%s'", argv[optind - 1]);
    if (parse_option(a, c, optarg) != 0)
      return ub_usage_error("gate", "invalid value '%s' for --%s", optarg, gate_opts[li].name);
  }
  if (optind != argc) return ub_usage_error("gate", "unexpected argument '%s'", argv[optind]);
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

static int run_monspec(gate_args *a) {
  char err[600];
  size_t len;
  char *text = ub_read_all(a->monspec, (size_t)4 << 20, &len, err, sizeof err);
  if (!text) return ub_usage_error("gate", "%s", err);
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
  free(text);
  return rc;
}

static int run_gate(void *ud) {
  gate_args *a = ud;
  return a->slo ? ub_gate_slo(a) : run_monspec(a);
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
