/* bundle_archive.c: a bundle in memory and as a tar.gz. libarchive reads
 * and writes the archive (tar and gzip have many historical variants;
 * Debian's libarchive-dev parses them defensively and is already what
 * distributions use to unpack untrusted archives): reading accepts only
 * gzip-compressed tar, regular file entries with safe, unique paths and
 * sizes within the limits; it never writes to disk. Extraction writes the
 * verified bytes of a loaded bundle into a new private folder. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "bundle/bundle_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "util/buf.h"
#include "util/text.h"

ub_bundle *ub_bundle_new(void) { return calloc(1, sizeof(ub_bundle)); }

void ub_bundle_free(ub_bundle *b) {
  if (!b) return;
  for (size_t i = 0; i < b->nfiles; i++) {
    free(b->files[i].path);
    free(b->files[i].data);
  }
  free(b->files);
  free(b->manifest);
  free(b->signature);
  free(b);
}

int ub_bundle_safe_path(const char *path) {
  size_t n = strlen(path);
  if (n == 0 || n > 512 || path[0] == '/' || path[n - 1] == '/') return 0;
  for (const char *p = path; *p; p++)
    if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e || *p == '\\') return 0;
  const char *c = path;
  while (*c) {
    const char *slash = strchr(c, '/');
    size_t len = slash ? (size_t)(slash - c) : strlen(c);
    if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.')) return 0;
    c += len + (slash ? 1 : 0);
  }
  return 1;
}

const ub_bundle_file *ub_bundle_find(const ub_bundle *b, const char *path) {
  for (size_t i = 0; i < b->nfiles; i++)
    if (strcmp(b->files[i].path, path) == 0) return &b->files[i];
  return NULL;
}

int ub_bundle_add(ub_bundle *b, const char *path, unsigned char *data, size_t len) {
  if (ub_bundle_find(b, path) || b->nfiles >= UB_BUNDLE_MAX_FILES) return -1;
  ub_bundle_file *grown = realloc(b->files, (b->nfiles + 1) * sizeof *grown);
  if (!grown) return -1;
  b->files = grown;
  char *copy = strdup(path);
  if (!copy) return -1;
  b->files[b->nfiles++] = (ub_bundle_file){copy, data, len};
  return 0;
}

static int by_path(const void *x, const void *y) {
  return strcmp(((const ub_bundle_file *)x)->path, ((const ub_bundle_file *)y)->path);
}

void ub_bundle_sort(ub_bundle *b) {
  if (b->nfiles) qsort(b->files, b->nfiles, sizeof *b->files, by_path);
}

/* ---- building from a folder ---- */

typedef struct walk_state {
  ub_bundle *b;
  size_t total;
  char *err;
  size_t errlen;
} walk_state;

static int add_file(walk_state *w, const char *full, const char *rel) {
  size_t len;
  char rerr[300];
  if (!ub_bundle_safe_path(rel)) {
    snprintf(w->err, w->errlen, "%s: a bundle path must be printable ASCII without spaces, "
             "backslashes or '..'", full);
    return -1;
  }
  char *data = ub_read_all(full, UB_BUNDLE_MAX_FILE, &len, rerr, sizeof rerr);
  if (!data) {
    snprintf(w->err, w->errlen, "%s", rerr);
    return -1;
  }
  if (strncmp(data, UB_BUNDLE_SECRET_KEY_START, strlen(UB_BUNDLE_SECRET_KEY_START)) == 0) {
    free(data);
    snprintf(w->err, w->errlen, "%s: a secret signing key; a bundle goes to every gate: keep keys "
             "outside the folder you bundle (bundle keygen --out ../KEY)", full);
    return -1;
  }
  w->total += len;
  if (w->total > UB_BUNDLE_MAX_TOTAL || ub_bundle_add(w->b, rel, (unsigned char *)data, len) != 0) {
    free(data);
    snprintf(w->err, w->errlen, "%s: more than %d files or %zu MiB in the bundle", full,
             UB_BUNDLE_MAX_FILES, UB_BUNDLE_MAX_TOTAL >> 20);
    return -1;
  }
  return 0;
}

static int walk(walk_state *w, const char *dir, const char *rel, int depth) {
  if (depth > 32) {
    snprintf(w->err, w->errlen, "%s: folders nested too deep", dir);
    return -1;
  }
  DIR *d = opendir(dir);
  if (!d) {
    snprintf(w->err, w->errlen, "%s: %s", dir, strerror(errno));
    return -1;
  }
  struct dirent *e;
  int rc = 0;
  while (rc == 0 && (e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 || strcmp(e->d_name, ".git") == 0)
      continue;
    char full[4096], sub[1024];
    snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
    snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
    struct stat st;
    if (lstat(full, &st) != 0) {
      snprintf(w->err, w->errlen, "%s: %s", full, strerror(errno));
      rc = -1;
    } else if (S_ISLNK(st.st_mode)) {
      snprintf(w->err, w->errlen, "%s: a symbolic link; a bundle holds regular files only "
               "(copy the target instead)", full);
      rc = -1;
    } else if (S_ISDIR(st.st_mode)) {
      rc = walk(w, full, sub, depth + 1);
    } else if (S_ISREG(st.st_mode)) {
      rc = add_file(w, full, sub);
    } else {
      snprintf(w->err, w->errlen, "%s: a special file; a bundle holds regular files only", full);
      rc = -1;
    }
  }
  closedir(d);
  return rc;
}

int ub_bundle_from_dir(const char *dir, ub_bundle **out, char *err, size_t errlen) {
  ub_bundle *b = ub_bundle_new();
  if (!b) return snprintf(err, errlen, "out of memory"), -1;
  walk_state w = {b, 0, err, errlen};
  if (walk(&w, dir, "", 0) != 0) {
    ub_bundle_free(b);
    return -1;
  }
  if (ub_bundle_find(b, UB_BUNDLE_MANIFEST) || ub_bundle_find(b, UB_BUNDLE_SIGNATURE)) {
    snprintf(err, errlen, "%s: holds a %s or %s of its own; remove it (the bundle's are made "
             "by build and sign)", dir, UB_BUNDLE_MANIFEST, UB_BUNDLE_SIGNATURE);
    ub_bundle_free(b);
    return -1;
  }
  if (b->nfiles == 0) {
    snprintf(err, errlen, "%s: no file to bundle", dir);
    ub_bundle_free(b);
    return -1;
  }
  ub_bundle_sort(b);
  if (ub_bundle_make_manifest(b, err, errlen) != 0) {
    ub_bundle_free(b);
    return -1;
  }
  *out = b;
  return 0;
}

/* ---- reading an archive ---- */

static const char *entry_kind(mode_t type) {
  switch (type) {
    case AE_IFLNK: return "a symbolic link";
    case AE_IFDIR: return "a folder";
    case AE_IFREG: return "a file";
    default: return "a special file";
  }
}

static int read_entry(struct archive *a, struct archive_entry *e, ub_bundle *b, size_t *total,
                      const char *path, char *err, size_t errlen) {
  const char *name = archive_entry_pathname(e);
  if (!name) return snprintf(err, errlen, "%s: an entry without a name", path), -1;
  if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e)) {
    snprintf(err, errlen, "%s: entry '%.200s' is %s; a bundle holds regular files only", path,
             name, archive_entry_hardlink(e) ? "a hard link" : entry_kind(archive_entry_filetype(e)));
    return -1;
  }
  if (!ub_bundle_safe_path(name)) {
    snprintf(err, errlen, "%s: entry '%.200s' has an unsafe path (absolute, '..', or "
             "unprintable): refused", path, name);
    return -1;
  }
  la_int64_t size = archive_entry_size(e);
  if (size < 0 || (size_t)size > UB_BUNDLE_MAX_FILE || *total + (size_t)size > UB_BUNDLE_MAX_TOTAL) {
    snprintf(err, errlen, "%s: entry '%s' is too large (at most %zu MiB a file, %zu MiB in all)",
             path, name, UB_BUNDLE_MAX_FILE >> 20, UB_BUNDLE_MAX_TOTAL >> 20);
    return -1;
  }
  unsigned char *data = malloc((size_t)size + 1);
  if (!data) return snprintf(err, errlen, "out of memory"), -1;
  la_ssize_t got = size ? archive_read_data(a, data, (size_t)size) : 0;
  char extra;
  if (got != size || archive_read_data(a, &extra, 1) != 0) {
    free(data);
    snprintf(err, errlen, "%s: entry '%s' cannot be read whole: %s", path, name,
             archive_error_string(a) ? archive_error_string(a) : "size mismatch");
    return -1;
  }
  data[size] = '\0';
  *total += (size_t)size;
  char **slot = strcmp(name, UB_BUNDLE_MANIFEST) == 0 ? &b->manifest
              : strcmp(name, UB_BUNDLE_SIGNATURE) == 0 ? &b->signature : NULL;
  if (slot) {
    if (*slot) {
      free(data);
      return snprintf(err, errlen, "%s: entry '%s' appears twice: refused", path, name), -1;
    }
    *slot = (char *)data;
    if (slot == &b->manifest) b->manifest_len = (size_t)size;
    else b->signature_len = (size_t)size;
    return 0;
  }
  if (ub_bundle_add(b, name, data, (size_t)size) != 0) {
    free(data);
    snprintf(err, errlen, "%s: entry '%s' appears twice (or more than %d files): refused", path,
             name, UB_BUNDLE_MAX_FILES);
    return -1;
  }
  return 0;
}

int ub_bundle_read(const char *path, ub_bundle **out, char *err, size_t errlen) {
  struct archive *a = archive_read_new();
  ub_bundle *b = ub_bundle_new();
  int rc = -1, fd = -1;
  if (!a || !b) {
    snprintf(err, errlen, "out of memory");
    goto done;
  }
  archive_read_support_filter_gzip(a);
  archive_read_support_format_tar(a);
  if ((fd = ub_open_regular(path, err, errlen)) < 0) goto done; /* a FIFO would never end */
  if (archive_read_open_fd(a, fd, 65536) != ARCHIVE_OK) {
    snprintf(err, errlen, "%s: cannot open the bundle: %s", path, archive_error_string(a));
    goto done;
  }
  size_t total = 0;
  struct archive_entry *e;
  int r;
  while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK)
    if (read_entry(a, e, b, &total, path, err, errlen) != 0) goto done;
  if (r != ARCHIVE_EOF) {
    snprintf(err, errlen, "%s: not a valid tar.gz bundle: %s", path, archive_error_string(a));
    goto done;
  }
  if (archive_filter_code(a, 0) != ARCHIVE_FILTER_GZIP) {
    snprintf(err, errlen, "%s: not gzip-compressed (a bundle is a .tar.gz)", path);
    goto done;
  }
  ub_bundle_sort(b);
  *out = b;
  b = NULL;
  rc = 0;
done:
  if (a) archive_read_free(a);
  if (fd >= 0) close(fd);
  ub_bundle_free(b);
  if (rc != 0) ub_text_sanitize(err); /* entry names are the archive's: one safe line */
  return rc;
}

/* ---- writing an archive ---- */

static int write_entry(struct archive *a, const char *name, const void *data, size_t len) {
  struct archive_entry *e = archive_entry_new();
  if (!e) return -1;
  archive_entry_set_pathname(e, name);
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  archive_entry_set_size(e, (la_int64_t)len);
  archive_entry_set_mtime(e, 0, 0); /* the same files make the same archive */
  int rc = archive_write_header(a, e) == ARCHIVE_OK &&
           (len == 0 || archive_write_data(a, data, len) == (la_ssize_t)len) ? 0 : -1;
  archive_entry_free(e);
  return rc;
}

int ub_bundle_write(const ub_bundle *b, const char *path, char *err, size_t errlen) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  struct archive *a = archive_write_new();
  if (!a) return snprintf(err, errlen, "out of memory"), -1;
  int rc = archive_write_add_filter_gzip(a) == ARCHIVE_OK &&
           archive_write_set_format_pax_restricted(a) == ARCHIVE_OK &&
           archive_write_open_filename(a, tmp) == ARCHIVE_OK ? 0 : -1;
  if (rc == 0 && b->manifest) rc = write_entry(a, UB_BUNDLE_MANIFEST, b->manifest, b->manifest_len);
  if (rc == 0 && b->signature) rc = write_entry(a, UB_BUNDLE_SIGNATURE, b->signature, b->signature_len);
  for (size_t i = 0; rc == 0 && i < b->nfiles; i++)
    rc = write_entry(a, b->files[i].path, b->files[i].data, b->files[i].len);
  if (rc != 0) snprintf(err, errlen, "%s: cannot write the bundle: %s", path,
                        archive_error_string(a) ? archive_error_string(a) : "error");
  if (archive_write_close(a) != ARCHIVE_OK && rc == 0) {
    snprintf(err, errlen, "%s: cannot write the bundle: %s", path, archive_error_string(a));
    rc = -1;
  }
  archive_write_free(a);
  if (rc == 0 && rename(tmp, path) != 0) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    rc = -1;
  }
  if (rc != 0) unlink(tmp);
  return rc;
}

/* ---- extracting a verified bundle ---- */

static int make_parents(const char *root, const char *rel) {
  char path[4096];
  for (const char *s = strchr(rel, '/'); s; s = strchr(s + 1, '/')) {
    snprintf(path, sizeof path, "%s/%.*s", root, (int)(s - rel), rel);
    if (mkdir(path, 0700) != 0 && errno != EEXIST) return -1;
  }
  return 0;
}

int ub_bundle_extract(const ub_bundle *b, char *dir_template, char *err, size_t errlen) {
  if (!mkdtemp(dir_template)) {
    snprintf(err, errlen, "%s: cannot make a private folder: %s", dir_template, strerror(errno));
    return -1;
  }
  for (size_t i = 0; i < b->nfiles; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir_template, b->files[i].path);
    int fd = make_parents(dir_template, b->files[i].path) == 0
                 ? open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600) : -1;
    int bad = fd < 0 || write(fd, b->files[i].data, b->files[i].len) != (ssize_t)b->files[i].len;
    if (fd >= 0) bad |= close(fd) != 0;
    if (bad) {
      snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
      ub_bundle_remove_dir(b, dir_template);
      return -1;
    }
  }
  return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st; (void)flag; (void)ftw;
  remove(path);
  return 0;
}

void ub_bundle_remove_dir(const ub_bundle *b, const char *dir) {
  (void)b;
  nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}
