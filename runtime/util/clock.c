/* clock.c: the monotonic and the wall clock (clock.h). */
#include "util/clock.h"

#include <time.h>

static struct timespec now(clockid_t id) {
  struct timespec ts;
  if (clock_gettime(id, &ts) != 0) ts.tv_sec = 0, ts.tv_nsec = 0; /* cannot fail for these ids */
  return ts;
}

double ub_clock_seconds(void) {
  struct timespec ts = now(CLOCK_MONOTONIC);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t ub_clock_ms(void) {
  struct timespec ts = now(CLOCK_MONOTONIC);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ub_clock_wall_ms(void) {
  struct timespec ts = now(CLOCK_REALTIME);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ub_clock_wall_us(void) {
  struct timespec ts = now(CLOCK_REALTIME);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
