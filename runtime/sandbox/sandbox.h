/* Folder sandbox/: untrusted Lua under limits: the lua_State per
 * sandbox, the fresh environment of each evaluation, require confined to
 * the stdlib and the policy's folder, the memory cap, instruction budget
 * and deadline, and the budgeted replacements of the string, table and
 * pattern functions. May call util/ only; what runs inside it (lualib/)
 * asks it for budget through sandbox.h. */
/* sandbox.h: run untrusted Lua policies in a fresh environment with a
 * memory cap, an instruction budget and a wall-clock deadline that policy
 * code cannot catch (see docs/policies.md for what a policy may use). */
#ifndef UB_SANDBOX_H
#define UB_SANDBOX_H

#include <stddef.h>
#include <stdint.h>
#include <lua.h>

#include "sandbox/budget.h"

typedef struct sb_limits {
  size_t memory;          /* bytes a policy may allocate (default 64 MiB) */
  uint64_t instructions;  /* VM instruction budget (default 1e9) */
  double seconds;         /* wall-clock deadline (default 2 s) */
  size_t log_bytes;       /* captured print() output (default 64 KiB) */
} sb_limits;

/* Why an evaluation was stopped by the host. */
typedef enum sb_kill {
  SB_ALIVE = 0,
  SB_KILL_TIMEOUT,
  SB_KILL_INSTRUCTIONS,
  SB_KILL_MEMORY
} sb_kill;

/* Outcome of sb_run(). */
typedef enum sb_status {
  SB_OK = 0,
  SB_EPOLICY,   /* the policy raised an error (or failed to load) */
  SB_ELIMIT,    /* a limit was exceeded (see sb_killed()) */
  SB_ERESULT,   /* the result could not be converted */
  SB_EHOST      /* the host itself failed (I/O, out of memory) */
} sb_status;

typedef struct sandbox sandbox;

/* Native module opener that a host may grant to a policy. */
typedef int (*sb_opener)(lua_State *L);

/* Called by sb_run() inside the protected call, with limits armed.
 * push_args pushes the arguments for the policy function and returns how
 * many; take_result converts the value at the top of the stack. Both may
 * raise Lua errors. */
typedef int (*sb_push_fn)(lua_State *L, void *ud);
typedef int (*sb_take_fn)(lua_State *L, void *ud);

void sb_default_limits(sb_limits *lim);

/* A sandbox owns one lua_State that is reset between evaluations (new
 * globals and library tables each time) and recycled after any kill.
 * stdlib_dir: where require finds unbreakable.* modules. */
sandbox *sb_new(const sb_limits *lim, const char *stdlib_dir);
void sb_free(sandbox *sb);
void sb_set_limits(sandbox *sb, const sb_limits *lim);

/* Makes require(name) return what opener returns, for the next
 * evaluations of this sandbox. */
int sb_grant(sandbox *sb, const char *name, sb_opener opener);

/* Called inside every run, after the fresh globals exist and before the
 * policy chunk runs: where a host installs data its granted bindings need
 * (e.g. the Dynatrace client in the registry). NULL removes it. */
typedef int (*sb_prepare_fn)(lua_State *L, void *ud);
void sb_set_prepare(sandbox *sb, sb_prepare_fn fn, void *ud);

/* Coverage: called for every Lua line an evaluation runs, with the
 * chunk's source name ("@path/to/file.lua") and the line. The callback
 * runs inside the hook: it must not touch L. NULL removes it. */
typedef void (*sb_line_fn)(void *ud, const char *source, int line);
void sb_set_line_hook(sandbox *sb, sb_line_fn fn, void *ud);

/* Live log: called with each line print() adds to the bounded log, as it
 * is printed (without its newline; never past the log's limit), so that a
 * host can stream what a policy says while it runs. The callback must not
 * touch L. NULL removes it. */
typedef void (*sb_print_fn)(void *ud, const char *line, size_t len);
void sb_set_print_hook(sandbox *sb, sb_print_fn fn, void *ud);

/* Runs the policy file in a fresh environment. If the chunk returns a
 * function it is called with the values pushed by push_args (none when
 * push_args is NULL); take_result then sees the returned value. On error,
 * sb_error() explains it in one line with the policy's file and line. */
sb_status sb_run(sandbox *sb, const char *policy_path,
                 sb_push_fn push_args, sb_take_fn take_result, void *ud);

/* A policy given as source text (e.g. replayed from the ledger). name is
 * the chunk name shown in errors ("policies/monspec.lua"); dir is the
 * folder require searches after stdlib (NULL: stdlib only). */
typedef struct sb_policy {
  const char *name;
  const char *source;
  size_t len;
  const char *dir;
} sb_policy;

sb_status sb_run_policy(sandbox *sb, const sb_policy *policy,
                        sb_push_fn push_args, sb_take_fn take_result, void *ud);

/* Reads a policy or module file (at most 4 MiB); caller frees. */
char *sb_read_source(const char *path, size_t *len, char *err, size_t errlen);

const char *sb_error(const sandbox *sb);
sb_kill sb_killed(const sandbox *sb);
/* Text the policy printed during the last evaluation (bounded). */
const char *sb_log(const sandbox *sb, size_t *len);
/* Statistics of the last evaluation. */
uint64_t sb_instructions_used(const sandbox *sb);
size_t sb_memory_peak(const sandbox *sb);

/* Code reachable from policies asks for budget through sandbox/budget.h
 * (ub_budget_check, ub_budget_charge, ub_budget_hold). */

/* Inside a run: loads the standard library module name afresh (not from
 * the evaluation's require cache) and pushes its value. Raises on error. */
int sb_require_fresh(lua_State *L, const char *name);

/* The sandbox that owns L, or NULL. */
sandbox *sb_from_lua(lua_State *L);

#endif
