/* test_isolate.c: the fork backstop hands back the child's exit status,
 * whatever SIGCHLD disposition the process inherited (a CI runner may start
 * us with SIGCHLD ignored: then the kernel reaps the child itself and an
 * unchecked waitpid left the status at 0, a pass). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/cli.h"
#include "cli/isolate.h"

static int exit_with(void *ud) { return *(int *)ud; }

static void test_status_passes_through(void **state) {
  (void)state;
  int codes[] = {UB_EXIT_OK, UB_EXIT_FAIL, UB_EXIT_ERROR, UB_EXIT_INCONCLUSIVE};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
    assert_int_equal(ub_isolate_run("test", exit_with, &codes[i], 30), codes[i]);
}

static void test_status_survives_ignored_sigchld(void **state) {
  (void)state;
  struct sigaction ign = {0}, old;
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  assert_int_equal(sigaction(SIGCHLD, &ign, &old), 0);
  int fail = UB_EXIT_FAIL, error = UB_EXIT_ERROR;
  int rc_fail = ub_isolate_run("test", exit_with, &fail, 30);
  int rc_error = ub_isolate_run("test", exit_with, &error, 30);
  struct sigaction now;
  sigaction(SIGCHLD, NULL, &now);
  sigaction(SIGCHLD, &old, NULL);
  assert_int_equal(rc_fail, UB_EXIT_FAIL);
  assert_int_equal(rc_error, UB_EXIT_ERROR);
  assert_true(now.sa_handler == SIG_IGN); /* the caller's disposition is restored */
}

int main(void) {
  unsetenv("UB_NO_ISOLATE");
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_status_passes_through),
    cmocka_unit_test(test_status_survives_ignored_sigchld),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
