/* cmd_eval.c: `unbreakable eval`, the policy author's tool. Runs a policy
 * in the sandbox (inside a child process as a backstop), calls it with the
 * decoded input when it returns a function, prints the result as JSON. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "lualib/bindings.h"
#include "util/buf.h"
#include "cli/cli.h"
#include "cli/isolate.h"
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
  char err[256];
  if (!job->input) {
    lua_newtable(L);
    return 1;
  }
  if (json_decode_lua(L, job->input, job->input_len, 200, err, sizeof err) != 0)
    return luaL_error(L, "input is not valid JSON: %s", err);
  return 1;
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

/* Caps keep the backstop's wait and the byte count in range. */
static int parse_limits(eval_job *job, int opt, const char *arg) {
  double v = ub_parse_positive(arg);
  if (v < 0) return -1;
  if (opt == 't' && v <= 86400) job->limits.seconds = v;
  else if (opt == 'm' && v <= 65536) job->limits.memory = (size_t)(v * 1024 * 1024);
  else if (opt == 'n') job->limits.instructions = (uint64_t)v;
  else return -1;
  return 0;
}

int ub_cmd_eval(int argc, char **argv) {
  static const struct option opts[] = {
    {"input", required_argument, 0, 'i'}, {"timeout", required_argument, 0, 't'},
    {"memory", required_argument, 0, 'm'}, {"instructions", required_argument, 0, 'n'},
    {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  eval_job job;
  memset(&job, 0, sizeof job);
  sb_default_limits(&job.limits);
  const char *input_path = NULL;
  int c;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "i:t:m:n:h", opts, NULL)) != -1) {
    if (c == 'h') { fputs(eval_help, stdout); return UB_EXIT_OK; }
    if (c == 'i') input_path = optarg;
    else if (c == 't' || c == 'm' || c == 'n') {
      if (parse_limits(&job, c, optarg) != 0)
        return ub_usage_error("eval", "'%s' is not a positive number in range (--timeout at "
                                      "most 86400, --memory at most 65536)", optarg);
    } else {
      return ub_usage_error("eval", "unknown or incomplete option '%s'", argv[optind - 1]);
    }
  }
  if (optind != argc - 1)
    return ub_usage_error("eval", optind >= argc ? "missing POLICY.lua" : "too many arguments");
  job.policy = argv[optind];
  FILE *probe = fopen(job.policy, "rb");
  if (!probe) return ub_usage_error("eval", "cannot open policy %s", job.policy);
  fclose(probe);
  if (input_path) {
    char err[512];
    job.input = ub_read_all(input_path, (size_t)64 << 20, &job.input_len, err, sizeof err);
    if (!job.input) return ub_usage_error("eval", "%s", err);
    /* a bad input is the caller's error (exit 2), named with its file */
    if (json_validate(job.input, job.input_len, 200, err, sizeof err) != 0) {
      free(job.input);
      return ub_usage_error("eval", "%s: invalid JSON: %s", input_path, err);
    }
  }
  double backstop = 2 * job.limits.seconds + 1;
  int rc = ub_isolate_run("eval", run_eval, &job, backstop);
  free(job.input);
  return rc;
}
