/* test_output.c: how commands deliver reports (cli/output.c). A regular
 * file is replaced whole through a temporary file and a rename; anything
 * else that already exists at the path (a FIFO, /dev/null, a terminal) is
 * written in place and never replaced by a rename, which as root would
 * have swapped /dev/null for a regular file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/output.h"

static char dir[64];

static int make_dir(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/ub-output-XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static void test_fifo_is_written_in_place(void **state) {
  (void)state;
  char path[128];
  snprintf(path, sizeof path, "%s/report.fifo", dir);
  assert_int_equal(mkfifo(path, 0600), 0);
  /* A reader opened first (non-blocking) lets the writer open at once. */
  int rd = open(path, O_RDONLY | O_NONBLOCK);
  assert_true(rd >= 0);
  assert_int_equal(ub_write_output(path, "report\n", 7), 0);
  struct stat st;
  assert_int_equal(lstat(path, &st), 0);
  assert_true(S_ISFIFO(st.st_mode));
  char got[16] = {0};
  assert_int_equal(read(rd, got, sizeof got - 1), 7);
  assert_string_equal(got, "report\n");
  close(rd);
}

static void test_regular_file_is_replaced_whole(void **state) {
  (void)state;
  char path[128];
  snprintf(path, sizeof path, "%s/report.txt", dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("an older and longer report\n", f);
  fclose(f);
  assert_int_equal(ub_write_output(path, "new\n", 4), 0);
  char got[64] = {0};
  f = fopen(path, "r");
  assert_non_null(f);
  assert_int_equal(fread(got, 1, sizeof got - 1, f), 4);
  fclose(f);
  assert_string_equal(got, "new\n");
}

static void test_directory_is_refused(void **state) {
  (void)state;
  errno = 0;
  assert_int_equal(ub_write_output(dir, "x", 1), -1);
  assert_int_equal(errno, EISDIR);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fifo_is_written_in_place),
      cmocka_unit_test(test_regular_file_is_replaced_whole),
      cmocka_unit_test(test_directory_is_refused),
  };
  return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
