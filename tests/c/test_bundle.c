/* test_bundle.c: manifests a genuine key signed that still must not
 * verify. The archive-level attacks (entries, sizes, names, another
 * bundle's signature) are in tests/e2e/test_bundle.py; these need a
 * signature over a hand-made manifest, which `bundle sign` refuses to
 * make, so the test signs the way bundle_verify.c's header describes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <sodium.h>

#include "bundle/bundle_internal.h"
#include "util/buf.h"

typedef struct keys {
  char dir[64], secret[128], pub[160];
  unsigned char sk[64];
  char key_id[UB_BUNDLE_KEY_ID_LEN + 1];
  ub_bundle_pubkey pk;
} keys;

static int make_keys(void **state) {
  keys *k = calloc(1, sizeof *k);
  char err[300], id[UB_BUNDLE_KEY_ID_LEN + 1];
  snprintf(k->dir, sizeof k->dir, "/tmp/ub-test-bundle-XXXXXX");
  assert_non_null(mkdtemp(k->dir));
  snprintf(k->secret, sizeof k->secret, "%s/signer", k->dir);
  snprintf(k->pub, sizeof k->pub, "%s/signer.pub", k->dir);
  if (ub_bundle_keygen(k->secret, id, err, sizeof err) != 0 ||
      ub_bundle_read_secret(k->secret, k->sk, k->key_id, err, sizeof err) != 0 ||
      ub_bundle_read_pubkey(k->pub, &k->pk, err, sizeof err) != 0)
    fail_msg("%s", err);
  *state = k;
  return 0;
}

static int drop_keys(void **state) {
  keys *k = *state;
  unlink(k->secret);
  unlink(k->pub);
  rmdir(k->dir);
  sodium_memzero(k->sk, sizeof k->sk);
  free(k);
  return 0;
}

static const char POLICY[] = "return function() return {verdict = 'pass'} end\n";

/* A bundle holding policy.lua, with manifest (its text given, %s being
 * policy.lua's SHA-256) signed by k. */
static ub_bundle *signed_bundle(const keys *k, const char *manifest_format) {
  ub_bundle *b = ub_bundle_new();
  assert_non_null(b);
  assert_int_equal(ub_bundle_add(b, "policy.lua", (unsigned char *)strdup(POLICY), strlen(POLICY)), 0);
  unsigned char h[crypto_hash_sha256_BYTES];
  char hex[65];
  crypto_hash_sha256(h, (const unsigned char *)POLICY, strlen(POLICY));
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  ub_buf m, msg, sig;
  ub_buf_init(&m);
  ub_buf_init(&msg);
  ub_buf_init(&sig);
  ub_buf_printf(&m, manifest_format, hex, hex);
  const char *signed_at = "2026-12-03T09:00:00Z";
  ub_buf_printf(&msg, "unbreakable-bundle-v1\n%s\n%s\n", k->key_id, signed_at);
  ub_buf_append(&msg, m.data, m.len);
  unsigned char raw[crypto_sign_BYTES];
  crypto_sign_detached(raw, NULL, (const unsigned char *)msg.data, msg.len, k->sk);
  char b64[sodium_base64_ENCODED_LEN(crypto_sign_BYTES, sodium_base64_VARIANT_ORIGINAL)];
  sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
  ub_buf_printf(&sig, "{\"algorithm\":\"ed25519\",\"key_id\":\"%s\",\"signed_at\":\"%s\",\"signature\":\"%s\"}",
                k->key_id, signed_at, b64);
  b->manifest = ub_buf_steal(&m, &b->manifest_len);
  b->signature = ub_buf_steal(&sig, &b->signature_len);
  ub_buf_free(&msg);
  return b;
}

static void expect_refused(void **state, const char *manifest, const char *want) {
  keys *k = *state;
  ub_bundle *b = signed_bundle(k, manifest);
  char err[600] = "";
  int rc = ub_bundle_verify(b, &k->pk, err, sizeof err);
  ub_bundle_free(b);
  if (rc == 0) fail_msg("verified a signed manifest that should be refused: %s", manifest);
  if (!strstr(err, want)) fail_msg("refused with '%s', expected '%s'", err, want);
}

#define ENTRY(path) "{\"path\":\"" path "\",\"sha256\":\"%s\",\"size\":48}"

static void the_signature_itself_verifies(void **state) {
  keys *k = *state;
  ub_bundle *b = signed_bundle(k, "{\"version\":1,\"files\":[" ENTRY("policy.lua") "]}\n");
  char err[600] = "";
  assert_int_equal(strlen(POLICY), 48); /* the size ENTRY states */
  if (ub_bundle_verify(b, &k->pk, err, sizeof err) != 0) fail_msg("%s", err);
  ub_bundle_free(b);
}

static void a_file_listed_twice(void **state) {
  expect_refused(state, "{\"version\":1,\"files\":[" ENTRY("policy.lua") "," ENTRY("policy.lua") "]}\n",
                 "lists 'policy.lua' twice");
}

static void an_unsafe_path_in_the_manifest(void **state) {
  expect_refused(state, "{\"version\":1,\"files\":[" ENTRY("../policy.lua") "]}\n", "unsafe path");
}

static void a_nul_in_a_manifest_path(void **state) {
  /* "policy.lua\u0000x" must not be read as policy.lua */
  expect_refused(state, "{\"version\":1,\"files\":[" ENTRY("policy.lua\\u0000x") "]}\n",
                 "not a valid version 1 manifest");
}

static void a_manifest_of_another_version(void **state) {
  expect_refused(state, "{\"version\":2,\"files\":[" ENTRY("policy.lua") "]}\n",
                 "not a valid version 1 manifest");
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(the_signature_itself_verifies, make_keys, drop_keys),
    cmocka_unit_test_setup_teardown(a_file_listed_twice, make_keys, drop_keys),
    cmocka_unit_test_setup_teardown(an_unsafe_path_in_the_manifest, make_keys, drop_keys),
    cmocka_unit_test_setup_teardown(a_nul_in_a_manifest_path, make_keys, drop_keys),
    cmocka_unit_test_setup_teardown(a_manifest_of_another_version, make_keys, drop_keys),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
