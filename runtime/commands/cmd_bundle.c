/* cmd_bundle.c: `unbreakable bundle keygen|build|sign|verify`: signed
 * policy bundles (bundle/). Argument handling is one small function per
 * subcommand so that it can move to the table-driven parser. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle/bundle.h"
#include "cli/cli.h"
#include "commands/commands.h"
#include "cli/options.h"

static const char bundle_help[] =
  "usage: unbreakable bundle keygen --out KEY\n"
  "       unbreakable bundle build DIR -o BUNDLE.tar.gz   (-o: --output)\n"
  "       unbreakable bundle sign BUNDLE.tar.gz --key KEY\n"
  "       unbreakable bundle verify BUNDLE.tar.gz --pubkey KEY.pub\n"
  "\n"
  "Signed policy bundles for security-reviewed policy repositories.\n"
  "  keygen  writes an Ed25519 key pair: KEY (secret, mode 0600, never\n"
  "          overwritten) and KEY.pub, and prints the key id\n"
  "  build   packs every regular file under DIR (symbolic links and special\n"
  "          files are refused; .git is skipped) with a manifest of their\n"
  "          SHA-256 hashes; the bundle is unsigned\n"
  "  sign    signs the manifest, the key id and the time with KEY\n"
  "  verify  exit 0 only when the signature is KEY.pub's and every file matches\n"
  "          the manifest: no file missing, extra, changed or duplicated\n"
  "Use a verified bundle with 'unbreakable gate --bundle B --pubkey KEY.pub' and\n"
  "'unbreakable test --bundle B --pubkey KEY.pub' (docs/policies.md).\n"
  "\n"
  "Keep the keys and the bundle outside the folder you build from: build refuses\n"
  "a secret key file and an output inside the folder.\n"
  "\n"
  "Exit status: 0 done (verify: everything verifies), 1 verify: the bundle or\n"
  "the public key does not verify or cannot be read, 2 usage error or unreadable\n"
  "input (build, sign), 3 the command failed.\n";

/* One subcommand's options through the shared parser (options.h): the
 * option named opt is required, and want_positional arguments (0 or 1). */
static int args_of(int argc, char **argv, const char *opt, const char **value,
                   const char **positional, int want_positional) {
  *value = NULL;
  *positional = NULL;
  const ub_opt opts[] = {{.name = opt, .kind = UB_OPT_PATH, .dest = value}, UB_OPTS_END};
  char cmd[32];
  snprintf(cmd, sizeof cmd, "bundle %s", argv[0]);
  const ub_opt_spec spec = {cmd, bundle_help, opts, 0};
  const char *pos[1];
  int npos = 0;
  char *args[64];                       /* "-o" is short for "--output" (build) */
  if (argc > 64) return ub_usage_error("bundle", "too many arguments");
  for (int i = 0; i < argc; i++) args[i] = strcmp(argv[i], "-o") == 0 ? "--output" : argv[i];
  int rc = ub_opts_parse(&spec, argc, args, pos, want_positional, &npos, NULL);
  if (rc == UB_OPTS_HELP) return 1;
  if (rc != 0) return rc;
  if (!*value) return ub_usage_error("bundle", "%s --%s is required", argv[0], opt);
  if (want_positional && npos != 1)
    return ub_usage_error("bundle", "%s needs a %s", argv[0], strcmp(argv[0], "build") == 0 ? "folder" : "bundle");
  if (want_positional) *positional = pos[0];
  return 0;
}

/* 0: go on; otherwise the exit status (help printed: 0). */
static int parsed(int rc) { return rc == 1 ? UB_EXIT_OK : rc; }

static int keygen(int argc, char **argv) {
  const char *out, *pos;
  int rc = args_of(argc, argv, "out", &out, &pos, 0);
  if (rc != 0) return parsed(rc);
  char err[600], key_id[UB_BUNDLE_KEY_ID_LEN + 1];
  if (ub_bundle_keygen(out, key_id, err, sizeof err) != 0) {
    fprintf(stderr, "unbreakable bundle keygen: %s\n", err);
    return UB_EXIT_ERROR;
  }
  printf("key id %s: secret key %s (keep it private), public key %s.pub\n", key_id, out, out);
  return UB_EXIT_OK;
}

/* Reads the bundle build packs (a folder) or sign signs (an archive):
 * 0, or the reason on stderr and exit status 2. */
typedef int (*bundle_loader)(const char *path, ub_bundle **out, char *err, size_t errlen);
static int load(const char *cmd, bundle_loader loader, const char *path, ub_bundle **b) {
  char err[600];
  if (loader(path, b, err, sizeof err) == 0) return 0;
  fprintf(stderr, "unbreakable bundle %s: %s\n", cmd, err);
  return UB_EXIT_USAGE;
}

/* Whether the archive out would land inside the folder dir: the next
 * build would pack the last bundle into the new one. */
static int inside(const char *dir, const char *out) {
  char parent[PATH_MAX], real_dir[PATH_MAX], real_parent[PATH_MAX];
  snprintf(parent, sizeof parent, "%s", out);
  char *slash = strrchr(parent, '/');
  if (!slash) snprintf(parent, sizeof parent, ".");
  else if (slash == parent) parent[1] = '\0';
  else *slash = '\0';
  if (!realpath(dir, real_dir) || !realpath(parent, real_parent)) return 0; /* reported later */
  size_t n = strlen(real_dir);
  return strncmp(real_parent, real_dir, n) == 0 &&
         (real_parent[n] == '\0' || real_parent[n] == '/' || strcmp(real_dir, "/") == 0);
}

static int build(int argc, char **argv) {
  const char *out, *dir;
  int rc = args_of(argc, argv, "output", &out, &dir, 1);
  if (rc != 0) return parsed(rc);
  if (inside(dir, out))
    return ub_usage_error("bundle", "build: %s is inside %s, the folder it packs: write the "
                          "bundle outside it (-o ../NAME.tar.gz)", out, dir);
  ub_bundle *b = NULL;
  if ((rc = load("build", ub_bundle_from_dir, dir, &b)) != 0) return rc;
  char err[600];
  rc = ub_bundle_write(b, out, err, sizeof err);
  if (rc != 0) fprintf(stderr, "unbreakable bundle build: %s\n", err);
  else printf("%s: %zu files, unsigned (sign it with 'unbreakable bundle sign %s --key KEY')\n",
              out, b->nfiles, out);
  ub_bundle_free(b);
  return rc ? UB_EXIT_ERROR : UB_EXIT_OK;
}

static int sign(int argc, char **argv) {
  const char *key, *path;
  int rc = args_of(argc, argv, "key", &key, &path, 1);
  if (rc != 0) return parsed(rc);
  ub_bundle *b = NULL;
  if ((rc = load("sign", ub_bundle_read, path, &b)) != 0) return rc;
  char err[600];
  rc = ub_bundle_sign(b, key, err, sizeof err);
  if (rc == 0) rc = ub_bundle_write(b, path, err, sizeof err);
  if (rc != 0) fprintf(stderr, "unbreakable bundle sign: %s: %s\n", path, err);
  else printf("%s: signed with key %s at %s\n", path, b->key_id, b->signed_at);
  ub_bundle_free(b);
  return rc ? UB_EXIT_ERROR : UB_EXIT_OK;
}

static int verify(int argc, char **argv) {
  const char *pub, *path;
  int rc = args_of(argc, argv, "pubkey", &pub, &path, 1);
  if (rc != 0) return parsed(rc);
  char err[800];
  ub_bundle *b = ub_bundle_open(path, pub, err, sizeof err);
  if (!b) {
    fprintf(stderr, "unbreakable bundle verify: %s\n", err);
    return UB_EXIT_FAIL;
  }
  printf("%s: verified: %zu files, signed with key %s at %s\n", path, b->nfiles, b->key_id, b->signed_at);
  ub_bundle_free(b);
  return UB_EXIT_OK;
}

int ub_cmd_bundle(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    fputs(bundle_help, argc < 2 ? stderr : stdout);
    return argc < 2 ? UB_EXIT_USAGE : UB_EXIT_OK;
  }
  /* each subcommand parses its own arguments, argv[0] being its name */
  if (strcmp(argv[1], "keygen") == 0) return keygen(argc - 1, argv + 1);
  if (strcmp(argv[1], "build") == 0) return build(argc - 1, argv + 1);
  if (strcmp(argv[1], "sign") == 0) return sign(argc - 1, argv + 1);
  if (strcmp(argv[1], "verify") == 0) return verify(argc - 1, argv + 1);
  return ub_usage_error("bundle", "unknown subcommand '%s' (keygen, build, sign or verify)", argv[1]);
}
