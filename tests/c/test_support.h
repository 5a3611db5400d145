/* test_support.h: what every cmocka test may need from its environment,
 * written once: reading a fixture of tests/fixtures (ctest sets
 * UB_FIXTURES; run by hand, the path is found from this file's place), and
 * the build's time scale (UB_TIME_SCALE: 1 in a normal build, larger under
 * the sanitizers), by which every deadline a test sets is multiplied. */
#ifndef UB_TEST_SUPPORT_H
#define UB_TEST_SUPPORT_H

#include <stdio.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define UB_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UB_TEST_ASAN 1
#endif
#endif
#ifdef UB_TEST_ASAN
/* libasan's allocator statistics (gcc ships no header declaring it) */
size_t __sanitizer_get_current_allocated_bytes(void);
#else
#include <malloc.h>
#endif

#include "util/buf.h"

/* The folder of the fixtures: $UB_FIXTURES, else tests/fixtures beside
 * this header (a test run by hand from anywhere still finds them). */
static inline const char *test_fixtures_dir(void) {
  const char *dir = getenv("UB_FIXTURES");
  return dir && *dir ? dir : UB_TEST_SOURCE_DIR "/fixtures";
}

/* Reads tests/fixtures/<rel> (e.g. "dynatrace/x.json") whole, NUL-ended;
 * fails the test, naming the path, when it cannot. *len may be NULL. */
static inline char *read_fixture(const char *rel, size_t *len) {
  char path[1024], err[256];
  size_t n = 0;
  snprintf(path, sizeof path, "%s/%s", test_fixtures_dir(), rel);
  char *data = ub_read_all(path, (size_t)64 << 20, &n, err, sizeof err);
  if (!data) fail_msg("fixture %s: %s", path, err);
  if (len) *len = n;
  return data;
}

/* Reads tests/fixtures/<folder>/<rel> (see read_fixture). */
static inline char *read_fixture_in(const char *folder, const char *rel, size_t *len) {
  char joined[512];
  snprintf(joined, sizeof joined, "%s/%s", folder, rel);
  return read_fixture(joined, len);
}

/* UB_TIME_SCALE as a factor >= 1 (unset or invalid: 1). */
static inline double test_time_scale(void) {
  const char *text = getenv("UB_TIME_SCALE");
  char *end = NULL;
  double scale = text ? strtod(text, &end) : 1.0;
  if (!text || end == text || *end || !(scale >= 1.0) || scale > 1000.0) return 1.0;
  return scale;
}

/* A deadline of ms milliseconds in a normal build, scaled for this one. */
static inline long test_scaled_ms(long ms) {
  return (long)((double)ms * test_time_scale());
}

/* Bytes of C heap in use now, in either build: ASan's allocator replaces
 * glibc's (whose mallinfo2 then reads 0), so under ASan ask ASan. */
static inline size_t test_heap_in_use(void) {
#ifdef UB_TEST_ASAN
  return __sanitizer_get_current_allocated_bytes();
#else
  struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
#endif
}

#endif
