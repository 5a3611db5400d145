/* cmd_check.c: `unbreakable check FILE...`: validates monspec files,
 * slo.yaml, sli.yaml and policies without running a gate: the same
 * loaders a gate uses (unbreakable.check, in the sandbox) report errors and
 * lint warnings as file:line:col, Lua files get a syntax check and, when
 * luacheck is installed (Debian's lua-check), its warnings with a
 * configuration of the sandbox's globals (stdlib/luacheckrc). Argument
 * handling is kept in parse_check() so that it can move to the
 * table-driven parser. */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lauxlib.h>

#include "cli/cli.h"
#include "commands/commands.h"
#include "cli/options.h"
#include "lualib/bindings.h"
#include "sandbox/sandbox.h"
#include "serve/serve.h"
#include "util/text.h"

extern char **environ;

static const char check_help[] =
  "usage: unbreakable check FILE... [--kind monspec|slo|sli|policy|serve-config|selfheal]\n"
  "                         [--no-luacheck]\n"
  "\n"
  "Validates files without running a gate, printing FILE:LINE:COL: error|warning:\n"
  "  *.json                  a monspec (schema, unknown keys, impossible measures)\n"
  "  *slo*.yaml, *sli*.yaml  Keptn slo.yaml and Dynatrace sli.yaml\n"
  "  unbreakable.json        serve's --config file (settings, types, ranges)\n"
  "  selfheal.json           the self-healing settings of a specs folder\n"
  "  *.lua                   a policy, module or spec: Lua syntax, then luacheck\n"
  "                          with the sandbox's globals when it is installed\n"
  "                          (apt-get install lua-check)\n"
  "  --kind K                read every FILE as K whatever its name\n"
  "\n"
  "Exit status: 0 no error (warnings allowed), 1 an error in a file, 2 usage\n"
  "error or unreadable file.\n";

typedef struct check_args {
  char **files;
  int nfiles;
  const char *kind;
  int no_luacheck;
} check_args;

#define CHECK_MAX_FILES 1024

/* The options of check, through the shared parser (options.h). */
static int parse_check(check_args *a, int argc, char **argv) {
  const ub_opt opts[] = {UB_STRING("kind", &a->kind), UB_FLAG("no-luacheck", &a->no_luacheck), UB_OPTS_END};
  const ub_opt_spec spec = {"check", check_help, opts, 0};
  a->files = calloc(CHECK_MAX_FILES, sizeof *a->files);
  if (!a->files) return UB_EXIT_ERROR;
  int rc = ub_opts_parse(&spec, argc, argv, (const char **)a->files, CHECK_MAX_FILES, &a->nfiles, NULL);
  if (rc == UB_OPTS_HELP) return 1;
  if (rc != 0) return rc;
  if (a->nfiles == 0) return ub_usage_error("check", "name the files to check");
  if (a->kind && strcmp(a->kind, "monspec") && strcmp(a->kind, "slo") && strcmp(a->kind, "sli") &&
      strcmp(a->kind, "policy") && strcmp(a->kind, "serve-config") && strcmp(a->kind, "selfheal"))
    return ub_usage_error("check", "unknown --kind '%s' (monspec, slo, sli, policy, serve-config or selfheal)",
                          a->kind);
  return 0;
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

static const char *kind_of(const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  if (ends_with(base, ".lua")) return "policy";
  if (strcmp(base, "unbreakable.json") == 0) return "serve-config"; /* as `unbreakable init` names it */
  if (strcmp(base, "selfheal.json") == 0) return "selfheal";       /* the name serve reads */
  if (ends_with(base, ".json")) return "monspec";
  if (ends_with(base, ".yaml") || ends_with(base, ".yml")) {
    if (strstr(base, "sli")) return "sli";
    if (strstr(base, "slo")) return "slo";
  }
  return NULL;
}

/* ---- the loaders, in the sandbox ---- */

typedef struct file_check {
  const char *path, *kind, *text;
  size_t len;
  int errors, warnings;
} file_check;

static int push_file(lua_State *L, void *ud) {
  file_check *f = ud;
  lua_pushstring(L, f->kind);
  lua_pushlstring(L, f->text, f->len);
  lua_pushstring(L, f->path);
  return 3;
}

static void print_diag(const char *path, lua_Integer line, lua_Integer col, const char *severity,
                       const char *message) {
  ub_buf b;
  ub_buf_init(&b);
  ub_buf_printf(&b, "%s:%lld:%lld: %s: ", path, (long long)line, (long long)col, severity);
  ub_text_line(&b, message, strlen(message)); /* the file's text may be in it */
  ub_buf_putc(&b, '\n');
  fwrite(b.data ? b.data : "", 1, b.len, stdout);
  ub_buf_free(&b);
}

static int take_diags(lua_State *L, void *ud) {
  file_check *f = ud;
  int t = lua_gettop(L);
  if (!lua_istable(L, t)) return luaL_error(L, "unbreakable.check returned no list");
  for (lua_Integer i = 1; lua_rawgeti(L, t, i) == LUA_TTABLE; i++) {
    int d = lua_gettop(L);
    lua_getfield(L, d, "severity");
    lua_getfield(L, d, "line");
    lua_getfield(L, d, "col");
    lua_getfield(L, d, "message");
    const char *severity = lua_tostring(L, d + 1);
    int is_error = !severity || strcmp(severity, "warning") != 0;
    const char *msg = lua_tostring(L, d + 4);
    print_diag(f->path, lua_tointeger(L, d + 2), lua_tointeger(L, d + 3),
               is_error ? "error" : "warning", msg ? msg : "?");
    if (is_error) f->errors++;
    else f->warnings++;
    lua_settop(L, t);
  }
  return 0;
}

static const char checker[] = "return require('unbreakable.check').run\n";

static int check_text(sandbox *sb, file_check *f) {
  sb_policy p = {"(unbreakable check)", checker, sizeof checker - 1, NULL};
  if (sb_run_policy(sb, &p, push_file, take_diags, f) != SB_OK) {
    print_diag(f->path, 1, 1, "error", sb_error(sb));
    f->errors++;
  }
  return 0;
}

/* ---- luacheck ---- */

/* luacheck's warnings on path, printed as diagnostics: their count, or -1
 * when luacheck ran and could not check the file (printed as an error). */
static int run_luacheck(const char *path, int is_spec, int *warned_missing) {
  char config[2048];
  snprintf(config, sizeof config, "%s/luacheckrc", ub_stdlib_dir());
  char *args[40];
  int n = 0;
  args[n++] = "luacheck";
  args[n++] = "--no-color";
  args[n++] = "--formatter";
  args[n++] = "plain";
  args[n++] = "--codes";
  args[n++] = "--config";
  args[n++] = config;
  if (is_spec) {
    static char *spec_globals[] = {"describe", "context", "it", "test", "pending", "before_each",
                                   "after_each", "setup", "teardown", "lazy_setup", "lazy_teardown",
                                   "fixture", "gate", "dynatrace", NULL};
    args[n++] = "--read-globals";
    for (int i = 0; spec_globals[i]; i++) args[n++] = spec_globals[i];
  }
  args[n++] = "--";
  args[n++] = (char *)path;
  args[n] = NULL;
  int fds[2];
  if (pipe(fds) != 0) return 0;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  pid_t pid;
  int rc = posix_spawnp(&pid, "luacheck", &fa, NULL, args, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    if (!*warned_missing)
      fprintf(stderr, "unbreakable check: luacheck is not installed: Lua files get the syntax "
                      "check only (apt-get install lua-check)\n");
    *warned_missing = 1;
    return 0;
  }
  FILE *out = fdopen(fds[0], "r");
  char line[2048];
  int warnings = 0;
  while (out && fgets(line, sizeof line, out)) {
    line[strcspn(line, "\n")] = '\0';
    /* "path:L:C: (W113) message" -> "path:L:C: warning: (W113) message" */
    char *msg = strstr(line, ": (");
    if (!msg) continue;
    *msg = '\0';
    ub_buf b;
    ub_buf_init(&b);
    ub_text_line(&b, line, strlen(line));
    ub_buf_puts(&b, ": warning: ");
    ub_text_line(&b, msg + 2, strlen(msg + 2));
    ub_buf_putc(&b, '\n');
    fwrite(b.data ? b.data : "", 1, b.len, stdout);
    ub_buf_free(&b);
    warnings++;
  }
  if (out) fclose(out);
  else close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  /* 0 clean, 1 warnings, 2 errors; above that luacheck could not check the
   * file at all (its configuration, an I/O error, a crash): never a pass */
  if (!WIFEXITED(status) || WEXITSTATUS(status) > 2) {
    char why[160];
    snprintf(why, sizeof why, "luacheck could not check this file (%s %d; its message is above): "
             "run luacheck by hand, or give --no-luacheck", WIFEXITED(status) ? "exit status" : "signal",
             WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    print_diag(path, 1, 1, "error", why);
    return -1;
  }
  return warnings;
}

int ub_cmd_check(int argc, char **argv) {
  check_args a;
  memset(&a, 0, sizeof a);
  int rc = parse_check(&a, argc, argv);
  if (rc != 0) {
    free(a.files);
    return rc == 1 ? UB_EXIT_OK : rc;
  }
  sandbox *sb = sb_new(NULL, ub_stdlib_dir());
  if (!sb || ub_grant_defaults(sb) != 0) {
    sb_free(sb);
    free(a.files);
    fprintf(stderr, "unbreakable check: cannot create the sandbox\n");
    return UB_EXIT_ERROR;
  }
  int errors = 0, warnings = 0, unreadable = 0, warned_missing = a.no_luacheck;
  for (int i = 0; i < a.nfiles; i++) {
    const char *kind = a.kind ? a.kind : kind_of(a.files[i]);
    char err[600];
    if (!kind) {
      ub_usage_error("check", "%s: which kind of file? (*.json monspec, unbreakable.json, selfheal.json, "
                              "*slo*.yaml, *sli*.yaml, *.lua; or give --kind)", a.files[i]);
      unreadable++;
      continue;
    }
    if (strcmp(kind, "serve-config") == 0) { /* serve's own reader, in C */
      char why[1200];
      if (serve_config_check(a.files[i], why, sizeof why) != 0) {
        size_t n = strlen(a.files[i]); /* the message names the file: once is enough */
        int named = strncmp(why, a.files[i], n) == 0 && why[n] == ':' && why[n + 1] == ' ';
        print_diag(a.files[i], 1, 1, "error", named ? why + n + 2 : why);
        errors++;
      }
      continue;
    }
    size_t len;
    char *text = ub_read_all(a.files[i], (size_t)4 << 20, &len, err, sizeof err);
    if (!text) {
      fprintf(stderr, "unbreakable check: %s\n", err);
      unreadable++;
      continue;
    }
    file_check f = {a.files[i], kind, text, len, 0, 0};
    check_text(sb, &f);
    if (strcmp(kind, "policy") == 0 && f.errors == 0 && !a.no_luacheck) {
      int lint = run_luacheck(a.files[i], ends_with(a.files[i], "_spec.lua"), &warned_missing);
      if (lint < 0) f.errors++;
      else f.warnings += lint;
    }
    errors += f.errors;
    warnings += f.warnings;
    free(text);
  }
  sb_free(sb);
  free(a.files);
  fprintf(stderr, "unbreakable check: %d file%s, %d error%s, %d warning%s\n", a.nfiles,
          a.nfiles == 1 ? "" : "s", errors, errors == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s");
  if (unreadable) return UB_EXIT_USAGE;
  return errors ? UB_EXIT_FAIL : UB_EXIT_OK;
}
