/* gate_cmd.h: the parsed `unbreakable gate` command line and the steps
 * shared by its monspec and SLO forms. */
#ifndef UB_GATE_CMD_H
#define UB_GATE_CMD_H

#include <stddef.h>
#include <stdint.h>

#include "dynatrace/dynatrace.h"

typedef struct gate_args {
  const char *monspec, *target, *mode;   /* monspec form */
  int nmodes;
  const char *slo, *sli, *from, *to;     /* SLO form */
  const char *service, *stage, *project, *deployment;
  int no_wait;
  double window, shift, shift_source, shift_compare;
  int has_shift_source, has_shift_compare;
  const char *policy, *compat, *format, *output;
  int fail_on_warning, color;
  double now_ms, timeout, memory_mib, concurrency;
  int64_t now;
  const char *ledger;
  int no_ledger;
  ub_dt_flags dt;
  /* filled by the form before ub_gate_execute */
  const char *kind;                      /* "monspec" or "slo" */
  const char *ctx_json;
  size_t ctx_len;
  const char *spec_text, *sli_text;
  size_t spec_len, sli_len;
  const char *default_policy;            /* file name under policies/ */
  struct ub_monspec_doc *monspec_doc;    /* the monspec, decoded once (gate_monspec.h) */
} gate_args;

/* Longest the SLO form sleeps for Dynatrace's data before it evaluates
 * (gate_slo.c); the process backstop allows for it. */
#define UB_GATE_SLO_MAX_WAIT_MS 240000

/* Resolves the policy and Dynatrace, runs the evaluation, records it in
 * the ledger, writes the report. Returns the exit status. */
int ub_gate_execute(gate_args *a);

/* The SLO form (gate_slo.c). */
int ub_gate_slo(gate_args *a);

#endif
