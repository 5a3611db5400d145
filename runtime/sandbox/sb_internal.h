/* sb_internal.h: the sandbox structure shared by sandbox.c (lifecycle,
 * limits, running) and sb_lib.c (the safe library a policy sees). */
#ifndef UB_SB_INTERNAL_H
#define UB_SB_INTERNAL_H

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>

#include "util/buf.h"
#include "sandbox/sandbox.h"

#define SB_HOOK_COUNT 1000
/* Hook interval of coroutines: each resume is charged this many
 * instructions up front (a thread's hook counter restarts at every resume,
 * so what ran after its last hook would otherwise go uncounted). */
#define SB_CO_HOOK_COUNT 100
/* The hard stop (sb_stop.c) abandons a state stuck in Lua's own C code
 * this long after the deadline; the deadline timer repeats this often. */
#define SB_STOP_GRACE 0.1
#define SB_STOP_TICK_NS 10000000L
/* C stack kept free below the deepest coroutine, pcall or close nesting. */
#define SB_STACK_RESERVE ((size_t)1 << 20)
/* C resources held across calls into Lua that the hard stop can release */
#define SB_MAX_HELD 16
#define SB_MAX_GRANTS 16
#define SB_ERROR_MAX 1024

/* Registry keys (strings private to the host). */
#define SB_REG_ENV "ub.sandbox.env"         /* globals of this evaluation */
#define SB_REG_LOADED "ub.sandbox.loaded"   /* require cache of this evaluation */
#define SB_REG_CHUNKS "ub.sandbox.chunks"   /* compiled chunks, by key */
#define SB_REG_TEMPLATES "ub.sandbox.tpl"   /* pristine library tables */
#define SB_REG_RANDOMSEED "ub.sandbox.randomseed"
#define SB_REG_RUNNING "ub.sandbox.running"    /* anchors sandbox->running */

/* Header of every block of a sandbox's lua_State: all of them are linked,
 * so that a state abandoned by the hard stop can be freed without Lua. */
typedef struct sb_block {
  struct sb_block *prev, *next;
} sb_block;
#define SB_BLOCK_HEADER sizeof(sb_block)

typedef struct sb_held {
  ub_release_fn release;
  void *resource;
} sb_held;

typedef struct sb_grant_entry {
  char *name;
  sb_opener open;
} sb_grant_entry;

struct sandbox {
  sb_limits lim;
  char *stdlib_dir;
  lua_State *L;                 /* NULL until first use or after a recycle */
  sb_grant_entry grants[SB_MAX_GRANTS];
  int ngrants;
  sb_prepare_fn prepare;
  void *prepare_ud;
  sb_line_fn line_hook;         /* coverage, or NULL (sb_set_line_hook) */
  void *line_ud;
  sb_print_fn print_hook;       /* each printed line as it is printed, or NULL */
  void *print_ud;

  /* memory accounting (the allocator's ud); headers count as memory */
  size_t mem_used, mem_cap, mem_base, mem_peak, mem_fresh;
  int mem_refused;
  sb_block blocks;              /* ring of the state's blocks */
  uintptr_t lua_text_lo, lua_text_hi; /* Lua's machine code (0: unknown) */

  /* the running evaluation */
  int active;
  int in_result;                /* converting the result */
  sb_kill killed;
  uint64_t instructions;
  double deadline;              /* CLOCK_MONOTONIC seconds */
  lua_State *volatile running;  /* coroutine being run (anchored), or NULL */
  int alarm_armed;              /* a timer signals the deadline (sandbox.c) */
  timer_t alarm_timer;
  sigjmp_buf stop_jump;         /* where the hard stop lands */
  volatile sig_atomic_t stop_armed; /* stop_jump is valid */
  sb_held held[SB_MAX_HELD];    /* ub_budget_hold brackets the stop releases */
  int nheld;
  volatile sig_atomic_t waits;  /* brackets the stop must wait for */
  int gc_stopped;               /* the collector was stopped for them */
  uintptr_t stack_low;          /* lowest C stack address nesting may reach */
  pthread_t stack_thread;       /* the thread stack_low was measured on */
  int stack_measured;
  char where[256];              /* policy location when it was stopped */
  char policy_dir[1024];        /* second require root ("" = none) */
  char error[SB_ERROR_MAX];
  ub_buf log;
  int log_truncated;
  int uses;
};

/* sb_lib.c */
int sb_lib_prepare(lua_State *L);          /* once per lua_State */
int sb_lib_new_env(lua_State *L);          /* pushes a fresh env, per run */
int sb_load_chunk(lua_State *L, const char *name, const char *src, size_t len);

/* sandbox.c, for sb_lib.c */
sandbox *sb_from_lua(lua_State *L);
int sb_raise_kill(lua_State *L);
void sb_note_where(lua_State *L, int level);
sb_opener sb_find_grant(sandbox *sb, const char *name);
const char *sb_stdlib_dir(sandbox *sb);
void sb_log_append(sandbox *sb, const char *s, size_t len);
/* The coroutine wrappers call this before a thread runs: charges it
 * SB_CO_HOOK_COUNT instructions and restarts its hook; raises the kill
 * when the budget is gone. */
void sb_charge_thread(lua_State *L, lua_State *co);
/* Raises "C stack overflow" when the C stack is nearly used up (nested
 * coroutines, closes and protected calls; sb_stop.c). */
void sb_check_cstack(lua_State *L);
/* sb_lib.c: compiles text with the deadline checked while the parser
 * reads it; pushes the function or the error (a lua_load status). */
int sb_compile(lua_State *L, const char *src, size_t len, const char *chunkname);
/* sb_lib.c: after a run that leaves the state for reuse, drops what
 * still reaches the run's globals (cached chunks' _ENV, require cache). */
void sb_lib_end_run(lua_State *L);

/* sb_stop.c: the hard stop and the block ring */
void sb_blocks_init(sandbox *sb);
void sb_block_link(sandbox *sb, sb_block *b);
void sb_block_unlink(sb_block *b);
void sb_blocks_free_all(sandbox *sb);   /* frees an abandoned state */
void sb_release_held(sandbox *sb);      /* releases the open brackets' resources */
void sb_find_lua_text(sandbox *sb);
int sb_stop_allowed(const sandbox *sb, void *ucontext);
void sb_measure_stack(sandbox *sb);

/* The coroutine wrappers say which thread runs: the value at idx of L (a
 * thread), or L itself when idx is 0. */
void sb_set_running(lua_State *L, int idx);

#endif
