/* Folder policytest/: `unbreakable test`, the policy authors' test runner.
 * Spec files (*_spec.lua, busted style) run in the sandbox with the same
 * modules and limits as a gate, one fresh sandbox evaluation and budget per
 * spec file (pt_run.c); the spec's helpers that reach the host live in the
 * native module unbreakable.spechost (pt_spechost.c); line coverage comes
 * from the sandbox's line hook (pt_coverage.c). May call sandbox/,
 * lualib/, dynatrace/ (replay only), report/ and util/. */
/* policytest.h: running spec files and collecting coverage. */
#ifndef UB_POLICYTEST_H
#define UB_POLICYTEST_H

#include <stddef.h>

#include "sandbox/sandbox.h"
#include "util/buf.h"

/* ---- coverage (pt_coverage.c) ---- */

typedef struct pt_coverage pt_coverage;

pt_coverage *pt_coverage_new(void);
void pt_coverage_free(pt_coverage *c);
/* The sandbox line hook (sb_set_line_hook) that records into c. */
void pt_coverage_hook(void *c, const char *source, int line);
/* Adds a file that should be reported even when no line of it ran. */
void pt_coverage_add_file(pt_coverage *c, const char *path);
/* Keeps only the files keep() accepts (e.g. not specs, not the stdlib). */
void pt_coverage_filter(pt_coverage *c, int (*keep)(const char *path, void *ud), void *ud);
/* Lines that hold code and lines run, over every reported file. */
void pt_coverage_totals(const pt_coverage *c, size_t *lines, size_t *hit);
/* The per-file table (text), the JSON report and the lcov tracefile. */
void pt_coverage_table(const pt_coverage *c, ub_buf *out);
void pt_coverage_json(const pt_coverage *c, ub_buf *out);
void pt_coverage_lcov(const pt_coverage *c, ub_buf *out);
/* Lines of Lua source that hold code (not blank, comment or a lone
 * closing keyword/bracket): flags[i] for line i+1. Caller frees. */
unsigned char *pt_code_lines(const char *src, size_t len, size_t *nlines);

/* ---- running specs (pt_run.c) ---- */

typedef struct pt_case {
  char *name;          /* "block ... test" */
  char *status;        /* pass, fail, error, pending */
  char *message;       /* why it failed, or NULL */
  char *where;         /* file:line of the failing assertion, or NULL */
} pt_case;

typedef struct pt_file_result {
  char *path;
  pt_case *cases;
  size_t ncases;
  char *log;           /* what the spec printed (bounded), or NULL */
  size_t log_len;
} pt_file_result;

typedef struct pt_options {
  sb_limits limits;        /* per spec file */
  const char *run;         /* run only tests whose full name contains it */
  pt_coverage *coverage;   /* NULL: no coverage */
} pt_options;

/* Runs one spec file in a fresh sandbox. Always fills out (a spec that
 * cannot run becomes one "error" case). Returns 0, or -1 when the host
 * itself failed (out of memory). */
int pt_run_spec(const char *path, const pt_options *o, pt_file_result *out);
void pt_file_result_free(pt_file_result *r);

/* ---- the spec host module (pt_spechost.c) ---- */

/* What the helpers of one spec file need: its folder, the recording the
 * Dynatrace stand-in answers from. */
typedef struct pt_spec_env pt_spec_env;
pt_spec_env *pt_spec_env_new(const char *dir);
void pt_spec_env_free(pt_spec_env *e);
/* sb_prepare_fn: binds the env and the Dynatrace stand-in in L. */
int pt_spec_env_prepare(lua_State *L, void *env);
int luaopen_unbreakable_spechost(lua_State *L);

#endif
