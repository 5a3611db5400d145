/* gate_exec.c: the steps every gate run shares: choose the policy, connect
 * to Dynatrace, run the evaluation, record it in the ledger, write the
 * report, map the verdict to an exit status. A stage frozen by
 * self-healing (heal/heal_freeze.c) in the gate's ledger fails the gate
 * without running its policy, for every caller (`gate`, serve's sync and
 * callback gates). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "gate/gate_cmd.h"
#include "gate/gate_monspec.h"
#include "gate/gate_run.h"
#include "util/json.h"
#include "util/text.h"
#include "ledger/ledger.h"
#include "policytest/pt_fixture.h"
#include "gate/gate_bundle.h"
#include "heal/heal.h"

/* The policy path: --policy, else the monspec's "policy" key (relative to
 * the monspec's folder; the host decoded and checked the whole monspec
 * before, gate_monspec.c), else the shipped default. Under serve the
 * server resolves the monspec's key inside the specs folder and passes it
 * as the policy: a key the gate finds but the server did not pass was
 * never checked (the two read the text differently, or it changed in
 * between), so it is refused (NULL, *unchecked set), never followed. */
static char *choose_policy(const gate_args *a, const char **unchecked) {
  char path[2048];
  *unchecked = NULL;
  if (a->policy) return strdup(a->policy);
  const char *key = a->monspec ? ub_monspec_policy(a->monspec_doc) : NULL;
  if (key && a->host) {
    *unchecked = key;
    return NULL;
  }
  if (key) {
    const char *slash = strrchr(a->monspec, '/');
    if (key[0] == '/' || !slash) snprintf(path, sizeof path, "%s", key);
    else snprintf(path, sizeof path, "%.*s/%s", (int)(slash - a->monspec), a->monspec, key);
    return strdup(path);
  }
  snprintf(path, sizeof path, "%s/%s", ub_policies_dir(), a->default_policy);
  return strdup(path);
}

static void dirname_of(const char *path, char *out, size_t size) {
  const char *slash = strrchr(path, '/');
  if (!slash) snprintf(out, size, ".");
  else snprintf(out, size, "%.*s", (int)(slash - path), path);
}

static void split_target(const gate_args *a, char *service, char *stage, size_t size) {
  const char *t = a->target ? a->target : "";
  const char *slash = strchr(t, '/');
  snprintf(service, size, "%s", a->service ? a->service : "");
  snprintf(stage, size, "%s", a->stage ? a->stage : "");
  if (!a->service && slash) snprintf(service, size, "%.*s", (int)(slash - t), t);
  if (!a->stage && slash) snprintf(stage, size, "%s", slash + 1);
}

/* s as a Lua string literal: every byte but letters, digits and a few
 * plain signs as a decimal escape, so no text can end the literal. */
static void lua_literal(ub_buf *b, const char *s) {
  ub_buf_putc(b, '"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr(" .,:;()-_/", *p))
      ub_buf_putc(b, (char)*p);
    else
      ub_buf_printf(b, "\\%03u", (unsigned)*p);
  }
  ub_buf_putc(b, '"');
}

/* When self-healing froze the gate's stage, the gate runs, records and
 * reports this verdict instead of its policy (so that a replay answers the
 * same): fail, frozen, with the freeze's reason. 0, or -1 out of memory. */
static int apply_freeze(gate_args *a, ub_gate_job *job, ub_ledger *l, char **src) {
  char service[256], stage[256], reason[1024];
  split_target(a, service, stage, sizeof service);
  if (!heal_frozen(l, stage, reason, sizeof reason)) return 0;
  ub_text_sanitize(reason); /* a policy wrote it */
  fprintf(stderr, "unbreakable gate: %s; the gate fails without running its policy (lift it with "
          "`unbreakable selfheal --lift-freeze STAGE`)\n", reason);
  ub_buf b, name;
  ub_buf_init(&b);
  ub_buf_init(&name);
  ub_buf_puts(&b, "-- the stage is frozen by self-healing: this verdict replaces the policy\n"
                  "return {verdict = \"fail\", frozen = true, summary = ");
  lua_literal(&b, reason);
  ub_buf_puts(&b, ",\n  objectives = {{name = \"self-healing freeze\", status = \"fail\", outcome = \"fail\", "
                  "critical = true, message = ");
  lua_literal(&b, reason);
  ub_buf_puts(&b, "}}}\n");
  ub_buf_printf(&name, "(freeze of stage %s)", stage);
  if (b.failed || name.failed) {
    ub_buf_free(&b);
    ub_buf_free(&name);
    return -1;
  }
  free(*src);
  free((char *)job->policy.name);
  job->policy.source = *src = ub_buf_steal(&b, &job->policy.len);
  job->policy.name = ub_buf_steal(&name, NULL);
  return 0;
}

/* Opens the ledger and starts the evaluation record; *l stays NULL with
 * --no-ledger. Returns 0 or -1 (message printed). */
static int ledger_start(gate_args *a, ub_gate_job *job, char **src, const char *token,
                        ub_ledger **l, int64_t *id) {
  char path[2048], err[600], who[300], service[256], stage[256];
  *l = NULL;
  if (a->no_ledger) return 0;
  if (a->host && a->host->ledger) *l = a->host->ledger;
  else if (ledger_resolve_path(a->ledger, path, sizeof path, err, sizeof err) != 0 ||
           !(*l = ledger_open(path, err, sizeof err))) {
    fprintf(stderr, "unbreakable gate: ledger: %s (or run with --no-ledger)\n", err);
    return -1;
  }
  ledger_add_secret(*l, token);
  if (apply_freeze(a, job, *l, src) != 0) {
    fprintf(stderr, "unbreakable gate: out of memory\n");
    if (!(a->host && a->host->ledger)) ledger_close(*l);
    *l = NULL;
    return -1;
  }
  if (a->host && a->host->requested_by) snprintf(who, sizeof who, "%s", a->host->requested_by);
  else ledger_cli_requester(who, sizeof who);
  split_target(a, service, stage, sizeof service);
  ledger_eval_start s = {
    .requested_by = who, .service = service, .stage = stage, .kind = a->kind,
    .target = a->target ? a->target : "", .compat = a->compat,
    .spec = {a->monspec ? a->monspec : a->slo, a->spec_text, a->spec_len},
    .sli = {a->sli, a->sli_text, a->sli_len},
    .policy = {job->policy.name, job->policy.source, job->policy.len},
    .ctx_json = a->ctx_json, .request_meta = a->host ? a->host->request_meta : NULL};
  if (ledger_begin_evaluation(*l, &s, id) != LEDGER_OK) {
    fprintf(stderr, "unbreakable gate: %s\n", ledger_error(*l));
    if (!(a->host && a->host->ledger)) ledger_close(*l);
    *l = NULL;
    return -1;
  }
  if (a->host && a->host->on_begin) a->host->on_begin(a->host->ud, *id);
  return 0;
}

/* Content type of a response, kept so a replay passes the same checks. */
static char *headers_json(const ub_exchange *x) {
  if (!x->content_type) return NULL;
  ub_buf h;
  ub_buf_init(&h);
  ub_buf_puts(&h, "{\"content-type\":");
  json_append_string(&h, x->content_type, strlen(x->content_type));
  ub_buf_puts(&h, "}");
  return ub_buf_steal(&h, NULL);
}

/* Records every response and the verdict in one transaction. */
static int ledger_finish(ub_ledger *l, int64_t id, const ub_gate_job *job, ub_recorder *rec) {
  size_t n = ub_recorder_count(rec);
  ledger_request *reqs = calloc(n ? n : 1, sizeof *reqs);
  if (!reqs) return -1;
  for (size_t i = 0; i < n; i++) {
    const ub_exchange *x = ub_recorder_get(rec, i);
    reqs[i] = (ledger_request){.seq = (int)i + 1, .binding = "dynatrace", .method = x->method,
                               .url = x->target, .status = (int)x->status,
                               .response_headers = headers_json(x), .response_body = x->body,
                               .response_body_len = x->body_len, .duration_ms = x->duration_ms,
                               .error = x->error};
  }
  char timings[64];
  snprintf(timings, sizeof timings, "{\"policy_ms\":%.0f}", job->policy_ms);
  ledger_eval_result res = {.status = job->error[0] ? "error" : "finished",
                            .verdict = job->verdict, .verdict_json = job->verdict_json.data,
                            .has_score = job->has_score, .score = job->score,
                            .timings_json = timings, .error = job->error[0] ? job->error : NULL,
                            .requests = reqs, .nrequests = n};
  int rc = ledger_finish_evaluation(l, id, &res);
  for (size_t i = 0; i < n; i++) free((char *)reqs[i].response_headers);
  free(reqs);
  return rc == LEDGER_OK ? 0 : -1;
}

static int read_policy(gate_args *a, ub_gate_job *job, char **src, char *dir, size_t dirlen,
                       ub_gate_bundle *bundle) {
  char err[600] = "";
  if (a->bundle) { /* only from the verified bundle */
    int rc = ub_gate_bundle_policy(a->bundle, a->pubkey, a->policy, bundle);
    if (rc != 0) return rc;
    *src = bundle->source;
    bundle->source = NULL;
    job->policy.len = bundle->len;
    job->policy.name = bundle->name;
    bundle->name = NULL;
    job->policy.source = *src;
    snprintf(dir, dirlen, "%s", bundle->dir);
    job->policy.dir = dir;
    return 0;
  }
  const char *unchecked;
  char *path = choose_policy(a, &unchecked);
  if (!path && unchecked)
    return ub_usage_error("gate", "monspec %s names policy '%s', which the server did not check "
                          "(it reads the monspec as invalid JSON): fix the monspec, or give "
                          "\"policy\" in the request", a->monspec, unchecked);
  if (!path) return ub_usage_error("gate", "out of memory choosing the policy");
  *src = sb_read_source(path, &job->policy.len, err, sizeof err);
  if (!*src) {
    free(path);
    return ub_usage_error("gate", "policy: %s", err);
  }
  dirname_of(path, dir, dirlen);
  job->policy.name = path;
  job->policy.source = *src;
  job->policy.dir = dir;
  return 0;
}

static int connect_dynatrace(gate_args *a, ub_dt_config *cfg, ub_dt_client **client) {
  char err[600];
  if (ub_dt_config_resolve(cfg, &a->dt, err, sizeof err) != 0)
    return ub_usage_error("gate", "%s", err);
  cfg->concurrency = (int)a->concurrency;
  cfg->timeout_ms = (long)(a->timeout * 1000);
  *client = ub_dt_client_new(cfg, err, sizeof err);
  if (!*client) {
    fprintf(stderr, "unbreakable gate: %s\n", err);
    return UB_EXIT_ERROR;
  }
  return 0;
}

/* Records the decision (the row stays "running" only if the process dies
 * before this); returns 0, or -1 with the reason on stderr. */
static int record_decision(ub_ledger *l, int64_t id, const ub_gate_job *job) {
  if (ledger_finish(l, id, job, job->rec) != 0) {
    fprintf(stderr, "unbreakable gate: the decision could not be recorded: %s\n", ledger_error(l));
    return -1;
  }
  fprintf(stderr, "unbreakable gate: recorded as evaluation %lld in %s\n", (long long)id, ledger_path(l));
  return 0;
}

/* The report goes out only after the decision is recorded: a closed or
 * full stdout, or a full disk, costs the report, never the decision. */
static int deliver_report(const gate_args *a, const ub_gate_job *job, int64_t id) {
  if (ub_write_output(a->output, job->rendered.data, job->rendered.len) == 0) return 0;
  int saved = errno;
  char recorded[64] = "";
  if (id > 0) snprintf(recorded, sizeof recorded, " (the decision is recorded as evaluation %lld)",
                       (long long)id);
  fprintf(stderr, "unbreakable gate: cannot write the report to %s: %s%s\n",
          a->output ? a->output : "standard output", strerror(saved), recorded);
  return -1;
}

/* Hands the outcome to a long-running caller (serve). */
static void host_outcome(ub_gate_host *h, const ub_gate_job *job, int64_t id) {
  h->evaluation_id = id;
  snprintf(h->verdict, sizeof h->verdict, "%s", job->verdict);
  snprintf(h->summary, sizeof h->summary, "%s", job->summary);
  snprintf(h->error, sizeof h->error, "%s", job->error);
  ub_buf_append(&h->verdict_json, job->verdict_json.data, job->verdict_json.len);
  h->dt_requests = ub_recorder_count(job->rec);
  for (size_t i = 0; i < h->dt_requests; i++) {
    int n = ub_recorder_get(job->rec, i)->attempts;
    if (n > 1) h->dt_retries += (size_t)(n - 1);
  }
}

static int evaluate(gate_args *a, ub_gate_job *job, char **src, const char *token) {
  ub_ledger *l = NULL;
  int64_t id = 0;
  if (ledger_start(a, job, src, token, &l, &id) != 0) return UB_EXIT_ERROR;
  ub_gate_run(job);
  if (a->host) host_outcome(a->host, job, id);
  ub_print_policy_log(job->log.data, job->log.len);
  int rc = ub_gate_exit_status(job->verdict, job->error_kind, a->fail_on_warning);
  if (a->dump_ctx) {
    char err[600];
    pt_fixture f = {a->kind, job->policy.name, a->ctx_json, a->ctx_len, job->rec,
                    job->verdict_json.data};
    if (pt_fixture_write(a->dump_ctx, &f, err, sizeof err) != 0) {
      fprintf(stderr, "unbreakable gate: --dump-ctx: %s\n", err);
      rc = UB_EXIT_ERROR;
    }
  }
  ub_text_sanitize(job->error); /* the policy wrote it */
  ub_text_sanitize(job->summary);
  if (job->error[0]) fprintf(stderr, "unbreakable gate: %s\n", job->error);
  else if (strcmp(job->verdict, "error") == 0 && strcmp(a->format, "dtcli") == 0)
    fprintf(stderr, "unbreakable gate: %s\n", job->summary);
  if (l) {
    if (record_decision(l, id, job) != 0) rc = UB_EXIT_ERROR;
    if (!(a->host && a->host->ledger)) ledger_close(l);
  }
  if (deliver_report(a, job, l ? id : 0) != 0) rc = UB_EXIT_ERROR;
  return rc;
}

int ub_gate_execute(gate_args *a) {
  ub_gate_job job;
  ub_gate_job_init(&job);
  char *src = NULL, dir[2048];
  ub_dt_config cfg;
  memset(&cfg, 0, sizeof cfg);
  ub_dt_client *client = NULL;
  ub_gate_bundle bundle;
  memset(&bundle, 0, sizeof bundle);
  int rc = read_policy(a, &job, &src, dir, sizeof dir, &bundle);
  if (rc == 0 && a->host && a->host->client) client = a->host->client;
  else if (rc == 0) rc = connect_dynatrace(a, &cfg, &client);
  if (rc == 0) {
    job.ctx_json = a->ctx_json;
    job.ctx_len = a->ctx_len;
    job.monspec_doc = a->monspec_doc;
    job.client = client;
    job.rec = ub_recorder_new();
    job.limits.seconds = a->timeout;
    job.limits.memory = (size_t)(a->memory_mib * 1024 * 1024);
    job.format = a->format;
    job.color = a->color;
    job.fail_on_warning = a->fail_on_warning;
    job.keep = a->host ? &a->host->sandbox : NULL;
    job.on_print = a->host ? a->host->on_print : NULL;
    job.print_ud = a->host ? a->host->ud : NULL;
    const char *token = a->host && a->host->client ? a->host->dt_token : cfg.token;
    rc = job.rec ? evaluate(a, &job, &src, token) : UB_EXIT_ERROR;
    ub_recorder_free(job.rec);
  }
  if (!(a->host && a->host->client)) ub_dt_client_free(client);
  ub_dt_config_free(&cfg);
  free((char *)job.policy.name);
  free(src);
  ub_gate_bundle_done(&bundle);
  ub_gate_job_free(&job);
  return rc;
}
