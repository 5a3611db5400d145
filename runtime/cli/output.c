/* output.c: checked delivery of reports to files and stdout (output.h).
 * SIGPIPE is ignored by main(), so a closed pipe is EPIPE here, not a
 * silent death of the process. */
#include "cli/output.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

static int write_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      return -1;
    }
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Straight to file descriptor 1 after what stdio holds, so that an error
 * is seen here and not at some later flush. */
static int write_stdout(const char *data, size_t len) {
  if (fflush(stdout) != 0) return -1;
  return write_all(STDOUT_FILENO, data, len);
}

/* The temporary file is new (mkstemp), so a symlink planted at a
 * guessable name is never written through; it gets the mode fopen would. */
static int write_file(const char *path, const char *data, size_t len) {
  size_t n = strlen(path) + 8;
  char *tmp = malloc(n);
  if (!tmp) return -1;
  snprintf(tmp, n, "%s.XXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    free(tmp);
    return -1;
  }
  mode_t mask = umask(0);
  umask(mask);
  int ok = fchmod(fd, 0666 & ~mask) == 0 && write_all(fd, data, len) == 0 && fsync(fd) == 0;
  int saved = errno;
  if (close(fd) != 0 && ok) { ok = 0; saved = errno; }
  if (ok && rename(tmp, path) != 0) { ok = 0; saved = errno; }
  if (!ok) remove(tmp);
  free(tmp);
  errno = saved;
  return ok ? 0 : -1;
}

/* Something that exists and is not a regular file (a FIFO, /dev/null, a
 * terminal) is written in place: a rename would replace it, and as root
 * that would swap /dev/null for a regular file. */
static int write_in_place(const char *path, const char *data, size_t len) {
  int fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return -1;
  int ok = write_all(fd, data, len) == 0;
  int saved = errno;
  if (close(fd) != 0 && ok) { ok = 0; saved = errno; }
  errno = saved;
  return ok ? 0 : -1;
}

int ub_write_output(const char *path, const char *data, size_t len) {
  if (!data) data = "";
  if (!path || strcmp(path, "-") == 0) return write_stdout(data, len);
  struct stat st;
  if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
    if (S_ISDIR(st.st_mode)) {
      errno = EISDIR;
      return -1;
    }
    return write_in_place(path, data, len);
  }
  return write_file(path, data, len);
}

int ub_finish_stdout(const char *cmd, int rc) {
  errno = 0;
  int bad = fflush(stdout) != 0 || ferror(stdout);
  if (!bad) return rc;
  int saved = errno;
  fprintf(stderr, "unbreakable %s: cannot write to standard output: %s\n", cmd,
          saved ? strerror(saved) : "write error");
  clearerr(stdout);
  return UB_EXIT_ERROR;
}
