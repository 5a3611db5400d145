/* bundle_keys.c: Ed25519 key files of bundle signers. A key id is the
 * first 8 bytes of the SHA-256 of the public key, in hex, recomputed on
 * every read (a key file cannot claim another key's id). Files are JSON:
 *   KEY     {"type":"unbreakable-bundle-secret-key","algorithm":"ed25519",
 *            "key_id":"...","secret_key":"<base64>"}   mode 0600
 *   KEY.pub {"type":"unbreakable-bundle-public-key","algorithm":"ed25519",
 *            "key_id":"...","public_key":"<base64>"} */
#include "bundle/bundle_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "util/buf.h"
#include "util/json.h"

int ub_bundle_crypto_init(char *err, size_t errlen) {
  if (sodium_init() < 0) {
    snprintf(err, errlen, "libsodium cannot be initialised");
    return -1;
  }
  return 0;
}

void ub_bundle_key_id(const unsigned char pk[32], char out[UB_BUNDLE_KEY_ID_LEN + 1]) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, pk, 32);
  sodium_bin2hex(out, UB_BUNDLE_KEY_ID_LEN + 1, h, UB_BUNDLE_KEY_ID_LEN / 2);
}

static int write_key_file(const char *path, int mode, const char *text, char *err, size_t errlen) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
  if (fd < 0) {
    snprintf(err, errlen, "%s: %s%s", path, strerror(errno),
             errno == EEXIST ? " (a key is never overwritten: choose another --out)" : "");
    return -1;
  }
  size_t len = strlen(text);
  int bad = write(fd, text, len) != (ssize_t)len;
  bad |= fchmod(fd, (mode_t)mode) != 0; /* whatever the umask */
  bad |= close(fd) != 0;
  if (bad) snprintf(err, errlen, "%s: cannot write the key", path);
  return bad ? -1 : 0;
}

static void key_doc(ub_buf *b, const char *type, const char *key_id, const char *field,
                    const unsigned char *key, size_t keylen) {
  char b64[sodium_base64_ENCODED_LEN(64, sodium_base64_VARIANT_ORIGINAL)];
  sodium_bin2base64(b64, sizeof b64, key, keylen, sodium_base64_VARIANT_ORIGINAL);
  ub_buf_printf(b, "{\"type\":\"%s\",\"algorithm\":\"ed25519\","
                   "\"key_id\":\"%s\",\"%s\":\"%s\"}\n", type, key_id, field, b64);
  sodium_memzero(b64, sizeof b64);
}

int ub_bundle_keygen(const char *key_path, char *key_id_out, char *err, size_t errlen) {
  if (ub_bundle_crypto_init(err, errlen) != 0) return -1;
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_keypair(pk, sk);
  char key_id[UB_BUNDLE_KEY_ID_LEN + 1], pub_path[4096];
  ub_bundle_key_id(pk, key_id);
  snprintf(pub_path, sizeof pub_path, "%s.pub", key_path);
  ub_buf secret, pub;
  ub_buf_init(&secret);
  ub_buf_init(&pub);
  key_doc(&secret, UB_BUNDLE_SECRET_TYPE, key_id, "secret_key", sk, sizeof sk);
  key_doc(&pub, UB_BUNDLE_PUBLIC_TYPE, key_id, "public_key", pk, sizeof pk);
  sodium_memzero(sk, sizeof sk);
  int rc = -1;
  if (secret.failed || pub.failed) snprintf(err, errlen, "out of memory");
  else if (write_key_file(key_path, 0600, secret.data, err, errlen) == 0) {
    rc = write_key_file(pub_path, 0644, pub.data, err, errlen);
    if (rc != 0) unlink(key_path);
  }
  if (secret.data) sodium_memzero(secret.data, secret.len);
  ub_buf_free(&secret);
  ub_buf_free(&pub);
  if (rc == 0) snprintf(key_id_out, UB_BUNDLE_KEY_ID_LEN + 1, "%s", key_id);
  return rc;
}

int ub_bundle_string_fields(const char *text, size_t len, ub_bundle_field_fn field, void *ctx) {
  json_reader r;
  json_reader_init(&r, text, len, 4);
  int rc = json_next(&r) == JSON_OBJECT ? 0 : -1;
  while (rc == 0) {
    json_token t = json_next(&r);
    if (t == JSON_OBJECT_END) break;
    char name[32];
    if (t != JSON_STRING || r.str.len >= sizeof name || strlen(r.str.data) != r.str.len) { rc = -1; break; }
    memcpy(name, r.str.data, r.str.len + 1);
    if (json_next(&r) != JSON_STRING) { rc = -1; break; }
    rc = field(ctx, name, r.str.data, r.str.len);
    sodium_memzero(r.str.data, r.str.len); /* a secret key passes through here */
  }
  if (rc == 0 && json_next(&r) != JSON_END) rc = -1;
  json_reader_free(&r);
  return rc;
}

typedef struct key_doc_fields {
  const char *type, *field;
  unsigned char *key;
  size_t keylen;
  char *key_id;
  int have_type, have_key, have_id, other_type;
} key_doc_fields;

static int key_doc_field(void *ctx, const char *name, const char *value, size_t len) {
  key_doc_fields *k = ctx;
  if (strcmp(name, "type") == 0) {
    k->have_type = strcmp(value, k->type) == 0;
    k->other_type = !k->have_type && (strcmp(value, UB_BUNDLE_SECRET_TYPE) == 0 ||
                                      strcmp(value, UB_BUNDLE_PUBLIC_TYPE) == 0);
  } else if (strcmp(name, "key_id") == 0 && len == UB_BUNDLE_KEY_ID_LEN && strlen(value) == len) {
    memcpy(k->key_id, value, UB_BUNDLE_KEY_ID_LEN + 1);
    k->have_id = 1;
  } else if (strcmp(name, k->field) == 0) {
    size_t got = 0;
    k->have_key = sodium_base642bin(k->key, k->keylen, value, len, NULL, &got, NULL,
                                    sodium_base64_VARIANT_ORIGINAL) == 0 && got == k->keylen;
  }
  return 0;
}

/* Reads {"type":..., "key_id":..., field: base64} into key (keylen bytes). */
static int read_key_doc(const char *path, const char *type, const char *field,
                        unsigned char *key, size_t keylen, char *key_id,
                        char *err, size_t errlen) {
  size_t len;
  char rerr[300];
  char *text = ub_read_all(path, 4096, &len, rerr, sizeof rerr);
  if (!text) {
    snprintf(err, errlen, "%s", rerr);
    return -1;
  }
  key_doc_fields k = {type, field, key, keylen, key_id, 0, 0, 0, 0};
  int bad = ub_bundle_string_fields(text, len, key_doc_field, &k) != 0;
  sodium_memzero(text, len);
  free(text);
  int secret = strcmp(type, UB_BUNDLE_SECRET_TYPE) == 0;
  if (!bad && k.other_type) {
    snprintf(err, errlen, "%s: a %s key, where the %s key is needed%s", path,
             secret ? "public" : "secret", secret ? "secret" : "public",
             secret ? " (sign with KEY, not KEY.pub)" : " (give KEY.pub; the secret key stays with its signer)");
    return -1;
  }
  if (bad || !k.have_type || !k.have_key || !k.have_id) {
    snprintf(err, errlen, "%s: not an unbreakable %s key file (make one with 'unbreakable "
             "bundle keygen --out KEY')", path, secret ? "secret" : "public");
    return -1;
  }
  return 0;
}

int ub_bundle_read_pubkey(const char *path, ub_bundle_pubkey *k, char *err, size_t errlen) {
  if (ub_bundle_crypto_init(err, errlen) != 0) return -1;
  char stated[UB_BUNDLE_KEY_ID_LEN + 1];
  if (read_key_doc(path, UB_BUNDLE_PUBLIC_TYPE, "public_key", k->pk, sizeof k->pk,
                   stated, err, errlen) != 0)
    return -1;
  ub_bundle_key_id(k->pk, k->key_id);
  if (strcmp(stated, k->key_id) != 0) {
    snprintf(err, errlen, "%s: the key id %s does not belong to this public key (it is %s)",
             path, stated, k->key_id);
    return -1;
  }
  return 0;
}

int ub_bundle_read_secret(const char *path, unsigned char sk[64], char *key_id, char *err,
                          size_t errlen) {
  /* the file's kind first, so that a public key given by mistake is named as such */
  if (read_key_doc(path, UB_BUNDLE_SECRET_TYPE, "secret_key", sk, 64, key_id, err,
                   errlen) != 0)
    return -1;
  struct stat st;
  char actual[UB_BUNDLE_KEY_ID_LEN + 1];
  ub_bundle_key_id(sk + 32, actual); /* libsodium keeps the public key in the second half */
  if (stat(path, &st) != 0)
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
  else if (st.st_mode & 077)
    snprintf(err, errlen, "%s: the secret key is readable by others (mode %03o): chmod 600 %s",
             path, (unsigned)(st.st_mode & 0777), path);
  else if (strcmp(actual, key_id) != 0)
    snprintf(err, errlen, "%s: the key id %s does not belong to this key", path, key_id);
  else
    return 0;
  sodium_memzero(sk, 64);
  return -1;
}
