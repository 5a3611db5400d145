/* serve_frame.h: length-prefixed frames between the server and its gate
 * workers: a 4-byte big-endian length, then that many bytes of JSON. */
#ifndef UB_SERVE_FRAME_H
#define UB_SERVE_FRAME_H

#include <stddef.h>
#include "util/buf.h"

#define SERVE_FRAME_MAX ((size_t)64 << 20)

typedef struct serve_frame_reader {
  ub_buf pending;              /* bytes read past the last frame */
} serve_frame_reader;

void serve_frame_reader_init(serve_frame_reader *r);
void serve_frame_reader_free(serve_frame_reader *r);
/* Writes one frame (blocking). 0 or -1. */
int serve_frame_write(int fd, const char *data, size_t len);
/* Reads one frame into out (NUL-terminated). 1 got one, 0 the deadline
 * (monotonic seconds; <= 0 none) passed, -1 EOF or error. */
int serve_frame_read(int fd, serve_frame_reader *r, ub_buf *out, double deadline);

#endif
