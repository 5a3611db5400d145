/* cmd_replay.c: `unbreakable replay ID [--policy FILE.lua]`: re-runs a
 * recorded gate evaluation offline, from the recorded context and the
 * recorded Dynatrace responses, with the recorded policy (the verdict must
 * come out identical, byte for byte) or a new one (the differences are
 * shown). The network is never touched: the binding has no client. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "gate/gate_run.h"
#include "util/json.h"
#include "ledger/ledger.h"
#include "util/text.h"

static const char replay_help[] =
  "usage: unbreakable replay ID [--policy FILE.lua] [--format text|json|junit|dtcli]\n"
  "                             [--ledger PATH]\n"
  "\n"
  "Re-runs evaluation ID offline from what the ledger recorded: the context, the\n"
  "policy (or FILE.lua) and every Dynatrace response. Prints the replayed report,\n"
  "then whether the verdict is identical to the recorded one, or what changed.\n"
  "\n"
  "Exit status: 0 identical (with the recorded policy) or replayed (with --policy),\n"
  "1 the recorded policy gave a different verdict, 2 usage error or unknown ID,\n"
  "3 the replay failed (with --policy: the new policy failed).\n";

/* Content type kept in a recorded request's response headers. */
static char *recorded_content_type(const char *headers) {
  if (!headers) return NULL;
  json_reader r;
  json_reader_init(&r, headers, strlen(headers), 8);
  char *found = NULL;
  if (json_next(&r) == JSON_OBJECT) {
    for (json_token t = json_next(&r); t == JSON_STRING; t = json_next(&r)) {
      int match = strcmp(r.str.data, "content-type") == 0;
      t = json_next(&r);
      if (match && t == JSON_STRING) { found = strdup(r.str.data); break; }
      if (json_skip(&r, t) != 0) break;
    }
  }
  json_reader_free(&r);
  return found;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static ub_recorder *replay_source(const ledger_evaluation *e) {
  ub_recorder *rec = ub_recorder_new();
  for (size_t i = 0; rec && i < e->nrequests; i++) {
    const ledger_request_rec *q = &e->requests[i];
    ub_exchange x;
    memset(&x, 0, sizeof x);
    x.method = dup_or_null(q->method);
    x.target = dup_or_null(q->url);
    x.status = q->status;
    x.content_type = recorded_content_type(q->response_headers);
    x.body = dup_or_null(q->response_body.data ? q->response_body.data : "");
    x.body_len = q->response_body.data ? q->response_body.len : 0;
    x.error = dup_or_null(q->error);
    x.attempts = 1;
    int rc = ub_recorder_add(rec, &x);
    ub_exchange_clear(&x);
    if (rc != 0) { ub_recorder_free(rec); return NULL; }
  }
  if (rec) ub_recorder_set_replay(rec);
  return rec;
}

typedef struct replay_args {
  int64_t id;
  const char *policy, *format, *ledger;
} replay_args;

static int parse_replay(replay_args *a, int argc, char **argv) {
  static const struct option opts[] = {
    {"policy", required_argument, 0, 'p'}, {"format", required_argument, 0, 'f'},
    {"ledger", required_argument, 0, 'l'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  int c;
  optind = 1;
  opterr = 0;
  a->format = "text";
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    if (c == 'h') { fputs(replay_help, stdout); return 1; }
    if (c == 'p') a->policy = optarg;
    else if (c == 'f') a->format = optarg;
    else if (c == 'l') a->ledger = optarg;
    else return ub_usage_error("replay", "unknown or incomplete option '%s'", argv[optind - 1]);
  }
  if (optind != argc - 1) return ub_usage_error("replay", "give exactly one evaluation ID");
  char *end;
  a->id = strtoll(argv[optind], &end, 10);
  if (*end || a->id <= 0) return ub_usage_error("replay", "'%s' is not an evaluation ID", argv[optind]);
  return 0;
}

static int load_evaluation(const replay_args *a, ledger_evaluation *e) {
  char path[2048], err[600];
  if (ledger_resolve_path(a->ledger, path, sizeof path, err, sizeof err) != 0)
    return ub_usage_error("replay", "%s", err);
  FILE *probe = fopen(path, "rb"); /* never create a ledger just to read it */
  if (!probe) return ub_usage_error("replay", "no ledger at %s", path);
  fclose(probe);
  ub_ledger *l = ledger_open(path, err, sizeof err);
  if (!l) return ub_usage_error("replay", "%s", err);
  int rc = ledger_get_evaluation(l, a->id, e);
  if (rc != LEDGER_OK) {
    if (rc == LEDGER_NOT_FOUND) ub_usage_error("replay", "no evaluation %lld in %s", (long long)a->id, path);
    else fprintf(stderr, "unbreakable replay: %s\n", ledger_error(l));
    ledger_close(l);
    return rc == LEDGER_NOT_FOUND ? UB_EXIT_USAGE : UB_EXIT_ERROR;
  }
  ledger_close(l);
  if (!e->ctx.data || !e->policy.data || !e->verdict_json) {
    fprintf(stderr, "unbreakable replay: evaluation %lld has no recorded context, policy or "
                    "verdict (it did not finish); nothing to replay\n", (long long)a->id);
    return UB_EXIT_USAGE;
  }
  return 0;
}

static void print_outcome(const replay_args *a, const ub_gate_job *job, const ledger_evaluation *e,
                          int identical) {
  if (identical) {
    printf("replay of evaluation %lld: identical verdict (%s), byte for byte\n",
           (long long)a->id, job->verdict);
    return;
  }
  printf("replay of evaluation %lld %s: recorded %s, now %s\n", (long long)a->id,
         a->policy ? "with a new policy" : "DIFFERS", e->verdict ? e->verdict : "?", job->verdict);
  if (job->diff.len) fputs(job->diff.data, stdout);
  else printf("(the verdict tables differ only in fields outside verdict and objectives)\n");
}

static int replay(const replay_args *a, ledger_evaluation *e) {
  ub_gate_job job;
  ub_gate_job_init(&job);
  char *policy_src = NULL, err[600], dir[2048] = ".";
  if (a->policy) {
    policy_src = sb_read_source(a->policy, &job.policy.len, err, sizeof err);
    if (!policy_src) { ub_gate_job_free(&job); return ub_usage_error("replay", "%s", err); }
    const char *slash = strrchr(a->policy, '/');
    if (slash) snprintf(dir, sizeof dir, "%.*s", (int)(slash - a->policy), a->policy);
  }
  job.policy.name = a->policy ? a->policy : e->policy.name;
  job.policy.source = policy_src ? policy_src : e->policy.data;
  if (!policy_src) job.policy.len = e->policy.len;
  job.policy.dir = a->policy ? dir : NULL;
  job.ctx_json = e->ctx.data;
  job.ctx_len = e->ctx.len;
  job.rec = replay_source(e);
  job.format = a->format;
  job.compare_json = e->verdict_json;
  int rc = UB_EXIT_ERROR;
  if (job.rec) {
    /* a failing policy is replayed too: its error verdict is compared; a
     * new policy that fails is a failed replay, never a success */
    int failed = ub_gate_run(&job) != 0;
    ub_text_sanitize(job.error); /* the policy wrote it */
    if (e->verdict) ub_text_sanitize(e->verdict);
    if (failed) fprintf(stderr, "unbreakable replay: %s\n", job.error);
    fwrite(job.rendered.data ? job.rendered.data : "", 1, job.rendered.len, stdout);
    int identical = job.verdict_json.data && strcmp(job.verdict_json.data, e->verdict_json) == 0;
    print_outcome(a, &job, e, identical);
    if (a->policy) rc = failed ? UB_EXIT_ERROR : UB_EXIT_OK;
    else rc = identical ? UB_EXIT_OK : UB_EXIT_FAIL;
  }
  ub_recorder_free(job.rec);
  free(policy_src);
  ub_gate_job_free(&job);
  return rc;
}

int ub_cmd_replay(int argc, char **argv) {
  replay_args a;
  memset(&a, 0, sizeof a);
  int rc = parse_replay(&a, argc, argv);
  if (rc != 0) return rc == 1 ? UB_EXIT_OK : rc;
  ledger_evaluation e;
  memset(&e, 0, sizeof e);
  rc = load_evaluation(&a, &e);
  if (rc == 0) rc = replay(&a, &e);
  ledger_evaluation_free(&e);
  return rc;
}
