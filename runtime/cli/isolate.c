/* isolate.c: fork-based backstop for policy evaluations. */
#include "cli/isolate.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "util/clock.h"

/* Waits until the child closes its end of the pipe (it exited) or the
 * deadline passes. Returns 1 when the child is done, 0 on timeout. */
static int wait_for_eof(int fd, double deadline) {
  char buf[64];
  for (;;) {
    double left = deadline - ub_clock_seconds();
    if (left <= 0) return 0;
    struct pollfd p = {fd, POLLIN, 0};
    int rc = poll(&p, 1, (int)(left * 1000) + 1);
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return rc == 0 ? 0 : 1;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return 1;
  }
}

static int report_child(const char *what, int status, int timed_out, double hard_seconds) {
  if (timed_out) {
    fprintf(stderr, "unbreakable: %s: stopped by the host backstop after %g s "
                    "(the in-process limits did not end it)\n", what, hard_seconds);
    return UB_EXIT_ERROR;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) {
    fprintf(stderr, "unbreakable: %s: the evaluation process died from signal %d (%s); "
                    "the host is unharmed. This is a defect of the runtime: please "
                    "report it with the policy.\n",
            what, WTERMSIG(status), strsignal(WTERMSIG(status)));
  }
  return UB_EXIT_ERROR;
}

/* Waits for the child and returns its status; -1 when it cannot be had
 * (never taken as a success). */
static int reap(pid_t pid, int *status) {
  pid_t got;
  while ((got = waitpid(pid, status, 0)) < 0 && errno == EINTR) {}
  return got == pid ? 0 : -1;
}

static int run_in_child(const char *what, ub_isolated_fn fn, void *ud, double hard_seconds) {
  int fds[2];
  if (pipe(fds) != 0) {
    fprintf(stderr, "unbreakable: %s: cannot create a pipe: %s\n", what, strerror(errno));
    return UB_EXIT_ERROR;
  }
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "unbreakable: %s: cannot fork: %s\n", what, strerror(errno));
    close(fds[0]);
    close(fds[1]);
    return UB_EXIT_ERROR;
  }
  if (pid == 0) {
    close(fds[0]);
    int rc = ub_finish_stdout(what, fn(ud));
    fflush(stderr);
    _exit(rc);
  }
  close(fds[1]);
  int done = wait_for_eof(fds[0], ub_clock_seconds() + hard_seconds);
  close(fds[0]);
  if (!done) kill(pid, SIGKILL);
  int status = 0;
  if (reap(pid, &status) != 0) {
    fprintf(stderr, "unbreakable: %s: the exit status of the evaluation process is unknown "
                    "(waitpid: %s)\n", what, strerror(errno));
    return UB_EXIT_ERROR;
  }
  return report_child(what, status, !done, hard_seconds);
}

/* With SIGCHLD ignored (a disposition inherited across exec) the kernel
 * reaps the child itself and its exit status is lost: restore the default
 * for the duration of the run. */
int ub_isolate_run(const char *what, ub_isolated_fn fn, void *ud, double hard_seconds) {
  const char *off = getenv("UB_NO_ISOLATE");
  if (off && strcmp(off, "1") == 0) return fn(ud);
  struct sigaction dfl, old;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  if (sigaction(SIGCHLD, &dfl, &old) != 0) {
    fprintf(stderr, "unbreakable: %s: cannot reset SIGCHLD: %s\n", what, strerror(errno));
    return UB_EXIT_ERROR;
  }
  int rc = run_in_child(what, fn, ud, hard_seconds);
  sigaction(SIGCHLD, &old, NULL);
  return rc;
}
