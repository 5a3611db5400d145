/* cmd_test.c: `unbreakable test [PATH...]`: finds *_spec.lua files under
 * the paths and runs each in the sandbox (policytest/), with the limits of
 * a gate; reports text, JSON or JUnit; --coverage adds line coverage of
 * the policies and modules next to the specs. Argument handling is kept in
 * parse_test() so that it can move to the table-driven parser. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "commands/commands.h"
#include "cli/isolate.h"
#include "cli/options.h"
#include "bundle/bundle.h"
#include <fcntl.h>
#include <unistd.h>
#include "policytest/policytest.h"
#include "report/report_junit.h"
#include "util/json.h"
#include "util/text.h"

static const char test_help[] =
  "usage: unbreakable test [PATH...] [--run TEXT] [--format text|json|junit] [--output FILE]\n"
  "                        [--coverage] [--coverage-min PCT] [--coverage-out DIR]\n"
  "                        [--coverage-stdlib] [--timeout S] [--memory MIB]\n"
  "                        [--instructions N] [--bundle B --pubkey KEY.pub]\n"
  "\n"
  "Runs the *_spec.lua files found under each PATH (default: .) in the sandbox,\n"
  "each spec file in a fresh evaluation with the limits of a gate. Specs use\n"
  "describe/it/assert (busted style) and the helpers fixture.evaluation(FILE),\n"
  "gate(ctx, POLICY) and the recorded Dynatrace stand-in (docs/policies.md).\n"
  "\n"
  "  --run TEXT          run only the tests whose full name contains TEXT\n"
  "  --format F          text (default), json or junit\n"
  "  --output FILE       write the report to FILE instead of stdout\n"
  "  --coverage          line coverage of the .lua files under the PATHs (not the\n"
  "                      specs): a table after the report, DIR/coverage.json and\n"
  "                      DIR/lcov.info\n"
  "  --coverage-min PCT  fail (exit 1) when the total coverage is below PCT\n"
  "  --coverage-out DIR  where the coverage files go (default: .)\n"
  "  --coverage-stdlib   also report the standard library's modules\n"
  "  --bundle B --pubkey K   run the specs of bundle B only after its signature (key\n"
  "                      K) and every file verify; PATHs are then inside the bundle\n"
  "  --timeout S, --memory MIB, --instructions N   limits of each spec file\n"
  "                      (default 60 s, 64 MiB, 1e9 instructions, as a gate)\n"
  "\n"
  "Exit status: 0 every test passed, 1 a test failed (or coverage below the\n"
  "minimum), 2 usage error or no spec file found, 3 the runner itself failed.\n";

#define TEST_MAX_FILES 4096
#define TEST_MAX_DEPTH 32
#define TEST_MAX_PATHS 256

typedef struct test_args {
  const char *paths[TEST_MAX_PATHS];
  int npaths;
  const char *run, *format, *output, *coverage_out, *bundle, *pubkey;
  int coverage, coverage_stdlib;
  double coverage_min;       /* < 0: none */
  sb_limits limits;
  char **specs;              /* found spec files */
  size_t nspecs;
  char **sources;            /* other .lua files, for coverage */
  size_t nsources;
} test_args;

/* Whether a PATH stays inside the bundle's folder: relative, no ".."
 * component (specs from anywhere else were never verified). */
static int inside_bundle(const char *path) {
  if (path[0] == '/') return 0;
  for (const char *c = path; *c; c++)
    if (c[0] == '.' && c[1] == '.' && (c == path || c[-1] == '/') && (c[2] == '/' || c[2] == '\0'))
      return 0;
  return 1;
}

/* The options of test, checked by the shared parser (options.h). */
static int parse_test(test_args *a, int argc, char **argv) {
  double seconds = a->limits.seconds, mib = (double)(a->limits.memory >> 20),
         instructions = (double)a->limits.instructions;
  int min_seen = 0;
  const ub_opt opts[] = {
    UB_STRING("run", &a->run),
    UB_STRING("format", &a->format),
    UB_PATH("output", &a->output),
    UB_FLAG("coverage", &a->coverage),
    UB_NUMBER("coverage-min", &a->coverage_min, 0, 100, .unit = "(percent)", .seen = &min_seen),
    UB_PATH("coverage-out", &a->coverage_out),
    UB_FLAG("coverage-stdlib", &a->coverage_stdlib),
    UB_NUMBER("timeout", &seconds, 0, 86400, .above_min = 1, .unit = "(seconds)"),
    UB_NUMBER("memory", &mib, 1, 65536, .unit = "(MiB)"),
    UB_NUMBER("instructions", &instructions, 1000, 1e15, .whole = 1),
    UB_PATH("bundle", &a->bundle),
    UB_PATH("pubkey", &a->pubkey),
    UB_OPTS_END};
  const ub_opt_spec spec = {"test", test_help, opts, 0};
  int rc = ub_opts_parse(&spec, argc, argv, a->paths, TEST_MAX_PATHS, &a->npaths, NULL);
  if (rc == UB_OPTS_HELP) return 1;
  if (rc != 0) return rc;
  a->limits.seconds = seconds;
  a->limits.memory = (size_t)(mib * 1024 * 1024);
  a->limits.instructions = (uint64_t)instructions;
  if (!min_seen) a->coverage_min = -1;
  if (min_seen || a->coverage_out || a->coverage_stdlib) a->coverage = 1;
  if (strcmp(a->format, "text") && strcmp(a->format, "json") && strcmp(a->format, "junit"))
    return ub_usage_error("test", "unknown --format '%s' (text, json or junit)", a->format);
  if (!a->bundle != !a->pubkey) return ub_usage_error("test", "--bundle and --pubkey go together");
  for (int i = 0; a->bundle && i < a->npaths; i++)
    if (!inside_bundle(a->paths[i]))
      return ub_usage_error("test", "%s: with --bundle, a PATH names a folder or spec inside the "
                            "bundle (relative, without '..')", a->paths[i]);
  return 0;
}

/* ---- specs from a verified bundle ---- */

/* Makes a relative output path absolute before the run moves into the
 * bundle's folder. */
static const char *absolute(const char *path, char *buf, size_t size) {
  char cwd[2048];
  if (!path || path[0] == '/' || !getcwd(cwd, sizeof cwd)) return path;
  snprintf(buf, size, "%s/%s", cwd, path);
  return buf;
}

/* Verifies the bundle, writes its files to a private folder and moves
 * there. Returns 0 or the exit status (error printed). */
static int enter_bundle(test_args *a, char *dir, size_t dirlen) {
  char err[800];
  ub_bundle *b = ub_bundle_open(a->bundle, a->pubkey, err, sizeof err);
  if (!b) {
    fprintf(stderr, "unbreakable test: %s\n", err);
    return UB_EXIT_USAGE;
  }
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, dirlen, "%s/unbreakable-bundle-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  int rc = ub_bundle_extract(b, dir, err, sizeof err);
  if (rc == 0 && chdir(dir) != 0) {
    ub_bundle_remove_dir(b, dir);
    snprintf(err, sizeof err, "%s: cannot enter the bundle's folder", dir);
    rc = -1;
  }
  if (rc != 0) {
    dir[0] = '\0';
    fprintf(stderr, "unbreakable test: %s\n", err);
  } else {
    fprintf(stderr, "unbreakable test: specs of bundle %s, signed with key %s at %s\n",
            a->bundle, b->key_id, b->signed_at);
  }
  ub_bundle_free(b);
  return rc ? UB_EXIT_ERROR : 0;
}

/* ---- finding spec files ---- */

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int push_path(char ***list, size_t *n, const char *path) {
  if (*n >= TEST_MAX_FILES) return -1;
  char **grown = realloc(*list, (*n + 1) * sizeof *grown);
  if (!grown) return -1;
  *list = grown;
  if (!(grown[*n] = strdup(path))) return -1;
  (*n)++;
  return 0;
}

static int add_lua_file(test_args *a, const char *path) {
  if (ends_with(path, "_spec.lua")) return push_path(&a->specs, &a->nspecs, path);
  if (ends_with(path, ".lua")) return push_path(&a->sources, &a->nsources, path);
  return 0;
}

/* Walks dir (no symbolic links, no hidden folders). */
static int walk(test_args *a, const char *dir, int depth) {
  if (depth > TEST_MAX_DEPTH) return 0;
  DIR *d = opendir(dir);
  if (!d) return -1;
  struct dirent *e;
  int rc = 0;
  while (rc == 0 && (e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char path[4096];
    int n = strcmp(dir, ".") == 0 ? snprintf(path, sizeof path, "%s", e->d_name)
                                  : snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (n < 0 || n >= (int)sizeof path) continue;
    struct stat st;
    if (lstat(path, &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) rc = walk(a, path, depth + 1);
    else if (S_ISREG(st.st_mode)) rc = add_lua_file(a, path);
  }
  closedir(d);
  return rc;
}

static int by_name(const void *x, const void *y) {
  return strcmp(*(char *const *)x, *(char *const *)y);
}

static int find_specs(test_args *a) {
  if (a->npaths == 0) a->paths[a->npaths++] = ".";
  for (int i = 0; i < a->npaths; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s", a->paths[i]);
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') path[--n] = '\0';
    struct stat st;
    if (stat(path, &st) != 0) return ub_usage_error("test", "%s: no such file or folder", path);
    int rc = S_ISDIR(st.st_mode) ? walk(a, path, 0)
           : ends_with(path, ".lua") ? push_path(&a->specs, &a->nspecs, path) : -2;
    if (rc == -2) return ub_usage_error("test", "%s: not a folder or a .lua spec file", path);
    if (rc != 0) return ub_usage_error("test", "%s: cannot list it, or more than %d files", path, TEST_MAX_FILES);
  }
  if (a->nspecs == 0)
    return ub_usage_error("test", "no *_spec.lua file under %s%s", a->paths[0], a->npaths > 1 ? " ..." : "");
  qsort(a->specs, a->nspecs, sizeof *a->specs, by_name);
  return 0;
}

/* ---- reports ---- */

typedef struct tally { size_t pass, fail, error, pending; } tally;

static void count(tally *t, const pt_case *c) {
  if (strcmp(c->status, "pass") == 0) t->pass++;
  else if (strcmp(c->status, "pending") == 0) t->pending++;
  else if (strcmp(c->status, "fail") == 0) t->fail++;
  else t->error++;
}

static void text_case(ub_buf *out, const pt_file_result *r, const pt_case *c) {
  const char *label = strcmp(c->status, "pass") == 0 ? "ok     "
                    : strcmp(c->status, "pending") == 0 ? "pending"
                    : strcmp(c->status, "fail") == 0 ? "FAIL   " : "ERROR  ";
  ub_buf_printf(out, "  %s ", label);
  ub_text_line(out, c->name, strlen(c->name));
  ub_buf_putc(out, '\n');
  if (strcmp(c->status, "pass") == 0 || strcmp(c->status, "pending") == 0) return;
  ub_buf_puts(out, "          ");
  const char *where = c->where ? c->where : r->path;
  ub_text_line(out, where, strlen(where));
  ub_buf_puts(out, ": ");
  const char *m = c->message ? c->message : "failed";
  const char *nl = strchr(m, '\n');
  ub_text_line(out, m, nl ? (size_t)(nl - m) : strlen(m));
  ub_buf_putc(out, '\n');
  if (nl) ub_text_lines(out, nl + 1, strlen(nl + 1), "          ");
}

static void render_text(ub_buf *out, pt_file_result *rs, size_t n, tally *t) {
  for (size_t i = 0; i < n; i++) {
    ub_text_line(out, rs[i].path, strlen(rs[i].path));
    ub_buf_putc(out, '\n');
    for (size_t k = 0; k < rs[i].ncases; k++) text_case(out, &rs[i], &rs[i].cases[k]);
  }
  ub_buf_printf(out, "%zu passed, %zu failed, %zu errors, %zu pending (%zu spec file%s)\n",
                t->pass, t->fail, t->error, t->pending, n, n == 1 ? "" : "s");
}

static void json_field(ub_buf *out, const char *key, const char *value) {
  if (!value) return;
  ub_buf_printf(out, ",\"%s\":", key);
  json_append_string(out, value, strlen(value));
}

static void render_json(ub_buf *out, pt_file_result *rs, size_t n, tally *t) {
  ub_buf_printf(out, "{\"passed\":%zu,\"failed\":%zu,\"errors\":%zu,\"pending\":%zu,\"files\":[",
                t->pass, t->fail, t->error, t->pending);
  for (size_t i = 0; i < n; i++) {
    ub_buf_puts(out, i ? ",{\"path\":" : "{\"path\":");
    json_append_string(out, rs[i].path, strlen(rs[i].path));
    ub_buf_puts(out, ",\"tests\":[");
    for (size_t k = 0; k < rs[i].ncases; k++) {
      const pt_case *c = &rs[i].cases[k];
      ub_buf_puts(out, k ? ",{\"name\":" : "{\"name\":");
      json_append_string(out, c->name, strlen(c->name));
      json_field(out, "status", c->status);
      json_field(out, "where", c->where);
      json_field(out, "message", c->message);
      ub_buf_putc(out, '}');
    }
    ub_buf_puts(out, "]}");
  }
  ub_buf_puts(out, "]}\n");
}

static void render_junit(ub_buf *out, pt_file_result *rs, size_t n) {
  report_junit_counts counts = {0, 0, 0, 0};
  ub_buf msg;
  ub_buf_init(&msg);
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 1) report_junit_begin(out, "unbreakable.test", &counts);
    for (size_t i = 0; i < n; i++)
      for (size_t k = 0; k < rs[i].ncases; k++) {
        const pt_case *c = &rs[i].cases[k];
        report_junit_outcome o = strcmp(c->status, "pass") == 0 ? REPORT_JUNIT_PASSED
                               : strcmp(c->status, "pending") == 0 ? REPORT_JUNIT_SKIPPED
                               : strcmp(c->status, "fail") == 0 ? REPORT_JUNIT_FAILED
                               : REPORT_JUNIT_ERROR;
        if (pass == 0) { report_junit_count(&counts, o); continue; }
        ub_buf_reset(&msg);
        ub_buf_printf(&msg, "%s: %s", rs[i].path, c->name);
        char *name = strdup(msg.data ? msg.data : "");
        ub_buf_reset(&msg);
        ub_buf_printf(&msg, "%s: %s", c->where ? c->where : rs[i].path, c->message ? c->message : "");
        report_junit_case tc = {name ? name : c->name, o, o == REPORT_JUNIT_PASSED ? NULL : msg.data, NULL};
        report_junit_case_xml(out, "unbreakable.test", &tc);
        free(name);
      }
  }
  report_junit_end(out);
  ub_buf_free(&msg);
}

static int write_file(const char *path, const ub_buf *b) {
  FILE *f = path ? fopen(path, "w") : stdout;
  if (!f) {
    fprintf(stderr, "unbreakable test: cannot write %s: %s\n", path, strerror(errno));
    return -1;
  }
  fwrite(b->data ? b->data : "", 1, b->len, f);
  int bad = ferror(f);
  if (path) bad |= fclose(f) != 0;
  else fflush(f); /* a full stdout is reported once, by the command's backstop (cli/) */
  if (bad) fprintf(stderr, "unbreakable test: cannot write %s: %s\n", path ? path : "stdout", strerror(errno));
  return bad ? -1 : 0;
}

/* ---- coverage ---- */

static int keep_for_coverage(const char *path, void *ud) {
  const test_args *a = ud;
  if (ends_with(path, "_spec.lua") || !ends_with(path, ".lua")) return 0;
  const char *stdlib = ub_stdlib_dir();
  size_t n = strlen(stdlib);
  int in_stdlib = strncmp(path, stdlib, n) == 0 && path[n] == '/';
  if (in_stdlib) return a->coverage_stdlib && !ends_with(path, "/unbreakable/testing.lua");
  return 1;
}

static int report_coverage(test_args *a, pt_coverage *cov) {
  for (size_t i = 0; i < a->nsources; i++) pt_coverage_add_file(cov, a->sources[i]);
  pt_coverage_filter(cov, keep_for_coverage, a);
  ub_buf b;
  ub_buf_init(&b);
  pt_coverage_table(cov, &b);
  fputs("\ncoverage:\n", stderr);
  fwrite(b.data ? b.data : "", 1, b.len, stderr);
  char path[4096];
  const char *dir = a->coverage_out ? a->coverage_out : ".";
  int rc = 0;
  ub_buf_reset(&b);
  pt_coverage_json(cov, &b);
  snprintf(path, sizeof path, "%s/coverage.json", dir);
  rc |= write_file(path, &b);
  ub_buf_reset(&b);
  pt_coverage_lcov(cov, &b);
  snprintf(path, sizeof path, "%s/lcov.info", dir);
  rc |= write_file(path, &b);
  ub_buf_free(&b);
  if (rc) return UB_EXIT_ERROR;
  size_t lines, hit;
  pt_coverage_totals(cov, &lines, &hit);
  double pct = lines ? 100.0 * (double)hit / (double)lines : 100.0;
  fprintf(stderr, "coverage: %.1f%% of %zu lines (%s/coverage.json, %s/lcov.info)\n", pct, lines, dir, dir);
  if (a->coverage_min > 0 && pct + 1e-9 < a->coverage_min) {
    fprintf(stderr, "unbreakable test: coverage %.1f%% is below --coverage-min %g\n", pct, a->coverage_min);
    return UB_EXIT_FAIL;
  }
  return UB_EXIT_OK;
}

/* ---- running ---- */

static int run_tests(void *ud) {
  test_args *a = ud;
  pt_options o = {a->limits, a->run, NULL};
  if (a->coverage && !(o.coverage = pt_coverage_new())) return UB_EXIT_ERROR;
  pt_file_result *rs = calloc(a->nspecs, sizeof *rs);
  int rc = rs ? UB_EXIT_OK : UB_EXIT_ERROR;
  tally t = {0, 0, 0, 0};
  for (size_t i = 0; rs && i < a->nspecs; i++) {
    if (pt_run_spec(a->specs[i], &o, &rs[i]) != 0) rc = UB_EXIT_ERROR;
    if (rs[i].log) ub_print_policy_log(rs[i].log, rs[i].log_len); /* made safe there */
    for (size_t k = 0; k < rs[i].ncases; k++) count(&t, &rs[i].cases[k]);
  }
  ub_buf out;
  ub_buf_init(&out);
  if (rs) {
    if (strcmp(a->format, "json") == 0) render_json(&out, rs, a->nspecs, &t);
    else if (strcmp(a->format, "junit") == 0) render_junit(&out, rs, a->nspecs);
    else render_text(&out, rs, a->nspecs, &t);
    if (write_file(a->output, &out) != 0) rc = UB_EXIT_ERROR;
    if (rc == UB_EXIT_OK && (t.fail || t.error)) rc = UB_EXIT_FAIL;
    if (rc == UB_EXIT_OK && t.pass + t.fail + t.error + t.pending == 0) {
      fprintf(stderr, "unbreakable test: no test ran%s\n", a->run ? " (nothing matches --run)" : "");
      rc = UB_EXIT_FAIL;
    }
    if (o.coverage) {
      int crc = report_coverage(a, o.coverage);
      if (rc == UB_EXIT_OK) rc = crc;
    }
  }
  ub_buf_free(&out);
  for (size_t i = 0; rs && i < a->nspecs; i++) pt_file_result_free(&rs[i]);
  free(rs);
  pt_coverage_free(o.coverage);
  return rc;
}

static void free_list(char **list, size_t n) {
  for (size_t i = 0; i < n; i++) free(list[i]);
  free(list);
}

int ub_cmd_test(int argc, char **argv) {
  test_args a;
  memset(&a, 0, sizeof a);
  a.format = "text";
  a.coverage_min = -1;
  sb_default_limits(&a.limits);
  a.limits.seconds = 60;
  int rc = parse_test(&a, argc, argv);
  if (rc == 1) return UB_EXIT_OK; /* --help */
  char bundle_dir[1024] = "", out_buf[4096], cov_buf[4096];
  int home = -1;
  if (rc == 0 && a.bundle) {
    a.output = absolute(a.output, out_buf, sizeof out_buf);
    a.coverage_out = absolute(a.coverage_out ? a.coverage_out : ".", cov_buf, sizeof cov_buf);
    home = open(".", O_RDONLY | O_DIRECTORY);
    rc = enter_bundle(&a, bundle_dir, sizeof bundle_dir);
  }
  if (rc == 0) rc = find_specs(&a);
  if (rc == 0) {
    double backstop = (double)a.nspecs * (2 * a.limits.seconds + 5) + 10;
    rc = ub_isolate_run("test", run_tests, &a, backstop);
  }
  free_list(a.specs, a.nspecs);
  free_list(a.sources, a.nsources);
  if (home >= 0) {
    if (fchdir(home) != 0) rc = rc ? rc : UB_EXIT_ERROR;
    close(home);
  }
  if (bundle_dir[0]) ub_bundle_remove_dir(NULL, bundle_dir);
  return rc;
}
