/* sandbox.c: lifecycle and limits of policy evaluations. One lua_State per
 * sandbox is reused between evaluations (each gets new globals and library
 * tables, see sb_lib.c) and thrown away after any kill. Limits:
 *  - memory: the allocator refuses growth past the cap (LUA_ERRMEM);
 *  - instructions and wall clock: a count hook every SB_HOOK_COUNT
 *    instructions, and ub_budget_check() (budget.h) for long C functions.
 * A kill is sticky: every later hook call raises again and the sandbox's
 * pcall, xpcall and coroutine functions re-raise it (docs/reference/sandbox.md facts 1-2).
 * One VM instruction can be long C work (comparing two 30 MiB strings), so
 * a timer signal at the deadline also sets the hook of the running threads
 * to fire at their next instruction, as lua.c stops a script on Ctrl-C.
 * When one step of Lua's own C code runs on past the deadline (a rehash,
 * a collection, the parser), the hard stop of sb_stop.c abandons the state.
 * Every thread a policy runs is charged to one instruction count. */
#define _GNU_SOURCE /* SIGEV_THREAD_ID, gettid: the deadline signal goes to this thread */
#include "sandbox/sb_internal.h"

#include <errno.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lualib.h>

#include "util/clock.h"

/* The kill error object: a light userdata no policy can forge. */
static const char kill_marker = 0;
#define KILL_OBJECT ((void *)&kill_marker)

void sb_default_limits(sb_limits *lim) {
  lim->memory = (size_t)64 << 20;
  lim->instructions = 1000000000ULL;
  lim->seconds = 2.0;
  lim->log_bytes = 64 << 10;
}

/* ---- memory ---- */

/* Every block carries an sb_block header linking it into the sandbox's
 * ring (sb_stop.c), so that an abandoned state can be freed without Lua. */
static void *sb_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  sandbox *sb = ud;
  sb_block *old = ptr ? (sb_block *)ptr - 1 : NULL;
  size_t ocost = old ? osize + SB_BLOCK_HEADER : 0;
  if (nsize == 0) {
    if (old) {
      sb_block_unlink(old);
      free(old);
      sb->mem_used -= ocost;
    }
    return NULL;
  }
  size_t ncost = nsize + SB_BLOCK_HEADER;
  if (ncost < nsize) return NULL;
  if (sb->active && ncost > ocost && sb->mem_used - ocost + ncost > sb->mem_cap) {
    sb->mem_refused = 1;
    return NULL;
  }
  if (old) sb_block_unlink(old);
  sb_block *b = realloc(old, ncost);
  if (b == NULL) {
    if (old) sb_block_link(sb, old);
    return NULL;
  }
  sb_block_link(sb, b);
  sb->mem_used = sb->mem_used - ocost + ncost;
  if (sb->mem_used > sb->mem_peak) sb->mem_peak = sb->mem_used;
  return b + 1;
}

/* A lua_State belongs to a sandbox exactly when it allocates through
 * sb_alloc; the allocator's ud is then the sandbox. */
sandbox *sb_from_lua(lua_State *L) {
  void *ud = NULL;
  if (!L || lua_getallocf(L, &ud) != sb_alloc) return NULL;
  return ud;
}

/* ---- kills ---- */

/* Remembers where the policy was: the first Lua frame at or above level. */
void sb_note_where(lua_State *L, int level) {
  sandbox *sb = sb_from_lua(L);
  lua_Debug ar;
  if (!sb || sb->where[0]) return;
  for (; lua_getstack(L, level, &ar); level++) {
    if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
      snprintf(sb->where, sizeof sb->where, "%s:%d", ar.short_src, ar.currentline);
      return;
    }
  }
}

int sb_raise_kill(lua_State *L) {
  lua_sethook(L, lua_gethook(L), LUA_MASKCOUNT, 1); /* stay sticky here */
  lua_pushlightuserdata(L, KILL_OBJECT);
  return lua_error(L);
}

static void check_limits(sandbox *sb) {
  if (sb->killed) return;
  if (sb->instructions > sb->lim.instructions) sb->killed = SB_KILL_INSTRUCTIONS;
  else if (ub_clock_seconds() > sb->deadline) sb->killed = SB_KILL_TIMEOUT;
}

static void sb_hook(lua_State *L, lua_Debug *ar) {
  sandbox *sb = sb_from_lua(L);
  if (!sb || !sb->active) return;
  if (ar->event == LUA_HOOKLINE) { /* coverage: the budget is the count events' job */
    if (sb->line_hook && !sb->killed && lua_getinfo(L, "S", ar))
      sb->line_hook(sb->line_ud, ar->source, ar->currentline);
    return;
  }
  sb->instructions += (uint64_t)lua_gethookcount(L);
  check_limits(sb);
  if (!sb->killed && sb->mem_used - sb->mem_base > sb->lim.memory / 2)
    sb_note_where(L, 0); /* close to the cap: remember the line, cheaply */
  if (sb->killed) {
    sb_note_where(L, 0);
    sb_raise_kill(L);
  }
}

void ub_budget_check(lua_State *L) {
  sandbox *sb = sb_from_lua(L);
  if (!sb || !sb->active) return;
  check_limits(sb);
  if (sb->killed) {
    sb_note_where(L, 1);
    sb_raise_kill(L);
  }
}

int ub_budget_charge(lua_State *L, size_t held_bytes) {
  sandbox *sb = sb_from_lua(L);
  if (!sb || !sb->active) return 0;
  check_limits(sb);
  size_t used = sb->mem_used > sb->mem_base ? sb->mem_used - sb->mem_base : 0;
  if (!sb->killed && (held_bytes > sb->lim.memory || used > sb->lim.memory - held_bytes))
    sb->killed = SB_KILL_MEMORY;
  if (!sb->killed) return 0;
  sb_note_where(L, 1);
  return -1;
}

void ub_budget_hold(lua_State *L, ub_release_fn release, void *resource) {
  sandbox *sb = sb_from_lua(L);
  if (!sb || !sb->active) return;
  if (release && sb->nheld < SB_MAX_HELD) {
    sb->held[sb->nheld].release = release;
    sb->held[sb->nheld].resource = resource;
    sb->nheld++;
  } else {
    /* The stop cannot leave this bracket: no collection step may start
     * inside it either (a policy can make one quadratic), only the
     * emergency collection Lua runs when the memory limit refuses. */
    if (sb->waits++ == 0) {
      sb->gc_stopped = lua_gc(L, LUA_GCISRUNNING);
      if (sb->gc_stopped) lua_gc(L, LUA_GCSTOP);
    }
  }
}

void ub_budget_release(lua_State *L, void *resource) {
  sandbox *sb = sb_from_lua(L);
  if (!sb || !sb->active) return;
  for (int i = sb->nheld - 1; resource && i >= 0; i--)
    if (sb->held[i].resource == resource) {
      sb->nheld--;
      for (; i < sb->nheld; i++) sb->held[i] = sb->held[i + 1];
      return;
    }
  if (sb->waits > 0 && --sb->waits == 0 && sb->gc_stopped) {
    sb->gc_stopped = 0;
    lua_gc(L, LUA_GCRESTART);
  }
}

void sb_charge_thread(lua_State *L, lua_State *co) {
  sandbox *sb = sb_from_lua(L);
  if (!sb || !sb->active || !co) return;
  sb_check_cstack(L);
  sb->instructions += SB_CO_HOOK_COUNT;
  if (co != L) /* coverage (the line mask) reaches coroutines too */
    lua_sethook(co, sb_hook, LUA_MASKCOUNT | (sb->line_hook && !sb->killed ? LUA_MASKLINE : 0),
                sb->killed ? 1 : SB_CO_HOOK_COUNT);
  ub_budget_check(L);
}

/* ---- the deadline signal ---- */

/* The evaluation the signal handler may touch: the only mutable global. */
static sandbox *volatile alarm_sandbox;

static void poke(lua_State *L) {
  if (L) lua_sethook(L, sb_hook, LUA_MASKCOUNT, 1);
}

/* Pokes the hooks; past the grace, jumps out of Lua's own code (sb_stop.c). */
static void on_alarm(int sig, siginfo_t *info, void *ucontext) {
  (void)sig;
  (void)info;
  sandbox *sb = alarm_sandbox;
  if (!sb) return;
  poke(sb->L);
  poke(sb->running);
  if (sb_stop_allowed(sb, ucontext)) {
    sb->stop_armed = 0;
    siglongjmp(sb->stop_jump, 1);
  }
}

void sb_set_running(lua_State *L, int idx) {
  sandbox *sb = sb_from_lua(L);
  if (!sb || !sb->active) return;
  lua_State *thread = idx ? lua_tothread(L, idx) : L;
  if (!thread) return;
  if (idx) lua_pushvalue(L, idx);
  else lua_pushthread(L);
  if (thread != L) {                    /* anchor first, then publish */
    lua_setfield(L, LUA_REGISTRYINDEX, SB_REG_RUNNING);
    sb->running = thread;
  } else {                              /* publish first, then release */
    sb->running = thread;
    lua_setfield(L, LUA_REGISTRYINDEX, SB_REG_RUNNING);
  }
  if (sb->killed || ub_clock_seconds() > sb->deadline) poke(thread); /* a signal that came early */
}

/* Arms a timer that sends SIGALRM to this thread at the deadline and every
 * SB_STOP_TICK_NS after it. Without it (any call failing) the count hook
 * alone checks the clock, and there is no hard stop. */
static void arm_alarm(sandbox *sb, struct sigaction *old) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_alarm;
  sa.sa_flags = SA_RESTART | SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  struct sigevent ev;
  memset(&ev, 0, sizeof ev);
  ev.sigev_notify = SIGEV_THREAD_ID;
  ev.sigev_signo = SIGALRM;
  ev._sigev_un._tid = gettid();
  double whole = (double)(time_t)sb->lim.seconds;
  struct itimerspec when = {{0, SB_STOP_TICK_NS},
                            {(time_t)whole, (long)((sb->lim.seconds - whole) * 1e9)}};
  if (when.it_value.tv_sec == 0 && when.it_value.tv_nsec == 0) when.it_value.tv_nsec = 1;
  alarm_sandbox = sb;
  if (sigaction(SIGALRM, &sa, old) != 0) return;
  if (timer_create(CLOCK_MONOTONIC, &ev, &sb->alarm_timer) != 0) {
    sigaction(SIGALRM, old, NULL);
    return;
  }
  sb->alarm_armed = 1;
  timer_settime(sb->alarm_timer, 0, &when, NULL);
}

static void disarm_alarm(sandbox *sb, const struct sigaction *old) {
  if (sb->alarm_armed) {
    timer_delete(sb->alarm_timer);
    sigaction(SIGALRM, old, NULL);
    sb->alarm_armed = 0;
  }
  alarm_sandbox = NULL;
  sb->running = NULL;
  if (!sb->L) return;          /* abandoned by the hard stop */
  lua_pushboolean(sb->L, 0);   /* no coroutine of this run outlives it */
  lua_setfield(sb->L, LUA_REGISTRYINDEX, SB_REG_RUNNING);
}

/* ---- lifecycle ---- */

static void close_state(sandbox *sb) {
  if (sb->L) {
    sb->active = 0;
    lua_close(sb->L);
    sb->L = NULL;
  }
}

/* After the hard stop: the state may be in the middle of any change, so
 * Lua never sees it again; its blocks are freed directly. */
static void abandon_state(sandbox *sb) {
  sb->active = 0;
  sb->L = NULL;
  sb->running = NULL;
  sb_blocks_free_all(sb);
}

static int open_state(sandbox *sb) {
  sb->mem_used = 0;
  sb->active = 0;
  lua_State *L = lua_newstate(sb_alloc, sb);
  if (!L) return -1;
  lua_pushcfunction(L, sb_lib_prepare);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    snprintf(sb->error, sizeof sb->error, "cannot prepare the sandbox: %s",
             lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
    lua_close(L);
    return -1;
  }
  lua_gc(L, LUA_GCCOLLECT);
  sb->L = L;
  sb->mem_fresh = sb->mem_used;
  sb->uses = 0;
  return 0;
}

sandbox *sb_new(const sb_limits *lim, const char *stdlib_dir) {
  sandbox *sb = calloc(1, sizeof *sb);
  if (!sb) return NULL;
  sb_blocks_init(sb);
  sb_find_lua_text(sb);
  if (lim) sb->lim = *lim;
  else sb_default_limits(&sb->lim);
  sb->stdlib_dir = strdup(stdlib_dir ? stdlib_dir : "");
  ub_buf_init(&sb->log);
  if (!sb->stdlib_dir || open_state(sb) != 0) {
    sb_free(sb);
    return NULL;
  }
  return sb;
}

void sb_free(sandbox *sb) {
  if (!sb) return;
  close_state(sb);
  for (int i = 0; i < sb->ngrants; i++) free(sb->grants[i].name);
  free(sb->stdlib_dir);
  ub_buf_free(&sb->log);
  free(sb);
}

void sb_set_limits(sandbox *sb, const sb_limits *lim) { sb->lim = *lim; }

void sb_set_line_hook(sandbox *sb, sb_line_fn fn, void *ud) {
  sb->line_hook = fn;
  sb->line_ud = ud;
}

void sb_set_print_hook(sandbox *sb, sb_print_fn fn, void *ud) {
  sb->print_hook = fn;
  sb->print_ud = ud;
}

void sb_set_prepare(sandbox *sb, sb_prepare_fn fn, void *ud) {
  sb->prepare = fn;
  sb->prepare_ud = ud;
}

int sb_grant(sandbox *sb, const char *name, sb_opener opener) {
  for (int i = 0; i < sb->ngrants; i++)
    if (strcmp(sb->grants[i].name, name) == 0) {
      sb->grants[i].open = opener;
      return 0;
    }
  if (sb->ngrants >= SB_MAX_GRANTS) return -1;
  char *copy = strdup(name);
  if (!copy) return -1;
  sb->grants[sb->ngrants].name = copy;
  sb->grants[sb->ngrants].open = opener;
  sb->ngrants++;
  return 0;
}

const char *sb_error(const sandbox *sb) { return sb->error; }
sb_kill sb_killed(const sandbox *sb) { return sb->killed; }
uint64_t sb_instructions_used(const sandbox *sb) { return sb->instructions; }
size_t sb_memory_peak(const sandbox *sb) {
  return sb->mem_peak > sb->mem_base ? sb->mem_peak - sb->mem_base : 0;
}

const char *sb_log(const sandbox *sb, size_t *len) {
  if (len) *len = sb->log.len;
  return sb->log.data ? sb->log.data : "";
}

/* Finds the grant for a module name (used by require in sb_lib.c). */
sb_opener sb_find_grant(sandbox *sb, const char *name) {
  for (int i = 0; i < sb->ngrants; i++)
    if (strcmp(sb->grants[i].name, name) == 0) return sb->grants[i].open;
  return NULL;
}

const char *sb_stdlib_dir(sandbox *sb) { return sb->stdlib_dir; }

/* Appends printed text to the bounded log. */
void sb_log_append(sandbox *sb, const char *s, size_t len) {
  if (sb->log_truncated) return;
  size_t room = sb->lim.log_bytes > sb->log.len ? sb->lim.log_bytes - sb->log.len : 0;
  if (len > room) {
    ub_buf_append(&sb->log, s, room);
    ub_buf_puts(&sb->log, "\n[log truncated]\n");
    sb->log_truncated = 1;
    return;
  }
  ub_buf_append(&sb->log, s, len);
}

/* ---- running ---- */

typedef struct run_args {
  const sb_policy *policy;
  sb_push_fn push;
  sb_take_fn take;
  void *ud;
} run_args;

/* Message handler of the top-level call: turns any error object into a
 * string without running policy metamethods (docs/reference/sandbox.md fact 6). */
static int top_handler(lua_State *L) {
  if (lua_touserdata(L, 1) == KILL_OBJECT) return 1;
  if (lua_type(L, 1) == LUA_TSTRING) return 1;
  if (lua_type(L, 1) == LUA_TNUMBER) {
    lua_pushfstring(L, "%s", lua_tostring(L, 1));
    return 1;
  }
  if (lua_type(L, 1) == LUA_TTABLE) {
    lua_pushliteral(L, "message");
    if (lua_rawget(L, 1) == LUA_TSTRING) return 1;
  }
  lua_pushfstring(L, "policy raised an error object of type %s", luaL_typename(L, 1));
  return 1;
}

static int run_protected(lua_State *L) {
  run_args *a = lua_touserdata(L, 1);
  sandbox *sb = sb_from_lua(L);
  lua_settop(L, 0);
  sb_lib_new_env(L); /* also registers it for require and load */
  lua_pop(L, 1);
  if (sb->prepare) sb->prepare(L, sb->prepare_ud);
  lua_settop(L, 0);
  if (sb_load_chunk(L, a->policy->name, a->policy->source, a->policy->len) != LUA_OK)
    return lua_error(L);
  lua_call(L, 0, 1);
  if (lua_type(L, -1) == LUA_TFUNCTION) {
    int nargs = a->push ? a->push(L, a->ud) : 0;
    lua_call(L, nargs, 1);
  }
  sb->in_result = 1;
  if (a->take) a->take(L, a->ud);
  return 0;
}

static void begin_run(sandbox *sb, const sb_policy *p) {
  sb->killed = SB_ALIVE;
  sb->in_result = 0;
  sb->instructions = 0;
  sb->mem_refused = 0;
  sb->where[0] = '\0';
  sb->error[0] = '\0';
  sb->log_truncated = 0;
  ub_buf_reset(&sb->log);
  snprintf(sb->policy_dir, sizeof sb->policy_dir, "%s", p->dir ? p->dir : "");
  sb->mem_base = sb->mem_used;
  sb->mem_peak = sb->mem_used;
  sb->mem_cap = sb->mem_used + sb->lim.memory;
  sb->deadline = ub_clock_seconds() + sb->lim.seconds;
  sb->running = NULL;
  sb->nheld = 0;
  sb->waits = 0;
  sb->gc_stopped = 0;
  sb->stop_armed = 0;
  sb_measure_stack(sb);
  lua_sethook(sb->L, sb_hook, LUA_MASKCOUNT | (sb->line_hook ? LUA_MASKLINE : 0), SB_HOOK_COUNT);
  sb->active = 1;
}

static void describe_kill(sandbox *sb, const char *name) {
  const char *where = sb->where[0] ? sb->where : name;
  switch (sb->killed) {
    case SB_KILL_TIMEOUT:
      snprintf(sb->error, sizeof sb->error,
               "%s: evaluation stopped: wall-clock deadline of %g s exceeded "
               "(set a larger one with --timeout)", where, sb->lim.seconds);
      break;
    case SB_KILL_INSTRUCTIONS:
      snprintf(sb->error, sizeof sb->error,
               "%s: evaluation stopped: instruction budget of %llu exceeded "
               "(set a larger one with --instructions)", where,
               (unsigned long long)sb->lim.instructions);
      break;
    default:
      snprintf(sb->error, sizeof sb->error,
               "%s: evaluation stopped: memory limit of %zu MiB exceeded "
               "(set a larger one with --memory)", where, sb->lim.memory >> 20);
  }
}

static sb_status finish_run(sandbox *sb, int status, const char *name) {
  lua_State *L = sb->L;
  sb->active = 0;
  if (status == LUA_ERRMEM && !sb->killed) sb->killed = SB_KILL_MEMORY;
  sb_status rc = SB_OK;
  if (status == LUA_OK) {
    sb->uses++;
  } else if (sb->killed) {
    describe_kill(sb, name);
    rc = SB_ELIMIT;
  } else {
    const char *msg = lua_tostring(L, -1);
    snprintf(sb->error, sizeof sb->error, "%s", msg ? msg : "policy failed");
    rc = sb->in_result ? SB_ERESULT : SB_EPOLICY;
  }
  lua_settop(L, 0);
  /* Never reuse a state after a kill. No collection here either: it would
   * run outside every limit, and a policy can make one collection
   * quadratic (an ephemeron chain); a state that grew is closed instead
   * (lua_close frees without marking). */
  if (sb->killed || sb->mem_used > sb->mem_fresh + ((size_t)8 << 20)) close_state(sb);
  else sb_lib_end_run(L);
  return rc;
}

sb_status sb_run_policy(sandbox *sb, const sb_policy *policy, sb_push_fn push,
                        sb_take_fn take, void *ud) {
  if (!sb->L && open_state(sb) != 0) return SB_EHOST;
  run_args a = {policy, push, take, ud};
  lua_State *L = sb->L;
  struct sigaction old_alarm;
  begin_run(sb, policy);
  lua_pushcfunction(L, top_handler);
  lua_pushcfunction(L, run_protected);
  lua_pushlightuserdata(L, &a);
  int status = LUA_ERRRUN;
  arm_alarm(sb, &old_alarm);
  if (sigsetjmp(sb->stop_jump, 1) == 0) {
    sb->stop_armed = 1;
    status = lua_pcall(L, 1, 0, 1);
    sb->stop_armed = 0;
  } else {                              /* the hard stop jumped here */
    sb->L = NULL;
  }
  disarm_alarm(sb, &old_alarm);
  if (!sb->L) {
    sb_release_held(sb);
    abandon_state(sb);
    if (!sb->killed) sb->killed = SB_KILL_TIMEOUT;
    describe_kill(sb, policy->name);
    return SB_ELIMIT;
  }
  return finish_run(sb, status, policy->name);
}

char *sb_read_source(const char *path, size_t *len, char *err, size_t errlen) {
  return ub_read_all(path, (size_t)4 << 20, len, err, errlen);
}

sb_status sb_run(sandbox *sb, const char *policy_path, sb_push_fn push_args,
                 sb_take_fn take_result, void *ud) {
  size_t len;
  char dir[1024];
  char *src = sb_read_source(policy_path, &len, sb->error, sizeof sb->error);
  if (!src) return SB_EHOST;
  snprintf(dir, sizeof dir, "%s", policy_path);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = '\0';
  else snprintf(dir, sizeof dir, ".");
  sb_policy p = {policy_path, src, len, dir};
  sb_status rc = sb_run_policy(sb, &p, push_args, take_result, ud);
  free(src);
  return rc;
}
