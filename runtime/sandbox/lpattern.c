/* lpattern.c: the Lua 5.4 pattern matcher with a step budget (see
 * lpattern.h). A backtracking matcher over pattern items: single character
 * classes with optional quantifiers (* + - ?), captures, back-references,
 * %b and %f. Every item, every character scanned by a repetition and every
 * backtracking attempt counts as a step; recursion is bounded by
 * LP_MAXDEPTH ("pattern too complex"). Character classes follow the C
 * locale whatever the process locale is. */
#include "sandbox/lpattern.h"

#include <string.h>

#include <lauxlib.h>

/* ---- character classes (C locale, ASCII) ---- */

static int in_range(int c, int lo, int hi) { return c >= lo && c <= hi; }
static int is_lower(int c) { return in_range(c, 'a', 'z'); }
static int is_upper(int c) { return in_range(c, 'A', 'Z'); }
static int is_alpha(int c) { return is_lower(c) || is_upper(c); }
static int is_digit(int c) { return in_range(c, '0', '9'); }
static int is_cntrl(int c) { return c < 32 || c == 127; }
static int is_space(int c) { return c == ' ' || in_range(c, '\t', '\r'); }
static int is_graph(int c) { return in_range(c, 33, 126); }
static int is_punct(int c) { return is_graph(c) && !is_alpha(c) && !is_digit(c); }
static int is_xdigit(int c) { return is_digit(c) || in_range(c | 32, 'a', 'f'); }

/* Whether c belongs to the class %cl; an unknown letter or a non-letter
 * stands for itself (so %% matches '%' and %. matches '.'). An upper-case
 * class letter is the complement of its lower-case class. */
static int class_matches(int c, int cl) {
  int res;
  switch (is_upper(cl) ? cl + ('a' - 'A') : cl) {
  case 'a': res = is_alpha(c); break;
  case 'c': res = is_cntrl(c); break;
  case 'd': res = is_digit(c); break;
  case 'g': res = is_graph(c); break;
  case 'l': res = is_lower(c); break;
  case 'p': res = is_punct(c); break;
  case 's': res = is_space(c); break;
  case 'u': res = is_upper(c); break;
  case 'w': res = is_alpha(c) || is_digit(c); break;
  case 'x': res = is_xdigit(c); break;
  case 'z': res = (c == 0); break; /* deprecated but still accepted */
  default: return cl == c;
  }
  return is_upper(cl) ? !res : res;
}

/* Whether c belongs to the set starting at '[' (set) and closed by the
 * ']' at close. */
static int set_matches(int c, const char *set, const char *close) {
  int member = 1;
  const char *p = set + 1;
  if (*p == '^') {
    member = 0;
    p++;
  }
  for (; p < close; p++) {
    if (*p == '%') {
      p++;
      if (class_matches(c, (unsigned char)*p)) return member;
    } else if (p[1] == '-' && p + 2 < close) {
      if ((unsigned char)p[0] <= c && c <= (unsigned char)p[2]) return member;
      p += 2;
    } else if ((unsigned char)*p == c) {
      return member;
    }
  }
  return !member;
}

/* ---- budget ---- */

static void budget_due(lp_state *ms) {
  ms->steps_left = LP_STEP_INTERVAL;
  if (ms->budget) ms->budget(ms->L);
}

static inline void tick(lp_state *ms) {
  if (--ms->steps_left <= 0) budget_due(ms);
}

void lp_count_steps(lp_state *ms, int n) {
  ms->steps_left -= n;
  if (ms->steps_left <= 0) budget_due(ms);
}

/* ---- pattern items ---- */

/* The end of the single-character class starting at p. */
static const char *class_end(lp_state *ms, const char *p) {
  char c = *p++;
  if (c == '%') {
    if (p == ms->p_end) luaL_error(ms->L, "malformed pattern (ends with '%%')");
    return p + 1;
  }
  if (c != '[') return p;
  if (p < ms->p_end && *p == '^') p++;
  do { /* the first character of a set is a member even when it is ']' */
    if (p == ms->p_end) luaL_error(ms->L, "malformed pattern (missing ']')");
    c = *p++;
    if (c == '%' && p < ms->p_end) p++;
  } while (p == ms->p_end || *p != ']');
  return p + 1;
}

/* Whether c matches the single-character class [p, ep). */
static int single_matches(int c, const char *p, const char *ep) {
  switch (*p) {
  case '.': return 1;
  case '%': return class_matches(c, (unsigned char)p[1]);
  case '[': return set_matches(c, p, ep - 1);
  default: return (unsigned char)*p == c;
  }
}

static const char *do_match(lp_state *ms, const char *s, const char *p);

/* Greedy repetition of the class [p, ep) from s, then the rest at ep+1. */
static const char *max_expand(lp_state *ms, const char *s, const char *p,
                              const char *ep) {
  ptrdiff_t n = 0;
  while (s + n < ms->src_end && single_matches((unsigned char)s[n], p, ep)) {
    n++;
    tick(ms);
  }
  for (; n >= 0; n--) {
    const char *r = do_match(ms, s + n, ep + 1);
    if (r) return r;
  }
  return NULL;
}

/* Lazy repetition: the rest first, one more character when it fails. */
static const char *min_expand(lp_state *ms, const char *s, const char *p,
                              const char *ep) {
  for (;;) {
    const char *r = do_match(ms, s, ep + 1);
    if (r) return r;
    if (s < ms->src_end && single_matches((unsigned char)*s, p, ep)) s++;
    else return NULL;
  }
}

static const char *start_capture(lp_state *ms, const char *s, const char *p,
                                 ptrdiff_t kind) {
  if (ms->level >= LP_MAXCAPTURES) luaL_error(ms->L, "too many captures");
  ms->capture[ms->level].init = s;
  ms->capture[ms->level].len = kind;
  ms->level++;
  const char *r = do_match(ms, s, p);
  if (!r) ms->level--;
  return r;
}

static int last_open_capture(lp_state *ms) {
  for (int l = ms->level - 1; l >= 0; l--)
    if (ms->capture[l].len == LP_CAP_OPEN) return l;
  return luaL_error(ms->L, "invalid pattern capture");
}

static const char *end_capture(lp_state *ms, const char *s, const char *p) {
  int l = last_open_capture(ms);
  ms->capture[l].len = s - ms->capture[l].init;
  const char *r = do_match(ms, s, p);
  if (!r) ms->capture[l].len = LP_CAP_OPEN;
  return r;
}

/* %bxy at s; args points at x. */
static const char *match_balance(lp_state *ms, const char *s, const char *args) {
  if (args + 1 >= ms->p_end)
    luaL_error(ms->L, "malformed pattern (missing arguments to '%%b')");
  if (s >= ms->src_end || *s != args[0]) return NULL;
  int depth = 1;
  while (++s < ms->src_end) {
    tick(ms);
    if (*s == args[1]) {
      if (--depth == 0) return s + 1;
    } else if (*s == args[0]) {
      depth++;
    }
  }
  return NULL;
}

/* %f[set] at s; *pp points at '%' and moves past the set on success. */
static int match_frontier(lp_state *ms, const char *s, const char **pp) {
  const char *set = *pp + 2;
  if (set >= ms->p_end || *set != '[')
    luaL_error(ms->L, "missing '[' after '%%f' in pattern");
  const char *ep = class_end(ms, set);
  int prev = (s == ms->src_init) ? 0 : (unsigned char)s[-1];
  int cur = (s < ms->src_end) ? (unsigned char)*s : 0;
  if (set_matches(prev, set, ep - 1) || !set_matches(cur, set, ep - 1)) return 0;
  *pp = ep;
  return 1;
}

/* %1-%9 at s. */
static const char *match_backref(lp_state *ms, const char *s, int digit) {
  int l = digit - '1';
  if (l < 0 || l >= ms->level || ms->capture[l].len == LP_CAP_OPEN)
    luaL_error(ms->L, "invalid capture index %%%d", l + 1);
  ptrdiff_t len = ms->capture[l].len;
  if (len < 0) return NULL; /* a position is never equal to a substring */
  lp_count_steps(ms, (int)(len >> 8));
  if (ms->src_end - s >= len && memcmp(ms->capture[l].init, s, (size_t)len) == 0)
    return s + len;
  return NULL;
}

/* Matches the items of [p, p_end) in sequence; recursion only where the
 * rest of the pattern must be tried from several positions. */
static const char *match_items(lp_state *ms, const char *s, const char *p) {
  while (p != ms->p_end) {
    tick(ms);
    switch (*p) {
    case '(':
      if (p + 1 < ms->p_end && p[1] == ')')
        return start_capture(ms, s, p + 2, LP_CAP_POSITION);
      return start_capture(ms, s, p + 1, LP_CAP_OPEN);
    case ')':
      return end_capture(ms, s, p + 1);
    case '$':
      if (p + 1 == ms->p_end) return s == ms->src_end ? s : NULL;
      break;
    case '%':
      if (p + 1 == ms->p_end) break; /* class_end reports it */
      if (p[1] == 'b') {
        s = match_balance(ms, s, p + 2);
        if (!s) return NULL;
        p += 4;
        continue;
      }
      if (p[1] == 'f') {
        if (!match_frontier(ms, s, &p)) return NULL;
        continue;
      }
      if (is_digit((unsigned char)p[1])) {
        s = match_backref(ms, s, p[1]);
        if (!s) return NULL;
        p += 2;
        continue;
      }
      break;
    default:
      break;
    }
    const char *ep = class_end(ms, p);
    char suffix = ep < ms->p_end ? *ep : '\0';
    if (s >= ms->src_end || !single_matches((unsigned char)*s, p, ep)) {
      if (suffix != '*' && suffix != '?' && suffix != '-') return NULL;
      p = ep + 1; /* an optional item that cannot match here: skip it */
      continue;
    }
    switch (suffix) {
    case '?': {
      const char *r = do_match(ms, s + 1, ep + 1);
      if (r) return r;
      p = ep + 1;
      continue;
    }
    case '+':
      return max_expand(ms, s + 1, p, ep);
    case '*':
      return max_expand(ms, s, p, ep);
    case '-':
      return min_expand(ms, s, p, ep);
    default:
      s++;
      p = ep;
      continue;
    }
  }
  return s;
}

static const char *do_match(lp_state *ms, const char *s, const char *p) {
  if (ms->depth_left-- == 0) luaL_error(ms->L, "pattern too complex");
  const char *r = match_items(ms, s, p);
  ms->depth_left++;
  return r;
}

/* ---- public entry points ---- */

void lp_init(lp_state *ms, lua_State *L, ub_budget_fn budget,
             const char *s, size_t ls, const char *p, size_t lp) {
  ms->L = L;
  ms->budget = budget;
  ms->src_init = s;
  ms->src_end = s + ls;
  ms->p_end = p + lp;
  ms->steps_left = LP_STEP_INTERVAL;
  lp_reset(ms);
}

void lp_reset(lp_state *ms) {
  ms->level = 0;
  ms->depth_left = LP_MAXDEPTH;
}

const char *lp_match(lp_state *ms, const char *s, const char *p) {
  return do_match(ms, s, p);
}

void lp_push_capture(lp_state *ms, int i, const char *s, const char *e) {
  if (i >= ms->level) {
    if (i != 0) luaL_error(ms->L, "invalid capture index %%%d", i + 1);
    lua_pushlstring(ms->L, s, (size_t)(e - s));
    return;
  }
  ptrdiff_t len = ms->capture[i].len;
  if (len == LP_CAP_OPEN) luaL_error(ms->L, "unfinished capture");
  if (len == LP_CAP_POSITION)
    lua_pushinteger(ms->L, (lua_Integer)(ms->capture[i].init - ms->src_init) + 1);
  else
    lua_pushlstring(ms->L, ms->capture[i].init, (size_t)len);
}

int lp_push_captures(lp_state *ms, const char *s, const char *e) {
  int n = (ms->level == 0 && s) ? 1 : ms->level;
  luaL_checkstack(ms->L, n, "too many captures");
  for (int i = 0; i < n; i++) lp_push_capture(ms, i, s, e);
  return n;
}

int lp_has_specials(const char *p, size_t lp) {
  for (size_t i = 0; i < lp; i++)
    if (p[i] != '\0' && strchr("^$*+?.([%-", p[i])) return 1;
  return 0;
}
