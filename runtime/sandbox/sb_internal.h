/* sb_internal.h: the sandbox structure shared by sandbox.c (lifecycle,
 * limits, running) and sb_lib.c (the safe library a policy sees). */
#ifndef UB_SB_INTERNAL_H
#define UB_SB_INTERNAL_H

#include <signal.h>
#include <time.h>

#include "util/buf.h"
#include "sandbox/sandbox.h"

#define SB_HOOK_COUNT 1000
#define SB_MAX_GRANTS 16
#define SB_ERROR_MAX 1024

/* Registry keys (strings private to the host). */
#define SB_REG_ENV "ub.sandbox.env"         /* globals of this evaluation */
#define SB_REG_LOADED "ub.sandbox.loaded"   /* require cache of this evaluation */
#define SB_REG_CHUNKS "ub.sandbox.chunks"   /* compiled chunks, by key */
#define SB_REG_TEMPLATES "ub.sandbox.tpl"   /* pristine library tables */
#define SB_REG_RANDOMSEED "ub.sandbox.randomseed"
#define SB_REG_RUNNING "ub.sandbox.running"    /* anchors sandbox->running */

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

  /* memory accounting (the allocator's ud) */
  size_t mem_used, mem_cap, mem_base, mem_peak, mem_fresh;
  int mem_refused;

  /* the running evaluation */
  int active;
  int in_result;                /* converting the result */
  sb_kill killed;
  uint64_t instructions;
  double deadline;              /* CLOCK_MONOTONIC seconds */
  lua_State *volatile running;  /* coroutine being run (anchored), or NULL */
  int alarm_armed;              /* a timer signals the deadline (sandbox.c) */
  timer_t alarm_timer;
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
/* The coroutine wrappers say which thread runs: the value at idx of L (a
 * thread), or L itself when idx is 0. */
void sb_set_running(lua_State *L, int idx);

#endif
