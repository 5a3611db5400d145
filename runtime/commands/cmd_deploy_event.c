/* cmd_deploy_event.c: `unbreakable deploy-event`: tells Dynatrace what was
 * deployed where (a CUSTOM_DEPLOYMENT event through Events v2 ingest, or v1
 * on request), waits for the answer, fails when the event reached no
 * entity, and records request and answer in the ledger. The pure parts are
 * in deploy_event*.c; this file parses flags, sends through the Dynatrace
 * client (ub_dt_post) and reports. The token
 * is used for the Authorization header only and redacted from everything
 * printed or recorded. */
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "cli/cli.h"
#include "cli/options.h"
#include "deploy/deploy_event.h"
#include "dynatrace/dynatrace.h"
#include "util/json.h"
#include "ledger/ledger.h"
#include "dynatrace/recorder.h"
#include "util/text.h"

extern char **environ;

#define CMD "deploy-event"
#define DT_MAX_PAYLOAD ((size_t)1 << 20)   /* request payload limit, docs/reference/dynatrace-api.md 2.2 */

static const char deploy_help[] =
  "usage: unbreakable deploy-event TARGET [FIELDS] [OPTIONS]\n"
  "\n"
  "Sends a CUSTOM_DEPLOYMENT event to Dynatrace, waits for the answer and fails\n"
  "unless the event was recorded on at least one entity.\n"
  "\n"
  "TARGET (exactly one):\n"
  "  --monspec FILE --environment ENTITY/ENVIRONMENT\n"
  "                        the entity ids or tags of that monspec environment\n"
  "  --entity-selector SEL  a v2 entity selector, sent as given (v2 only)\n"
  "  --tag [CONTEXT]KEY[:VALUE]  repeatable; entities carrying every tag. A ':'\n"
  "                        or '\\' inside KEY or VALUE is written '\\:' or '\\\\'\n"
  "  --entity-type TYPE    entity type for --tag (default SERVICE) or instead of\n"
  "                        the monspec etype\n"
  "\n"
  "FIELDS (name and version are required; a flag wins over the pipeline's value):\n"
  "  --name N              dt.event.deployment.name (v1 deploymentName)\n"
  "  --version V           dt.event.deployment.version (v1 deploymentVersion)\n"
  "  --project P           dt.event.deployment.project (v1 deploymentProject)\n"
  "  --stage S             dt.event.deployment.release_stage (default: the pipeline's\n"
  "                        stage, else the monspec environment name)\n"
  "  --product P           dt.event.deployment.release_product\n"
  "  --build-version B     dt.event.deployment.release_build_version\n"
  "  --ci-link URL         dt.event.deployment.ci_back_link (v1 ciBackLink)\n"
  "  --remediation-link URL  dt.event.deployment.remediation_action_link\n"
  "                        (v1 remediationAction)\n"
  "  --property KEY=VALUE  repeatable; extra property (v1 customProperties); dt.*\n"
  "                        keys other than dt.event.*, dt.davis.*, dt.entity.* are refused\n"
  "  --source S            v1 'source' (default unbreakable)\n"
  "v1 carries stage, product and build version in customProperties under the\n"
  "same names. Inside a pipeline the fields and the ado.*, github.*, gitlab.*,\n"
  "vcs.* and ci.system properties come from its variables: Azure Pipelines\n"
  "classic release (RELEASE_RELEASEID), Azure Pipelines YAML (TF_BUILD and\n"
  "BUILD_BUILDID), GitHub Actions (GITHUB_ACTIONS=true), GitLab CI (GITLAB_CI=true).\n"
  "\n"
  "OPTIONS:\n"
  "  --api v1|v2           Events API (default v2: POST /api/v2/events/ingest;\n"
  "                        v1: POST /api/v1/events with attachRules)\n"
  "  --dry-run             print the request (token redacted), send nothing\n"
  "  --allow-no-match      an event that reached no entity is a warning, not an error\n"
  "  --timeout SECONDS     overall deadline including retries (default 60)\n"
  "  --dt-url URL          tenant URL (default $DT_TENANT_URL)\n"
  "  --dt-token-file F     file holding the API token (default $DT_API_TOKEN,\n"
  "                        $DT_API_TOKEN_FILE); scope events.ingest (v2) or DataExport (v1)\n"
  "  --dt-ca-bundle F      CA certificates for the tenant\n"
  "  --ledger PATH         ledger file (default $UB_LEDGER, then the user data dir)\n"
  "  --database URL        a PostgreSQL ledger instead (default $UB_DATABASE_URL when set)\n"
  "  --no-ledger           do not record the event in the ledger\n"
  "  --format text|json    output on stdout (default text)\n"
  "\n"
  "429, 502, 503, 504 and connection errors are retried with backoff (honouring\n"
  "Retry-After and X-RateLimit-Reset) until the deadline; a retried POST may\n"
  "create a duplicate event in Dynatrace.\n"
  "\n"
  "Exit status: 0 recorded (or dry run), 2 usage or invalid input, 3 Dynatrace\n"
  "error, no entity matched, timeout, or the ledger could not be written.\n"
  "Property names and examples: docs/deploy-event.md.\n";

typedef struct de_opts {
  const char *monspec, *environment, *selector, *entity_type, *source;
  ub_opt_list tags, props;   /* repeated --tag and --property values */
  const char *fields[DE_FIELD_COUNT];
  int api, dry_run, allow_no_match, no_ledger, json;
  const char *ledger_path;
  double timeout_s;
  ub_dt_flags dt;
} de_opts;

/* Everything one run owns; freed by run_free. */
typedef struct de_run {
  de_opts o;
  de_event ev;
  de_target target;
  ub_buf body, selector;
  ub_dt_config cfg;
  int have_cfg;
  ub_dt_client *client;       /* NULL with --dry-run */
  char *url;
  ub_ledger *ledger;
  char ledger_file[4096];
  char ledger_name[512];      /* ledger_file for messages: no URL password */
} de_run;

/* ---- output ------------------------------------------------------------ */

/* Replaces the token wherever it occurs (a server could echo it). */
static void redact(const de_run *r, ub_buf *b) {
  const char *tok = r && r->have_cfg ? r->cfg.token : NULL;
  size_t tl = tok ? strlen(tok) : 0;
  if (!tl || !b->data) return;
  ub_buf out;
  ub_buf_init(&out);
  const char *p = b->data, *hit;
  while ((hit = strstr(p, tok))) {
    ub_buf_append(&out, p, (size_t)(hit - p));
    ub_buf_puts(&out, "[REDACTED]");
    p = hit + tl;
  }
  ub_buf_puts(&out, p);
  if (out.failed) {
    ub_buf_free(&out);
    ub_buf_reset(b);
    ub_buf_puts(b, "[output withheld: out of memory while redacting]");
    return;
  }
  ub_buf_free(b);
  *b = out;
}

static void emit(const de_run *r, FILE *f, ub_buf *b) {
  redact(r, b);
  if (b->data) fputs(b->data, f);
  fflush(f);
}

static int fail_msg(const de_run *r, int code, const char *msg) {
  ub_buf b;
  ub_buf_init(&b);
  ub_buf_printf(&b, "unbreakable " CMD ": %s\n", msg);
  emit(r, stderr, &b);
  ub_buf_free(&b);
  return code;
}

/* ---- options ----------------------------------------------------------- */

static int check_choices(const char *api, const char *format) {
  if (strcmp(api, "v1") != 0 && strcmp(api, "v2") != 0)
    return ub_usage_error(CMD, "--api must be v1 or v2, not '%s'", api);
  if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0)
    return ub_usage_error(CMD, "--format must be text or json, not '%s'", format);
  return 0;
}

static int check_target_choice(const de_opts *o) {
  int sources = (o->monspec || o->environment) + (o->selector != NULL) + (o->tags.n > 0);
  if (sources == 0)
    return ub_usage_error(CMD, "no target: give --monspec FILE --environment ENTITY/ENVIRONMENT, "
                          "--entity-selector or --tag");
  if (sources > 1)
    return ub_usage_error(CMD, "give only one target: --monspec/--environment, --entity-selector "
                          "or --tag");
  if ((o->monspec != NULL) != (o->environment != NULL))
    return ub_usage_error(CMD, "--monspec and --environment go together");
  if (o->selector && o->entity_type)
    return ub_usage_error(CMD, "--entity-type applies to --tag and --monspec; put type(...) in the "
                          "selector instead");
  if (o->selector && o->api == 1)
    return ub_usage_error(CMD, "Events API v1 has no entity selector: use --tag or --monspec with "
                          "--api v1, or --api v2");
  if (o->no_ledger && o->ledger_path)
    return ub_usage_error(CMD, "--ledger and --no-ledger exclude each other");
  return 0;
}

/* 0, 1 when --help was printed, or an exit status. */
static int parse_args(de_opts *o, int argc, char **argv) {
  const char *api = "v2", *format = "text", *database = NULL;
  const ub_opt opts[] = {
    UB_PATH("monspec", &o->monspec),
    UB_STRING("environment", &o->environment),
    UB_STRING("entity-selector", &o->selector),
    UB_LIST("tag", &o->tags),
    UB_STRING("entity-type", &o->entity_type),
    UB_LIST("property", &o->props),
    UB_STRING("source", &o->source),
    UB_STRING("api", &api),
    UB_FLAG("dry-run", &o->dry_run),
    UB_FLAG("allow-no-match", &o->allow_no_match),
    UB_NUMBER("timeout", &o->timeout_s, 0, 3600, .above_min = 1, .unit = "(seconds)"),
    UB_STRING("dt-url", &o->dt.url),
    UB_PATH("dt-token-file", &o->dt.token_file),
    UB_PATH("dt-ca-bundle", &o->dt.ca_bundle),
    UB_PATH("ledger", &o->ledger_path),
    UB_STRING("database", &database),
    UB_FLAG("no-ledger", &o->no_ledger),
    UB_STRING("format", &format),
    UB_STRING("name", &o->fields[DE_NAME]),
    UB_STRING("version", &o->fields[DE_VERSION]),
    UB_STRING("project", &o->fields[DE_PROJECT]),
    UB_STRING("stage", &o->fields[DE_STAGE]),
    UB_STRING("product", &o->fields[DE_PRODUCT]),
    UB_STRING("build-version", &o->fields[DE_BUILD_VERSION]),
    UB_STRING("ci-link", &o->fields[DE_CI_LINK]),
    UB_STRING("remediation-link", &o->fields[DE_REMEDIATION]),
    UB_OPTS_END};
  const ub_opt_spec spec = {CMD, deploy_help, opts, 0};
  int rc = ub_opts_parse(&spec, argc, argv, NULL, 0, NULL, NULL);
  if (rc == UB_OPTS_HELP) return 1;
  if (rc == 0) {
    char why[300];
    if (ledger_choose_flag(o->ledger_path, database, &o->ledger_path, why, sizeof why) != 0)
      return ub_usage_error(CMD, "%s", why);
  }
  if (rc != 0) return rc;
  if ((rc = check_choices(api, format)) != 0) return rc;
  o->api = api[1] - '0';
  o->json = format[0] == 'j';
  return check_target_choice(o);
}

/* ---- building the event and its target --------------------------------- */

static int build_event(de_run *r) {
  char err[512];
  de_event *ev = &r->ev;
  if (de_context_from_env(ev, environ) != 0) return fail_msg(r, UB_EXIT_ERROR, "out of memory");
  for (int f = 0; f < DE_FIELD_COUNT; f++)
    if (de_event_set(ev, (de_field)f, r->o.fields[f]) != 0) return fail_msg(r, UB_EXIT_ERROR, "out of memory");
  for (size_t i = 0; i < r->o.props.n; i++)
    if (de_property_parse(ev, r->o.props.items[i], err, sizeof err) != 0) return ub_usage_error(CMD, "%s", err);
  if (r->o.source && !(ev->source = strdup(r->o.source))) return fail_msg(r, UB_EXIT_ERROR, "out of memory");
  return 0;
}

static int target_from_monspec(de_run *r) {
  char err[1024];
  size_t len;
  char *text = ub_read_text(r->o.monspec, (size_t)16 << 20, &len, err, sizeof err);
  if (!text) return ub_usage_error(CMD, "monspec: %s", err);
  int rc = de_target_from_monspec(text, len, r->o.monspec, r->o.environment, r->o.entity_type,
                                  &r->target, err, sizeof err);
  free(text);
  return rc == 0 ? 0 : ub_usage_error(CMD, "%s", err);
}

static int target_from_tags(de_run *r) {
  const char *type = r->o.entity_type ? r->o.entity_type : "SERVICE";
  if (!de_entity_type_valid(type))
    return ub_usage_error(CMD, "--entity-type '%s' must be an upper-case entity type such as SERVICE "
                          "or PROCESS_GROUP_INSTANCE", type);
  r->target.kind = DE_TARGET_TAGS;
  if (!(r->target.entity_type = strdup(type))) return fail_msg(r, UB_EXIT_ERROR, "out of memory");
  for (size_t i = 0; i < r->o.tags.n; i++) {
    de_tag tag;
    char err[300];
    if (de_tag_parse(r->o.tags.items[i], &tag, err, sizeof err) != 0) return ub_usage_error(CMD, "%s", err);
    int rc = de_target_add_tag(&r->target, &tag);
    de_tag_free(&tag);
    if (rc != 0) return fail_msg(r, UB_EXIT_ERROR, "out of memory");
  }
  return 0;
}

static int build_target(de_run *r) {
  if (r->o.monspec) return target_from_monspec(r);
  if (r->o.tags.n) return target_from_tags(r);
  for (const unsigned char *p = (const unsigned char *)r->o.selector; *p; p++)
    if (*p < 0x20) return ub_usage_error(CMD, "--entity-selector must not contain control characters");
  if (!r->o.selector[strspn(r->o.selector, " ")])
    return ub_usage_error(CMD, "--entity-selector is empty");
  r->target.kind = DE_TARGET_SELECTOR;
  r->target.selector = strdup(r->o.selector);
  return r->target.selector ? 0 : fail_msg(r, UB_EXIT_ERROR, "out of memory");
}

static int build_request(de_run *r) {
  char err[512];
  int rc = build_event(r);
  if (rc == 0) rc = build_target(r);
  if (rc != 0) return rc;
  if (!r->ev.field[DE_STAGE] && r->target.env_name && de_event_set(&r->ev, DE_STAGE, r->target.env_name))
    return fail_msg(r, UB_EXIT_ERROR, "out of memory");
  if (de_event_check(&r->ev, err, sizeof err) != 0) return ub_usage_error(CMD, "%s", err);
  rc = r->o.api == 1 ? de_body_v1(&r->ev, &r->target, &r->body, err, sizeof err)
                     : de_body_v2(&r->ev, &r->target, &r->body, err, sizeof err);
  if (rc != 0) return ub_usage_error(CMD, "%s", err);
  if (r->body.len > DT_MAX_PAYLOAD)
    return ub_usage_error(CMD, "the event body is %zu bytes, above Dynatrace's limit of 1 MB: send "
                          "fewer or shorter --property values", r->body.len);
  if (de_target_selector(&r->target, &r->selector) != 0) return fail_msg(r, UB_EXIT_ERROR, "out of memory");
  return 0;
}

/* ---- configuration and ledger ------------------------------------------- */

static const char *api_path(int api) { return api == 1 ? "/api/v1/events" : "/api/v2/events/ingest"; }

static int configure(de_run *r) {
  char err[512];
  if (ub_dt_config_resolve(&r->cfg, &r->o.dt, err, sizeof err) != 0) return ub_usage_error(CMD, "%s", err);
  r->have_cfg = 1;
  if (r->o.timeout_s > 0) r->cfg.timeout_ms = (long)(r->o.timeout_s * 1000);
  r->cfg.concurrency = 1;
  r->cfg.max_response_bytes = (size_t)1 << 20;   /* an ingest answer is small */
  if (!r->o.dry_run && !(r->client = ub_dt_client_new(&r->cfg, err, sizeof err)))
    return fail_msg(r, UB_EXIT_ERROR, err);
  ub_buf u;
  ub_buf_init(&u);
  ub_buf_printf(&u, "%s%s", r->cfg.base_url, api_path(r->o.api));
  r->url = ub_buf_steal(&u, NULL);
  return r->url ? 0 : fail_msg(r, UB_EXIT_ERROR, "out of memory");
}

static int open_ledger(de_run *r) {
  char err[1024];
  if (r->o.no_ledger) return 0;
  if (ledger_resolve_path(r->o.ledger_path, r->ledger_file, sizeof r->ledger_file, err, sizeof err) != 0 ||
      (ledger_display_name(r->ledger_file, r->ledger_name, sizeof r->ledger_name),
       !(r->ledger = ledger_open(r->ledger_file, err, sizeof err)))) {
    char msg[1200];
    snprintf(msg, sizeof msg, "%s (nothing was sent; fix the ledger or pass --no-ledger)", err);
    return fail_msg(r, UB_EXIT_ERROR, msg);
  }
  if (ledger_add_secret(r->ledger, r->cfg.token) != 0)
    return fail_msg(r, UB_EXIT_ERROR, ledger_error(r->ledger));
  return 0;
}

typedef struct de_result {
  const char *outcome;        /* "recorded", "no-match", "error", "dry-run" */
  long status;
  int attempts;
  de_answer answer;
  ub_buf message;             /* error or warning, one line */
  char *response;             /* redacted body or NULL */
  int64_t ledger_id;
} de_result;

/* Recorded, a dry run, or no entity matched with --allow-no-match. */
static int outcome_ok(const de_run *r, const de_result *res) {
  return !strcmp(res->outcome, "recorded") || !strcmp(res->outcome, "dry-run") ||
         (!strcmp(res->outcome, "no-match") && r->o.allow_no_match);
}

/* The ledger is closed while the event is sent: SQLite maps the ledger's
 * -shm file into memory, and a file truncated (or a disk filled) during a
 * long send turned the next ledger write into SIGBUS, killing the process
 * before it said whether the event was recorded. Reopened afterwards,
 * SQLite rebuilds the index or reports a clean error. */
static void close_ledger_for_send(de_run *r) {
  ledger_close(r->ledger);
  r->ledger = NULL;
}

static int reopen_ledger(de_run *r, char *err, size_t errlen) {
  if (r->ledger) return 0;
  if (!(r->ledger = ledger_open(r->ledger_file, err, errlen))) return -1;
  if (ledger_add_secret(r->ledger, r->cfg.token) == 0) return 0;
  snprintf(err, errlen, "%s", ledger_error(r->ledger));
  ledger_close(r->ledger);
  r->ledger = NULL;
  return -1;
}

/* Backstop for the short write itself: a SIGBUS there (the -shm file
 * truncated between reopening and writing) prints the warning prepared
 * before the write and exits 3, instead of dying without a word. The
 * handler may only use async-signal-safe calls, so the text is ready in
 * static storage: the one piece of process state this file keeps. */
static char sigbus_text[1024];
static size_t sigbus_len;

static void on_sigbus(int sig) {
  (void)sig;
  ssize_t ignored = write(STDERR_FILENO, sigbus_text, sigbus_len);
  (void)ignored;
  _exit(UB_EXIT_ERROR);
}

static void arm_sigbus(const de_run *r, const de_result *res, struct sigaction *old) {
  int recorded = !strcmp(res->outcome, "recorded");
  int n = snprintf(sigbus_text, sizeof sigbus_text,
                   "unbreakable " CMD ": could not record the event in the ledger %s: the file changed "
                   "or its disk filled while it was written (SIGBUS); %s\n", r->ledger_name,
                   recorded ? "Dynatrace did record it: do not re-run, it would create a duplicate event"
                   : !strcmp(res->outcome, "dry-run") ? "nothing was sent"
                   : "the event may have been recorded all the same: look for it in Dynatrace before "
                     "running again, a second run can duplicate it");
  sigbus_len = n < 0 ? 0 : (size_t)n < sizeof sigbus_text ? (size_t)n : sizeof sigbus_text - 1;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigbus;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, old);
}

/* Returns 0, or a message about the ledger write in res->message. */
static int record(de_run *r, de_result *res) {
  if (r->o.no_ledger) return 0;
  char err[1024];
  const char *why = NULL;
  if (reopen_ledger(r, err, sizeof err) != 0) why = err;
  if (!why) {
    char requester[512];
    ledger_cli_requester(requester, sizeof requester);
    int ok = outcome_ok(r, res);
    ledger_event e = {requester, r->o.api == 1 ? "v1" : "v2", r->selector.data, r->body.data,
                      (int)res->status, res->response,
                      !strcmp(res->outcome, "dry-run") ? "dry-run" : ok ? "ok" : "error",
                      res->message.len ? res->message.data : NULL};
    struct sigaction old;
    arm_sigbus(r, res, &old);
    int rc = ledger_record_event(r->ledger, &e, &res->ledger_id);
    sigaction(SIGBUS, &old, NULL);
    if (rc == LEDGER_OK) return 0;
    why = ledger_error(r->ledger);
  }
  ub_buf_printf(&res->message, "%scould not record the event in the ledger: %s%s",
                res->message.len ? "; " : "", why,
                !strcmp(res->outcome, "recorded") ? " (Dynatrace did record it: do not re-run, it "
                "would create a duplicate event)" : "");
  return -1;
}

/* ---- sending ------------------------------------------------------------- */

/* One POST through the Dynatrace client (which redacts the token from the
 * answer and never blindly re-sends a POST that may have been received). */
static int send_event(de_run *r, ub_exchange *x) {
  memset(x, 0, sizeof *x);
  x->method = strdup("POST");
  x->target = strdup(api_path(r->o.api));
  if (!x->method || !x->target) return -1;
  ub_dt_post(r->client, x, r->body.data, r->body.len, 0);   /* 0: the --timeout from now */
  return x->status == 0 || x->body ? 0 : -1;   /* an answer without its body: out of memory */
}

#define MAY_HAVE_BEEN_RECORDED "; the event may have been recorded all the same: look for it in " \
  "Dynatrace before running again, a second run can duplicate it"

/* An answer that does not say whether Dynatrace stored the event: none
 * arrived, a gateway gave up waiting for the tenant (502, 504), or a 2xx
 * whose body cannot be read (cut short, not JSON). */
static int outcome_unknown(const ub_exchange *x) {
  return x->status == 0 || x->status == 502 || x->status == 504 ||
         (x->status >= 200 && x->status < 300);
}

static void judge(const de_run *r, const ub_exchange *x, de_result *res) {
  char err[2048];
  res->status = x->status;
  res->attempts = x->attempts;
  if (x->body) res->response = strndup(x->body, x->body_len);
  if (ub_dt_check(x, err, sizeof err) != 0) {
    res->outcome = "error";
    ub_buf_puts(&res->message, err);
    if (x->attempts > 1) ub_buf_printf(&res->message, " (after %d attempts)", x->attempts);
    if (outcome_unknown(x)) ub_buf_puts(&res->message, MAY_HAVE_BEEN_RECORDED);
    return;
  }
  if (de_answer_parse(r->o.api, x->body, x->body_len, &res->answer, err, sizeof err) != 0) {
    char why[2048];
    ub_dt_invalid_response(x, err, why, sizeof why);
    res->outcome = "error";
    ub_buf_puts(&res->message, why);
    ub_buf_puts(&res->message, MAY_HAVE_BEEN_RECORDED);   /* a 2xx: it was received */
    return;
  }
  if (res->answer.matched > 0) {
    res->outcome = "recorded";
    if (res->answer.not_ok)
      ub_buf_printf(&res->message, "warning: %ld of the ingest results are not OK", res->answer.not_ok);
    return;
  }
  res->outcome = "no-match";
  ub_buf_printf(&res->message, "%sthe deployment was not recorded on any entity",
                r->o.allow_no_match ? "warning: " : "");
  if (res->answer.not_ok)
    ub_buf_printf(&res->message, " (%ld ingest result%s not OK)", res->answer.not_ok,
                  res->answer.not_ok == 1 ? "" : "s");
  ub_buf_printf(&res->message, ": check the %s (%s)",
                r->target.kind == DE_TARGET_SELECTOR ? "entity selector" :
                r->target.kind == DE_TARGET_IDS ? "entity ids" : "tags and entity type",
                r->selector.data);
}

/* ---- reports ------------------------------------------------------------- */

static void put_json_str(ub_buf *b, const char *key, const char *value, int comma) {
  ub_buf_printf(b, "%s\"%s\":", comma ? "," : "", key);
  if (value) json_append_string(b, value, strlen(value));
  else ub_buf_puts(b, "null");
}

static void report_json(const de_run *r, de_result *res) {
  ub_buf b;
  ub_buf_init(&b);
  ub_buf_putc(&b, '{');
  put_json_str(&b, "outcome", res->outcome, 0);
  put_json_str(&b, "api", r->o.api == 1 ? "v1" : "v2", 1);
  put_json_str(&b, "url", r->url, 1);
  put_json_str(&b, "target", r->selector.data, 1);
  ub_buf_printf(&b, ",\"status\":%ld,\"attempts\":%d,\"matched\":%ld,\"ids\":[", res->status,
                res->attempts, res->answer.matched);
  for (size_t i = 0; i < res->answer.nids; i++) {
    if (i) ub_buf_putc(&b, ',');
    json_append_string(&b, res->answer.ids[i], strlen(res->answer.ids[i]));
  }
  ub_buf_puts(&b, "]");
  put_json_str(&b, "message", res->message.len ? res->message.data : NULL, 1);
  if (r->ledger) ub_buf_printf(&b, ",\"ledger\":{\"path\":");
  if (r->ledger) json_append_string(&b, r->ledger_name, strlen(r->ledger_name));
  if (r->ledger) ub_buf_printf(&b, ",\"eventId\":%lld}", (long long)res->ledger_id);
  ub_buf_printf(&b, ",\"request\":{\"method\":\"POST\",\"body\":%s}}\n", r->body.data);
  emit(r, stdout, &b);
  ub_buf_free(&b);
}

static void report_dry_run_text(const de_run *r) {
  ub_buf b;
  ub_buf_init(&b);
  ub_buf_printf(&b, "POST %s\nAuthorization: Api-Token [REDACTED]\n"
                "Content-Type: application/json; charset=utf-8\n"
                "Accept: application/json; charset=utf-8\n\n%s\n", r->url, r->body.data);
  emit(r, stdout, &b);
  ub_buf_free(&b);
}

static void report_text(const de_run *r, de_result *res) {
  ub_buf b;
  ub_buf_init(&b);
  if (!strcmp(res->outcome, "dry-run")) {
    ub_buf_free(&b);
    report_dry_run_text(r);
    return;
  }
  if (!strcmp(res->outcome, "recorded")) {
    ub_buf_printf(&b, "deployment event recorded on %ld entit%s (Events API %s, HTTP %ld, %d attempt%s)\n",
                  res->answer.matched, res->answer.matched == 1 ? "y" : "ies", r->o.api == 1 ? "v1" : "v2",
                  res->status, res->attempts, res->attempts == 1 ? "" : "s");
    ub_buf_printf(&b, "  target: %s\n", r->selector.data);
    for (size_t i = 0; i < res->answer.nids; i++) {
      ub_buf_puts(&b, "  id: ");
      ub_text_line(&b, res->answer.ids[i], strlen(res->answer.ids[i])); /* Dynatrace wrote it */
      ub_buf_putc(&b, '\n');
    }
  } else if (!strcmp(res->outcome, "no-match") && r->o.allow_no_match) {
    ub_buf_printf(&b, "deployment event reached no entity (accepted with --allow-no-match)\n"
                  "  target: %s\n", r->selector.data);
  }
  if (outcome_ok(r, res) && r->ledger && res->ledger_id)
    ub_buf_printf(&b, "  ledger: %s (deployment event %lld)\n", r->ledger_name, (long long)res->ledger_id);
  emit(r, stdout, &b);
  ub_buf_free(&b);
}

static int finish(de_run *r, de_result *res) {
  int ledger_failed = record(r, res) != 0;
  int ok = outcome_ok(r, res);
  if (r->o.json) report_json(r, res);
  else report_text(r, res);
  if (!ok && r->ledger && res->ledger_id)
    ub_buf_printf(&res->message, " [ledger %s, deployment event %lld]", r->ledger_name,
                  (long long)res->ledger_id);
  if (res->message.len) fail_msg(r, 0, res->message.data);
  return ok && !ledger_failed ? UB_EXIT_OK : UB_EXIT_ERROR;
}

static int execute(de_run *r) {
  de_result res;
  memset(&res, 0, sizeof res);
  ub_buf_init(&res.message);
  res.outcome = "dry-run";
  if (!r->o.dry_run) {
    ub_exchange x;
    memset(&x, 0, sizeof x);
    close_ledger_for_send(r);
    if (send_event(r, &x) != 0) {
      ub_exchange_clear(&x);
      ub_buf_free(&res.message);
      return fail_msg(r, UB_EXIT_ERROR, "out of memory while sending the event");
    }
    judge(r, &x, &res);
    ub_exchange_clear(&x);
  }
  int rc = finish(r, &res);
  de_answer_free(&res.answer);
  ub_buf_free(&res.message);
  free(res.response);
  return rc;
}

static void run_free(de_run *r) {
  de_event_free(&r->ev);
  de_target_free(&r->target);
  ub_buf_free(&r->body);
  ub_buf_free(&r->selector);
  if (r->have_cfg) ub_dt_config_free(&r->cfg);
  ub_dt_client_free(r->client);
  free(r->url);
  ledger_close(r->ledger);
  ub_opt_list_free(&r->o.tags);
  ub_opt_list_free(&r->o.props);
}

int ub_cmd_deploy_event(int argc, char **argv) {
  de_run r;
  memset(&r, 0, sizeof r);
  ub_buf_init(&r.body);
  ub_buf_init(&r.selector);
  int rc = parse_args(&r.o, argc, argv);
  if (rc == 0) rc = build_request(&r);
  if (rc == 0) rc = configure(&r);
  if (rc == 0) rc = open_ledger(&r);
  if (rc == 0) rc = execute(&r);
  run_free(&r);
  return rc == 1 ? UB_EXIT_OK : rc;
}
