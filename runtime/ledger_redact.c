/* ledger_redact.c: one forward scan over the text; at each byte the rules
 * of ledger_redact.h are tried in order, the first that matches writes its
 * replacement and says how many input bytes it consumed. */
#include "ledger_redact.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#define MASK "***"

typedef struct scan {
  const char *in;
  size_t len;
  ub_buf *out;
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

static size_t match_secret(const scan *s, size_t i, const char *const *secrets,
                           size_t nsecrets) {
  for (size_t k = 0; k < nsecrets; k++) {
    size_t n = secrets[k] ? strlen(secrets[k]) : 0;
    if (n > 0 && i + n <= s->len && memcmp(s->in + i, secrets[k], n) == 0) {
      ub_buf_puts(s->out, MASK);
      return n;
    }
  }
  return 0;
}

/* dt0c01.<public>.<secret>: keep the prefix, mask the rest. */
static size_t match_dynatrace_token(const scan *s, size_t i) {
  const char *p = s->in + i;
  if (i + 7 > s->len || (i > 0 && is_word_char(s->in[i - 1]))) return 0;
  if (!(p[0] == 'd' && p[1] == 't' && p[2] == '0' && islower((unsigned char)p[3]) &&
        isdigit((unsigned char)p[4]) && isdigit((unsigned char)p[5]) && p[6] == '.'))
    return 0;
  size_t end = value_end(s, i + 7);
  if (end == i + 7) return 0;
  ub_buf_append(s->out, p, 7);
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

static int sensitive_key(const char *key, size_t n) {
  static const char *const parts[] = {"token", "password", "secret"};
  static const char *const exact[] = {"authorization", "apikey", "api_key"};
  char lower[128];
  if (n >= sizeof lower) return 0;
  for (size_t k = 0; k < n; k++) lower[k] = (char)tolower((unsigned char)key[k]);
  lower[n] = '\0';
  for (size_t k = 0; k < sizeof parts / sizeof *parts; k++)
    if (strstr(lower, parts[k])) return 1;
  for (size_t k = 0; k < sizeof exact / sizeof *exact; k++)
    if (strcmp(lower, exact[k]) == 0) return 1;
  return 0;
}

/* Index just past the JSON string literal starting at the quote at i,
 * or 0 when it is not terminated. */
static size_t string_end(const scan *s, size_t i) {
  for (size_t j = i + 1; j < s->len; j++) {
    if (s->in[j] == '\\') j++;
    else if (s->in[j] == '"') return j + 1;
  }
  return 0;
}

static size_t skip_space(const scan *s, size_t i) {
  while (i < s->len && isspace((unsigned char)s->in[i])) i++;
  return i;
}

/* "key" : value, with a sensitive key: the value is masked. */
static size_t match_json_member(const scan *s, size_t i) {
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

int ledger_redact(const char *in, size_t len, const char *const *secrets,
                  size_t nsecrets, ub_buf *out) {
  scan s = {in, len, out};
  int count = 0;
  size_t i = 0;
  ub_buf_reserve(out, len);
  while (i < len) {
    size_t n = match_secret(&s, i, secrets, nsecrets);
    if (!n) n = match_json_member(&s, i);
    if (!n) n = match_dynatrace_token(&s, i);
    if (!n) n = match_auth_scheme(&s, i);
    if (!n) n = match_query_param(&s, i);
    if (n) {
      count++;
      i += n;
    } else {
      ub_buf_putc(out, in[i]);
      i++;
    }
  }
  return out->failed ? -1 : count;
}
