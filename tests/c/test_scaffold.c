/* test_scaffold.c: `unbreakable init`'s scaffold/ room: the values it
 * substitutes are refused unless safe in every file format (JSON, YAML,
 * Lua, shell, systemd), placeholders are substituted and only ours
 * ("${{ secrets.X }}" of GitHub Actions stays), an unknown {{name}} is an
 * error, the executable bit is kept, existing files (links too) are found
 * before anything is written, and writing replaces a link instead of
 * following it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "scaffold/scaffold.h"

static void test_service_names(void **state) {
  (void)state;
  char err[512];
  static const char *const good[] = {"checkout", "Checkout-Service", "pay.ments_2", "a", "9lives"};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++)
    assert_int_equal(scaffold_check_service(good[i], err, sizeof err), 0);
  static const char *const bad[] = {"", "a b", "a\"b", "a'b", "a\nb", "a/b", "../x", "-x", ".x", "_x", "a:b",
                                    "a#b", "${x}", "$(id)", "{{service}}", "a\\b", "caf\xc3\xa9", "a\x01"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_int_equal(scaffold_check_service(bad[i], err, sizeof err), -1);
  char long_name[80];
  memset(long_name, 'a', 64);
  long_name[64] = '\0';
  assert_int_equal(scaffold_check_service(long_name, err, sizeof err), -1);
  long_name[63] = '\0';
  assert_int_equal(scaffold_check_service(long_name, err, sizeof err), 0);
}

static void test_tenants(void **state) {
  (void)state;
  char out[256], err[512];
  assert_int_equal(scaffold_check_tenant("https://abc12345.live.dynatrace.com/", out, sizeof out, err, sizeof err), 0);
  assert_string_equal(out, "https://abc12345.live.dynatrace.com");
  assert_int_equal(scaffold_check_tenant("https://dt.example.com:9999/e/abc-1", out, sizeof out, err, sizeof err), 0);
  assert_int_equal(scaffold_check_tenant("http://127.0.0.1:9480", out, sizeof out, err, sizeof err), 0);
  assert_int_equal(scaffold_check_tenant("http://localhost:9480/", out, sizeof out, err, sizeof err), 0);
  static const char *const bad[] = {"", "abc", "ftp://x.com", "http://example.com", "http://127.0.0.1.evil.com",
                                    "https://", "https://-x.com", "https://x.com:80a", "https://x.com:",
                                    "https://x.com:123456", "https://x.com/\"", "https://x.com/'", "https://x .com",
                                    "https://x.com/#a", "https://x.com/?a=b", "https://x.com/$(id)",
                                    "https://x.com/{{tenant}}", "https://x.com/a\nb", "https://x.com/\xe2\x80\xae",
                                    "https://user@x.com", "https://x.com\\@evil.com"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    assert_int_equal(scaffold_check_tenant(bad[i], out, sizeof out, err, sizeof err), -1);
    for (const char *c = err; *c; c++) assert_true((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f);
  }
  char small[8];
  assert_int_equal(scaffold_check_tenant("https://abc12345.live.dynatrace.com", small, sizeof small, err, sizeof err),
                   -1);
}

static void test_ci(void **state) {
  (void)state;
  char err[256];
  assert_int_equal(scaffold_check_ci("azure", err, sizeof err), 0);
  assert_int_equal(scaffold_check_ci("github", err, sizeof err), 0);
  assert_int_equal(scaffold_check_ci("gitlab", err, sizeof err), 0);
  assert_int_equal(scaffold_check_ci("jenkins", err, sizeof err), -1);
  assert_int_equal(scaffold_check_ci("../azure", err, sizeof err), -1);
}

static void write_text(const char *path, const char *text, int mode) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  chmod(path, mode);
}

static char *read_text(const char *path) {
  static char buf[4096];
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static void test_plan_conflicts_and_write(void **state) {
  (void)state;
  char top[] = "/tmp/ub-scaffold-XXXXXX";
  assert_non_null(mkdtemp(top));
  char p[1200];
  snprintf(p, sizeof p, "%s/t/files/sub", top);
  char cmd[1400];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s' '%s/t/ci/azure' '%s/p'", p, top, top);
  assert_int_equal(system(cmd), 0);
  snprintf(p, sizeof p, "%s/t/files/a.json", top);
  write_text(p, "{\"{{service}}\": \"{{tenant}}\", \"gh\": \"${{ secrets.X }}\", \"brace\": \"{{\"}", 0644);
  snprintf(p, sizeof p, "%s/t/files/sub/run.sh", top);
  write_text(p, "#!/bin/sh\necho {{ci}}\n", 0755);
  snprintf(p, sizeof p, "%s/t/ci/azure/pipe.yml", top);
  write_text(p, "service: {{service}}\n", 0644);
  snprintf(p, sizeof p, "%s/p/selfheal.lua", top);
  write_text(p, "return function() end\n", 0644);
  char templates[600], policies[600], dir[600];
  snprintf(templates, sizeof templates, "%s/t", top);
  snprintf(policies, sizeof policies, "%s/p", top);
  snprintf(dir, sizeof dir, "%s/out/project", top);
  scaffold_vars vars = {"checkout", "https://x.example.com", "azure"};
  scaffold s = {0};
  char err[1024];
  assert_int_equal(scaffold_plan(&s, templates, policies, &vars, err, sizeof err), 0);
  assert_int_equal(s.n, 4);
  assert_string_equal(s.files[0].rel, "a.json");
  assert_string_equal(s.files[0].text,
                      "{\"checkout\": \"https://x.example.com\", \"gh\": \"${{ secrets.X }}\", \"brace\": \"{{\"}");
  assert_string_equal(s.files[1].rel, "sub/run.sh");
  assert_true(s.files[1].executable);
  assert_string_equal(s.files[1].text, "#!/bin/sh\necho azure\n");
  assert_string_equal(s.files[2].rel, "pipe.yml");
  assert_string_equal(s.files[3].rel, "policies/default_selfheal.lua");
  ub_buf names;
  ub_buf_init(&names);
  assert_int_equal(scaffold_conflicts(&s, dir, &names), 0);
  assert_int_equal(scaffold_write(&s, dir, 0, err, sizeof err), 0);
  snprintf(p, sizeof p, "%s/sub/run.sh", dir);
  assert_int_equal(access(p, X_OK), 0);
  /* everything now exists; a link in the way is replaced, never followed */
  assert_int_equal(scaffold_conflicts(&s, dir, &names), 4);
  assert_non_null(strstr(names.data, "pipe.yml"));
  char outside[600], link[700];
  snprintf(outside, sizeof outside, "%s/outside.txt", top);
  write_text(outside, "keep", 0644);
  snprintf(link, sizeof link, "%s/pipe.yml", dir);
  assert_int_equal(unlink(link), 0);
  assert_int_equal(symlink(outside, link), 0);
  /* without force, a file that appeared after the check is not overwritten */
  assert_int_equal(scaffold_write(&s, dir, 0, err, sizeof err), -1);
  assert_non_null(strstr(err, "a.json"));
  assert_string_equal(read_text(outside), "keep");
  assert_int_equal(scaffold_write(&s, dir, 1, err, sizeof err), 0);
  assert_string_equal(read_text(outside), "keep");
  assert_string_equal(read_text(link), "service: checkout\n");
  struct stat st;
  assert_int_equal(lstat(link, &st), 0);
  assert_false(S_ISLNK(st.st_mode));
  ub_buf_free(&names);
  scaffold_free(&s);
  /* a placeholder the templates do not know is a defect named by file */
  snprintf(p, sizeof p, "%s/t/files/b.txt", top);
  write_text(p, "{{servce}}", 0644);
  assert_int_equal(scaffold_plan(&s, templates, policies, &vars, err, sizeof err), -1);
  assert_non_null(strstr(err, "b.txt: unknown placeholder {{servce}}"));
  scaffold_free(&s);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", top);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_service_names), cmocka_unit_test(test_tenants), cmocka_unit_test(test_ci),
    cmocka_unit_test(test_plan_conflicts_and_write)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
