/* gate_cmd.h: the parsed `unbreakable gate` command line and the steps
 * shared by its monspec and SLO forms. */
#ifndef UB_GATE_CMD_H
#define UB_GATE_CMD_H

#include <stddef.h>
#include <stdint.h>

#include "dynatrace/dynatrace.h"
#include "util/buf.h"

/* What a long-running caller (serve) gives a gate and gets back from it;
 * the CLI leaves gate_args.host NULL. */
typedef struct ub_gate_host {
  ub_dt_client *client;        /* reused across gates (kept-alive connections) */
  struct ub_ledger *ledger;    /* kept open across gates, or NULL */
  const char *dt_token;        /* its token, redacted from the ledger */
  const char *requested_by;    /* "http:..." instead of the CLI user */
  const char *request_meta;    /* JSON object recorded with the evaluation */
  void (*on_begin)(void *ud, int64_t evaluation_id); /* once it is recorded */
  void (*on_print)(void *ud, const char *line, size_t len); /* each line the policy prints, live */
  void *ud;
  struct sandbox *sandbox;     /* kept across gates (gate_run.h keep), or NULL: the
                                  first gate creates it; the caller frees it */
  struct ub_monspec_decoder *monspec_decoder; /* the same for the monspec decoder
                                                 (gate_monspec.h) */
  /* outputs */
  int64_t evaluation_id;       /* 0 when nothing was recorded */
  char verdict[16];            /* "" when the policy never ran */
  char summary[1024];
  char error[1200];
  ub_buf verdict_json;         /* caller initialises and frees */
  size_t dt_requests;          /* Dynatrace exchanges and their retries */
  size_t dt_retries;
} ub_gate_host;

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
  const char *dump_ctx;                  /* write the evaluation as a spec fixture */
  const char *bundle, *pubkey;           /* policy only from this verified bundle */
  ub_dt_flags dt;
  /* filled by the form before ub_gate_execute */
  const char *kind;                      /* "monspec" or "slo" */
  const char *ctx_json;
  size_t ctx_len;
  const char *spec_text, *sli_text;
  size_t spec_len, sli_len;
  const char *default_policy;            /* file name under policies/ */
  struct ub_monspec_doc *monspec_doc;    /* the monspec, decoded once (gate_monspec.h) */
  ub_gate_host *host;                    /* NULL from the CLI */
} gate_args;

/* Longest the SLO form sleeps for Dynatrace's data before it evaluates
 * (gate_slo.c); the process backstop allows for it. */
#define UB_GATE_SLO_MAX_WAIT_MS 240000

/* Resolves the policy and Dynatrace, runs the evaluation, records it in
 * the ledger, writes the report. Returns the exit status. */
int ub_gate_execute(gate_args *a);

/* The SLO form (gate_slo.c). */
int ub_gate_slo(gate_args *a);

/* The monspec form (commands/cmd_gate.c): reads a->monspec, builds the
 * context and runs ub_gate_execute. */
int ub_gate_monspec(gate_args *a);

#endif
