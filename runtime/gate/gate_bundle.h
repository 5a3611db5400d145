/* gate_bundle.h: a gate's policy from a verified bundle. */
#ifndef UB_GATE_BUNDLE_H
#define UB_GATE_BUNDLE_H

#include <stddef.h>

typedef struct ub_gate_bundle {
  char dir[1024];    /* private folder of the verified files ("" = none) */
  char *source;      /* the policy's verified text */
  size_t len;
  char *name;        /* "BUNDLE/policy.lua", the chunk name */
} ub_gate_bundle;

/* Verifies bundle with pubkey, finds policy (default policy.lua) in it and
 * extracts the files. 0, or the exit status with the error printed. */
int ub_gate_bundle_policy(const char *bundle, const char *pubkey, const char *policy,
                          ub_gate_bundle *out);
/* Removes the folder and frees. */
void ub_gate_bundle_done(ub_gate_bundle *g);

#endif
