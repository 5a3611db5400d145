/* serve_auth.c: the inbound shared secret: read from UB_SERVE_TOKEN or
 * UB_SERVE_TOKEN_FILE, presented as "Authorization: Bearer TOKEN", as the
 * password of Basic auth (what an Azure DevOps generic service connection
 * sends; the user name is ignored) or as ?code=TOKEN (how Azure Functions
 * keys were passed), compared in constant time (digests of equal length,
 * CRYPTO_memcmp). The gate workers never see it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "serve/serve.h"

static char *trimmed_copy(const char *s, size_t len) {
  while (len && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' ')) len--;
  char *out = malloc(len + 1);
  if (out) memcpy(out, s, len), out[len] = '\0';
  return out;
}

int serve_auth_load(serve_config *c) {
  const char *env = getenv("UB_SERVE_TOKEN");
  const char *file = getenv("UB_SERVE_TOKEN_FILE");
  if (env && *env) {
    c->token = trimmed_copy(env, strlen(env));
  } else if (file && *file) {
    char err[600];
    size_t len;
    char *text = ub_read_all(file, 4096, &len, err, sizeof err);
    if (!text) {
      fprintf(stderr, "unbreakable serve: UB_SERVE_TOKEN_FILE: %s\n", err);
      return -1;
    }
    c->token = trimmed_copy(text, len);
    memset(text, 0, len);
    free(text);
  }
  /* read once, then gone from the environment the gate workers inherit:
   * policies run there (called before any thread starts) */
  unsetenv("UB_SERVE_TOKEN");
  unsetenv("UB_SERVE_TOKEN_FILE");
  if (c->token && strlen(c->token) < 16) {
    fprintf(stderr, "unbreakable serve: the serve token is shorter than 16 characters; "
                    "generate one with: openssl rand -hex 32\n");
    return -1;
  }
  if (!c->token && !c->insecure_no_auth) {
    fprintf(stderr, "unbreakable serve: no token: set UB_SERVE_TOKEN or UB_SERVE_TOKEN_FILE "
                    "(or run with --insecure-no-auth, loopback only)\n");
    return -1;
  }
  return 0;
}

static int same_secret(const char *given, const char *want) {
  unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
  SHA256((const unsigned char *)given, strlen(given), a);
  SHA256((const unsigned char *)want, strlen(want), b);
  return CRYPTO_memcmp(a, b, sizeof a) == 0;
}

/* The password of "Basic base64(user:password)". */
static int basic_matches(const char *b64, const char *want) {
  size_t n = strlen(b64);
  if (n == 0 || n > 4096 || n % 4) return 0;
  unsigned char *plain = malloc(n);
  if (!plain) return 0;
  int len = EVP_DecodeBlock(plain, (const unsigned char *)b64, (int)n);
  int ok = 0;
  if (len > 0) {
    while (len > 0 && n > 0 && b64[n - 1] == '=') len--, n--; /* padding decodes as zero bytes */
    plain[len] = '\0';
    const char *colon = memchr(plain, ':', (size_t)len);
    if (colon && strlen((const char *)plain) == (size_t)len) ok = same_secret(colon + 1, want);
  }
  memset(plain, 0, n);
  free(plain);
  return ok;
}

int serve_auth_ok(const serve_config *c, const ub_srv_request *rq) {
  if (!c->token) return 1;
  const char *auth = ub_srv_header(rq, "Authorization");
  int ok = 0;
  if (auth && strncasecmp(auth, "Bearer ", 7) == 0) ok |= same_secret(auth + 7, c->token);
  if (auth && strncasecmp(auth, "Basic ", 6) == 0) ok |= basic_matches(auth + 6, c->token);
  const char *code = ub_srv_query(rq, "code");
  if (code) ok |= same_secret(code, c->token);
  return ok;
}
