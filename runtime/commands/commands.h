/* commands.h: entry points of the CLI commands (one file each).
 *
 * commands/ owns the `unbreakable` commands: each cmd_*.c turns its
 * arguments (through cli/options.h) into a call of the room that does the
 * work and maps the outcome to an exit status. It may call every other
 * folder; no folder calls it except main.c and serve's worker start-up. */
#ifndef UB_COMMANDS_H
#define UB_COMMANDS_H

int ub_cmd_eval(int argc, char **argv);
int ub_cmd_gate(int argc, char **argv);
int ub_cmd_history(int argc, char **argv);
int ub_cmd_invalidate(int argc, char **argv);
int ub_cmd_report(int argc, char **argv);
int ub_cmd_ledger(int argc, char **argv);   /* ledger export (cmd_ledger.c) */
int ub_cmd_replay(int argc, char **argv);
int ub_cmd_deploy_event(int argc, char **argv);
int ub_cmd_dt(int argc, char **argv);
int ub_cmd_serve(int argc, char **argv);
int ub_cmd_test(int argc, char **argv);
int ub_cmd_bundle(int argc, char **argv);
int ub_cmd_check(int argc, char **argv);
int ub_cmd_selfheal(int argc, char **argv);
int ub_cmd_init(int argc, char **argv);
/* history --kind selfheal (cmd_selfheal.c) */
int ub_selfheal_history(const char *ledger_path, const char *format, int limit);

#endif
