/* serve_seal.c: the Azure DevOps job token is kept in the ledger only
 * sealed (AES-256-GCM, key derived from the serve token), so that a
 * restarted server can still complete the callback, and dropped once the
 * callback ends. Layout: 12-byte nonce | ciphertext | 16-byte tag. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "serve/serve.h"

#define NONCE 12
#define TAG 16

void serve_seal_key(const char *secret, unsigned char key[32]) {
  static const char label[] = "unbreakable serve: callback token seal v1:";
  if (!secret) { /* no serve token: a key for this process only */
    RAND_bytes(key, 32);
    return;
  }
  size_t n = sizeof label + strlen(secret);
  char *buf = malloc(n);
  unsigned int len = 32;
  if (!buf || (memcpy(buf, label, sizeof label), memcpy(buf + sizeof label, secret, strlen(secret)),
               EVP_Digest(buf, n, key, &len, EVP_sha256(), NULL) != 1))
    RAND_bytes(key, 32);
  if (buf) memset(buf, 0, n);
  free(buf);
}

int serve_seal(const unsigned char key[32], const char *plain, unsigned char **out, size_t *outlen) {
  size_t n = strlen(plain);
  unsigned char *buf = malloc(NONCE + n + TAG);
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  int len = 0, fin = 0, ok = buf && c && RAND_bytes(buf, NONCE) == 1 &&
      EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, buf) == 1 &&
      EVP_EncryptUpdate(c, buf + NONCE, &len, (const unsigned char *)plain, (int)n) == 1 &&
      EVP_EncryptFinal_ex(c, buf + NONCE + len, &fin) == 1 &&
      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG, buf + NONCE + n) == 1;
  EVP_CIPHER_CTX_free(c);
  if (!ok) {
    free(buf);
    return -1;
  }
  *out = buf;
  *outlen = NONCE + n + TAG;
  return 0;
}

char *serve_unseal(const unsigned char key[32], const unsigned char *in, size_t len) {
  if (len < NONCE + TAG) return NULL;
  size_t n = len - NONCE - TAG;
  char *plain = malloc(n + 1);
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  int out = 0, fin = 0, ok = plain && c &&
      EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, in) == 1 &&
      EVP_DecryptUpdate(c, (unsigned char *)plain, &out, in + NONCE, (int)n) == 1 &&
      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG, (void *)(in + NONCE + n)) == 1 &&
      EVP_DecryptFinal_ex(c, (unsigned char *)plain + out, &fin) == 1;
  EVP_CIPHER_CTX_free(c);
  if (!ok) {
    if (plain) memset(plain, 0, n + 1);
    free(plain);
    return NULL;
  }
  plain[n] = '\0';
  return plain;
}
