/* text.c: terminal-safe text and XML escaping (text.h). */
#include "util/text.h"

#include <string.h>
#include <strings.h>

size_t ub_utf8_decode(const unsigned char *s, size_t len, unsigned *cp) {
  unsigned c = len ? s[0] : 0;
  size_t n = c < 0x80 ? 1 : c < 0xC2 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
  if (len == 0 || n == 0 || n > len) return 0;
  if (n == 1) { *cp = c; return 1; }
  unsigned v = c & (0x3F >> (n - 1));
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    v = (v << 6) | (s[i] & 0x3F);
  }
  if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000) || v > 0x10FFFF ||
      (v >= 0xD800 && v <= 0xDFFF))
    return 0;
  *cp = v;
  return n;
}

/* ---- terminals and CI logs ---- */

int ub_text_is_control(unsigned cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) ||
         cp == 0x2028 || cp == 0x2029 ||               /* line and paragraph separators */
         (cp >= 0x202A && cp <= 0x202E) ||             /* bidi embeddings and overrides */
         (cp >= 0x2066 && cp <= 0x2069);               /* bidi isolates */
}

/* Blanks a CI runner may trim before it looks for a command. */
static int is_blank(unsigned cp) {
  return cp == ' ' || cp == '\t' || cp == 0xA0 || cp == 0x1680 || cp == 0x180E ||
         (cp >= 0x2000 && cp <= 0x200B) || cp == 0x202F || cp == 0x205F || cp == 0x3000 ||
         cp == 0xFEFF;
}

/* True when s (at "##") spells an Azure Pipelines command: "##[" or "##vso[". */
static int azure_command_at(const unsigned char *s, size_t len) {
  if (len < 3 || s[0] != '#' || s[1] != '#') return 0;
  return s[2] == '[' || (len >= 6 && strncasecmp((const char *)s + 2, "vso[", 4) == 0);
}

size_t ub_text_clean(char *dst, const char *text, size_t len) {
  const unsigned char *s = (const unsigned char *)text;
  size_t i = 0, o = 0; /* o <= i throughout: dst may be text */
  while (i < len) {
    unsigned char c = s[i];
    if ((c >= 0x20 && c < 0x7F && c != '#') || c == '\t') { dst[o++] = (char)c; i++; continue; }
    if (c == '#') {
      int command = azure_command_at(s + i, len - i);
      dst[o++] = '#';
      if (command) dst[o++] = '?';
      i += command ? 2 : 1;
      continue;
    }
    unsigned cp;
    size_t n = ub_utf8_decode(s + i, len - i, &cp);
    if (n == 0 || ub_text_is_control(cp)) dst[o++] = '?';
    else memmove(dst + o, s + i, n), o += n;
    i += n ? n : 1;
  }
  return o;
}

void ub_text_line(ub_buf *out, const char *s, size_t len) {
  if (ub_buf_reserve(out, len) != 0) return;
  out->len += ub_text_clean(out->data + out->len, s, len);
  out->data[out->len] = '\0';
}

/* True when a CI runner could read the line as a logging command once it
 * trimmed the blanks in front. */
static int starts_command(const unsigned char *s, size_t len) {
  size_t i = 0;
  unsigned cp;
  size_t n;
  while (i < len && (n = ub_utf8_decode(s + i, len - i, &cp)) != 0 && is_blank(cp)) i += n;
  s += i, len -= i;
  return (len >= 2 && ((s[0] == ':' && s[1] == ':') || (s[0] == '#' && s[1] == '#'))) ||
         (len >= 14 && strncasecmp((const char *)s, "section_start:", 14) == 0) ||
         (len >= 12 && strncasecmp((const char *)s, "section_end:", 12) == 0);
}

void ub_text_lines(ub_buf *out, const char *s, size_t len, const char *prefix) {
  const char *p = s, *end = s ? s + len : NULL;
  while (p && p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
    if (prefix) ub_buf_puts(out, prefix);
    else if (starts_command((const unsigned char *)p, n)) ub_buf_puts(out, "policy: ");
    ub_text_line(out, p, n);
    ub_buf_putc(out, '\n');
    p += n + (nl ? 1 : 0);
  }
}

void ub_text_sanitize(char *s) {
  if (s) s[ub_text_clean(s, s, strlen(s))] = '\0';
}

/* ---- XML and HTML ---- */

#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */

void ub_xml_escape(ub_buf *out, const char *text, size_t len) {
  const unsigned char *s = (const unsigned char *)text;
  size_t i = 0;
  while (i < len) {
    size_t run = i;
    while (i < len && s[i] >= 0x20 && s[i] < 0x7F && !strchr("&<>\"'#", s[i])) i++;
    ub_buf_append(out, s + run, i - run);
    if (i >= len) break;
    unsigned char c = s[i];
    const char *ref = c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;"
                    : c == '"' ? "&quot;" : c == '\'' ? "&#39;" : c == '\t' ? "&#9;"
                    : c == '\n' ? "&#10;" : c == '\r' ? "&#13;"
                    : c == '#' ? (i > 0 && s[i - 1] == '#' ? "&#35;" : "#") : NULL;
    if (ref) { ub_buf_puts(out, ref); i++; continue; }
    unsigned cp;
    size_t n = ub_utf8_decode(s + i, len - i, &cp);
    if (n == 0) { ub_buf_puts(out, REPLACEMENT); i++; continue; }
    if (ub_text_is_control(cp) || cp == 0xFFFE || cp == 0xFFFF) ub_buf_puts(out, REPLACEMENT);
    else ub_buf_append(out, s + i, n);
    i += n;
  }
}

void ub_xml_puts(ub_buf *out, const char *s) {
  if (s) ub_xml_escape(out, s, strlen(s));
}
