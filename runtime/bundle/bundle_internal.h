/* bundle_internal.h: what the bundle files share. */
#ifndef UB_BUNDLE_INTERNAL_H
#define UB_BUNDLE_INTERNAL_H

#include "bundle/bundle.h"

#define UB_BUNDLE_MAX_FILES 10000
#define UB_BUNDLE_MAX_FILE ((size_t)16 << 20)
#define UB_BUNDLE_MAX_TOTAL ((size_t)64 << 20)
/* The "type" of key files (bundle_keys.c), and how every secret key file
 * keygen writes begins. */
#define UB_BUNDLE_SECRET_TYPE "unbreakable-bundle-secret-key"
#define UB_BUNDLE_PUBLIC_TYPE "unbreakable-bundle-public-key"
#define UB_BUNDLE_SECRET_KEY_START "{\"type\":\"" UB_BUNDLE_SECRET_TYPE "\""

void ub_bundle_key_id(const unsigned char pk[32], char out[UB_BUNDLE_KEY_ID_LEN + 1]);
int ub_bundle_read_secret(const char *path, unsigned char sk[64], char *key_id, char *err,
                          size_t errlen);
/* Adds a file (copies path, takes data); -1 on a duplicate or no memory. */
int ub_bundle_add(ub_bundle *b, const char *path, unsigned char *data, size_t len);
void ub_bundle_sort(ub_bundle *b);
/* Reads a flat JSON object whose every value is a string (key files,
 * manifest.sig), calling field(ctx, name, value, value_len) per member in
 * order (a name with a NUL is refused; a value may hold one: its length
 * says where it ends). -1 when the text is not
 * such an object or field returns -1. */
typedef int (*ub_bundle_field_fn)(void *ctx, const char *name, const char *value, size_t len);
int ub_bundle_string_fields(const char *text, size_t len, ub_bundle_field_fn field, void *ctx);
/* Builds manifest.json from the files. */
int ub_bundle_make_manifest(ub_bundle *b, char *err, size_t errlen);

#endif
