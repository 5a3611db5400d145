/* Folder bundle/: signed policy bundles for security-reviewed policy
 * repositories. A bundle is a tar.gz of regular files plus manifest.json
 * (every file's path, size and SHA-256) and manifest.sig (an Ed25519
 * signature over the manifest, the key id and the signing time). Loading
 * verifies everything before any byte is used: the signature with the
 * expected public key, the key id, every file's hash, no extra or missing
 * file, no unsafe path, no duplicate, no link or special entry. May call
 * util/ only. See docs/policies.md, "Signed bundles". */
/* bundle.h: keys, building, signing, verifying, loading bundles. */
#ifndef UB_BUNDLE_H
#define UB_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#define UB_BUNDLE_KEY_ID_LEN 16          /* hex characters */
#define UB_BUNDLE_MANIFEST "manifest.json"
#define UB_BUNDLE_SIGNATURE "manifest.sig"

typedef struct ub_bundle_file {
  char *path;              /* relative, checked by ub_bundle_safe_path */
  unsigned char *data;
  size_t len;
} ub_bundle_file;

typedef struct ub_bundle {
  ub_bundle_file *files;   /* content, sorted by path (not manifest/sig) */
  size_t nfiles;
  char *manifest;          /* manifest.json bytes, or NULL */
  size_t manifest_len;
  char *signature;         /* manifest.sig bytes, or NULL when unsigned */
  size_t signature_len;
  /* filled by a successful ub_bundle_verify */
  char key_id[UB_BUNDLE_KEY_ID_LEN + 1];
  char signed_at[40];
} ub_bundle;

typedef struct ub_bundle_pubkey {
  unsigned char pk[32];
  char key_id[UB_BUNDLE_KEY_ID_LEN + 1];
} ub_bundle_pubkey;

/* Every function returns 0, or -1 with err filled in one line that names
 * the file and, where it helps, the fix. */

/* libsodium's initialisation; called by the others. */
int ub_bundle_crypto_init(char *err, size_t errlen);

/* Writes KEY (secret, mode 0600, never overwritten) and KEY.pub. */
int ub_bundle_keygen(const char *key_path, char *key_id_out, char *err, size_t errlen);
int ub_bundle_read_pubkey(const char *path, ub_bundle_pubkey *k, char *err, size_t errlen);

/* A relative path of printable ASCII, no "", ".", ".." component, no
 * backslash, at most 512 bytes. */
int ub_bundle_safe_path(const char *path);

ub_bundle *ub_bundle_new(void);
void ub_bundle_free(ub_bundle *b);

/* Every regular file under dir (a symbolic link or special file is an
 * error; .git folders are skipped), with its manifest; unsigned. */
int ub_bundle_from_dir(const char *dir, ub_bundle **out, char *err, size_t errlen);
/* Reads a bundle archive without trusting it (bundle_archive.c). */
int ub_bundle_read(const char *path, ub_bundle **out, char *err, size_t errlen);
/* Writes the archive (to path.tmp, then renamed). */
int ub_bundle_write(const ub_bundle *b, const char *path, char *err, size_t errlen);

/* Checks that the manifest lists exactly the files, with their hashes. */
int ub_bundle_check_manifest(const ub_bundle *b, char *err, size_t errlen);
/* Signs the manifest with the secret key file (checks it first). */
int ub_bundle_sign(ub_bundle *b, const char *key_path, char *err, size_t errlen);
/* The signature with k, then the manifest. */
int ub_bundle_verify(ub_bundle *b, const ub_bundle_pubkey *k, char *err, size_t errlen);

/* Read + public key + verify: the one call a loader (gate, serve) needs.
 * NULL with err filled unless everything verifies. */
ub_bundle *ub_bundle_open(const char *path, const char *pubkey_path, char *err, size_t errlen);
/* A verified file's bytes, or NULL. */
const ub_bundle_file *ub_bundle_find(const ub_bundle *b, const char *path);
/* Writes the verified files into a new private folder (mode 0700) made
 * from template (mkdtemp), so that require finds them; ub_bundle_remove_dir
 * deletes it. */
int ub_bundle_extract(const ub_bundle *b, char *dir_template, char *err, size_t errlen);
void ub_bundle_remove_dir(const ub_bundle *b, const char *dir);

#endif
