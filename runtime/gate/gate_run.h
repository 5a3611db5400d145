/* Folder gate/: one gate evaluation, from choosing the policy to
 * recording the decision: the context of the monspec or SLO form
 * (gate_exec.c, gate_slo.c), the policy run in the sandbox with the
 * Dynatrace binding and the checked verdict (gate_run.c), the ledger row,
 * the report. Shared by `gate` and `replay`. May call sandbox/, lualib/,
 * dynatrace/, ledger/, heal/ (the freeze check only), report/ and util/. */
/* gate_run.h: one gate evaluation: a policy run in the sandbox with a
 * context (JSON), the Dynatrace binding (live or replaying a record) and
 * the verdict it returns, checked and rendered. Shared by `gate` and
 * `replay`, so that a replay runs exactly what the gate ran. */
#ifndef UB_GATE_RUN_H
#define UB_GATE_RUN_H

#include "util/buf.h"
#include "dynatrace/dynatrace.h"
#include "dynatrace/recorder.h"
#include "sandbox/sandbox.h"

typedef struct ub_gate_job {
  /* inputs */
  sb_policy policy;           /* name, source, folder for require */
  const char *ctx_json;       /* the context table given to the policy */
  size_t ctx_len;
  ub_dt_client *client;       /* NULL when replaying */
  ub_recorder *rec;           /* live record, or the replay source */
  sb_limits limits;
  const char *format;         /* "json", "text", "junit", "dtcli", "keptn", or "none"
                                 (a host's: verdict_json only, no report) */
  int color;                  /* ANSI colours in text */
  int fail_on_warning;        /* a warning fails (exit status and JUnit) */
  const char *compare_json;   /* replay: the recorded verdict to diff with */
  const struct ub_monspec_doc *monspec_doc; /* given to the policy as ctx.monspec, or NULL */
  sandbox **keep;             /* a long-lived caller's sandbox, reused across jobs (the first
                                 creates it; the caller frees it), or NULL: one for this job */
  sb_print_fn on_print;       /* each line the policy prints, as it prints it, or NULL */
  void *print_ud;
  /* outputs */
  char verdict[16];           /* pass|warning|fail|inconclusive|error */
  char error_kind[16];        /* "input" when the inputs were invalid */
  char summary[1024];         /* the verdict's summary line */
  int has_score;              /* the verdict has a numeric score (SLO gate) */
  double score;
  ub_buf verdict_json;        /* canonical one-line JSON of the verdict */
  ub_buf rendered;            /* the report in the chosen format */
  char error[1200];           /* why the policy failed, if it did */
  ub_buf diff;                /* replay: one line per change, "" if none */
  ub_buf log;                 /* what the policy printed (bounded) */
  double policy_ms;
} ub_gate_job;

void ub_gate_job_init(ub_gate_job *job);
void ub_gate_job_free(ub_gate_job *job);

/* Runs the job. Returns 0 when the policy returned a verdict (whatever it
 * says), -1 when it failed: then verdict is "error" and error explains,
 * and verdict_json/rendered describe that error. */
int ub_gate_run(ub_gate_job *job);

/* Exit status for a verdict (cli.h), warnings failing when asked. */
int ub_gate_exit_status(const char *verdict, const char *error_kind, int fail_on_warning);

#endif
