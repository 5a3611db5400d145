/* digest.h: SHA-256 content digests (OpenSSL EVP) as lowercase hex, the
 * key under which the ledger stores each input and response once. */
#ifndef UB_DIGEST_H
#define UB_DIGEST_H

#include <stddef.h>

#define UB_SHA256_HEX_LEN 64

/* Writes the SHA-256 of data[0..len) as 64 lowercase hex digits plus NUL
 * into out. Returns 0, or -1 when OpenSSL fails (out is then ""). */
int ub_sha256_hex(const void *data, size_t len, char out[UB_SHA256_HEX_LEN + 1]);

/* 1 when s is exactly 64 lowercase hex digits, else 0. */
int ub_is_sha256_hex(const char *s);

#endif
