/* lpattern.h: a Lua 5.4 pattern matcher (reference manual §6.4.1) that
 * counts its steps and calls a budget function (sandbox/budget.h) every
 * LP_STEP_INTERVAL steps, so a sandbox can stop catastrophic backtracking.
 * Written from the manual and observed behaviour of Lua 5.4.4, not from Lua's sources.
 * Errors (malformed patterns, too many captures, too deep recursion) are
 * raised as Lua errors with the same messages as stock Lua. */
#ifndef UB_LPATTERN_H
#define UB_LPATTERN_H

#include <stddef.h>
#include <lua.h>

#include "sandbox/budget.h" /* ub_budget_fn: raises to stop the work */

#define LP_MAXCAPTURES 32     /* like LUA_MAXCAPTURES */
#define LP_MAXDEPTH 200       /* nested matcher calls, like MAXCCALLS */
#define LP_STEP_INTERVAL 1024 /* steps between two budget checks */


typedef struct lp_capture {
  const char *init;
  ptrdiff_t len; /* >= 0 when closed, or LP_CAP_OPEN / LP_CAP_POSITION */
} lp_capture;

#define LP_CAP_OPEN (-1)
#define LP_CAP_POSITION (-2)

typedef struct lp_state {
  lua_State *L;
  ub_budget_fn budget;     /* may be NULL: no checks */
  const char *src_init;    /* subject */
  const char *src_end;
  const char *p_end;       /* end of the pattern */
  int depth_left;          /* nested calls still allowed */
  int steps_left;          /* steps until the next budget call */
  int level;               /* captures started so far */
  lp_capture capture[LP_MAXCAPTURES];
} lp_state;

/* Prepares a match of pattern p (length lp) against subject s (length ls). */
void lp_init(lp_state *ms, lua_State *L, ub_budget_fn budget,
             const char *s, size_t ls, const char *p, size_t lp);

/* Forgets the captures of a previous attempt; call before each attempt. */
void lp_reset(lp_state *ms);

/* Matches pattern p (a suffix of the pattern given to lp_init) at subject
 * position s. Returns the end of the match or NULL. */
const char *lp_match(lp_state *ms, const char *s, const char *p);

/* Counts n steps of work done outside the matcher (e.g. by the callers'
 * loops), calling the budget function when the interval is used up. */
void lp_count_steps(lp_state *ms, int n);

/* Pushes capture i of the match [s, e) (capture 0 is the whole match when
 * the pattern has no captures). Raises for an invalid index with
 * "invalid capture index %<i+1>" or for an unfinished capture. */
void lp_push_capture(lp_state *ms, int i, const char *s, const char *e);

/* Pushes every capture, or the whole match [s, e) when there is none and
 * s is not NULL. Returns how many values were pushed. */
int lp_push_captures(lp_state *ms, const char *s, const char *e);

/* Whether p contains a character that makes it more than a plain string
 * for string.find: one of ^$*+?.([%- */
int lp_has_specials(const char *p, size_t lp);

#endif
