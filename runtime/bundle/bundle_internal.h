/* bundle_internal.h: what the bundle files share. */
#ifndef UB_BUNDLE_INTERNAL_H
#define UB_BUNDLE_INTERNAL_H

#include "bundle/bundle.h"

#define UB_BUNDLE_MAX_FILES 10000
#define UB_BUNDLE_MAX_FILE ((size_t)16 << 20)
#define UB_BUNDLE_MAX_TOTAL ((size_t)64 << 20)

void ub_bundle_key_id(const unsigned char pk[32], char out[UB_BUNDLE_KEY_ID_LEN + 1]);
int ub_bundle_read_secret(const char *path, unsigned char sk[64], char *key_id, char *err,
                          size_t errlen);
/* Adds a file (copies path, takes data); -1 on a duplicate or no memory. */
int ub_bundle_add(ub_bundle *b, const char *path, unsigned char *data, size_t len);
void ub_bundle_sort(ub_bundle *b);
/* Builds manifest.json from the files. */
int ub_bundle_make_manifest(ub_bundle *b, char *err, size_t errlen);

#endif
