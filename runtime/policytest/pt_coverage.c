/* pt_coverage.c: line coverage of policies and modules, fed by the
 * sandbox's line hook. A file's denominator is the lines that hold code
 * (pt_code_lines: not blank, not a comment, not only `end`, `else`, `do`,
 * `then` or brackets) plus any other line that ran, so a file is never
 * more than 100% covered. Reports: a text table, JSON, lcov. */
#include "policytest/policytest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"

typedef struct cov_file {
  char *path;
  unsigned *hits;       /* hits[i]: times line i+1 ran */
  size_t nhits;
  unsigned char *code;  /* from pt_code_lines, or NULL when unreadable */
  size_t ncode;
} cov_file;

struct pt_coverage {
  cov_file *files;
  size_t n;
  size_t last;          /* the file of the previous line event */
};

pt_coverage *pt_coverage_new(void) { return calloc(1, sizeof(pt_coverage)); }

static void free_file(cov_file *f) {
  free(f->path);
  free(f->hits);
  free(f->code);
}

void pt_coverage_free(pt_coverage *c) {
  if (!c) return;
  for (size_t i = 0; i < c->n; i++) free_file(&c->files[i]);
  free(c->files);
  free(c);
}

static cov_file *find_file(pt_coverage *c, const char *path) {
  while (path[0] == '.' && path[1] == '/') path += 2; /* "./x.lua" is "x.lua" */
  if (c->last < c->n && strcmp(c->files[c->last].path, path) == 0) return &c->files[c->last];
  for (size_t i = 0; i < c->n; i++)
    if (strcmp(c->files[i].path, path) == 0) {
      c->last = i;
      return &c->files[i];
    }
  cov_file *grown = realloc(c->files, (c->n + 1) * sizeof *grown);
  if (!grown) return NULL;
  c->files = grown;
  cov_file *f = &c->files[c->n];
  memset(f, 0, sizeof *f);
  f->path = strdup(path);
  if (!f->path) return NULL;
  c->last = c->n++;
  return f;
}

void pt_coverage_hook(void *ud, const char *source, int line) {
  pt_coverage *c = ud;
  if (!source || source[0] != '@' || line <= 0) return;
  cov_file *f = find_file(c, source + 1);
  if (!f) return;
  if ((size_t)line > f->nhits) {
    size_t n = (size_t)line + 64;
    unsigned *grown = realloc(f->hits, n * sizeof *grown);
    if (!grown) return;
    memset(grown + f->nhits, 0, (n - f->nhits) * sizeof *grown);
    f->hits = grown;
    f->nhits = n;
  }
  f->hits[line - 1]++;
}

void pt_coverage_add_file(pt_coverage *c, const char *path) { find_file(c, path); }

void pt_coverage_filter(pt_coverage *c, int (*keep)(const char *path, void *ud), void *ud) {
  size_t w = 0;
  for (size_t i = 0; i < c->n; i++) {
    if (keep(c->files[i].path, ud)) c->files[w++] = c->files[i];
    else free_file(&c->files[i]);
  }
  c->n = w;
  c->last = 0;
}

/* ---- which lines hold code ---- */

/* Length of the opening of a long bracket at s ("[[", "[==["), or 0. */
static size_t long_open(const char *s, const char *end, int *level) {
  if (s >= end || *s != '[') return 0;
  const char *p = s + 1;
  int n = 0;
  while (p < end && *p == '=') { n++; p++; }
  if (p >= end || *p != '[') return 0;
  *level = n;
  return (size_t)(p - s) + 1;
}

static int long_close_at(const char *s, const char *end, int level) {
  if (s >= end || *s != ']') return 0;
  const char *p = s + 1;
  for (int i = 0; i < level; i++, p++)
    if (p >= end || *p != '=') return 0;
  return p < end && *p == ']' ? (int)(p - s) + 1 : 0;
}

static int is_word(const char *w, size_t n, const char *kw) {
  return strlen(kw) == n && memcmp(w, kw, n) == 0;
}

/* A token that alone never makes a line run. */
static int is_filler(const char *w, size_t n) {
  static const char *const words[] = {"end", "else", "do", "then", "repeat", "}", ")", "]",
                                      "{", "(", ",", ";", "end)", "end,", "},", "})", "),",
                                      "local", NULL};
  for (int i = 0; words[i]; i++)
    if (is_word(w, n, words[i])) return 1;
  return 0;
}

static int starts_with(const char *s, const char *end, const char *prefix) {
  size_t n = strlen(prefix);
  return (size_t)(end - s) >= n && memcmp(s, prefix, n) == 0;
}

/* A line that only opens a function whose closure Lua creates at the line
 * of its `end` ("local function f(", "return function(", "x = function(").
 * `function M.f(` lines are code: Lua places that definition on its first
 * line. */
static int is_function_opener(const char *p, const char *eol) {
  while (p < eol && (*p == ' ' || *p == '\t')) p++;
  if (starts_with(p, eol, "local function ") || starts_with(p, eol, "return function")) return 1;
  for (const char *q = p; q < eol; q++) {
    if (*q == '(' || *q == '"' || *q == '\'' || *q == '-') return 0;
    if (*q == '=' && q + 1 < eol && q[1] != '=') {
      q++;
      while (q < eol && *q == ' ') q++;
      return starts_with(q, eol, "function");
    }
  }
  return 0;
}

unsigned char *pt_code_lines(const char *src, size_t len, size_t *nlines) {
  size_t lines = 1;
  for (size_t i = 0; i < len; i++) lines += src[i] == '\n';
  unsigned char *code = calloc(lines, 1);
  if (!code) return NULL;
  *nlines = lines;
  const char *p = src, *end = src + len;
  size_t line = 0;
  int in_long = 0, long_level = 0, long_is_comment = 0;
  if (p + 1 < end && p[0] == '#' && p[1] == '!') /* shebang */
    while (p < end && *p != '\n') p++;
  while (p < end) {
    /* one line: scan tokens; a line holds code when a non-filler token
     * starts on it, or a long string starts on it */
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) eol = end;
    const char *q = p;
    while (q < eol) {
      if (in_long) {
        int k = long_close_at(q, eol, long_level);
        if (k) { in_long = 0; q += k; if (!long_is_comment) code[line] = 1; continue; }
        q++;
        continue;
      }
      if (*q == ' ' || *q == '\t' || *q == '\r') { q++; continue; }
      if (q + 1 < eol && q[0] == '-' && q[1] == '-') {
        int lvl;
        size_t k = long_open(q + 2, eol, &lvl);
        if (k) { in_long = 1; long_level = lvl; long_is_comment = 1; q += 2 + k; continue; }
        break; /* line comment */
      }
      int lvl;
      size_t k = long_open(q, eol, &lvl);
      if (k) { in_long = 1; long_level = lvl; long_is_comment = 0; code[line] = 1; q += k; continue; }
      if (*q == '"' || *q == '\'') {
        char quote = *q++;
        while (q < eol && *q != quote) q += (*q == '\\' && q + 1 < eol) ? 2 : 1;
        if (q < eol) q++;
        code[line] = 1;
        continue;
      }
      const char *w = q;
      while (q < eol && *q != ' ' && *q != '\t' && *q != '\r' && *q != '"' && *q != '\'' &&
             !(q + 1 < eol && q[0] == '-' && q[1] == '-'))
        q++;
      if (!is_filler(w, (size_t)(q - w))) code[line] = 1;
    }
    if (code[line] && is_function_opener(p, eol)) code[line] = 0;
    p = eol < end ? eol + 1 : end;
    line++;
  }
  return code;
}

static void load_code_lines(cov_file *f) {
  if (f->code) return;
  char err[256];
  size_t len;
  char *src = ub_read_all(f->path, (size_t)16 << 20, &len, err, sizeof err);
  if (!src) return;
  f->code = pt_code_lines(src, len, &f->ncode);
  free(src);
}

static int line_counts(const cov_file *f, size_t i) {
  return (i < f->ncode && f->code[i]) || (i < f->nhits && f->hits[i]);
}

static void file_totals(cov_file *f, size_t *lines, size_t *hit) {
  load_code_lines(f);
  size_t n = f->ncode > f->nhits ? f->ncode : f->nhits;
  *lines = *hit = 0;
  for (size_t i = 0; i < n; i++) {
    if (!line_counts(f, i)) continue;
    (*lines)++;
    if (i < f->nhits && f->hits[i]) (*hit)++;
  }
}

void pt_coverage_totals(const pt_coverage *c, size_t *lines, size_t *hit) {
  *lines = *hit = 0;
  for (size_t i = 0; i < c->n; i++) {
    size_t l, h;
    file_totals(&c->files[i], &l, &h);
    *lines += l;
    *hit += h;
  }
}

static int by_path(const void *a, const void *b) {
  return strcmp(((const cov_file *)a)->path, ((const cov_file *)b)->path);
}

static double pct(size_t hit, size_t lines) { return lines ? 100.0 * (double)hit / (double)lines : 100.0; }

void pt_coverage_table(const pt_coverage *c, ub_buf *out) {
  qsort(c->files, c->n, sizeof *c->files, by_path);
  ub_buf_printf(out, "%-60s %7s %7s %7s\n", "File", "Lines", "Hit", "Cover");
  for (size_t i = 0; i < c->n; i++) {
    size_t l, h;
    file_totals(&c->files[i], &l, &h);
    ub_buf_printf(out, "%-60s %7zu %7zu %6.1f%%\n", c->files[i].path, l, h, pct(h, l));
  }
  size_t l, h;
  pt_coverage_totals(c, &l, &h);
  ub_buf_printf(out, "%-60s %7zu %7zu %6.1f%%\n", "Total", l, h, pct(h, l));
}

void pt_coverage_json(const pt_coverage *c, ub_buf *out) {
  qsort(c->files, c->n, sizeof *c->files, by_path);
  size_t tl, th;
  pt_coverage_totals(c, &tl, &th);
  char num[32];
  json_format_double(pct(th, tl), 0, num);
  ub_buf_printf(out, "{\"lines\":%zu,\"hit\":%zu,\"percent\":%s,\"files\":[", tl, th, num);
  for (size_t i = 0; i < c->n; i++) {
    cov_file *f = &c->files[i];
    size_t l, h;
    file_totals(f, &l, &h);
    json_format_double(pct(h, l), 0, num);
    ub_buf_puts(out, i ? ",{\"path\":" : "{\"path\":");
    json_append_string(out, f->path, strlen(f->path));
    ub_buf_printf(out, ",\"lines\":%zu,\"hit\":%zu,\"percent\":%s,\"line_hits\":{", l, h, num);
    size_t n = f->ncode > f->nhits ? f->ncode : f->nhits;
    int first = 1;
    for (size_t k = 0; k < n; k++) {
      if (!line_counts(f, k)) continue;
      ub_buf_printf(out, "%s\"%zu\":%u", first ? "" : ",", k + 1, k < f->nhits ? f->hits[k] : 0);
      first = 0;
    }
    ub_buf_puts(out, "}}");
  }
  ub_buf_puts(out, "]}\n");
}

void pt_coverage_lcov(const pt_coverage *c, ub_buf *out) {
  qsort(c->files, c->n, sizeof *c->files, by_path);
  for (size_t i = 0; i < c->n; i++) {
    cov_file *f = &c->files[i];
    size_t l, h;
    file_totals(f, &l, &h);
    ub_buf_printf(out, "TN:\nSF:%s\n", f->path);
    size_t n = f->ncode > f->nhits ? f->ncode : f->nhits;
    for (size_t k = 0; k < n; k++)
      if (line_counts(f, k)) ub_buf_printf(out, "DA:%zu,%u\n", k + 1, k < f->nhits ? f->hits[k] : 0);
    ub_buf_printf(out, "LF:%zu\nLH:%zu\nend_of_record\n", l, h);
  }
}
