/* options.h: the one command-line option parser every command uses. A
 * command describes its options in a table (name, kind, where the value
 * goes, the accepted range of a number); the parser checks every value the
 * same way and answers a usage error naming the option:
 *   unbreakable gate: --window: '1e-300' is below the minimum of 1
 * Long options only ("--name VALUE" or "--name=VALUE"), plus -h; "--" ends
 * the options. Positional arguments may appear anywhere unless the table's
 * caller asks to stop at the first one (`dt CALL ...`). */
#ifndef UB_OPTIONS_H
#define UB_OPTIONS_H

#include <stddef.h>

typedef enum ub_opt_kind {
  UB_OPT_FLAG,     /* no value; *(int *)dest = 1 */
  UB_OPT_STRING,   /* *(const char **)dest = value (may be "") */
  UB_OPT_PATH,     /* like STRING, but an empty value is a usage error */
  UB_OPT_NUMBER,   /* *(double *)dest, checked: finite, in [min, max] */
  UB_OPT_LIST      /* repeatable: appended to *(ub_opt_list *)dest */
} ub_opt_kind;

/* Values of a repeatable option, in order; ub_opt_list_free frees it. */
typedef struct ub_opt_list {
  const char **items;
  size_t n, cap;
} ub_opt_list;

typedef struct ub_opt {
  const char *name;        /* without the leading "--" */
  ub_opt_kind kind;
  void *dest;
  double min, max;         /* UB_OPT_NUMBER: accepted range (inclusive) */
  int whole;               /* UB_OPT_NUMBER: must be a whole number */
  int above_min;           /* UB_OPT_NUMBER: must be > min, not >= */
  const char *unit;        /* UB_OPT_NUMBER: "minutes", "seconds"... for messages */
  int *seen;               /* optional: set to 1 when the option is given */
} ub_opt;

typedef struct ub_opt_spec {
  const char *cmd;         /* "gate": messages read "unbreakable gate: ..." */
  const char *help;        /* printed on stdout for --help / -h */
  const ub_opt *opts;      /* terminated by an entry with name NULL */
  int stop_at_positional;  /* 1: the first positional argument ends the options */
} ub_opt_spec;

/* Table entries: UB_NUMBER takes the range, then optional designated
 * fields (.whole = 1, .above_min = 1, .unit = "(minutes)", .seen = &x). */
#define UB_FLAG(n, d) {.name = (n), .kind = UB_OPT_FLAG, .dest = (d)}
#define UB_STRING(n, d) {.name = (n), .kind = UB_OPT_STRING, .dest = (d)}
#define UB_PATH(n, d) {.name = (n), .kind = UB_OPT_PATH, .dest = (d)}
#define UB_LIST(n, d) {.name = (n), .kind = UB_OPT_LIST, .dest = (d)}
#define UB_NUMBER(n, d, lo, hi, ...) \
  {.name = (n), .kind = UB_OPT_NUMBER, .dest = (d), .min = (lo), .max = (hi), __VA_ARGS__}
#define UB_OPTS_END {.name = NULL}

enum { UB_OPTS_HELP = -1 };

/* Parses argv[1..argc-1]. Positional arguments are collected into pos (at
 * most max_pos; more is a usage error) and counted in *npos. With
 * stop_at_positional the options end at the first positional argument:
 * *rest gets its argv index (argc when there is none) and nothing is
 * collected; otherwise *rest is argc. rest may be NULL.
 * Returns 0, UB_OPTS_HELP after printing the help, or UB_EXIT_USAGE after
 * printing the error. */
int ub_opts_parse(const ub_opt_spec *spec, int argc, char **argv, const char **pos, int max_pos,
                  int *npos, int *rest);

void ub_opt_list_free(ub_opt_list *l);

/* Checked number parsing shared by options and positional arguments:
 * plain decimal text (no blanks, hex, inf or nan), finite, in [min, max]
 * (above min when above_min), whole when asked. Returns 0, or -1 with why
 * set to a short reason ("is not a number", "is below the minimum of 1"). */
int ub_parse_number(const char *text, double min, double max, int whole, int above_min,
                    double *out, char *why, size_t whylen);

/* An evaluation id: a whole number from 1 up. 0 or -1. */
int ub_parse_id(const char *text, long long *id);

#endif
