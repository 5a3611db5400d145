/* Folder cli/: the command line. main() dispatches to the `cmd_*`
 * commands; each parses its options, reads its input files, runs its work
 * behind the process backstop (isolate.c: a forked child with a hard
 * deadline) and maps the outcome to the exit codes below. It owns what the
 * user sees on stdout and stderr. May call every other folder; no folder
 * calls cli/ (gate/ still does, for the exit codes, the usage error and
 * the stdlib and policies folders: see docs/architecture.md). */
/* cli.h: shared pieces of the command-line interface: the command table,
 * exit codes and small parsing helpers. */
#ifndef UB_CLI_H
#define UB_CLI_H

#include <stddef.h>

#include "util/buf.h"  /* ub_read_all */

/* Exit statuses shared by every command. */
enum {
  UB_EXIT_OK = 0,
  UB_EXIT_FAIL = 1,          /* gate: the release failed */
  UB_EXIT_USAGE = 2,         /* usage error or invalid input file */
  UB_EXIT_ERROR = 3,         /* evaluation error (data source, policy) */
  UB_EXIT_INCONCLUSIVE = 4   /* gate: not enough data to decide */
};

typedef int (*ub_command_fn)(int argc, char **argv);

typedef struct ub_command {
  const char *name;
  ub_command_fn run;
  const char *summary;
} ub_command;

/* Prints "unbreakable: <message>" to stderr and returns UB_EXIT_USAGE. */
int ub_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* 0 when path (an --output, --html... value) may be written: absent, a
 * regular file or "-"; else a usage error naming option (exit 2). */
int ub_check_output(const char *cmd, const char *option, const char *path);

/* The stdlib directory: $UB_STDLIB, else the source tree, else the
 * installed share directory. Same for the shipped policies. */
const char *ub_stdlib_dir(void);
const char *ub_policies_dir(void);
/* The templates of `unbreakable init`: $UB_TEMPLATES, else the source
 * tree's templates/init, else the installed share directory. */
const char *ub_templates_dir(void);

/* What a policy printed, on stderr, one "[policy] ..." line each, made
 * safe for terminals and CI logs (util/text.h). Text a policy, a ledger
 * row or Dynatrace wrote is printed through util/text.h too. */
void ub_print_policy_log(const char *log, size_t len);

#endif
