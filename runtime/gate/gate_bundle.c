/* gate_bundle.c: `gate --bundle B --pubkey K`: the policy comes only from
 * a bundle whose signature and every file verify (bundle/). The verified
 * files are written to a new private folder so that require finds the
 * policy's modules there; the policy's text is taken from the verified
 * bytes in memory. */
#include "gate/gate_bundle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle/bundle.h"
#include "cli/cli.h"

int ub_gate_bundle_policy(const char *bundle, const char *pubkey, const char *policy,
                          ub_gate_bundle *out) {
  char err[800];
  memset(out, 0, sizeof *out);
  if (!pubkey) return ub_usage_error("gate", "--bundle needs --pubkey KEY.pub (the key it must be signed with)");
  ub_bundle *b = ub_bundle_open(bundle, pubkey, err, sizeof err);
  if (!b) {
    fprintf(stderr, "unbreakable gate: %s\n", err);
    return UB_EXIT_USAGE;
  }
  const char *rel = policy ? policy : "policy.lua";
  const ub_bundle_file *f = ub_bundle_find(b, rel);
  int rc = 0;
  if (!f) {
    rc = ub_usage_error("gate", "%s: no file '%s' in the bundle (name the policy inside it with --policy)", bundle, rel);
  } else {
    const char *tmp = getenv("TMPDIR");
    snprintf(out->dir, sizeof out->dir, "%s/unbreakable-bundle-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (ub_bundle_extract(b, out->dir, err, sizeof err) != 0) {
      fprintf(stderr, "unbreakable gate: %s\n", err);
      out->dir[0] = '\0';
      rc = UB_EXIT_ERROR;
    }
  }
  if (rc == 0) {
    out->source = malloc(f->len + 1);
    out->name = malloc(strlen(bundle) + strlen(rel) + 2);
    if (!out->source || !out->name) rc = UB_EXIT_ERROR;
    else {
      memcpy(out->source, f->data, f->len);
      out->source[f->len] = '\0';
      out->len = f->len;
      sprintf(out->name, "%s/%s", bundle, rel);
      fprintf(stderr, "unbreakable gate: policy %s from bundle %s, signed with key %s at %s\n",
              rel, bundle, b->key_id, b->signed_at);
    }
  }
  ub_bundle_free(b);
  if (rc != 0) ub_gate_bundle_done(out);
  return rc;
}

void ub_gate_bundle_done(ub_gate_bundle *g) {
  if (g->dir[0]) ub_bundle_remove_dir(NULL, g->dir);
  free(g->source);
  free(g->name);
  memset(g, 0, sizeof *g);
}
