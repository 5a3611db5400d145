/* Folder util/: leaf code every other folder may use and that calls no
 * other folder: byte buffers (buf), the clocks (clock), digests (digest),
 * the JSON reader and Lua value builder (json), terminal-safe text and
 * XML escaping (text), Lua table helpers (lua_table), the series and
 * statistics kernels (series, stats). */
/* buf.h: growable byte buffer used by the encoders and the HTTP client. */
#ifndef UB_BUF_H
#define UB_BUF_H

#include <stddef.h>

typedef struct ub_buf {
  char *data;      /* always NUL-terminated when non-NULL */
  size_t len, cap;
  int failed;      /* an allocation failed; contents are incomplete */
} ub_buf;

void ub_buf_init(ub_buf *b);
void ub_buf_free(ub_buf *b);
void ub_buf_reset(ub_buf *b);
int ub_buf_reserve(ub_buf *b, size_t extra);
int ub_buf_append(ub_buf *b, const void *data, size_t len);
int ub_buf_puts(ub_buf *b, const char *s);
int ub_buf_putc(ub_buf *b, char c);
int ub_buf_printf(ub_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Takes the data out of the buffer (caller frees); the buffer is reset. */
char *ub_buf_steal(ub_buf *b, size_t *len);

/* Reads a whole file ("-" = stdin) of at most max bytes; NUL-terminated,
 * caller frees. NULL with err naming the file and the problem. Anything
 * but a regular file (FIFO, device, directory, socket) is refused at once. */
char *ub_read_all(const char *path, size_t max, size_t *len, char *err, size_t errlen);

/* ub_read_all for text documents (JSON, YAML): also refuses text that is
 * not valid UTF-8, naming the file, line and column of the first bad byte. */
char *ub_read_text(const char *path, size_t max, size_t *len, char *err, size_t errlen);

/* 0 when path is a regular file, else -1 with err (errno ENOENT when it
 * does not exist). Only stat: for a file another part of the process may
 * hold open with POSIX locks (a SQLite database), whose every close()
 * releases all of the process's locks on it. */
int ub_check_regular(const char *path, char *err, size_t errlen);

/* Opens path for reading only if it is a regular file, without blocking on
 * a FIFO or device (open O_NONBLOCK, then fstat). The fd, or -1 with err. */
int ub_open_regular(const char *path, char *err, size_t errlen);

/* 0 when path ("-" = stdout) may be written as a report: absent or a
 * regular file; -1 with err when it is a directory, FIFO, device... */
int ub_check_output_path(const char *path, char *err, size_t errlen);

/* Offset of the first byte of text that is not valid UTF-8, len if none. */
size_t ub_utf8_invalid_at(const char *text, size_t len);

/* 1-based line and column (in characters) of a byte offset of text. */
void ub_text_position(const char *text, size_t len, size_t offset, int *line, int *column);

#endif
