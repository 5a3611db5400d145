/* cmd_init.c: `unbreakable init [DIR]`: a team's starting point (monspec,
 * SLO files, gate and self-healing policies with their specs and
 * recordings, the CI pipeline, serve's configuration, a systemd unit, a
 * README) from the templates (scaffold/). On a terminal it asks for what
 * the flags did not give, with defaults, like `npm init`; otherwise flags
 * and defaults. It never overwrites a file unless --force, and then writes
 * nothing at all. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "commands/commands.h"
#include "scaffold/scaffold.h"
#include "util/text.h"

static const char init_help[] =
  "usage: unbreakable init [DIR] [--service NAME] [--tenant URL] [--ci azure|github|gitlab]\n"
  "                        [--non-interactive] [--force]\n"
  "\n"
  "Writes a starting point for a team into DIR (default: the current folder):\n"
  "monspec.json, slo.yaml/sli.yaml, policies/gate.lua and policies/selfheal.lua\n"
  "with their specs and recordings (`unbreakable test` passes on them), the\n"
  "pipeline for the CI, unbreakable.json for `serve --config`, selfheal.json,\n"
  "a systemd unit and a README.md. No secret is written: tokens are read from\n"
  "secret variables or files.\n"
  "\n"
  "  --service NAME      the service (letters, digits, . _ -; default: DIR's name)\n"
  "  --tenant URL        Dynatrace environment URL (https://abc12345.live.dynatrace.com)\n"
  "  --ci CI             azure (default), github or gitlab\n"
  "  --non-interactive   never ask, even on a terminal: flags and defaults only\n"
  "  --force             overwrite files that exist (otherwise init names them and\n"
  "                      writes nothing)\n"
  "\n"
  "On a terminal, init asks for each value not given as a flag (Enter keeps the\n"
  "default shown in brackets).\n"
  "\n"
  "Exit status: 0 written, 2 usage error, an invalid value or a file that\n"
  "exists, 3 a file could not be written.\n";

#define DEFAULT_TENANT "https://YOUR-ENVIRONMENT-ID.live.dynatrace.com"
#define INIT_ASK_TRIES 5

typedef struct init_args {
  const char *dir, *service, *tenant, *ci;
  int non_interactive, force;
  char service_buf[128], tenant_buf[256], ci_buf[32];
} init_args;

typedef int (*init_check_fn)(const char *value, char *err, size_t errlen);

static int check_service(const char *v, char *err, size_t errlen) {
  return scaffold_check_service(v, err, errlen);
}

static int check_tenant(const char *v, char *err, size_t errlen) {
  char normal[256];
  return scaffold_check_tenant(v, normal, sizeof normal, err, errlen);
}

static int check_ci(const char *v, char *err, size_t errlen) {
  return scaffold_check_ci(v, err, errlen);
}

/* The default service name: the last component of DIR (of the current
 * folder for "."), when it is a valid name. */
static void default_service(const char *dir, char *out, size_t size) {
  char cwd[PATH_MAX];
  const char *path = dir;
  if (strcmp(dir, ".") == 0 && getcwd(cwd, sizeof cwd)) path = cwd;
  size_t n = strlen(path);
  while (n > 1 && path[n - 1] == '/') n--;
  size_t start = n;
  while (start > 0 && path[start - 1] != '/') start--;
  char err[256];
  snprintf(out, size, "%.*s", (int)(n - start), path + start);
  if (scaffold_check_service(out, err, sizeof err) != 0) snprintf(out, size, "my-service");
}

/* Asks question on the terminal until the answer (or the default, for an
 * empty line) passes check. 0, or a usage error on end of input. */
static int ask(const char *question, const char *def, init_check_fn check, char *out, size_t size) {
  for (int tries = 0; tries < INIT_ASK_TRIES; tries++) {
    printf("%s (%s): ", question, def);
    fflush(stdout);
    char line[512];
    if (!fgets(line, sizeof line, stdin)) {
      printf("\n");
      return ub_usage_error("init", "no answer for \"%s\" (end of input)", question);
    }
    line[strcspn(line, "\r\n")] = '\0';
    const char *answer = line[0] ? line : def;
    char err[512];
    size_t n = strlen(answer);
    if (n >= size) snprintf(err, sizeof err, "the answer is too long (at most %zu characters)", size - 1);
    else if (check(answer, err, sizeof err) == 0) {
      memcpy(out, answer, n + 1);
      return 0;
    }
    fprintf(stderr, "  %s\n", err);
  }
  return ub_usage_error("init", "no valid answer for \"%s\"", question);
}

static int parse_init(init_args *a, int argc, char **argv) {
  const ub_opt opts[] = {
    UB_STRING("service", &a->service), UB_STRING("tenant", &a->tenant), UB_STRING("ci", &a->ci),
    UB_FLAG("non-interactive", &a->non_interactive), UB_FLAG("force", &a->force), UB_OPTS_END};
  const ub_opt_spec spec = {"init", init_help, opts, 0};
  const char *pos[1] = {NULL};
  int npos = 0;
  int rc = ub_opts_parse(&spec, argc, argv, pos, 1, &npos, NULL);
  if (rc == UB_OPTS_HELP) return 1;
  if (rc != 0) return rc;
  a->dir = npos ? pos[0] : ".";
  if (!a->dir[0]) return ub_usage_error("init", "DIR is empty (give a folder, or nothing for the current one)");
  return 0;
}

/* Asks for every value the flags did not give (on a terminal), else takes
 * the defaults; then checks all of them, whichever way they came. */
static int settle_values(init_args *a) {
  char def_service[128];
  default_service(a->dir, def_service, sizeof def_service);
  int interactive = !a->non_interactive && isatty(STDIN_FILENO);
  int rc = 0;
  if (interactive && !a->service && (rc = ask("service name", def_service, check_service, a->service_buf,
                                              sizeof a->service_buf)) == 0)
    a->service = a->service_buf;
  if (rc == 0 && interactive && !a->tenant &&
      (rc = ask("Dynatrace environment URL", DEFAULT_TENANT, check_tenant, a->tenant_buf, sizeof a->tenant_buf)) == 0)
    a->tenant = a->tenant_buf;
  if (rc == 0 && interactive && !a->ci &&
      (rc = ask("CI system (azure, github, gitlab)", "azure", check_ci, a->ci_buf, sizeof a->ci_buf)) == 0)
    a->ci = a->ci_buf;
  if (rc != 0) return rc;
  if (!a->service) a->service = strcpy(a->service_buf, def_service);
  if (!a->tenant) a->tenant = DEFAULT_TENANT;
  if (!a->ci) a->ci = "azure";
  char err[512];
  if (scaffold_check_service(a->service, err, sizeof err) != 0) return ub_usage_error("init", "--service: %s", err);
  char normal[256];
  if (scaffold_check_tenant(a->tenant, normal, sizeof normal, err, sizeof err) != 0)
    return ub_usage_error("init", "--tenant: %s", err);
  snprintf(a->tenant_buf, sizeof a->tenant_buf, "%s", normal);
  a->tenant = a->tenant_buf;
  if (scaffold_check_ci(a->ci, err, sizeof err) != 0) return ub_usage_error("init", "--ci: %s", err);
  return 0;
}

/* "unbreakable init: MESSAGE" on stderr, MESSAGE made safe for a terminal
 * (it may hold DIR as typed). */
static void init_error(const char *message) {
  ub_buf b;
  ub_buf_init(&b);
  ub_buf_puts(&b, "unbreakable init: ");
  ub_text_line(&b, message, strlen(message));
  ub_buf_putc(&b, '\n');
  fwrite(b.data ? b.data : "", 1, b.len, stderr);
  ub_buf_free(&b);
}

static void print_written(const init_args *a, const scaffold *s) {
  ub_buf dir;
  ub_buf_init(&dir);
  ub_text_line(&dir, a->dir, strlen(a->dir));
  const char *shown = dir.data ? dir.data : "?";
  printf("unbreakable init: wrote %zu files in %s for %s (Dynatrace %s, CI %s):\n", s->n, shown, a->service,
         a->tenant, a->ci);
  for (size_t i = 0; i < s->n; i++) printf("  %s\n", s->files[i].rel);
  printf("Next: cd %s && unbreakable check monspec.json slo.yaml sli.yaml unbreakable.json selfheal.json "
         "policies/gate.lua policies/selfheal.lua && unbreakable test\n(README.md there says what each file is; "
         "docs/getting-started.md the rest.)\n", shown);
  ub_buf_free(&dir);
}

static int run_init(init_args *a) {
  scaffold s = {0};
  char err[1024];
  scaffold_vars vars = {a->service, a->tenant, a->ci};
  if (scaffold_plan(&s, ub_templates_dir(), ub_policies_dir(), &vars, err, sizeof err) != 0) {
    char why[1200];
    snprintf(why, sizeof why, "%s (is unbreakable installed completely? UB_TEMPLATES names the folder)", err);
    init_error(why);
    scaffold_free(&s);
    return UB_EXIT_ERROR;
  }
  ub_buf names;
  ub_buf_init(&names);
  size_t clash = a->force ? 0 : scaffold_conflicts(&s, a->dir, &names);
  int rc = UB_EXIT_OK;
  if (scaffold_check_folders(&s, a->dir, err, sizeof err) != 0) {
    char why[1200];
    snprintf(why, sizeof why, "%s; nothing was written", err);
    init_error(why);
    rc = UB_EXIT_USAGE;
  } else if (clash) {
    fprintf(stderr, "unbreakable init: %zu file%s already exist%s; nothing was written (--force overwrites):\n%s",
            clash, clash == 1 ? "" : "s", clash == 1 ? "s" : "", names.data ? names.data : "");
    rc = UB_EXIT_USAGE;
  } else if (scaffold_write(&s, a->dir, a->force, err, sizeof err) != 0) {
    init_error(err);
    rc = UB_EXIT_ERROR;
  } else {
    print_written(a, &s);
  }
  ub_buf_free(&names);
  scaffold_free(&s);
  return rc;
}

int ub_cmd_init(int argc, char **argv) {
  init_args a = {0};
  int rc = parse_init(&a, argc, argv);
  if (rc != 0) return rc == 1 ? UB_EXIT_OK : rc;
  rc = settle_values(&a);
  if (rc != 0) return rc;
  return run_init(&a);
}
