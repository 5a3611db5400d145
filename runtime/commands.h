/* commands.h: entry points of the CLI commands (one file each). */
#ifndef UB_COMMANDS_H
#define UB_COMMANDS_H

int ub_cmd_eval(int argc, char **argv);

#endif
