/* serve_frame.c: length-prefixed frames (serve_frame.h). */
#include "serve/serve_frame.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"

void serve_frame_reader_init(serve_frame_reader *r) { ub_buf_init(&r->pending); }
void serve_frame_reader_free(serve_frame_reader *r) { ub_buf_free(&r->pending); }

static int write_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

int serve_frame_write(int fd, const char *data, size_t len) {
  unsigned char head[4] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16),
                           (unsigned char)(len >> 8), (unsigned char)len};
  return write_all(fd, head, 4) == 0 && write_all(fd, data, len) == 0 ? 0 : -1;
}

/* A whole frame at the front of pending: moves it to out. */
static int take(serve_frame_reader *r, ub_buf *out) {
  if (r->pending.len < 4) return 0;
  const unsigned char *h = (const unsigned char *)r->pending.data;
  size_t len = ((size_t)h[0] << 24) | ((size_t)h[1] << 16) | ((size_t)h[2] << 8) | h[3];
  if (len > SERVE_FRAME_MAX) return -1;
  if (r->pending.len < 4 + len) return 0;
  ub_buf_reset(out);
  if (ub_buf_append(out, r->pending.data + 4, len) != 0) return -1;
  size_t rest = r->pending.len - 4 - len;
  memmove(r->pending.data, r->pending.data + 4 + len, rest);
  r->pending.len = rest;
  r->pending.data[rest] = '\0';
  return 1;
}

int serve_frame_read(int fd, serve_frame_reader *r, ub_buf *out, double deadline) {
  char buf[65536];
  for (;;) {
    int got = take(r, out);
    if (got != 0) return got;
    int wait_ms = -1;
    if (deadline > 0) {
      double left = deadline - ub_clock_seconds();
      if (left <= 0) return 0;
      wait_ms = (int)(left * 1000) + 1;
    }
    struct pollfd p = {fd, POLLIN, 0};
    int rc = poll(&p, 1, wait_ms);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return -1;
    if (rc == 0) continue;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    if (ub_buf_append(&r->pending, buf, (size_t)n) != 0) return -1;
  }
}
