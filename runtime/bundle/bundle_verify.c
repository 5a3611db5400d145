/* bundle_verify.c: the manifest, signing and verification.
 *   manifest.json  {"version":1,"files":[{"path":"a.lua","sha256":"<hex>",
 *                   "size":N}, ...]}   sorted by path
 *   manifest.sig   {"algorithm":"ed25519","key_id":"<16 hex>",
 *                   "signed_at":"2026-12-03T09:00:00Z","signature":"<base64>"}
 * The signature covers "unbreakable-bundle-v1\n" KEY_ID "\n" SIGNED_AT "\n"
 * followed by the manifest's exact bytes, so neither the key id nor the time
 * can be changed. Verification refuses before trusting anything: no
 * signature, no key id (OPA once accepted an unsigned bundle when the key
 * id was missing), another key's id, a bad signature; then any file whose
 * hash or size differs, a file not in the manifest, a manifest entry with
 * no file. */
#include "bundle/bundle_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "util/buf.h"
#include "util/json.h"
#include "util/text.h"

#define SIG_CONTEXT "unbreakable-bundle-v1\n"
/* What a signing time is made of (2026-12-03T09:00:00Z): the signed message
 * separates its fields by newlines, so none may hide in one. */
#define SIGNED_AT_CHARS "0123456789-:TZ"

static void sha256_hex(const unsigned char *data, size_t len, char out[65]) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, data, len);
  sodium_bin2hex(out, 65, h, sizeof h);
}

int ub_bundle_make_manifest(ub_bundle *b, char *err, size_t errlen) {
  if (ub_bundle_crypto_init(err, errlen) != 0) return -1;
  ub_buf m;
  ub_buf_init(&m);
  ub_buf_puts(&m, "{\"version\":1,\"files\":[");
  for (size_t i = 0; i < b->nfiles; i++) {
    char hex[65];
    sha256_hex(b->files[i].data, b->files[i].len, hex);
    ub_buf_puts(&m, i ? ",\n{\"path\":" : "\n{\"path\":");
    json_append_string(&m, b->files[i].path, strlen(b->files[i].path));
    ub_buf_printf(&m, ",\"sha256\":\"%s\",\"size\":%zu}", hex, b->files[i].len);
  }
  ub_buf_puts(&m, "\n]}\n");
  if (m.failed) {
    ub_buf_free(&m);
    return snprintf(err, errlen, "out of memory"), -1;
  }
  free(b->manifest);
  b->manifest = ub_buf_steal(&m, &b->manifest_len);
  free(b->signature); /* a new manifest is unsigned */
  b->signature = NULL;
  b->signature_len = 0;
  return 0;
}

/* ---- the manifest ---- */

typedef struct entry {
  char path[520];
  char sha256[65];
  int64_t size;
  int seen;
} entry;

/* Whether the string just read is exactly name (a NUL inside never
 * shortens it into a name). */
static int is_string(const json_reader *r, const char *name) {
  return r->str.len == strlen(name) && memcmp(r->str.data, name, r->str.len) == 0;
}

static int parse_entry(json_reader *r, entry *e) {
  memset(e, 0, sizeof *e);
  e->size = -1;
  for (;;) {
    json_token t = json_next(r);
    if (t == JSON_OBJECT_END) break;
    if (t != JSON_STRING) return -1;
    int path = is_string(r, "path"), sha256 = is_string(r, "sha256"), size = is_string(r, "size");
    t = json_next(r);
    if (path && t == JSON_STRING && r->str.len < sizeof e->path &&
        strlen(r->str.data) == r->str.len) /* a NUL would end the path early */
      memcpy(e->path, r->str.data, r->str.len + 1);
    else if (sha256 && t == JSON_STRING && r->str.len == 64)
      memcpy(e->sha256, r->str.data, 65);
    else if (size && t == JSON_NUMBER && r->is_integer && r->integer >= 0)
      e->size = r->integer;
    else
      return -1;
  }
  return e->path[0] && e->sha256[0] && e->size >= 0 ? 0 : -1;
}

/* Parses the manifest into entries (caller frees). */
static entry *parse_manifest(const ub_bundle *b, size_t *n, char *err, size_t errlen) {
  json_reader r;
  json_reader_init(&r, b->manifest, b->manifest_len, 8);
  entry *list = NULL;
  size_t count = 0;
  int ok = json_next(&r) == JSON_OBJECT, version = 0, files = 0;
  while (ok) {
    json_token t = json_next(&r);
    if (t == JSON_OBJECT_END) break;
    if (t != JSON_STRING) { ok = 0; break; }
    int is_version = is_string(&r, "version"), is_files = is_string(&r, "files");
    t = json_next(&r);
    if (is_version) { version = t == JSON_NUMBER && r.is_integer && r.integer == 1; continue; }
    if (!is_files || t != JSON_ARRAY) { ok = 0; break; }
    files = 1;
    while (ok && (t = json_next(&r)) == JSON_OBJECT) {
      entry *grown = count < UB_BUNDLE_MAX_FILES ? realloc(list, (count + 1) * sizeof *grown) : NULL;
      if (!grown) { ok = 0; break; }
      list = grown;
      ok = parse_entry(&r, &list[count++]) == 0;
    }
    if (t != JSON_ARRAY_END) ok = 0;
  }
  if (ok && json_next(&r) != JSON_END) ok = 0;
  json_reader_free(&r);
  if (!ok || !version || !files) {
    free(list);
    snprintf(err, errlen, "%s is not a valid version 1 manifest", UB_BUNDLE_MANIFEST);
    return NULL;
  }
  *n = count;
  return list ? list : calloc(1, sizeof *list);
}

static int check_manifest(const ub_bundle *b, char *err, size_t errlen) {
  if (ub_bundle_crypto_init(err, errlen) != 0) return -1;
  if (!b->manifest) {
    snprintf(err, errlen, "no %s: not a bundle (make one with 'unbreakable bundle build')", UB_BUNDLE_MANIFEST);
    return -1;
  }
  size_t n;
  entry *list = parse_manifest(b, &n, err, errlen);
  if (!list) return -1;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    const ub_bundle_file *f = NULL;
    if (!ub_bundle_safe_path(list[i].path)) {
      snprintf(err, errlen, "the manifest lists an unsafe path '%.200s'", list[i].path);
      rc = -1;
      break;
    }
    for (size_t k = 0; k < i; k++)
      if (strcmp(list[k].path, list[i].path) == 0) {
        snprintf(err, errlen, "the manifest lists '%s' twice", list[i].path);
        rc = -1;
      }
    if (rc == 0 && !(f = ub_bundle_find(b, list[i].path))) {
      snprintf(err, errlen, "missing file: '%s' is in the manifest but not in the bundle", list[i].path);
      rc = -1;
    }
    if (rc == 0) {
      char hex[65];
      sha256_hex(f->data, f->len, hex);
      if ((int64_t)f->len != list[i].size || sodium_memcmp(hex, list[i].sha256, 64) != 0) {
        snprintf(err, errlen, "changed file: '%s' does not match its SHA-256 in the manifest", f->path);
        rc = -1;
      }
    }
  }
  for (size_t k = 0; rc == 0 && k < b->nfiles; k++) {
    int listed = 0;
    for (size_t i = 0; i < n && !listed; i++) listed = strcmp(list[i].path, b->files[k].path) == 0;
    if (!listed) {
      snprintf(err, errlen, "extra file: '%s' is in the bundle but not in the manifest", b->files[k].path);
      rc = -1;
    }
  }
  free(list);
  return rc;
}

/* The manifest's paths and the signature's fields are the bundle's: an
 * error quoting them is made one terminal-safe line. */
int ub_bundle_check_manifest(const ub_bundle *b, char *err, size_t errlen) {
  int rc = check_manifest(b, err, errlen);
  if (rc != 0) ub_text_sanitize(err);
  return rc;
}

/* ---- signing ---- */

static int signed_message(const ub_bundle *b, const char *key_id, const char *signed_at, ub_buf *m) {
  ub_buf_puts(m, SIG_CONTEXT);
  ub_buf_printf(m, "%s\n%s\n", key_id, signed_at);
  ub_buf_append(m, b->manifest, b->manifest_len);
  return m->failed ? -1 : 0;
}

int ub_bundle_sign(ub_bundle *b, const char *key_path, char *err, size_t errlen) {
  if (ub_bundle_check_manifest(b, err, errlen) != 0) return -1;
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
  char key_id[UB_BUNDLE_KEY_ID_LEN + 1], signed_at[40];
  if (ub_bundle_read_secret(key_path, sk, key_id, err, errlen) != 0) return -1;
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(signed_at, sizeof signed_at, "%Y-%m-%dT%H:%M:%SZ", &tm);
  ub_buf m, doc;
  ub_buf_init(&m);
  ub_buf_init(&doc);
  unsigned char sig[crypto_sign_BYTES];
  int rc = signed_message(b, key_id, signed_at, &m);
  if (rc == 0) rc = crypto_sign_detached(sig, NULL, (const unsigned char *)m.data, m.len, sk);
  sodium_memzero(sk, sizeof sk);
  if (rc == 0) {
    char b64[sodium_base64_ENCODED_LEN(crypto_sign_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(b64, sizeof b64, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
    ub_buf_printf(&doc, "{\"algorithm\":\"ed25519\",\"key_id\":\"%s\",\"signed_at\":\"%s\","
                        "\"signature\":\"%s\"}\n", key_id, signed_at, b64);
    rc = doc.failed ? -1 : 0;
  }
  ub_buf_free(&m);
  if (rc != 0) {
    ub_buf_free(&doc);
    return snprintf(err, errlen, "cannot sign the manifest"), -1;
  }
  free(b->signature);
  b->signature = ub_buf_steal(&doc, &b->signature_len);
  snprintf(b->key_id, sizeof b->key_id, "%s", key_id);
  snprintf(b->signed_at, sizeof b->signed_at, "%s", signed_at);
  return 0;
}

/* ---- verifying ---- */

typedef struct sig_doc {
  char algorithm[16], key_id[UB_BUNDLE_KEY_ID_LEN + 1], signed_at[40];
  unsigned char sig[crypto_sign_BYTES];
  int has_algorithm, has_key_id, has_signed_at, has_sig;
} sig_doc;

typedef struct sig_fields {
  sig_doc *s;
  char bad[16]; /* the field at fault, or "" */
} sig_fields;

static int sig_field(void *ctx, const char *name, const char *v, size_t n) {
  sig_fields *f = ctx;
  sig_doc *s = f->s;
  snprintf(f->bad, sizeof f->bad, "%s", name);
  if (strcmp(name, "algorithm") == 0 && n < sizeof s->algorithm) {
    memcpy(s->algorithm, v, n + 1);
    s->has_algorithm = 1;
  } else if (strcmp(name, "key_id") == 0 && n > 0 && n <= UB_BUNDLE_KEY_ID_LEN &&
             strspn(v, "0123456789abcdef") == n) {
    memcpy(s->key_id, v, n + 1);
    s->has_key_id = 1;
  } else if (strcmp(name, "signed_at") == 0 && n > 0 && n < sizeof s->signed_at &&
             strspn(v, SIGNED_AT_CHARS) == n) {
    memcpy(s->signed_at, v, n + 1);
    s->has_signed_at = 1;
  } else if (strcmp(name, "signature") == 0) {
    size_t got = 0;
    s->has_sig = sodium_base642bin(s->sig, sizeof s->sig, v, n, NULL, &got, NULL,
                                   sodium_base64_VARIANT_ORIGINAL) == 0 && got == sizeof s->sig;
  } else {
    return -1; /* a value out of its shape, or a field nobody signed over */
  }
  f->bad[0] = '\0';
  return 0;
}

/* Reads manifest.sig; on an error bad names the field at fault (or is ""). */
static int parse_signature(const ub_bundle *b, sig_doc *s, char bad[16]) {
  memset(s, 0, sizeof *s);
  sig_fields f = {s, ""};
  int rc = ub_bundle_string_fields(b->signature, b->signature_len, sig_field, &f);
  memcpy(bad, f.bad, sizeof f.bad);
  return rc;
}

static int verify(ub_bundle *b, const ub_bundle_pubkey *k, char *err, size_t errlen) {
  if (ub_bundle_crypto_init(err, errlen) != 0) return -1;
  if (!b->manifest) {
    snprintf(err, errlen, "no %s: not a bundle (make one with 'unbreakable bundle build')", UB_BUNDLE_MANIFEST);
    return -1;
  }
  if (!b->signature) {
    snprintf(err, errlen, "unsigned bundle: no %s (sign it with 'unbreakable bundle sign')", UB_BUNDLE_SIGNATURE);
    return -1;
  }
  sig_doc s;
  char bad[16];
  if (parse_signature(b, &s, bad) != 0)
    return snprintf(err, errlen, "%s is not a valid signature document%s%s%s (key_id: hex, signed_at: "
                    "a time like 2026-12-03T09:00:00Z; re-sign it with 'unbreakable bundle sign')",
                    UB_BUNDLE_SIGNATURE, *bad ? ": field '" : "", bad, *bad ? "'" : ""), -1;
  if (!s.has_key_id)
    return snprintf(err, errlen, "%s has no key id: refused (a signature must name its key)", UB_BUNDLE_SIGNATURE), -1;
  if (!s.has_algorithm || strcmp(s.algorithm, "ed25519") != 0)
    return snprintf(err, errlen, "%s: algorithm must be ed25519", UB_BUNDLE_SIGNATURE), -1;
  if (!s.has_signed_at || !s.has_sig)
    return snprintf(err, errlen, "%s lacks the signing time or the signature", UB_BUNDLE_SIGNATURE), -1;
  if (strcmp(s.key_id, k->key_id) != 0)
    return snprintf(err, errlen, "signed with key %s, not with the trusted key %s", s.key_id, k->key_id), -1;
  ub_buf m;
  ub_buf_init(&m);
  int rc = signed_message(b, s.key_id, s.signed_at, &m);
  if (rc == 0) rc = crypto_sign_verify_detached(s.sig, (const unsigned char *)m.data, m.len, k->pk);
  ub_buf_free(&m);
  if (rc != 0)
    return snprintf(err, errlen, "bad signature: the manifest, key id or signing time was changed, or another key signed it"), -1;
  if (ub_bundle_check_manifest(b, err, errlen) != 0) return -1;
  snprintf(b->key_id, sizeof b->key_id, "%s", s.key_id);
  snprintf(b->signed_at, sizeof b->signed_at, "%s", s.signed_at);
  return 0;
}

int ub_bundle_verify(ub_bundle *b, const ub_bundle_pubkey *k, char *err, size_t errlen) {
  int rc = verify(b, k, err, errlen);
  if (rc != 0) ub_text_sanitize(err);
  return rc;
}

ub_bundle *ub_bundle_open(const char *path, const char *pubkey_path, char *err, size_t errlen) {
  ub_bundle_pubkey k;
  ub_bundle *b = NULL;
  char why[600];
  if (ub_bundle_read_pubkey(pubkey_path, &k, err, errlen) != 0) return NULL;
  if (ub_bundle_read(path, &b, err, errlen) != 0) return NULL;
  if (ub_bundle_verify(b, &k, why, sizeof why) != 0) {
    snprintf(err, errlen, "%s: %s", path, why);
    ub_bundle_free(b);
    return NULL;
  }
  return b;
}
