/* cli.c: helpers shared by the commands. */
#include "cli/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/text.h"


int ub_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "unbreakable %s: ", cmd);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, " (see 'unbreakable %s --help')\n", cmd);
  return UB_EXIT_USAGE;
}

int ub_check_output(const char *cmd, const char *option, const char *path) {
  char err[1200];
  if (!path || ub_check_output_path(path, err, sizeof err) == 0) return 0;
  return ub_usage_error(cmd, "%s: %s", option, err);
}


static int is_dir(const char *path) {
  struct stat st;
  return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static const char *pick_dir(const char *env, const char *source, const char *installed) {
  const char *v = getenv(env);
  if (v && *v) return v;
  if (is_dir(source)) return source;
  return installed;
}

const char *ub_stdlib_dir(void) {
  return pick_dir("UB_STDLIB", UB_SOURCE_STDLIB, UB_INSTALL_STDLIB);
}

const char *ub_policies_dir(void) {
  return pick_dir("UB_POLICIES", UB_SOURCE_POLICIES, UB_INSTALL_POLICIES);
}

const char *ub_templates_dir(void) {
  return pick_dir("UB_TEMPLATES", UB_SOURCE_TEMPLATES, UB_INSTALL_TEMPLATES);
}

void ub_print_policy_log(const char *log, size_t len) {
  ub_buf b;
  ub_buf_init(&b);
  ub_text_lines(&b, log, len, "[policy] ");
  if (b.len) fwrite(b.data, 1, b.len, stderr);
  ub_buf_free(&b);
}
