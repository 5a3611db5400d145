/* output.h: how commands deliver what they write. A report goes to a file
 * through a temporary file and a rename (a full disk never leaves half a
 * report), or to stdout with every write checked; a closed or full stdout
 * is a one-line error and exit 3, never a silent success. */
#ifndef UB_OUTPUT_H
#define UB_OUTPUT_H

#include <stddef.h>

/* Writes data to path ("-" or NULL: stdout). Returns 0, or -1 with errno
 * set (nothing printed). A file is replaced only when all of it was
 * written: a temporary file in the same folder, then rename. A path that
 * exists and is not a regular file (FIFO, device) is written in place; a
 * directory is refused (EISDIR). */
int ub_write_output(const char *path, const char *data, size_t len);

/* Flushes stdout at the end of a command: returns rc, or UB_EXIT_ERROR
 * with "unbreakable CMD: cannot write to standard output: REASON" on
 * stderr when anything written to stdout was lost. */
int ub_finish_stdout(const char *cmd, int rc);

#endif
