/* cmd_serve_worker.c: a gate worker process of `unbreakable serve`
 * (`serve --internal-worker`, started by serve/serve_pool.c): reads
 * one gate request at a time from fd 3, runs it exactly as `unbreakable
 * gate` would (the same sandbox limits), and answers on fd 4 with a
 * "begin" frame once the evaluation is recorded and a final frame with the
 * verdict; in between, each line the policy prints goes out at once as a
 * "line" frame (the live log of a callback). It keeps one Dynatrace client for its whole life, so the
 * tenant's connections are reused across gates, and one sandbox, so the
 * standard library is compiled once (each gate still gets fresh globals,
 * modules and limits: docs/reference/sandbox.md fact 11). What the gate code prints
 * is captured and returned, never written to the server's log as is. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>

#include "cli/cli.h"
#include "gate/gate_cmd.h"
#include "gate/gate_monspec.h"
#include "ledger/ledger.h"
#include "ledger/ledger_redact.h"
#include "sandbox/sandbox.h"
#include "serve/serve.h"
#include "serve/serve_frame.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/text.h"

#define IN_FD 3
#define OUT_FD 4
#define MAX_MESSAGES (64 * 1024)
#define MAX_LIVE_LINES 200      /* "line" frames of one gate; the rest only in the messages */

typedef struct worker_env {
  ub_dt_config cfg;
  ub_dt_client *client;        /* NULL when Dynatrace is not configured */
  FILE *capture;               /* stderr of one gate */
  ub_ledger *ledger;           /* kept open across gates (no reopen, no checkpoint per gate) */
  char ledger_path[4096];
  sandbox *sandbox;            /* kept across gates: the standard library is compiled once */
  ub_monspec_decoder *monspec_decoder; /* kept across gates: pyjson is compiled once */
  int live_lines;              /* "line" frames sent for the current gate */
} worker_env;

static const char *str_field(lua_State *L, const char *key) {
  lua_getfield(L, 1, key);
  const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  lua_pop(L, 1); /* anchored in the table */
  return s;
}

static double num_field(lua_State *L, const char *key, double dflt) {
  lua_getfield(L, 1, key);
  double v = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : dflt;
  lua_pop(L, 1);
  return v;
}

static void send_begin(void *ud, int64_t id) {
  (void)ud;
  char frame[64];
  int n = snprintf(frame, sizeof frame, "{\"begin\":%lld}", (long long)id);
  serve_frame_write(OUT_FD, frame, (size_t)n);
}

/* A line the policy printed, sent at once as {"line": "[policy] ..."}:
 * cleaned as the CLI prints it (ub_text_lines: no control character, no
 * CI logging command), with the Dynatrace token and anything that looks
 * like a credential redacted as the ledger does (ledger_redact). */
static void send_line(void *ud, const char *line, size_t len) {
  worker_env *env = ud;
  if (env->live_lines >= MAX_LIVE_LINES) return;
  env->live_lines++;
  ub_buf text, clean, frame;
  ub_buf_init(&text);
  ub_buf_init(&clean);
  ub_buf_init(&frame);
  ub_text_lines(&text, line, len, "[policy] ");
  const char *secrets[] = {env->cfg.token};
  ledger_redact(text.data ? text.data : "", text.len, secrets, env->cfg.token ? 1 : 0, &clean);
  ub_buf_puts(&frame, "{\"line\":");
  json_append_string(&frame, clean.data ? clean.data : "", clean.len);
  ub_buf_puts(&frame, "}");
  if (!frame.failed) serve_frame_write(OUT_FD, frame.data, frame.len);
  ub_buf_free(&text);
  ub_buf_free(&clean);
  ub_buf_free(&frame);
}

/* gate_args from the request table at index 1 (serve_request.c wrote it). */
static void fill_args(lua_State *L, gate_args *a) {
  a->window = num_field(L, "window", 5);
  a->shift = num_field(L, "shift", 0);
  a->timeout = num_field(L, "timeout", 15);
  a->memory_mib = num_field(L, "memory_mib", 64);
  a->concurrency = 10;
  a->format = "none";      /* serve answers from verdict_json; the report is rendered from
                              the ledger when asked for (GET /v1/evaluations/N/report) */
  a->output = NULL;        /* fd 1 of a worker is /dev/null (never a path: reports are
                              written by rename, which would replace it) */
  a->no_wait = 1;          /* the window's data exists: never sleep in a request */
  a->fail_on_warning = num_field(L, "fail_on_warning", 0) != 0;
  a->monspec = str_field(L, "monspec");
  a->target = str_field(L, "target");
  a->mode = str_field(L, "mode");
  a->slo = str_field(L, "slo");
  a->sli = str_field(L, "sli");
  a->service = str_field(L, "service");
  a->stage = str_field(L, "stage");
  a->project = str_field(L, "project");
  a->policy = str_field(L, "policy");
  a->compat = str_field(L, "compat");
  a->ledger = str_field(L, "ledger");
  if (!a->ledger || !*a->ledger) a->ledger = getenv("UB_SERVE_DATABASE"); /* set by serve: cmd_serve.c */
  a->now = ub_clock_wall_ms();
}

/* The ledger of the request, opened once; NULL lets the gate open it (and
 * report why it cannot). */
static ub_ledger *worker_ledger(worker_env *env, const char *path) {
  char err[600];
  if (!path) return NULL;
  if (env->ledger && strcmp(env->ledger_path, path) == 0) return env->ledger;
  ledger_close(env->ledger);
  env->ledger = ledger_open(path, err, sizeof err);
  if (env->ledger) {
    snprintf(env->ledger_path, sizeof env->ledger_path, "%s", path);
    ledger_add_secret(env->ledger, env->cfg.token);
  }
  return env->ledger;
}

static void put_str(ub_buf *b, const char *key, const char *v) {
  ub_buf_printf(b, ",\"%s\":", key);
  json_append_string(b, v ? v : "", v ? strlen(v) : 0);
}

/* Runs the gate with fd 2 pointed at the capture file. */
static int run_captured(worker_env *env, gate_args *a) {
  fflush(stderr);
  int saved = dup(2);
  rewind(env->capture);
  if (ftruncate(fileno(env->capture), 0) != 0) {}
  dup2(fileno(env->capture), 2);
  int rc = a->slo ? ub_gate_slo(a) : ub_gate_monspec(a);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  return rc;
}

static void read_capture(worker_env *env, ub_buf *out) {
  char buf[4096];
  rewind(env->capture);
  size_t n;
  while (out->len < MAX_MESSAGES && (n = fread(buf, 1, sizeof buf, env->capture)) > 0)
    ub_buf_append(out, buf, n);
}

static void handle(worker_env *env, const char *json, size_t len) {
  lua_State *L = luaL_newstate();
  char err[256];
  ub_buf answer, messages;
  ub_buf_init(&answer);
  ub_buf_init(&messages);
  ub_gate_host host;
  memset(&host, 0, sizeof host);
  ub_buf_init(&host.verdict_json);
  int rc = UB_EXIT_ERROR;
  if (L && json_decode_lua(L, json, len, 50, err, sizeof err) == 0 && lua_istable(L, 1)) {
    gate_args a;
    memset(&a, 0, sizeof a);
    fill_args(L, &a);
    host.client = env->client;
    host.ledger = worker_ledger(env, a.ledger);
    host.dt_token = host.ledger ? NULL : env->cfg.token; /* the kept ledger knows it already */
    host.requested_by = str_field(L, "requested_by");
    host.request_meta = str_field(L, "meta");
    host.on_begin = send_begin;
    host.on_print = send_line;
    host.ud = env;
    env->live_lines = 0;
    host.sandbox = env->sandbox;
    host.monspec_decoder = env->monspec_decoder;
    a.host = &host;
    rc = run_captured(env, &a);
    env->sandbox = host.sandbox;
    env->monspec_decoder = host.monspec_decoder;
    read_capture(env, &messages);
  } else {
    snprintf(host.error, sizeof host.error, "the gate request is not readable");
  }
  ub_buf_printf(&answer, "{\"rc\":%d,\"evaluation\":%lld,\"dt_requests\":%zu,\"dt_retries\":%zu", rc,
                (long long)host.evaluation_id, host.dt_requests, host.dt_retries);
  put_str(&answer, "verdict", host.verdict);
  put_str(&answer, "summary", host.summary);
  put_str(&answer, "error", host.error);
  put_str(&answer, "messages", messages.data);
  ub_buf_puts(&answer, ",\"verdict_json\":");
  if (host.verdict_json.len) ub_buf_append(&answer, host.verdict_json.data, host.verdict_json.len);
  else ub_buf_puts(&answer, "null");
  ub_buf_puts(&answer, "}");
  if (answer.failed || serve_frame_write(OUT_FD, answer.data, answer.len) != 0) _exit(UB_EXIT_ERROR);
  ub_buf_free(&answer);
  ub_buf_free(&messages);
  ub_buf_free(&host.verdict_json);
  if (L) lua_close(L);
}

int serve_worker_main(void) {
  worker_env env;
  memset(&env, 0, sizeof env);
  signal(SIGPIPE, SIG_IGN); /* a server gone away shows as a failed write: then exit */
  char err[600];
  ub_dt_flags none = {0};
  if (ub_dt_config_resolve(&env.cfg, &none, err, sizeof err) == 0) {
    env.cfg.concurrency = 10;
    env.client = ub_dt_client_new(&env.cfg, err, sizeof err);
  }
  env.capture = tmpfile();
  if (!env.capture) {
    fprintf(stderr, "unbreakable serve worker: cannot create a temporary file: %s\n", strerror(errno));
    return UB_EXIT_ERROR;
  }
  serve_frame_reader fr;
  serve_frame_reader_init(&fr);
  ub_buf frame;
  ub_buf_init(&frame);
  while (serve_frame_read(IN_FD, &fr, &frame, 0) == 1) handle(&env, frame.data, frame.len);
  ub_buf_free(&frame);
  serve_frame_reader_free(&fr);
  sb_free(env.sandbox);
  ub_monspec_decoder_free(env.monspec_decoder);
  ledger_close(env.ledger);
  ub_dt_client_free(env.client);
  ub_dt_config_free(&env.cfg);
  fclose(env.capture);
  return UB_EXIT_OK;
}
