/* cmd_selfheal.c: `unbreakable selfheal --payload FILE` runs the healing
 * path of serve on a saved Dynatrace problem notification (record, read,
 * policy, intents exactly once), and `unbreakable history --kind
 * selfheal` lists the healings recorded in the ledger (docs/selfheal.md).
 * Exit status: 0 handled, 2 usage or bad payload, 3 a read, the policy or
 * an intent failed. */
#include <errno.h>
#include <lauxlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "cli/output.h"
#include "commands/commands.h"
#include "heal/heal.h"
#include "ledger/ledger.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/text.h"

static const char selfheal_help[] =
    "usage: unbreakable selfheal --payload FILE [--dry-run] [--format text|json]\n"
    "                            [--specs DIR] [--policy FILE] [--ledger PATH]\n"
    "       unbreakable selfheal --report NOTIFICATION --html FILE [--ledger PATH]\n"
    "       unbreakable selfheal --lift-freeze STAGE [--ledger PATH]\n"
    "\n"
    "Handles a saved Dynatrace problem notification (the custom-integration payload\n"
    "serve takes on POST /v1/problems) exactly as serve's healing worker does: records\n"
    "it (the same PID and state again is a duplicate), reads the deployment events of\n"
    "the impacted entities and the release state from Azure DevOps, runs the selfheal\n"
    "policy in the sandbox and executes its intents once each.\n"
    "\n"
    "  --payload FILE   the notification ('-' = stdin)\n"
    "  --dry-run        do every read, run the policy, print and record the intents,\n"
    "                   execute none\n"
    "  --format F       text (default) or json (the recorded decision)\n"
    "  --specs DIR      folder with selfheal.json (selfheal_policy, window_minutes, dry_run)\n"
    "  --policy FILE    the policy (default policies/selfheal.lua)\n"
    "  --ledger PATH    the ledger (default $UB_LEDGER, ...)\n"
    "  --database URL   a PostgreSQL ledger instead (default $UB_DATABASE_URL when set)\n"
    "  --report N --html FILE  write the HTML page of the healing of notification N\n"
    "                   ('-' = stdout; history --kind selfheal lists them)\n"
    "\n"
    "Environment: DT_TENANT_URL, DT_API_TOKEN(_FILE), AZURE_DEVOPS_ORG_URL,\n"
    "AZURE_DEVOPS_RELEASE_URL (default: the vsrm. form), AZURE_DEVOPS_TOKEN(_FILE),\n"
    "UB_PUBLIC_URL (prefix of the evaluation link in comments).\n"
    "\n"
    "Exit status: 0 handled, 2 usage error or invalid payload, 3 a read, the policy\n"
    "or an intent failed.\n";

typedef struct selfheal_args {
  const char *payload, *format, *specs, *policy, *ledger, *report, *html, *lift;
  int dry_run;
} selfheal_args;

static int parse_args(int argc, char **argv, selfheal_args *a) {
  memset(a, 0, sizeof *a);
  a->format = "text";
  const char *database = NULL;
  const ub_opt opts[] = {
    UB_PATH("payload", &a->payload),
    UB_FLAG("dry-run", &a->dry_run),
    UB_STRING("format", &a->format),
    UB_PATH("specs", &a->specs),
    UB_PATH("policy", &a->policy),
    UB_PATH("ledger", &a->ledger),
    UB_STRING("database", &database),
    UB_STRING("report", &a->report),
    UB_PATH("html", &a->html),
    UB_STRING("lift-freeze", &a->lift),
    UB_OPTS_END};
  const ub_opt_spec spec = {"selfheal", selfheal_help, opts, 0};
  int rc = ub_opts_parse(&spec, argc, argv, NULL, 0, NULL, NULL);
  if (rc == UB_OPTS_HELP) return 1;
  if (rc != 0) return rc;
  {
    char why[300];
    if (ledger_choose_flag(a->ledger, database, &a->ledger, why, sizeof why) != 0)
      return ub_usage_error("selfheal", "%s", why);
  }
  if (a->lift) return a->payload || a->report ? ub_usage_error("selfheal", "--lift-freeze goes alone") : 0;
  if (a->report || a->html) {
    if (!a->report || !a->html || a->payload)
      return ub_usage_error("selfheal", "--report N and --html FILE go together, without --payload");
    return 0;
  }
  if (!a->payload) return ub_usage_error("selfheal", "--payload FILE is required");
  if (strcmp(a->format, "text") != 0 && strcmp(a->format, "json") != 0)
    return ub_usage_error("selfheal", "--format is text or json, not '%s'", a->format);
  return 0;
}

/* Field key of the table at idx when it is a string, else NULL (a record
 * interrupted before its outcomes, or written by another version, may
 * lack any part). */
static const char *text_field(lua_State *L, int idx, const char *key) {
  if (!lua_istable(L, idx)) return NULL;
  lua_getfield(L, idx, key);
  const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  lua_pop(L, 1); /* the string stays anchored in the table */
  return s;
}

static void print_line(const char *fmt, ...) {
  char line[600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  ub_text_sanitize(line);
  printf("%s\n", line);
}

/* One line per intent and outcome, from the decision JSON. */
static void print_text(const char *json, size_t len, int duplicate) {
  lua_State *L = luaL_newstate();
  char err[200];
  if (!L || json_decode_lua(L, json, len, 200, err, sizeof err) != 0 || !lua_istable(L, 1)) {
    printf("%.*s\n", (int)len, json);
    if (L) lua_close(L);
    return;
  }
  const char *id = text_field(L, 1, "problem_id"), *state = text_field(L, 1, "state");
  const char *summary = text_field(L, 1, "summary"), *policy_error = text_field(L, 1, "policy_error");
  lua_getfield(L, 1, "dry_run");
  int dry_run = lua_toboolean(L, -1);
  lua_pop(L, 1);
  print_line("problem %s (%s)%s%s: %s", id ? id : "?", state ? state : "?",
             duplicate ? ", duplicate notification" : "", dry_run ? ", dry run" : "", summary ? summary : "-");
  if (policy_error) print_line("  policy error: %s", policy_error);
  lua_getfield(L, 1, "intents");
  lua_getfield(L, 1, "outcomes");
  const int intents = 2, outcomes = 3;
  lua_Integer n = lua_istable(L, intents) ? luaL_len(L, intents) : 0;
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, intents, i);
    if (lua_istable(L, outcomes)) lua_rawgeti(L, outcomes, i);
    else lua_pushnil(L);
    const char *kind = text_field(L, -2, "kind"), *reason = text_field(L, -2, "reason");
    const char *status = text_field(L, -1, "status"), *detail = text_field(L, -1, "detail");
    print_line("  %lld. %s: %s -> %s%s%s", (long long)i, kind ? kind : "?", reason ? reason : "",
               status ? status : "not run", detail ? " " : "", detail ? detail : "");
    lua_settop(L, outcomes);
  }
  if (n == 0) printf("  no intents\n");
  lua_close(L);
}

static int run(const selfheal_args *a, heal_config *cfg, ub_ledger *l, const char *body, size_t len,
               const heal_problem *p) {
  int64_t id = 0;
  int duplicate = 0, rc;
  if (a->dry_run) { /* its own row: a dry run never consumes the real notification */
    char idem[300];
    snprintf(idem, sizeof idem, "dry-run:%lld:problem:%s:%s", (long long)ub_clock_wall_ms(), p->pid, p->state);
    rc = ledger_action_put(l, "problem", p->pid, idem, "dry-run", body, &id, NULL);
  } else {
    rc = heal_record(l, p, body, len, &id, &duplicate);
  }
  if (rc != LEDGER_OK) {
    fprintf(stderr, "unbreakable selfheal: %s\n", ledger_error(l));
    return UB_EXIT_ERROR;
  }
  /* handled already (by serve or an earlier run): heal_handle shows the
   * record and does nothing; interrupted: it resumes */
  ledger_action n;
  memset(&n, 0, sizeof n);
  n.id = id;
  n.key = (char *)p->pid;
  n.payload_json = (char *)body;
  heal_result r;
  cfg->dry_run |= a->dry_run;
  rc = heal_handle(cfg, l, &n, &r);
  if (rc != 0) {
    fprintf(stderr, "unbreakable selfheal: the ledger failed: %s\n", ledger_error(l));
  } else if (strcmp(a->format, "json") == 0) {
    printf("%.*s\n", (int)r.json.len, r.json.data ? r.json.data : "");
  } else {
    print_text(r.json.data ? r.json.data : "{}", r.json.len, duplicate);
  }
  int failed = rc != 0 || r.failed;
  heal_result_free(&r);
  return failed ? UB_EXIT_ERROR : UB_EXIT_OK;
}

/* --report N --html FILE */
static int write_report(const selfheal_args *a) {
  char err[600], path[4096], key[64];
  char *end;
  long long id = strtoll(a->report, &end, 10);
  if (id <= 0 || *end) return ub_usage_error("selfheal", "--report needs a notification number, not '%s'", a->report);
  ub_ledger *l = NULL;
  if (ledger_resolve_path(a->ledger, path, sizeof path, err, sizeof err) == 0) l = ledger_open(path, err, sizeof err);
  if (!l) {
    fprintf(stderr, "unbreakable selfheal: ledger: %s\n", err);
    return UB_EXIT_USAGE;
  }
  snprintf(key, sizeof key, "selfheal:%lld", id);
  ledger_action d;
  int rc = ledger_action_get(l, key, &d);
  ledger_close(l);
  if (rc != LEDGER_OK) {
    char where[512];
    ledger_display_name(path, where, sizeof where);
    fprintf(stderr, "unbreakable selfheal: no healing of notification %lld in %s\n", id, where);
    return UB_EXIT_USAGE;
  }
  ub_buf page;
  ub_buf_init(&page);
  rc = heal_report_html(&d, &page);
  ledger_action_free(&d);
  if (rc != 0) {
    ub_buf_free(&page);
    fprintf(stderr, "unbreakable selfheal: out of memory rendering the healing of notification %lld\n", id);
    return UB_EXIT_ERROR;
  }
  int to_stdout = strcmp(a->html, "-") == 0;
  int written = ub_write_output(a->html, page.data, page.len) == 0;
  ub_buf_free(&page);
  if (!written) { /* stdout lost: exit 3; a bad path stays a usage error (as `report`) */
    fprintf(stderr, "unbreakable selfheal: cannot write %s: %s\n",
            to_stdout ? "the report to standard output" : a->html, strerror(errno));
    return to_stdout ? UB_EXIT_ERROR : UB_EXIT_USAGE;
  }
  return UB_EXIT_OK;
}

int ub_cmd_selfheal(int argc, char **argv) {
  selfheal_args a;
  int rc = parse_args(argc, argv, &a);
  if (rc != 0) return rc == 1 ? UB_EXIT_OK : rc;
  if (a.report) return write_report(&a);
  if (a.lift) {
    char err[600], path[4096];
    ub_ledger *l = NULL;
    int lifted = 0;
    if (ledger_resolve_path(a.ledger, path, sizeof path, err, sizeof err) == 0) l = ledger_open(path, err, sizeof err);
    if (!l) return fprintf(stderr, "unbreakable selfheal: ledger: %s\n", err), UB_EXIT_USAGE;
    rc = heal_lift(l, a.lift, &lifted);
    ledger_close(l);
    if (rc != 0) return fprintf(stderr, "unbreakable selfheal: the freeze could not be lifted\n"), UB_EXIT_ERROR;
    printf("%d freeze(s) of stage %s lifted\n", lifted, a.lift);
    return UB_EXIT_OK;
  }
  char err[600], path[4096];
  size_t len;
  char *body = ub_read_all(a.payload, 1 << 20, &len, err, sizeof err);
  if (!body) return ub_usage_error("selfheal", "--payload %s: %s", a.payload, err);
  heal_problem p;
  if (heal_parse_payload(body, len, &p, err, sizeof err) != 0) {
    fprintf(stderr, "unbreakable selfheal: %s: %s\n", a.payload, err);
    free(body);
    return UB_EXIT_USAGE;
  }
  heal_config cfg;
  if (heal_config_load(&cfg, ub_stdlib_dir(), ub_policies_dir(), a.specs, a.policy, err, sizeof err) != 0) {
    fprintf(stderr, "unbreakable selfheal: %s\n", err);
    heal_config_free(&cfg);
    free(body);
    return UB_EXIT_USAGE;
  }
  ub_ledger *l = NULL;
  if (ledger_resolve_path(a.ledger, path, sizeof path, err, sizeof err) == 0) l = ledger_open(path, err, sizeof err);
  if (!l) {
    fprintf(stderr, "unbreakable selfheal: ledger: %s\n", err);
    rc = UB_EXIT_USAGE;
  } else {
    if (cfg.dt_token) ledger_add_secret(l, cfg.dt_token);
    if (cfg.ado_token) ledger_add_secret(l, cfg.ado_token);
    rc = run(&a, &cfg, l, body, len, &p);
    ledger_close(l);
  }
  heal_config_free(&cfg);
  free(body);
  return rc;
}

/* ---- history --kind selfheal ------------------------------------------------ */

int ub_selfheal_history(const char *ledger_path, const char *format, int limit) {
  char err[600], path[4096];
  ub_ledger *l = NULL;
  if (ledger_resolve_path(ledger_path, path, sizeof path, err, sizeof err) == 0) l = ledger_open(path, err, sizeof err);
  if (!l) {
    fprintf(stderr, "unbreakable history: ledger: %s\n", err);
    return UB_EXIT_USAGE;
  }
  ledger_action *v = NULL;
  size_t n = 0;
  if (ledger_actions_recent(l, "selfheal", limit, &v, &n) != LEDGER_OK) {
    fprintf(stderr, "unbreakable history: %s\n", ledger_error(l));
    ledger_close(l);
    return UB_EXIT_USAGE;
  }
  int json = strcmp(format, "json") == 0;
  if (json) printf("{\"healings\":[");
  for (size_t i = 0; i < n; i++) {
    const char *d = v[i].payload_json && *v[i].payload_json ? v[i].payload_json : "null";
    if (json) {
      printf("%s{\"id\":%lld,\"state\":\"%s\",\"decision\":%s}", i ? "," : "", (long long)v[i].id, v[i].state, d);
      continue;
    }
    char when[32];
    ledger_format_time(v[i].created_ms, when);
    printf("#%lld %s [%s] ", (long long)v[i].id, when, v[i].state);
    print_text(d, strlen(d), 0);
  }
  if (json) printf("]}\n");
  else if (n == 0) {
    char where[512];
    ledger_display_name(path, where, sizeof where);
    printf("no healings recorded in %s\n", where);
  }
  ledger_actions_free(v, n);
  ledger_close(l);
  return UB_EXIT_OK;
}
