/* test_text.c: the one terminal-text sanitiser and the one XML escaper
 * (util/text.h): named hostile inputs, then random bytes checked against
 * the rules (nothing that drives a terminal, starts a CI command or makes
 * XML 1.0 ill-formed gets through). */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/text.h"

static char *line_of(const char *s, size_t len) {
  ub_buf b;
  ub_buf_init(&b);
  ub_text_line(&b, s, len);
  return ub_buf_steal(&b, NULL);
}

static char *lines_of(const char *s, const char *prefix) {
  ub_buf b;
  ub_buf_init(&b);
  ub_text_lines(&b, s, strlen(s), prefix);
  return ub_buf_steal(&b, NULL);
}

static char *xml_of(const char *s, size_t len) {
  ub_buf b;
  ub_buf_init(&b);
  ub_xml_escape(&b, s, len);
  return ub_buf_steal(&b, NULL);
}

typedef struct text_case { const char *in, *want; } text_case;

/* Renders each case's input with render and compares. */
static void expect_cases(char *(*render)(const char *), const text_case *cases, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char *got = render(cases[i].in);
    if (strcmp(got, cases[i].want) != 0) fail_msg("case %zu: got '%s', want '%s'", i, got, cases[i].want);
    free(got);
  }
}

static char *plain_lines(const char *s) { return lines_of(s, NULL); }
static char *xml_str(const char *s) { return xml_of(s, strlen(s)); }

static void expect_line(const char *in, const char *want) {
  char *got = line_of(in, strlen(in));
  if (strcmp(got, want) != 0) fail_msg("line %s: got '%s', want '%s'", in, got, want);
  free(got);
}

static void test_line_replaces_controls(void **state) {
  (void)state;
  expect_line("ok\r::warning::forged\x1b]0;t\x07", "ok?::warning::forged?]0;t?");
  expect_line("a\x1b[2Jb\nc", "a?[2Jb?c");
  expect_line("tab\tstays", "tab\tstays");
  expect_line("del\x7f", "del?");
  expect_line("c1 \xc2\x9b" "31m \xc2\x85 \xc2\x80", "c1 ?31m ? ?");   /* U+009B CSI, NEL */
  expect_line("raw \x9b" "2J \x85 \x90", "raw ?2J ? ?");                /* not UTF-8 */
  expect_line("bidi \xe2\x80\xae" "evil \xe2\x81\xa6 sep \xe2\x80\xa8", "bidi ?evil ? sep ?");
  expect_line("caf\xc3\xa9 \xc2\xb5s \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xc2\xb5s \xe2\x82\xac \xf0\x9f\x98\x80");
  expect_line("overlong \xc0\xaf surrogate \xed\xa0\x80 cut \xe2\x82", "overlong ?? surrogate ??? cut ??");
}

static void test_line_defuses_azure_commands_anywhere(void **state) {
  (void)state;
  expect_line("x ##vso[task.complete result=Succeeded]done", "x #?vso[task.complete result=Succeeded]done");
  expect_line("##VSO[task.setvariable variable=a]b", "#?VSO[task.setvariable variable=a]b");
  expect_line("###vso[x]", "##?vso[x]");
  expect_line("##[group]x", "#?[group]x");
  expect_line("issue #12 and ## headings", "issue #12 and ## headings");
}

static void test_lines_prefix_ci_commands(void **state) {
  (void)state;
  static const text_case cases[] = {
    {"::warning::forged\n", "policy: ::warning::forged\n"},
    {"  ::set-output name=x::1\n", "policy:   ::set-output name=x::1\n"},
    {"\t::add-mask::secret\n", "policy: \t::add-mask::secret\n"},
    {"\xc2\xa0::stop-commands::tok\n", "policy: \xc2\xa0::stop-commands::tok\n"},
    {"##vso[task.logissue type=error]x\n", "policy: #?vso[task.logissue type=error]x\n"},
    {"## heading\n", "policy: ## heading\n"},
    {"section_start:1700000000:build\r\x1b[0Kx\n", "policy: section_start:1700000000:build??[0Kx\n"},
    {"SECTION_END:1:b\n", "policy: SECTION_END:1:b\n"},
    {"PASS  S/C\nok\n", "PASS  S/C\nok\n"},
    {"one\n::error::two", "one\npolicy: ::error::two\n"},
    {"cr\r::warning::x\n", "cr?::warning::x\n"},
  };
  expect_cases(plain_lines, cases, sizeof cases / sizeof *cases);
  char *got = lines_of("a\n::warning::b\n", "[policy] ");
  assert_string_equal(got, "[policy] a\n[policy] ::warning::b\n");
  free(got);
}

static void test_sanitize_in_place(void **state) {
  (void)state;
  char s[] = "e\x1b[31m\xc2\x9b\n##vso[x]";
  ub_text_sanitize(s);
  assert_string_equal(s, "e?[31m??#?vso[x]");
}

static void test_xml_escape_named(void **state) {
  (void)state;
  static const text_case cases[] = {
    {"<a href=\"x\">&'", "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"},
    {"l1\nl2\r\tz", "l1&#10;l2&#13;&#9;z"},
    {"nul\x01\x1b[0m\x7f", "nul\xef\xbf\xbd\xef\xbf\xbd[0m\xef\xbf\xbd"},
    {"bad \xff\xc0 c1 \xc2\x85", "bad \xef\xbf\xbd\xef\xbf\xbd c1 \xef\xbf\xbd"},
    {"nonchar \xef\xbf\xbe", "nonchar \xef\xbf\xbd"},
    {"##vso[x] #1", "#&#35;vso[x] #1"},
    {"\xc2\xb5s \xe2\x82\xac", "\xc2\xb5s \xe2\x82\xac"},
  };
  expect_cases(xml_str, cases, sizeof cases / sizeof *cases);
}

/* ---- random bytes against the rules ---- */

static uint64_t next_random(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Bytes biased towards the dangerous ones. */
static size_t random_text(uint64_t *rng, char *out, size_t cap) {
  static const char *const pieces[] = {"\r", "\n", "\x1b[", "\x1b]0;", "\x07", "\xc2\x9b", "\x9b",
                                       "::", "##vso[", "##[", "section_start:", "\xc2\xa0", "#",
                                       "&", "<", "\"", "\xe2\x80\xae", "\xef\xbf\xbf", "\t", " "};
  size_t n = 0, want = next_random(rng) % (cap / 2);
  while (n < want) {
    uint64_t r = next_random(rng);
    if (r % 3 == 0) {
      const char *p = pieces[(r >> 8) % (sizeof pieces / sizeof *pieces)];
      size_t k = strlen(p);
      if (n + k >= cap) break;
      memcpy(out + n, p, k);
      n += k;
    } else {
      out[n++] = (char)(r >> 16);
    }
  }
  return n;
}

/* Every byte of s is tab, printable ASCII or part of well-formed UTF-8
 * that is not a control; no Azure command anywhere. */
static void check_terminal_safe(const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < len;) {
    unsigned cp;
    size_t n = ub_utf8_decode(p + i, len - i, &cp);
    if (n == 0) fail_msg("invalid UTF-8 at %zu", i);
    if ((cp < 0x20 && cp != '\t') || (cp >= 0x7f && cp <= 0x9f)) fail_msg("control U+%04X at %zu", cp, i);
    i += n;
  }
  assert_null(memmem(s, len, "##vso[", 6));
  assert_null(memmem(s, len, "##[", 3));
}

static void test_random_bytes_obey_the_rules(void **state) {
  (void)state;
  uint64_t rng = 12;
  char in[512];
  for (int round = 0; round < 20000; round++) {
    size_t len = random_text(&rng, in, sizeof in);
    char *line = line_of(in, len);
    check_terminal_safe(line, strlen(line));
    free(line);
    in[len] = '\0';
    char *lines = lines_of(in, NULL);
    for (char *l = lines; *l;) {
      char *nl = strchr(l, '\n');
      assert_non_null(nl);
      check_terminal_safe(l, (size_t)(nl - l));
      const char *t = l;
      while (*t == ' ' || *t == '\t') t++;
      if (!strncmp(t, "::", 2) || !strncmp(t, "##", 2)) fail_msg("line starts a command: %.*s", (int)(nl - l), l);
      l = nl + 1;
    }
    free(lines);
    char *xml = xml_of(in, len);
    for (const unsigned char *p = (const unsigned char *)xml; *p; p++) {
      if (*p < 0x20) fail_msg("raw control 0x%02x in XML", *p);
      if (*p == '<' || *p == '>' || *p == '"' || *p == '\'') fail_msg("raw '%c' in XML", *p);
      if (*p == '&' && !(p[1] == '#' || !strncmp((const char *)p, "&amp;", 5) || !strncmp((const char *)p, "&lt;", 4) ||
                         !strncmp((const char *)p, "&gt;", 4) || !strncmp((const char *)p, "&quot;", 6)))
        fail_msg("bare '&' in XML");
    }
    check_terminal_safe(xml, strlen(xml));
    free(xml);
  }
}

/* Found by the random test: an empty buffer taken with ub_buf_steal was
 * 64 bytes of garbage with no terminator. */
static void test_empty_buffer_is_a_string(void **state) {
  (void)state;
  char *s = line_of("", 0);
  assert_non_null(s);
  assert_string_equal(s, "");
  free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_line_replaces_controls),
    cmocka_unit_test(test_line_defuses_azure_commands_anywhere),
    cmocka_unit_test(test_lines_prefix_ci_commands),
    cmocka_unit_test(test_sanitize_in_place),
    cmocka_unit_test(test_xml_escape_named),
    cmocka_unit_test(test_random_bytes_obey_the_rules),
    cmocka_unit_test(test_empty_buffer_is_a_string),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
