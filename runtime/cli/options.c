/* options.c: the table-driven option parser of every command (options.h)
 * and the checked number parsing it shares with positional arguments. */
#include "cli/options.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* ---- numbers -------------------------------------------------------------- */

/* Plain decimal text: an optional '-', digits, '.', an exponent. Refuses
 * what strtod would also take: blanks, '+', hex, inf, nan. */
static int is_decimal_text(const char *s) {
  if (*s == '-') s++;
  if (!(*s >= '0' && *s <= '9') && *s != '.') return 0;
  for (; *s; s++)
    if (!((*s >= '0' && *s <= '9') || *s == '.' || *s == 'e' || *s == 'E' || *s == '-' || *s == '+'))
      return 0;
  return 1;
}

int ub_parse_number(const char *text, double min, double max, int whole, int above_min,
                    double *out, char *why, size_t whylen) {
  char *end;
  if (!text || !is_decimal_text(text)) {
    snprintf(why, whylen, "is not a number");
    return -1;
  }
  errno = 0;
  double v = strtod(text, &end);
  if (end == text || *end) {
    snprintf(why, whylen, "is not a number");
    return -1;
  }
  if (!isfinite(v) || (errno == ERANGE && fabs(v) > 1)) {
    snprintf(why, whylen, "is out of range (at most %g)", max);
    return -1;
  }
  if (whole && v != floor(v)) {
    snprintf(why, whylen, "is not a whole number");
    return -1;
  }
  if (above_min ? !(v > min) : !(v >= min)) {
    snprintf(why, whylen, above_min ? "must be more than %g" : "is below the minimum of %g", min);
    return -1;
  }
  if (v > max) {
    snprintf(why, whylen, "is above the maximum of %g", max);
    return -1;
  }
  *out = v;
  return 0;
}

int ub_parse_id(const char *text, long long *id) {
  char why[64];
  double v;
  if (ub_parse_number(text, 1, 9007199254740992.0, 1, 0, &v, why, sizeof why) != 0) return -1;
  *id = (long long)v;
  return 0;
}

/* ---- lists ------------------------------------------------------------------ */

void ub_opt_list_free(ub_opt_list *l) {
  free(l->items);
  memset(l, 0, sizeof *l);
}

static int list_add(ub_opt_list *l, const char *value) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 8;
    const char **grown = realloc(l->items, cap * sizeof *grown);
    if (!grown) return -1;
    l->items = grown;
    l->cap = cap;
  }
  l->items[l->n++] = value;
  return 0;
}

/* ---- options ------------------------------------------------------------------ */

static const ub_opt *find_option(const ub_opt *opts, const char *name, size_t len) {
  for (const ub_opt *o = opts; o->name; o++)
    if (strlen(o->name) == len && strncmp(o->name, name, len) == 0) return o;
  return NULL;
}

static int set_value(const ub_opt_spec *spec, const ub_opt *o, const char *value) {
  char why[128];
  double v;
  switch (o->kind) {
    case UB_OPT_PATH:
      if (!*value)
        return ub_usage_error(spec->cmd, "--%s: the path is empty (give a file name)", o->name);
      /* fall through */
    case UB_OPT_STRING: *(const char **)o->dest = value; break;
    case UB_OPT_NUMBER:
      if (ub_parse_number(value, o->min, o->max, o->whole, o->above_min, &v, why, sizeof why) != 0)
        return ub_usage_error(spec->cmd, "--%s: '%s' %s%s%s", o->name, value, why,
                              o->unit ? " " : "", o->unit ? o->unit : "");
      *(double *)o->dest = v;
      break;
    case UB_OPT_LIST:
      if (list_add(o->dest, value) != 0) return ub_usage_error(spec->cmd, "out of memory");
      break;
    case UB_OPT_FLAG: *(int *)o->dest = 1; break;
  }
  if (o->seen) *o->seen = 1;
  return 0;
}

/* One "--name[=value]" at argv[*i]; advances *i past its value. */
static int take_option(const ub_opt_spec *spec, int argc, char **argv, int *i) {
  const char *arg = argv[*i] + 2, *eq = strchr(arg, '=');
  size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
  if (len == 4 && strncmp(arg, "help", 4) == 0 && !eq) {
    fputs(spec->help, stdout);
    return UB_OPTS_HELP;
  }
  const ub_opt *o = find_option(spec->opts, arg, len);
  if (!o) return ub_usage_error(spec->cmd, "unknown option '--%.*s'", (int)len, arg);
  if (o->kind == UB_OPT_FLAG) {
    if (eq) return ub_usage_error(spec->cmd, "--%s takes no value", o->name);
    return set_value(spec, o, NULL);
  }
  const char *value = eq ? eq + 1 : NULL;
  if (!value) {
    if (*i + 1 >= argc) return ub_usage_error(spec->cmd, "--%s needs a value", o->name);
    value = argv[++*i];
  }
  return set_value(spec, o, value);
}

int ub_opts_parse(const ub_opt_spec *spec, int argc, char **argv, const char **pos, int max_pos,
                  int *npos, int *rest) {
  int only_positional = 0, n = 0;
  if (rest) *rest = argc;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int is_option = !only_positional && a[0] == '-' && a[1] != '\0';
    if (is_option && strcmp(a, "--") == 0) { only_positional = 1; continue; }
    if (is_option && strcmp(a, "-h") == 0) { fputs(spec->help, stdout); return UB_OPTS_HELP; }
    if (is_option && a[1] == '-') {
      int rc = take_option(spec, argc, argv, &i);
      if (rc != 0) return rc;
      continue;
    }
    if (is_option && !(a[1] >= '0' && a[1] <= '9'))
      return ub_usage_error(spec->cmd, "unknown option '%s'", a);
    if (spec->stop_at_positional) {
      if (rest) *rest = i;
      break;
    }
    if (n >= max_pos) return ub_usage_error(spec->cmd, "unexpected argument '%s'", a);
    pos[n++] = a;
  }
  if (npos) *npos = n;
  return 0;
}
