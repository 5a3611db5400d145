/* sb_stop.c: the hard stop, for the one case the hook and the budget
 * checks cannot reach: a single step of Lua's own C code that runs for
 * seconds (a table rehash over colliding keys, the collector's atomic phase
 * over an ephemeron chain, the parser on a pathological chunk). Past the
 * deadline plus SB_STOP_GRACE, the deadline signal jumps out of such code
 * back to sb_run_policy and the lua_State is abandoned: never touched
 * again, its memory freed block by block through the ring every block is
 * linked in (the allocator in sandbox.c keeps it). The jump is taken only
 * when the signal interrupted Lua's machine code (liblua's text segment),
 * never the allocator, libc or host code; C resources that host code
 * holds across calls into Lua are released through their ub_budget_hold
 * brackets (or the stop waits for brackets it cannot release). Also here:
 * the C stack guard for nested coroutines and protected calls. */
#define _GNU_SOURCE /* dladdr, dl_iterate_phdr, pthread_getattr_np, REG_RIP */
#include "sandbox/sb_internal.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <ucontext.h>

#include <lauxlib.h>

#include "util/clock.h"

/* ---- the block ring ---- */

void sb_blocks_init(sandbox *sb) { sb->blocks.prev = sb->blocks.next = &sb->blocks; }

void sb_block_link(sandbox *sb, sb_block *b) {
  b->next = sb->blocks.next;
  b->prev = &sb->blocks;
  sb->blocks.next->prev = b;
  sb->blocks.next = b;
}

void sb_block_unlink(sb_block *b) {
  b->prev->next = b->next;
  b->next->prev = b->prev;
}

void sb_blocks_free_all(sandbox *sb) {
  sb_block *b = sb->blocks.next;
  while (b != &sb->blocks) {
    sb_block *next = b->next;
    free(b);
    b = next;
  }
  sb_blocks_init(sb);
  sb->mem_used = 0;
}

void sb_release_held(sandbox *sb) {
  while (sb->nheld > 0) {
    sb_held h = sb->held[--sb->nheld];
    h.release(h.resource);
  }
  sb->waits = 0;
}

/* ---- where Lua's code is ---- */

typedef struct text_search {
  uintptr_t target, lo, hi;
  int in_main;
} text_search;

static int find_segment(struct dl_phdr_info *info, size_t size, void *data) {
  text_search *s = data;
  (void)size;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
    uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
    if (s->target >= lo && s->target < hi) {
      s->lo = lo;
      s->hi = hi;
      s->in_main = info->dlpi_name == NULL || info->dlpi_name[0] == '\0';
      return 1;
    }
  }
  return 0;
}

/* Finds the executable segment of the shared library that holds Lua's
 * core. When Lua is linked into the program itself, the segment would
 * hold the host's code too: the hard stop then stays off. */
void sb_find_lua_text(sandbox *sb) {
  Dl_info info;
  void *probe = (void *)(uintptr_t)&lua_newstate;
  sb->lua_text_lo = sb->lua_text_hi = 0;
  if (!dladdr(probe, &info)) return;
  text_search s = {(uintptr_t)probe, 0, 0, 0};
  if (!dl_iterate_phdr(find_segment, &s) || s.in_main) return;
  sb->lua_text_lo = s.lo;
  sb->lua_text_hi = s.hi;
}

static uintptr_t interrupted_pc(void *ucontext) {
  const ucontext_t *uc = ucontext;
#if defined(__x86_64__)
  return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
  return (uintptr_t)uc->uc_mcontext.pc;
#else
  (void)uc;
  return 0;
#endif
}

/* Called by the deadline signal handler: whether it may jump now. */
int sb_stop_allowed(const sandbox *sb, void *ucontext) {
  if (!sb->stop_armed || sb->waits > 0 || !sb->lua_text_lo || !ucontext) return 0;
  uintptr_t pc = interrupted_pc(ucontext);
  if (pc < sb->lua_text_lo || pc >= sb->lua_text_hi) return 0;
  return ub_clock_seconds() > sb->deadline + SB_STOP_GRACE;
}

/* ---- the C stack guard ---- */

/* Records how low this thread's C stack may go during the run, once per
 * thread. The main thread's stack grows up to RLIMIT_STACK below its top,
 * and the host has used little of it when a run begins (asking pthread for
 * its bounds would read /proc); other threads have fixed bounds. */
void sb_measure_stack(sandbox *sb) {
  uintptr_t here = (uintptr_t)__builtin_frame_address(0);
  if (sb->stack_measured && pthread_equal(sb->stack_thread, pthread_self()) &&
      here > sb->stack_low)
    return;
  sb->stack_measured = 1;
  sb->stack_thread = pthread_self();
  size_t size = (size_t)8 << 20;
  void *addr = NULL;
  if (getpid() == (pid_t)syscall(SYS_gettid)) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < ((rlim_t)1 << 30))
      size = (size_t)rl.rlim_cur;
    size_t usable = size > 4 * SB_STACK_RESERVE ? size - 2 * SB_STACK_RESERVE : size / 2;
    sb->stack_low = here > usable ? here - usable : 0;
    return;
  }
  pthread_attr_t attr;
  sb->stack_low = here > size / 2 ? here - size / 2 : 0;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return;
  if (pthread_attr_getstack(&attr, &addr, &size) == 0 && (uintptr_t)addr < here)
    sb->stack_low = (uintptr_t)addr + (size > 2 * SB_STACK_RESERVE ? SB_STACK_RESERVE : size / 2);
  pthread_attr_destroy(&attr);
}

void sb_check_cstack(lua_State *L) {
  sandbox *sb = sb_from_lua(L);
  if (!sb || !sb->active) return;
  if ((uintptr_t)__builtin_frame_address(0) < sb->stack_low)
    luaL_error(L, "C stack overflow: coroutines, closes or protected calls nested too deep");
}
