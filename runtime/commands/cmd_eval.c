/* cmd_eval.c: `unbreakable eval`, the policy author's tool. Runs a policy
 * in the sandbox (inside a child process as a backstop), calls it with the
 * decoded input when it returns a function, prints the result as JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>

#include "lualib/bindings.h"
#include "util/buf.h"
#include "cli/cli.h"
#include "cli/isolate.h"
#include "cli/options.h"
#include "util/json.h"
#include "util/text.h"
#include "sandbox/sandbox.h"

static const char eval_help[] =
  "usage: unbreakable eval POLICY.lua [--input FILE.json|-] [--timeout SECONDS]\n"
  "                        [--memory MIB] [--instructions N]\n"
  "\n"
  "Runs POLICY.lua in the sandbox. If the chunk returns a function, it is called\n"
  "with the decoded input (an empty table without --input). The returned value is\n"
  "printed to stdout as JSON. What the policy prints goes to stderr, prefixed.\n"
  "\n"
  "  --input FILE   JSON input for the policy function ('-' reads stdin)\n"
  "  --timeout S    wall-clock deadline in seconds (default 2, at most 86400)\n"
  "  --memory MIB   memory cap in MiB (default 64, at most 65536)\n"
  "  --instructions N  VM instruction budget (default 1000000000)\n"
  "\n"
  "Exit status: 0 success, 2 usage error, 3 the policy failed (error, limit,\n"
  "forbidden access) or its result is not JSON (functions, cycles, NaN, inf).\n"
  "See docs/policies.md for what a policy may use.\n";

typedef struct eval_job {
  const char *policy;
  char *input;          /* JSON text or NULL */
  size_t input_len;
  sb_limits limits;
  ub_buf out;           /* encoded result */
} eval_job;

static int push_input(lua_State *L, void *ud) {
  eval_job *job = ud;
  if (!job->input) {
    lua_newtable(L);
    return 1;
  }
  return json_decode_lua_or_raise(L, job->input, job->input_len, 200, "input");
}

static int take_result(lua_State *L, void *ud) {
  eval_job *job = ud;
  char err[512];
  json_enc_opts o = {2, 0, 100, 1, "result"};
  if (json_encode_lua(L, -1, &o, &job->out, err, sizeof err) != 0) {
    ub_buf_reset(&job->out);
    return luaL_error(L, "the result cannot be encoded as JSON: %s", err);
  }
  return 0;
}

static int run_eval(void *ud) {
  eval_job *job = ud;
  sandbox *sb = sb_new(&job->limits, ub_stdlib_dir());
  if (!sb || ub_grant_defaults(sb) != 0) {
    fprintf(stderr, "unbreakable eval: cannot create the sandbox\n");
    sb_free(sb);
    return UB_EXIT_ERROR;
  }
  sb_status st = sb_run(sb, job->policy, push_input, take_result, job);
  size_t log_len;
  const char *log = sb_log(sb, &log_len);
  ub_print_policy_log(log, log_len);
  int rc = UB_EXIT_OK;
  if (st == SB_OK) {
    fwrite(job->out.data, 1, job->out.len, stdout);
    fputc('\n', stdout);
  } else {
    char msg[1100];
    snprintf(msg, sizeof msg, "%s", sb_error(sb));
    ub_text_sanitize(msg); /* the policy wrote it */
    fprintf(stderr, "unbreakable eval: %s\n", msg);
    rc = UB_EXIT_ERROR;
  }
  sb_free(sb);
  ub_buf_free(&job->out);
  return rc;
}

int ub_cmd_eval(int argc, char **argv) {
  eval_job job;
  memset(&job, 0, sizeof job);
  sb_default_limits(&job.limits);
  const char *input_path = NULL;
  double seconds = job.limits.seconds, mib = (double)job.limits.memory / (1024 * 1024);
  double instructions = (double)job.limits.instructions;
  /* caps keep the backstop's wait and the byte count in range */
  const ub_opt opts[] = {
    UB_PATH("input", &input_path),
    UB_NUMBER("timeout", &seconds, 0, 86400, .above_min = 1, .unit = "(seconds)"),
    UB_NUMBER("memory", &mib, 0, 65536, .above_min = 1, .unit = "(MiB)"),
    UB_NUMBER("instructions", &instructions, 1, 1e15, .whole = 1),
    UB_OPTS_END};
  const ub_opt_spec spec = {"eval", eval_help, opts, 0};
  const char *pos[1];
  int npos = 0;
  int rc = ub_opts_parse(&spec, argc, argv, pos, 1, &npos, NULL);
  if (rc == UB_OPTS_HELP) return UB_EXIT_OK;
  if (rc != 0) return rc;
  if (npos != 1) return ub_usage_error("eval", "missing POLICY.lua");
  job.limits.seconds = seconds;
  job.limits.memory = (size_t)(mib * 1024 * 1024);
  job.limits.instructions = (uint64_t)instructions;
  job.policy = pos[0];
  char err[512];
  int probe = ub_open_regular(job.policy, err, sizeof err);
  if (probe < 0) return ub_usage_error("eval", "policy: %s", err);
  close(probe);
  if (input_path) {
    job.input = ub_read_text(input_path, (size_t)64 << 20, &job.input_len, err, sizeof err);
    if (!job.input) return ub_usage_error("eval", "%s", err);
    /* a bad input is the caller's error (exit 2), named with its file */
    if (json_validate(job.input, job.input_len, 200, err, sizeof err) != 0) {
      free(job.input);
      return ub_usage_error("eval", "%s: invalid JSON: %s", input_path, err);
    }
  }
  double backstop = 2 * job.limits.seconds + 1;
  rc = ub_isolate_run("eval", run_eval, &job, backstop);
  free(job.input);
  return rc;
}
