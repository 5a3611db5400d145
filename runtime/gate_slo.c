/* gate_slo.c: the Keptn SLO form of `unbreakable gate`. */
#include "cli.h"
#include "gate_cmd.h"

int ub_gate_slo(gate_args *a) {
  (void)a;
  return ub_usage_error("gate", "--slo is not available in this build yet");
}
