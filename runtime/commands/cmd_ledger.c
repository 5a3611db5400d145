/* cmd_ledger.c: the ledger commands `history`, `invalidate` and `report`.
 * Exit status: 0 ok, 2 usage, bad input (unknown id), or a ledger that
 * cannot be used (foreign, corrupt, unwritable), with the reason on stderr. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "cli/cli.h"
#include "cli/options.h"
#include "cli/output.h"
#include "commands/commands.h"
#include "util/json.h"
#include "ledger/ledger.h"
#include "report/report_html.h"
#include "util/text.h"

#define DEFAULT_HISTORY_LIMIT 20

static const char history_help[] =
    "usage: unbreakable history [--service S] [--stage S] [--limit N]\n"
    "                           [--kind monspec|slo|selfheal]\n"
    "                           [--format text|json] [--ledger PATH | --database URL]\n"
    "\n"
    "Lists recorded gate evaluations, newest first (default: the last 20;\n"
    "--limit 0 lists all). Invalidated evaluations are marked; an evaluation whose\n"
    "process ended without a verdict (killed, crashed) shows as abandoned.\n"
    "--kind selfheal lists the self-healings instead (docs/selfheal.md).\n"
    "The ledger is --ledger PATH or --database URL (PostgreSQL), else $UB_DATABASE_URL,\n"
    "else $UB_LEDGER, else\n"
    "$XDG_DATA_HOME/unbreakable/ledger.db, else ~/.local/share/unbreakable/ledger.db.\n"
    "\n"
    "Exit status: 0 ok, 2 usage error or unusable ledger.\n";

static const char invalidate_help[] =
    "usage: unbreakable invalidate ID --reason TEXT [--ledger PATH | --database URL]\n"
    "\n"
    "Excludes evaluation ID from later baselines (SLO comparisons) without\n"
    "deleting it; history and reports still show it, marked. Invalidating\n"
    "again keeps the first reason.\n"
    "\n"
    "Exit status: 0 ok, 2 usage error, unknown ID or unusable ledger.\n";

static const char report_help[] =
    "usage: unbreakable report ID --html FILE [--ledger PATH | --database URL]\n"
    "\n"
    "Writes one self-contained HTML page for evaluation ID ('-' = stdout): the\n"
    "verdict, a table of objectives and, per objective, a chart of the series\n"
    "against its threshold and baseline, the query and why it passed or failed.\n"
    "No scripts and no external assets: it can be archived or mailed as is.\n"
    "\n"
    "Exit status: 0 ok, 2 usage error, unknown ID, unusable ledger or FILE\n"
    "that cannot be written.\n";

/* ---- shared ----------------------------------------------------------- */

static int file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* Opens the ledger named by flag/env/default. *missing is set (and NULL
 * returned) when the file does not exist, so reads never create one. */
static ub_ledger *open_existing(const char *cmd, const char *flag_path, int *missing,
                                char *path, size_t pathlen) {
  char err[1024];
  *missing = 0;
  if (ledger_resolve_path(flag_path, path, pathlen, err, sizeof err) != 0) {
    fprintf(stderr, "unbreakable %s: %s\n", cmd, err);
    return NULL;
  }
  if (!ledger_is_database(path) && !file_exists(path)) {
    *missing = 1;
    return NULL;
  }
  ub_ledger *l = ledger_open(path, err, sizeof err);
  if (!l) fprintf(stderr, "unbreakable %s: %s\n", cmd, err);
  return l;
}

static const char *dash(const char *s) { return s && *s ? s : "-"; }

/* ---- history ------------------------------------------------------------ */

static void make_row_printable(ledger_evaluation *e) {
  char *text[] = {e->service, e->stage, e->kind, e->target, e->verdict, e->status,
                  e->error, e->invalidated_reason};
  for (size_t k = 0; k < sizeof text / sizeof *text; k++) ub_text_sanitize(text[k]);
}

static void history_text(ledger_evaluation *v, size_t n) {
  int w_service = 7, w_stage = 5, w_target = 6;
  for (size_t i = 0; i < n; i++) make_row_printable(&v[i]);
  for (size_t i = 0; i < n; i++) {
    int a = (int)strlen(dash(v[i].service)), b = (int)strlen(dash(v[i].stage));
    int c = (int)strlen(dash(v[i].target));
    if (a > w_service) w_service = a;
    if (b > w_stage) w_stage = b;
    if (c > w_target) w_target = c;
  }
  printf("%6s  %-24s  %-*s  %-*s  %-7s  %-12s  %6s  %-*s  %s\n", "ID", "RECORDED (UTC)", w_service,
         "SERVICE", w_stage, "STAGE", "KIND", "VERDICT", "SCORE", w_target, "TARGET", "NOTE");
  for (size_t i = 0; i < n; i++) {
    const ledger_evaluation *e = &v[i];
    char when[32], score[16] = "-";
    ledger_format_time(e->created_ms, when);
    if (e->has_score) snprintf(score, sizeof score, "%.1f", e->score);
    const char *verdict = e->verdict ? e->verdict : e->status;
    int has_note = e->invalidated || e->error;
    printf("%6lld  %-24s  %-*s  %-*s  %-7s  %-12s  %6s  %-*s", (long long)e->id, when, w_service,
           dash(e->service), w_stage, dash(e->stage), dash(e->kind), dash(verdict), score,
           has_note ? w_target : 0, dash(e->target));
    if (e->invalidated) printf("  invalidated: %s", dash(e->invalidated_reason));
    else if (e->error) printf("  error: %s", e->error);
    printf("\n");
  }
}

static void json_field(ub_buf *b, const char *key, const char *value, int first) {
  ub_buf_printf(b, "%s\"%s\": ", first ? "" : ", ", key);
  if (value) json_append_string(b, value, strlen(value));
  else ub_buf_puts(b, "null");
}

static void json_time(ub_buf *b, const char *key, int64_t ms) {
  char when[32];
  ledger_format_time(ms, when);
  json_field(b, key, ms > 0 ? when : NULL, 0);
}

static int history_json(const ledger_evaluation *v, size_t n) {
  ub_buf b;
  ub_buf_init(&b);
  ub_buf_puts(&b, "[");
  for (size_t i = 0; i < n; i++) {
    const ledger_evaluation *e = &v[i];
    char score[32];
    ub_buf_printf(&b, "%s\n  {\"id\": %lld", i ? "," : "", (long long)e->id);
    json_time(&b, "recorded", e->created_ms);
    json_time(&b, "finished", e->finished_ms);
    json_field(&b, "requested_by", e->requested_by, 0);
    json_field(&b, "service", e->service, 0);
    json_field(&b, "stage", e->stage, 0);
    json_field(&b, "kind", e->kind, 0);
    json_field(&b, "target", e->target, 0);
    json_field(&b, "compat", e->compat, 0);
    json_field(&b, "status", e->status, 0);
    json_field(&b, "verdict", e->verdict, 0);
    if (e->has_score) json_format_double(e->score, 0, score);
    ub_buf_printf(&b, ", \"score\": %s", e->has_score ? score : "null");
    ub_buf_printf(&b, ", \"invalidated\": %s", e->invalidated ? "true" : "false");
    json_field(&b, "invalidated_reason", e->invalidated_reason, 0);
    json_time(&b, "invalidated_at", e->invalidated ? e->invalidated_ms : 0);
    json_field(&b, "error", e->error, 0);
    ub_buf_puts(&b, "}");
  }
  ub_buf_puts(&b, n ? "\n]\n" : "]\n");
  int ok = !b.failed && fwrite(b.data, 1, b.len, stdout) == b.len;
  ub_buf_free(&b);
  return ok ? 0 : -1;
}

int ub_cmd_history(int argc, char **argv) {
  ledger_filter f = {.limit = DEFAULT_HISTORY_LIMIT};
  const char *format = "text", *ledger_flag = NULL, *database = NULL;
  double limit = DEFAULT_HISTORY_LIMIT;
  int no_ledger = 0;
  const ub_opt opts[] = {
    UB_STRING("service", &f.service),
    UB_STRING("stage", &f.stage),
    UB_NUMBER("limit", &limit, 0, 1000000, .whole = 1),
    UB_STRING("format", &format),
    UB_STRING("kind", &f.kind),
    UB_PATH("ledger", &ledger_flag),
    UB_STRING("database", &database),
    UB_FLAG("no-ledger", &no_ledger),
    UB_OPTS_END};
  const ub_opt_spec spec = {"history", history_help, opts, 0};
  int rc0 = ub_opts_parse(&spec, argc, argv, NULL, 0, NULL, NULL);
  if (rc0 == UB_OPTS_HELP) return UB_EXIT_OK;
  if (rc0 != 0) return rc0;
  if (no_ledger) return ub_usage_error("history", "--no-ledger makes no sense here");
  {
    char why[300];
    if (ledger_choose_flag(ledger_flag, database, &ledger_flag, why, sizeof why) != 0)
      return ub_usage_error("history", "%s", why);
  }

  f.limit = (int)limit;
  if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0)
    return ub_usage_error("history", "--format is text or json, not '%s'", format);
  if (f.kind && strcmp(f.kind, "selfheal") == 0) return ub_selfheal_history(ledger_flag, format, f.limit);
  if (f.kind && strcmp(f.kind, "monspec") != 0 && strcmp(f.kind, "slo") != 0)
    return ub_usage_error("history", "--kind is monspec, slo or selfheal, not '%s'", f.kind);
  char path[4096];
  int missing;
  ub_ledger *l = open_existing("history", ledger_flag, &missing, path, sizeof path);
  if (!l && !missing) return UB_EXIT_USAGE;
  ledger_evaluation *v = NULL;
  size_t n = 0;
  if (l && ledger_history(l, &f, &v, &n) != LEDGER_OK) {
    fprintf(stderr, "unbreakable history: %s\n", ledger_error(l));
    ledger_close(l);
    return UB_EXIT_USAGE;
  }
  int rc = 0;
  if (strcmp(format, "json") == 0) rc = history_json(v, n);
  else if (n == 0) printf("no evaluations recorded in %s\n", l ? ledger_path(l) : path);
  else history_text(v, n);
  ledger_evaluations_free(v, n);
  ledger_close(l);
  return rc == 0 ? UB_EXIT_OK : UB_EXIT_USAGE;
}

/* ---- invalidate ------------------------------------------------------------ */

/* Parses "COMMAND ID --FLAG VALUE [--ledger PATH]", the shape of invalidate
 * and report. Returns 0, UB_OPTS_HELP after printing help, or an exit
 * status for a usage error. */
static int parse_id_and_flag(int argc, char **argv, const char *cmd, const char *flag,
                             const char *metavar, const char *help, const char **value,
                             const char **ledger_flag, int64_t *id) {
  const char *database = NULL;
  const ub_opt opts[] = {UB_STRING(flag, value), UB_PATH("ledger", ledger_flag),
                         UB_STRING("database", &database), UB_OPTS_END};
  const ub_opt_spec spec = {cmd, help, opts, 0};
  const char *pos[1];
  int npos = 0;
  int rc = ub_opts_parse(&spec, argc, argv, pos, 1, &npos, NULL);
  if (rc != 0) return rc;
  {
    char why[300];
    if (ledger_choose_flag(*ledger_flag, database, &*ledger_flag, why, sizeof why) != 0)
      return ub_usage_error(cmd, "%s", why);
  }
  if (npos != 1) return ub_usage_error(cmd, "give exactly one evaluation ID");
  long long v;
  if (ub_parse_id(pos[0], &v) != 0)
    return ub_usage_error(cmd, "'%s' is not an evaluation ID (a positive whole number)", pos[0]);
  *id = (int64_t)v;
  if (!*value || !**value) return ub_usage_error(cmd, "--%s %s is required", flag, metavar);
  return 0;
}

int ub_cmd_invalidate(int argc, char **argv) {
  const char *reason = NULL, *ledger_flag = NULL;
  int64_t id;
  int rc0 = parse_id_and_flag(argc, argv, "invalidate", "reason", "TEXT", invalidate_help, &reason,
                              &ledger_flag, &id);
  if (rc0 != 0) return rc0 == UB_OPTS_HELP ? UB_EXIT_OK : rc0;
  char path[4096];
  int missing;
  ub_ledger *l = open_existing("invalidate", ledger_flag, &missing, path, sizeof path);
  if (missing) fprintf(stderr, "unbreakable invalidate: no ledger at %s (nothing recorded yet)\n", path);
  if (!l) return UB_EXIT_USAGE;
  ledger_evaluation e;
  int rc = ledger_invalidate(l, id, reason);
  if (rc == LEDGER_OK) rc = ledger_get_evaluation(l, id, &e);
  if (rc != LEDGER_OK) {
    fprintf(stderr, "unbreakable invalidate: %s\n", ledger_error(l));
    ledger_close(l);
    return UB_EXIT_USAGE;
  }
  char when[32];
  ledger_format_time(e.invalidated_ms, when);
  int fresh = strcmp(e.invalidated_reason ? e.invalidated_reason : "", reason) == 0;
  make_row_printable(&e);
  if (fresh)
    printf("evaluation %lld invalidated at %s: %s\n", (long long)id, when,
           dash(e.invalidated_reason));
  else
    printf("evaluation %lld was already invalidated at %s: %s\n", (long long)id, when,
           dash(e.invalidated_reason));
  ledger_evaluation_free(&e);
  ledger_close(l);
  return UB_EXIT_OK;
}

/* ---- report ------------------------------------------------------------------ */

int ub_cmd_report(int argc, char **argv) {
  const char *html = NULL, *ledger_flag = NULL;
  int64_t id;
  int rc0 = parse_id_and_flag(argc, argv, "report", "html", "FILE", report_help, &html, &ledger_flag, &id);
  if (rc0 != 0) return rc0 == UB_OPTS_HELP ? UB_EXIT_OK : rc0;
  if (ub_check_output("report", "--html", html) != 0) return UB_EXIT_USAGE;
  char path[4096];
  int missing;
  ub_ledger *l = open_existing("report", ledger_flag, &missing, path, sizeof path);
  if (missing) fprintf(stderr, "unbreakable report: no ledger at %s (nothing recorded yet)\n", path);
  if (!l) return UB_EXIT_USAGE;
  ledger_evaluation e;
  if (ledger_get_evaluation(l, id, &e) != LEDGER_OK) {
    fprintf(stderr, "unbreakable report: %s\n", ledger_error(l));
    ledger_close(l);
    return UB_EXIT_USAGE;
  }
  ub_buf page;
  ub_buf_init(&page);
  int rc = report_html_render(&e, &page);
  int write_failed = 0;
  if (rc == 0 && ub_write_output(html, page.data, page.len) != 0) {
    fprintf(stderr, "unbreakable report: cannot write %s: %s\n",
            strcmp(html, "-") == 0 ? "the report to standard output" : html, strerror(errno));
    rc = -1;
    write_failed = strcmp(html, "-") == 0;   /* stdout lost: exit 3; a bad path stays a usage error */
  } else if (rc != 0) {
    fprintf(stderr, "unbreakable report: out of memory rendering evaluation %lld\n", (long long)id);
  } else if (strcmp(html, "-") != 0) {
    make_row_printable(&e);
    printf("wrote %s (evaluation %lld, %s)\n", html, (long long)id, dash(e.verdict));
  }
  ub_buf_free(&page);
  ledger_evaluation_free(&e);
  ledger_close(l);
  return rc == 0 ? UB_EXIT_OK : write_failed ? UB_EXIT_ERROR : UB_EXIT_USAGE;
}

/* ---- ledger export ------------------------------------------------------------ */

static const char ledger_help[] =
    "usage: unbreakable ledger export --to TARGET [--ledger PATH | --database URL]\n"
    "\n"
    "Copies every record of the ledger (--ledger/--database, else $UB_DATABASE_URL, $UB_LEDGER\n"
    "or the default file) into TARGET, a new SQLite file or an empty PostgreSQL database\n"
    "(postgres://USER@HOST:PORT/DB), ids kept, in one transaction; then compares both, table\n"
    "by table: row count and SHA-256 of every value. Moves a single server's history into the\n"
    "database of replicas, or back (docs/operations.md).\n"
    "\n"
    "Exit status: 0 copied and identical; 2 usage error, unusable ledger, non-empty target,\n"
    "or a copy that failed (one transaction: the target stays empty); 3 the copy differs\n"
    "from the source (discard the target).\n";

int ub_cmd_ledger(int argc, char **argv) {
  const char *to = NULL, *ledger_flag = NULL, *database = NULL;
  const ub_opt opts[] = {UB_STRING("to", &to), UB_PATH("ledger", &ledger_flag),
                         UB_STRING("database", &database), UB_OPTS_END};
  const ub_opt_spec spec = {"ledger", ledger_help, opts, 0};
  const char *pos[1];
  int npos = 0;
  int rc0 = ub_opts_parse(&spec, argc, argv, pos, 1, &npos, NULL);
  if (rc0 == UB_OPTS_HELP) return UB_EXIT_OK;
  if (rc0 != 0) return rc0;
  char why[300];
  if (ledger_choose_flag(ledger_flag, database, &ledger_flag, why, sizeof why) != 0)
    return ub_usage_error("ledger", "%s", why);
  if (npos != 1 || strcmp(pos[0], "export") != 0) return ub_usage_error("ledger", "the subcommand is export");
  if (!to || !*to) return ub_usage_error("ledger", "--to TARGET is required (a file or postgres://...)");
  char path[4096], err[1024];
  int missing;
  ub_ledger *src = open_existing("ledger export", ledger_flag, &missing, path, sizeof path);
  if (missing) fprintf(stderr, "unbreakable ledger export: no ledger at %s (nothing to export)\n", path);
  if (!src) return UB_EXIT_USAGE;
  if (!ledger_is_database(to) && file_exists(to)) {
    ledger_close(src);
    return ub_usage_error("ledger", "--to %s exists; export into a new file or an empty database", to);
  }
  ub_ledger *dst = ledger_open(to, err, sizeof err);
  if (!dst) {
    fprintf(stderr, "unbreakable ledger export: %s\n", err);
    ledger_close(src);
    return UB_EXIT_USAGE;
  }
  ub_buf report;
  ub_buf_init(&report);
  int rc = ledger_export(src, dst, &report);
  int copied = report.len > 0;   /* the comparison ran: the copy itself differs */
  fwrite(report.data ? report.data : "", 1, report.len, stdout);
  if (rc != LEDGER_OK) fprintf(stderr, "unbreakable ledger export: %s\n", ledger_error(dst));
  else printf("exported %s to %s: every table identical\n", ledger_path(src), ledger_path(dst));
  ub_buf_free(&report);
  ledger_close(dst);
  ledger_close(src);
  return rc == LEDGER_OK ? UB_EXIT_OK : copied ? UB_EXIT_ERROR : UB_EXIT_USAGE;
}
