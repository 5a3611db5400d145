/* spec_path.h: a file named relative to a specs folder, which it may not
 * leave (serve's requests, selfheal.json's selfheal_policy). */
#ifndef UB_SPEC_PATH_H
#define UB_SPEC_PATH_H

#include <stddef.h>

/* Resolves a relative name under root (a real path: realpath() it first)
 * to a regular file whose real path stays inside root. 0, or -1 with err
 * saying why (for a 400 or a settings error). */
int ub_spec_path(const char *root, const char *name, char *out, size_t outlen, char *err, size_t errlen);

#endif
