/* isolate.h: runs work in a child process with a hard wall-clock
 * backstop, so that a defect reachable from a policy (a crash in the Lua VM
 * or a C library, a loop the in-process limits missed) can never kill or
 * hang the host process (docs/reference/sandbox.md: "keep a process-level backstop"). */
#ifndef UB_ISOLATE_H
#define UB_ISOLATE_H

/* The work: returns the exit status the command should have. It writes
 * its own stdout/stderr, preferably in one piece at the end. */
typedef int (*ub_isolated_fn)(void *ud);

/* Runs fn in a forked child. Returns the child's exit status, or
 * UB_EXIT_ERROR (3) with an explanation on stderr when the child died from
 * a signal or outlived hard_seconds (then it is killed). With isolation
 * disabled (UB_NO_ISOLATE=1) fn runs in this process. */
int ub_isolate_run(const char *what, ub_isolated_fn fn, void *ud, double hard_seconds);

#endif
