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
 * caller frees. NULL with err naming the file and the problem. */
char *ub_read_all(const char *path, size_t max, size_t *len, char *err, size_t errlen);

#endif
