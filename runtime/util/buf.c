/* buf.c: growable byte buffer, and reading a whole file into one: only
 * regular files (a FIFO, device or directory is refused at once, never
 * waited on), text files checked to be UTF-8. */
#include "util/buf.h"
#include "util/text.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

void ub_buf_init(ub_buf *b) { memset(b, 0, sizeof *b); }

void ub_buf_free(ub_buf *b) {
  free(b->data);
  ub_buf_init(b);
}

void ub_buf_reset(ub_buf *b) {
  b->len = 0;
  b->failed = 0;
  if (b->data) b->data[0] = '\0';
}

int ub_buf_reserve(ub_buf *b, size_t extra) {
  if (b->failed) return -1;
  if (extra > ((size_t)-1) / 2 - b->len) { b->failed = 1; return -1; }
  size_t need = b->len + extra + 1;
  if (need <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need) cap *= 2;
  char *d = realloc(b->data, cap);
  if (!d) { b->failed = 1; return -1; }
  d[b->len] = '\0'; /* a fresh buffer is the empty string at once */
  b->data = d;
  b->cap = cap;
  return 0;
}

int ub_buf_append(ub_buf *b, const void *data, size_t len) {
  if (ub_buf_reserve(b, len) != 0) return -1;
  if (len) memcpy(b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = '\0';
  return 0;
}

int ub_buf_puts(ub_buf *b, const char *s) { return ub_buf_append(b, s, strlen(s)); }

int ub_buf_putc(ub_buf *b, char c) { return ub_buf_append(b, &c, 1); }

int ub_buf_printf(ub_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || ub_buf_reserve(b, (size_t)n) != 0) return -1;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return 0;
}

char *ub_buf_steal(ub_buf *b, size_t *len) {
  if (ub_buf_reserve(b, 0) != 0) return NULL;
  char *d = b->data;
  if (len) *len = b->len;
  ub_buf_init(b);
  return d;
}

/* What a file that is not a regular one is, for messages. */
static const char *file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

int ub_check_regular(const char *path, char *err, size_t errlen) {
  struct stat st;
  if (stat(path, &st) != 0) {
    int saved = errno;
    snprintf(err, errlen, "cannot open %s: %s", path, strerror(saved));
    errno = saved;
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    snprintf(err, errlen, "%s is %s, not a regular file: give the path of a file", path,
             file_kind(st.st_mode));
    errno = EINVAL;
    return -1;
  }
  return 0;
}

int ub_open_regular(const char *path, char *err, size_t errlen) {
  /* O_NONBLOCK: opening a FIFO without a writer must not wait for one */
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    int saved = errno;
    snprintf(err, errlen, "cannot open %s: %s", path, strerror(saved));
    errno = saved;   /* callers tell a missing file (ENOENT) from others */
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
    close(fd);
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    snprintf(err, errlen, "%s is %s, not a regular file: give the path of a file", path,
             file_kind(st.st_mode));
    close(fd);
    errno = EINVAL;
    return -1;
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

int ub_check_output_path(const char *path, char *err, size_t errlen) {
  struct stat st;
  if (strcmp(path, "-") == 0 || stat(path, &st) != 0 || S_ISREG(st.st_mode)) return 0;
  snprintf(err, errlen, "%s is %s: give the name of a file to write", path, file_kind(st.st_mode));
  return -1;
}

char *ub_read_all(const char *path, size_t max, size_t *len, char *err, size_t errlen) {
  int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : ub_open_regular(path, err, errlen);
  if (fd < 0) return NULL;
  ub_buf b;
  ub_buf_init(&b);
  char chunk[65536];
  ssize_t n;
  int too_big = 0;
  while ((n = read(fd, chunk, sizeof chunk)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (b.len + (size_t)n > max) { too_big = 1; break; }
    ub_buf_append(&b, chunk, (size_t)n);
  }
  int bad = n < 0 || b.failed;
  int saved = errno;
  if (fd != STDIN_FILENO) close(fd);
  if (too_big || bad) {
    if (too_big) snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
    else if (n < 0) snprintf(err, errlen, "cannot read %s: %s", path, strerror(saved));
    else snprintf(err, errlen, "out of memory reading %s", path);
    ub_buf_free(&b);
    return NULL;
  }
  if (ub_buf_reserve(&b, 0) != 0) {
    snprintf(err, errlen, "out of memory reading %s", path);
    return NULL;
  }
  return ub_buf_steal(&b, len);
}

/* ---- text encoding ------------------------------------------------------ */

size_t ub_utf8_invalid_at(const char *text, size_t len) {
  const unsigned char *p = (const unsigned char *)text;
  size_t at = 0;
  while (at < len) {
    unsigned cp;
    size_t n = p[at] < 0x80 ? 1 : ub_utf8_decode(p + at, len - at, &cp);
    if (!n) return at;
    at += n;
  }
  return len;
}

void ub_text_position(const char *text, size_t len, size_t offset, int *line, int *column) {
  int l = 1, c = 1;
  for (size_t i = 0; i < offset && i < len; i++) {
    if (text[i] == '\n') { l++; c = 1; }
    else if (((unsigned char)text[i] & 0xC0) != 0x80) c++;   /* count characters, not bytes */
  }
  *line = l;
  *column = c;
}

char *ub_read_text(const char *path, size_t max, size_t *len, char *err, size_t errlen) {
  size_t n;
  char *text = ub_read_all(path, max, &n, err, errlen);
  if (!text) return NULL;
  size_t bad = ub_utf8_invalid_at(text, n);
  if (bad < n) {
    int line, column;
    ub_text_position(text, n, bad, &line, &column);
    snprintf(err, errlen, "%s: line %d, column %d: byte 0x%02X is not valid UTF-8 (save the file "
             "as UTF-8; Latin-1 and other encodings are not accepted)", path, line, column,
             (unsigned char)text[bad]);
    free(text);
    return NULL;
  }
  *len = n;
  return text;
}
