/* main.c: the `unbreakable` command: dispatches to one command per file. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "cli/cli.h"
#include "commands/commands.h"
#include "cli/output.h"
#include "cli/version.h"

static const ub_command commands[] = {
  {"init", ub_cmd_init, "start a project: monspec, policies with specs, CI pipeline, serve config"},
  {"gate", ub_cmd_gate, "evaluate a release against a monspec or SLO file"},
  {"deploy-event", ub_cmd_deploy_event, "tell Dynatrace what was deployed where, and check it was recorded"},
  {"eval", ub_cmd_eval, "run a policy in the sandbox and print its result as JSON"},
  {"dt", ub_cmd_dt, "read Dynatrace (one call, a batch or a raw GET) as JSON"},
  {"test", ub_cmd_test, "run policy specs (*_spec.lua) in the sandbox, with coverage"},
  {"check", ub_cmd_check, "validate monspec, slo.yaml, sli.yaml and policies without a gate"},
  {"bundle", ub_cmd_bundle, "build, sign and verify signed policy bundles"},
  {"history", ub_cmd_history, "list recorded evaluations"},
  {"replay", ub_cmd_replay, "re-run a recorded evaluation offline and show what changed"},
  {"invalidate", ub_cmd_invalidate, "exclude an evaluation from later baselines"},
  {"ledger", ub_cmd_ledger, "export a ledger's history into another (SQLite <-> PostgreSQL)"},
  {"report", ub_cmd_report, "write a self-contained HTML report of an evaluation"},
  {"serve", ub_cmd_serve, "serve release gates over HTTP (Azure DevOps gates and checks)"},
  {"selfheal", ub_cmd_selfheal, "handle a Dynatrace problem notification: roll back, comment, once"},
  {NULL, NULL, NULL}};

static void print_help(FILE *out) {
  fputs("unbreakable: release safety for services monitored by Dynatrace\n\n"
        "usage: unbreakable COMMAND [OPTIONS]\n"
        "       unbreakable COMMAND --help\n"
        "       unbreakable --version\n\ncommands:\n", out);
  for (const ub_command *c = commands; c->name; c++)
    fprintf(out, "  %-14s %s\n", c->name, c->summary);
  fputs("\nExit status: 0 success/pass, 1 gate failed, 2 usage or invalid input,\n"
        "3 evaluation error, 4 inconclusive. Docs: README.md and docs/.\n", out);
}

int main(int argc, char **argv) {
  /* a closed pipe is an error each command reports (EPIPE), not a kill */
  signal(SIGPIPE, SIG_IGN);
  if (argc < 2) {
    print_help(stderr);
    return UB_EXIT_USAGE;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    print_help(stdout);
    return ub_finish_stdout("--help", UB_EXIT_OK);
  }
  if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
    ub_print_version(stdout);
    return ub_finish_stdout("--version", UB_EXIT_OK);
  }
  for (const ub_command *c = commands; c->name; c++) {
    if (strcmp(argv[1], c->name) == 0) {
      curl_global_init(CURL_GLOBAL_DEFAULT);
      int rc = c->run(argc - 1, argv + 1);
      curl_global_cleanup();
      return ub_finish_stdout(c->name, rc);
    }
  }
  fprintf(stderr, "unbreakable: unknown command '%s' (see 'unbreakable --help')\n", argv[1]);
  return UB_EXIT_USAGE;
}
