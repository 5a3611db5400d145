/* ledger_redact.c: one forward scan over the text; at each byte the rules
 * of ledger_redact.h are tried in order, the first that matches writes its
 * replacement and says how many input bytes it consumed. */
#include "ledger/ledger_redact.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MASK "***"

typedef struct scan {
  const char *in;
  size_t len;
  ub_buf *out;
  size_t str_from, str_end;   /* the last string_end(): from a quote, its answer */
} scan;

static int is_word_char(char c) {
  return isalnum((unsigned char)c) || c == '-' || c == '_';
}

/* Bytes that end a credential value in headers, URLs and JSON text. */
static int ends_value(char c) {
  return isspace((unsigned char)c) || strchr("\"',;&<>\\)}]#", c) != NULL;
}

static int starts_with_ci(const scan *s, size_t i, const char *word) {
  size_t n = strlen(word);
  return i + n <= s->len && strncasecmp(s->in + i, word, n) == 0;
}

static size_t value_end(const scan *s, size_t i) {
  while (i < s->len && !ends_value(s->in[i])) i++;
  return i;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int hex_at(const scan *s, size_t i, size_t digits) {
  int v = 0;
  if (i + digits > s->len) return -1;
  for (size_t k = 0; k < digits; k++) {
    int h = hex_value(s->in[i + k]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

/* The byte at i as written through one JSON escape (\/, \u002F) or one
 * percent-encoding (%2F), else the byte itself. Returns the bytes read,
 * 0 at the end; *escaped says whether an escape was decoded. */
static size_t decode_at(const scan *s, size_t i, unsigned char *c, int *escaped) {
  *escaped = 1;
  if (i >= s->len) return 0;
  if (s->in[i] == '\\' && i + 1 < s->len) {
    char e = s->in[i + 1];
    int v = e == 'u' ? hex_at(s, i + 2, 4) : -1;
    if (v > 0 && v < 0x80) { *c = (unsigned char)v; return 6; }
    if (e == '/' || e == '\\' || e == '"') { *c = (unsigned char)e; return 2; }
  }
  if (s->in[i] == '%') {
    int v = hex_at(s, i + 1, 2);
    if (v > 0) { *c = (unsigned char)v; return 3; }
  }
  *escaped = 0;
  *c = (unsigned char)s->in[i];
  return 1;
}

/* Input bytes from i that spell secret, escapes decoded, or 0. */
static size_t encoded_match(const scan *s, size_t i, const char *secret) {
  size_t j = i;
  for (const char *p = secret; *p; p++) {
    unsigned char c;
    int escaped;
    size_t n = decode_at(s, j, &c, &escaped);
    if (n == 0 || c != (unsigned char)*p) return 0;
    j += n;
  }
  return j - i;
}

static size_t match_secret(const scan *s, size_t i, const char *const *secrets,
                           size_t nsecrets) {
  char c = s->in[i];
  for (size_t k = 0; k < nsecrets; k++) {
    if (!secrets[k] || (secrets[k][0] != c && c != '\\' && c != '%')) continue; /* fast path */
    size_t n = strlen(secrets[k]);
    if (n > 0 && (i + n > s->len || memcmp(s->in + i, secrets[k], n) != 0))
      n = encoded_match(s, i, secrets[k]); /* as written, else with escapes decoded */
    if (n > 0) {
      ub_buf_puts(s->out, MASK);
      return n;
    }
  }
  return 0;
}

/* End of a token value: escaped bytes continue it when they decode to a
 * letter, digit or '.', plain bytes until ends_value(). */
static size_t token_end(const scan *s, size_t i) {
  for (;;) {
    unsigned char c;
    int escaped;
    size_t n = decode_at(s, i, &c, &escaped);
    if (n == 0 || (escaped ? !isalnum(c) && c != '.' : ends_value((char)c))) return i;
    i += n;
  }
}

/* dt0c01.<public>.<secret>: keep the prefix, mask the rest; the dot may
 * be escaped. */
static size_t match_dynatrace_token(const scan *s, size_t i) {
  const char *p = s->in + i;
  if (i + 7 > s->len || (i > 0 && is_word_char(s->in[i - 1]))) return 0;
  if (!(p[0] == 'd' && p[1] == 't' && p[2] == '0' && islower((unsigned char)p[3]) &&
        isdigit((unsigned char)p[4]) && isdigit((unsigned char)p[5])))
    return 0;
  unsigned char dot = 0;
  int escaped;
  size_t prefix = 6 + decode_at(s, i + 6, &dot, &escaped);
  if (dot != '.') return 0;
  size_t end = token_end(s, i + prefix);
  if (end == i + prefix) return 0;
  ub_buf_append(s->out, p, prefix);
  ub_buf_puts(s->out, MASK);
  return end - i;
}

/* A Basic credential is base64 ("dXNlcjpwYXNz"): at least 8 characters of
 * that alphabet with a digit, '+', '/', '=' or an upper-case letter after
 * the first. Plain words ("Basic checkout", "Basic Checkout") stay. */
static int looks_like_base64_credential(const char *p, size_t n) {
  int mixed = 0;
  if (n < 8) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (!isalnum(c) && c != '+' && c != '/' && c != '=') return 0;
    if (isdigit(c) || c == '+' || c == '/' || c == '=' || (i > 0 && isupper(c))) mixed = 1;
  }
  return mixed;
}

static size_t match_auth_scheme(const scan *s, size_t i) {
  static const char *const schemes[] = {"Api-Token", "Bearer", "Basic"};
  if (i > 0 && is_word_char(s->in[i - 1])) return 0;
  for (size_t k = 0; k < sizeof schemes / sizeof *schemes; k++) {
    size_t n = strlen(schemes[k]);
    if (!starts_with_ci(s, i, schemes[k])) continue;
    size_t v = i + n;
    while (v < s->len && (s->in[v] == ' ' || s->in[v] == '\t')) v++;
    if (v == i + n) return 0;
    size_t end = value_end(s, v);
    if (end == v) return 0;
    if (k == 2 && !looks_like_base64_credential(s->in + v, end - v)) return 0;
    ub_buf_append(s->out, s->in + i, v - i);
    ub_buf_puts(s->out, MASK);
    return end - i;
  }
  return 0;
}

static size_t match_query_param(const scan *s, size_t i) {
  static const char *const names[] = {"code=", "token=", "api-token=", "api_token=",
                                      "apitoken=", "access_token=", "sig="};
  if (i == 0 || !strchr("?&;", s->in[i - 1])) return 0;
  for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
    size_t n = strlen(names[k]);
    if (!starts_with_ci(s, i, names[k])) continue;
    size_t end = value_end(s, i + n);
    ub_buf_append(s->out, s->in + i, n);
    ub_buf_puts(s->out, MASK);
    return end - i;
  }
  return 0;
}

static int part_at(const char *s, size_t m, size_t i, const char *part, size_t len) {
  return i + len <= m && memcmp(s + i, part, len) == 0;
}

/* A JSON key that names a credential: it holds "token", "password" or
 * "secret", or it is "authorization", "apikey" or "api_key", in any case
 * (up to a NUL, as C strings compare). */
static int sensitive_key(const char *key, size_t n) {
  char lower[128];
  size_t m = 0;
  int maybe = 0; /* each name has a k, w, c or z: most keys have none */
  if (n < 5 || n >= sizeof lower) return 0; /* "token" is the shortest */
  for (; m < n && key[m] != '\0'; m++) {
    char c = key[m] >= 'A' && key[m] <= 'Z' ? (char)(key[m] + 32) : key[m];
    lower[m] = c;
    maybe |= c == 'k' || c == 'w' || c == 'c' || c == 'z';
  }
  if (!maybe) return 0;
  for (size_t i = 0; i + 5 <= m; i++) {
    if ((lower[i] == 't' && part_at(lower, m, i, "token", 5)) ||
        (lower[i] == 'p' && part_at(lower, m, i, "password", 8)) ||
        (lower[i] == 's' && part_at(lower, m, i, "secret", 6)))
      return 1;
  }
  return (m == 13 && memcmp(lower, "authorization", 13) == 0) ||
         (m == 6 && memcmp(lower, "apikey", 6) == 0) || (m == 7 && memcmp(lower, "api_key", 7) == 0);
}

/* Index just past the JSON string literal starting at the quote at i,
 * or 0 when it is not terminated. A quote inside the last string scanned
 * was escaped there, so its scan starts in step with that one and ends
 * where it ended: the answer is reused (escaped JSON inside a long string
 * would otherwise cost a scan to its end per quote). */
static size_t string_end(scan *s, size_t i) {
  size_t last = s->str_end ? s->str_end - 1 : s->len;
  if (s->str_from < i && i < last) return s->str_end; /* str_from starts at SIZE_MAX */
  s->str_from = i;
  s->str_end = 0;
  for (size_t j = i + 1; j < s->len; j++) {
    if (s->in[j] == '\\') j++;
    else if (s->in[j] == '"') return s->str_end = j + 1;
  }
  return 0;
}

static size_t skip_space(const scan *s, size_t i) {
  while (i < s->len && isspace((unsigned char)s->in[i])) i++;
  return i;
}

/* "key" : value, with a sensitive key: the value is masked. */
static size_t match_json_member(scan *s, size_t i) {
  if (s->in[i] != '"') return 0;
  size_t key_end = string_end(s, i);
  if (!key_end || !sensitive_key(s->in + i + 1, key_end - i - 2)) return 0;
  size_t colon = skip_space(s, key_end);
  if (colon >= s->len || s->in[colon] != ':') return 0;
  size_t v = skip_space(s, colon + 1);
  if (v >= s->len || strchr("{[n", s->in[v])) return 0;
  size_t end = s->in[v] == '"' ? string_end(s, v) : value_end(s, v);
  if (end == 0 || end == v) return 0;
  ub_buf_append(s->out, s->in + i, v - i);
  ub_buf_puts(s->out, "\"" MASK "\"");
  return end - i;
}

#define MIN_CORE 8

/* The base64 characters of secret written `shift` (0-2) bytes into a
 * 3-byte group that depend on the secret's bytes alone: they appear in any
 * base64 of a text holding the secret at that alignment (a Basic
 * credential "user:secret"). NULL when shorter than MIN_CORE. */
static char *base64_core(const char *secret, size_t shift, int *oom) {
  static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t n = strlen(secret), total = shift + n, nchars = (total + 2) / 3 * 4, m = 0;
  unsigned char *bytes = calloc(total + 3, 1);
  char *core = malloc(nchars + 1);
  if (!bytes || !core) {
    *oom = 1;
    free(bytes);
    free(core);
    return NULL;
  }
  memcpy(bytes + shift, secret, n);
  for (size_t j = 0; j < nchars; j++) {
    size_t bit = 6 * j;
    if (bit / 8 < shift || (bit + 5) / 8 >= total) continue;
    unsigned v = (((unsigned)bytes[bit / 8] << 8) | bytes[bit / 8 + 1]) >> (10 - bit % 8);
    core[m++] = digits[v & 63];
  }
  core[m] = '\0';
  free(bytes);
  if (m < MIN_CORE) {
    free(core);
    return NULL;
  }
  return core;
}

/* The secrets followed by their base64 cores; *nall entries, of which
 * the first nsecrets are borrowed. NULL when out of memory. */
static char **with_base64_cores(const char *const *secrets, size_t nsecrets, size_t *nall) {
  char **all = calloc(nsecrets * 4 + 1, sizeof *all);
  int oom = !all;
  *nall = 0;
  for (size_t k = 0; !oom && k < nsecrets; k++) all[(*nall)++] = (char *)secrets[k];
  for (size_t k = 0; !oom && k < nsecrets; k++) {
    for (size_t shift = 0; secrets[k] && *secrets[k] && shift < 3; shift++) {
      char *core = base64_core(secrets[k], shift, &oom);
      if (core) all[(*nall)++] = core;
    }
  }
  if (oom && all) {
    for (size_t k = nsecrets; k < *nall; k++) free(all[k]);
    free(all);
    all = NULL;
  }
  return all;
}

/* Which rules can match at a byte, so that most bytes are copied in runs
 * without trying any: a secret starts with one of secret_start[] (or an
 * escape that may spell it); a JSON key with '"'; a Dynatrace token with
 * 'd'; an auth scheme with a, A, b or B; a query parameter right after
 * one of after[] ('?', '&', ';', and NUL as strchr() counts it). */
typedef struct starts {
  unsigned char secret_start[256];
  unsigned char any_start[256];
  unsigned char after[256];
} starts;

static void fill_starts(char *const *all, size_t nall, starts *t) {
  memset(t, 0, sizeof *t);
  for (size_t k = 0; k < nall; k++) {
    if (!all[k] || !all[k][0]) continue;
    t->secret_start[(unsigned char)all[k][0]] = 1;
    t->secret_start['\\'] = t->secret_start['%'] = 1;
  }
  memcpy(t->any_start, t->secret_start, 256);
  for (const char *p = "\"dAaBb"; *p; p++) t->any_start[(unsigned char)*p] = 1;
  for (const char *p = "?&;"; *p; p++) t->after[(unsigned char)*p] = 1;
  t->after[0] = 1;
}

/* Index of the first byte from i at which a rule can match, or len. */
static size_t next_candidate(const scan *s, size_t i, const starts *t) {
  const unsigned char *p = (const unsigned char *)s->in;
  if (i > 0 && t->after[p[i - 1]]) return i;
  for (; i < s->len; i++)
    if (t->any_start[p[i]] || t->after[p[i]]) return t->any_start[p[i]] ? i : i + 1;
  return s->len;
}

/* The rules in order at candidate i: the first that matches writes its
 * replacement and returns the bytes it consumed; 0 when none does. */
static size_t match_rules(scan *s, size_t i, char *const *all, size_t nall,
                          const starts *t) {
  unsigned char c = (unsigned char)s->in[i];
  size_t n = 0;
  if (t->secret_start[c]) n = match_secret(s, i, (const char *const *)all, nall);
  if (!n && c == '"') n = match_json_member(s, i);
  if (!n && c == 'd') n = match_dynatrace_token(s, i);
  if (!n && ((c | 0x20) == 'a' || (c | 0x20) == 'b')) n = match_auth_scheme(s, i);
  if (!n && i > 0 && t->after[(unsigned char)s->in[i - 1]]) n = match_query_param(s, i);
  return n;
}

int ledger_redact(const char *in, size_t len, const char *const *secrets,
                  size_t nsecrets, ub_buf *out) {
  scan s = {in, len, out, SIZE_MAX, 0};
  int count = 0;
  size_t i = 0, nall = 0;
  starts t;
  char **all = with_base64_cores(secrets, nsecrets, &nall);
  if (!all) {
    out->failed = 1;
    return -1;
  }
  fill_starts(all, nall, &t);
  ub_buf_reserve(out, len);
  while (i < len) {
    size_t next = next_candidate(&s, i, &t);
    if (next > i) {
      ub_buf_append(out, in + i, next - i);
      i = next;
      continue;
    }
    size_t n = match_rules(&s, i, all, nall, &t);
    if (n) {
      count++;
      i += n;
    } else {
      ub_buf_putc(out, in[i]);
      i++;
    }
  }
  for (size_t k = nsecrets; k < nall; k++) free(all[k]);
  free(all);
  return out->failed ? -1 : count;
}
