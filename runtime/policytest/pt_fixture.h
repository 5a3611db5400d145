/* pt_fixture.h: writing an evaluation as a fixture for specs: the exact
 * context a policy received, every recorded Dynatrace response and the
 * verdict (format in pt_fixture.c). */
#ifndef UB_PT_FIXTURE_H
#define UB_PT_FIXTURE_H

#include <stddef.h>

#include "dynatrace/recorder.h"

typedef struct pt_fixture {
  const char *kind;          /* "monspec" or "slo" */
  const char *policy;        /* the policy's name, for the reader */
  const char *ctx_json;      /* the context, as given to the policy */
  size_t ctx_len;
  const ub_recorder *rec;    /* the responses, or NULL */
  const char *verdict_json;  /* the verdict, or NULL */
} pt_fixture;

/* 0, or -1 with err filled. */
int pt_fixture_write(const char *path, const pt_fixture *f, char *err, size_t errlen);

#endif
