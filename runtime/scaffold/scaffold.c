/* scaffold.c: the files of a new project: read from the templates folder,
 * {{service}}, {{tenant}} and {{ci}} substituted (any other {{name}} is a
 * defect of the templates; "${{ ... }}" of GitHub Actions, with blanks, is
 * left alone), checked against what exists, then written all or nothing. */
#include "scaffold/scaffold.h"
#include "util/text.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SCAFFOLD_MAX_FILES 256
#define SCAFFOLD_MAX_DEPTH 8
#define SCAFFOLD_MAX_TEMPLATE (4u << 20)

static int add_file(scaffold *s, const char *rel, char *text, size_t len, int executable) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 32;
    scaffold_file *f = realloc(s->files, cap * sizeof *f);
    if (!f) return -1;
    s->files = f;
    s->cap = cap;
  }
  char *copy = strdup(rel);
  if (!copy) return -1;
  s->files[s->n++] = (scaffold_file){copy, text, len, executable};
  return 0;
}

/* The value of placeholder name (len bytes), or NULL when it is not one. */
static const char *var_value(const scaffold_vars *v, const char *name, size_t len) {
  if (len == 7 && strncmp(name, "service", 7) == 0) return v->service;
  if (len == 6 && strncmp(name, "tenant", 6) == 0) return v->tenant;
  if (len == 2 && strncmp(name, "ci", 2) == 0) return v->ci;
  return NULL;
}

/* Length of a placeholder name at p ("service}}"), 0 when p is no name. */
static size_t name_len(const char *p, const char *end) {
  size_t n = 0;
  while (p + n < end && ((p[n] >= 'a' && p[n] <= 'z') || p[n] == '_')) n++;
  return (n > 0 && p + n + 1 < end && p[n] == '}' && p[n + 1] == '}') ? n : 0;
}

/* The first "{{" in [p, end), or end. */
static const char *find_open(const char *p, const char *end) {
  for (; p + 1 < end; p++)
    if (p[0] == '{' && p[1] == '{') return p;
  return end;
}

static int render(const char *rel, const char *text, size_t len, const scaffold_vars *v, ub_buf *out, char *err,
                  size_t errlen) {
  const char *p = text, *end = text + len;
  while (p < end) {
    const char *open = find_open(p, end);
    ub_buf_append(out, p, (size_t)(open - p));
    if (open == end) break;
    size_t n = name_len(open + 2, end);
    if (n == 0) { /* not ours: "${{ secrets.X }}" */
      ub_buf_append(out, open, 2);
      p = open + 2;
      continue;
    }
    const char *value = var_value(v, open + 2, n);
    if (!value) {
      snprintf(err, errlen, "template %s: unknown placeholder {{%.*s}}", rel, (int)n, open + 2);
      return -1;
    }
    ub_buf_puts(out, value);
    p = open + 2 + n + 2;
  }
  if (out->failed) {
    snprintf(err, errlen, "template %s: out of memory", rel);
    return -1;
  }
  return 0;
}

static int add_template(scaffold *s, const char *path, const char *rel, int executable, const scaffold_vars *v,
                        char *err, size_t errlen) {
  size_t len;
  char *text = ub_read_all(path, SCAFFOLD_MAX_TEMPLATE, &len, err, errlen);
  if (!text) return -1;
  ub_buf out;
  ub_buf_init(&out);
  int rc = render(rel, text, len, v, &out, err, errlen);
  free(text);
  size_t outlen = out.len;
  char *rendered = rc == 0 ? ub_buf_steal(&out, &outlen) : NULL;
  ub_buf_free(&out);
  if (rc == 0 && (!rendered || add_file(s, rel, rendered, outlen, executable) != 0)) {
    free(rendered);
    snprintf(err, errlen, "template %s: out of memory", rel);
    return -1;
  }
  return rc;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in folder dir, sorted (so the files are always listed in the
 * same order); NULL-terminated, caller frees. */
static char **list_dir(const char *dir, char *err, size_t errlen) {
  DIR *d = opendir(dir);
  if (!d) {
    snprintf(err, errlen, "cannot read the templates folder %s: %s", dir, strerror(errno));
    return NULL;
  }
  size_t n = 0, cap = 16;
  char **names = malloc(cap * sizeof *names);
  for (struct dirent *e; names && (e = readdir(d));) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (n + 1 == cap) {
      char **more = realloc(names, (cap *= 2) * sizeof *names);
      if (!more) break;
      names = more;
    }
    names[n] = strdup(e->d_name);
    if (names[n]) n++;
  }
  closedir(d);
  if (!names) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  names[n] = NULL;
  qsort(names, n, sizeof *names, by_name);
  return names;
}

static void free_names(char **names) {
  for (size_t i = 0; names && names[i]; i++) free(names[i]);
  free(names);
}

/* Every regular file under dir, as rel_prefix/name. */
static int add_tree(scaffold *s, const char *dir, const char *rel_prefix, int depth, const scaffold_vars *v,
                    char *err, size_t errlen) {
  if (depth > SCAFFOLD_MAX_DEPTH) {
    snprintf(err, errlen, "the templates folder %s is nested too deep", dir);
    return -1;
  }
  char **names = list_dir(dir, err, errlen);
  if (!names) return -1;
  int rc = 0;
  for (size_t i = 0; rc == 0 && names[i]; i++) {
    char path[4096], rel[1024];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    snprintf(rel, sizeof rel, "%s%s%s", rel_prefix, *rel_prefix ? "/" : "", names[i]);
    if (stat(path, &st) != 0) {
      snprintf(err, errlen, "cannot read the template %s: %s", path, strerror(errno));
      rc = -1;
    } else if (S_ISDIR(st.st_mode)) {
      rc = add_tree(s, path, rel, depth + 1, v, err, errlen);
    } else if (S_ISREG(st.st_mode)) {
      if (s->n >= SCAFFOLD_MAX_FILES) {
        snprintf(err, errlen, "more than %d template files under %s", SCAFFOLD_MAX_FILES, dir);
        rc = -1;
      } else {
        rc = add_template(s, path, rel, (st.st_mode & 0111) != 0, v, err, errlen);
      }
    }
  }
  free_names(names);
  return rc;
}

/* policies/default_selfheal.lua: the shipped policy the scaffold's
 * policies/selfheal.lua builds on, copied at init time so that the
 * project holds the version it was tested with. */
static int add_default_selfheal(scaffold *s, const char *policies_dir, char *err, size_t errlen) {
  char path[4096];
  size_t len;
  snprintf(path, sizeof path, "%s/selfheal.lua", policies_dir);
  char *text = ub_read_all(path, SCAFFOLD_MAX_TEMPLATE, &len, err, errlen);
  if (!text) return -1;
  ub_buf b;
  ub_buf_init(&b);
  ub_buf_puts(&b, "-- default_selfheal.lua: unbreakable's default self-healing policy, copied by\n"
                  "-- `unbreakable init`; policies/selfheal.lua builds on it. Change selfheal.lua\n"
                  "-- rather than this file, so that a newer default can replace it.\n");
  ub_buf_append(&b, text, len);
  free(text);
  size_t outlen = b.len;
  char *out = b.failed ? NULL : ub_buf_steal(&b, &outlen);
  ub_buf_free(&b);
  if (!out || add_file(s, "policies/default_selfheal.lua", out, outlen, 0) != 0) {
    free(out);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  return 0;
}

int scaffold_plan(scaffold *s, const char *templates_dir, const char *policies_dir, const scaffold_vars *vars,
                  char *err, size_t errlen) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/files", templates_dir);
  if (add_tree(s, dir, "", 0, vars, err, errlen) != 0) return -1;
  snprintf(dir, sizeof dir, "%s/ci/%s", templates_dir, vars->ci);
  if (add_tree(s, dir, "", 0, vars, err, errlen) != 0) return -1;
  return add_default_selfheal(s, policies_dir, err, errlen);
}

size_t scaffold_conflicts(const scaffold *s, const char *dir, ub_buf *names) {
  size_t count = 0;
  for (size_t i = 0; i < s->n; i++) {
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, s->files[i].rel);
    if (lstat(path, &st) == 0) {
      ub_buf_puts(names, "  ");
      ub_text_line(names, path, strlen(path)); /* DIR as typed: made safe for a terminal */
      ub_buf_putc(names, '\n');
      count++;
    }
  }
  return count;
}

/* The first folder of path (DIR itself or one under it) that exists as
 * something else than a folder, or 0. */
static int blocking_parent(char *path, char *found, size_t size) {
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    struct stat st;
    int blocked = stat(path, &st) == 0 && !S_ISDIR(st.st_mode);
    if (blocked) snprintf(found, size, "%s", path);
    *p = '/';
    if (blocked) return 1;
  }
  return 0;
}

int scaffold_check_folders(const scaffold *s, const char *dir, char *err, size_t errlen) {
  for (size_t i = 0; i < s->n; i++) {
    char path[4096], found[4096];
    snprintf(path, sizeof path, "%s/%s", dir, s->files[i].rel);
    if (blocking_parent(path, found, sizeof found)) {
      snprintf(err, errlen, "%.1000s is not a folder, and %.1000s would go inside it", found, path);
      return -1;
    }
  }
  return 0;
}

/* mkdir -p of the folders of path (not its last component). */
static int make_parents(char *path, char *err, size_t errlen) {
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    int rc = mkdir(path, 0755);
    int e = errno;
    struct stat st;
    if (rc != 0 && (e != EEXIST || stat(path, &st) != 0 || !S_ISDIR(st.st_mode))) {
      snprintf(err, errlen, "cannot create the folder %s: %s", path, strerror(e == EEXIST ? ENOTDIR : e));
      *p = '/';
      return -1;
    }
    *p = '/';
  }
  return 0;
}

/* Writes f at path through a temporary file: renamed over path with
 * force, else linked to it, which fails if path appeared meanwhile (a file
 * is never overwritten without --force, even by a race). */
static int write_file(const char *path, const scaffold_file *f, int force, char *err, size_t errlen) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.init-XXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    return -1;
  }
  size_t off = 0;
  while (off < f->len) {
    ssize_t w = write(fd, f->text + off, f->len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    off += (size_t)w;
  }
  int ok = off == f->len && fchmod(fd, f->executable ? 0755 : 0644) == 0;
  int e = errno;
  if (close(fd) != 0) ok = 0;
  if (ok && force && rename(tmp, path) == 0) return 0;
  if (ok && !force && link(tmp, path) == 0) {
    unlink(tmp);
    return 0;
  }
  e = ok ? errno : e;
  unlink(tmp);
  snprintf(err, errlen, "cannot write %s: %s", path, strerror(e));
  return -1;
}

int scaffold_write(const scaffold *s, const char *dir, int force, char *err, size_t errlen) {
  for (size_t i = 0; i < s->n; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, s->files[i].rel);
    if (make_parents(path, err, errlen) != 0 || write_file(path, &s->files[i], force, err, errlen) != 0) return -1;
  }
  return 0;
}

void scaffold_free(scaffold *s) {
  for (size_t i = 0; i < s->n; i++) {
    free(s->files[i].rel);
    free(s->files[i].text);
  }
  free(s->files);
  s->files = NULL;
  s->n = s->cap = 0;
}
