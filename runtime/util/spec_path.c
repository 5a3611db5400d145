/* spec_path.c: files named relative to a specs folder (spec_path.h):
 * serve's requests name monspec, SLO/SLI files and policies so, and
 * selfheal.json its selfheal_policy. A name is refused when it is
 * absolute, has a ".." or empty segment, resolves (through symlinks)
 * outside the folder, or is not a regular file. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/spec_path.h"

static int bad_segment(const char *name) {
  const char *p = name;
  for (;;) {
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (n == 0 || (n == 2 && p[0] == '.' && p[1] == '.') || (n == 1 && p[0] == '.')) return 1;
    if (!slash) return 0;
    p = slash + 1;
  }
}

int ub_spec_path(const char *root, const char *name, char *out, size_t outlen, char *err, size_t errlen) {
  if (!name[0] || name[0] == '/' || strchr(name, '\\')) {
    snprintf(err, errlen, "must be a relative name under the specs folder (got '%s')", name);
    return -1;
  }
  if (bad_segment(name)) {
    snprintf(err, errlen, "'%s' has an empty, '.' or '..' segment: name a file under the specs folder", name);
    return -1;
  }
  char joined[PATH_MAX + 1], real[PATH_MAX + 1];
  if (snprintf(joined, sizeof joined, "%s/%s", root, name) >= (int)sizeof joined) {
    snprintf(err, errlen, "'%.100s...' is too long", name);
    return -1;
  }
  if (!realpath(joined, real)) {
    snprintf(err, errlen, "'%s' does not exist under the specs folder", name);
    return -1;
  }
  size_t rl = strlen(root);
  if (strncmp(real, root, rl) != 0 || real[rl] != '/') {
    snprintf(err, errlen, "'%s' leads outside the specs folder", name);
    return -1;
  }
  struct stat st;
  if (stat(real, &st) != 0 || !S_ISREG(st.st_mode)) {
    snprintf(err, errlen, "'%s' is not a regular file", name);
    return -1;
  }
  if (strlen(real) >= outlen) {
    snprintf(err, errlen, "'%s' is too long", name);
    return -1;
  }
  memcpy(out, real, strlen(real) + 1);
  return 0;
}
