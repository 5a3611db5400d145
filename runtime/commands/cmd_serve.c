/* cmd_serve.c: `unbreakable serve`: starts the gate service (runtime/serve/,
 * docs/serve.md): checks the configuration and the ledger, starts the gate
 * workers and the HTTP server, resumes pending callbacks, on SIGHUP
 * reloads a --bundle (serve/serve_bundle.c), and on SIGTERM or SIGINT
 * stops accepting, lets in-flight work finish for at most
 * --drain-seconds, and exits. `serve --internal-worker PID` is a gate worker. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "commands/commands.h"
#include "dynatrace/dynatrace.h"
#include "ledger/ledger.h"
#include "serve/serve.h"

static int is_loopback(const char *addr) { return strncmp(addr, "127.", 4) == 0; }

static int check_ledger(const serve_config *c) {
  char err[600];
  ub_ledger *l = ledger_open(c->ledger, err, sizeof err);
  if (!l) {
    fprintf(stderr, "unbreakable serve: ledger: %s\n", err);
    return -1;
  }
  ledger_close(l);
  return 0;
}

static void start_dt_probe(serve_state *s) {
  ub_dt_config cfg;
  ub_dt_flags none = {0};
  char err[600];
  memset(&cfg, 0, sizeof cfg);
  if (ub_dt_config_resolve(&cfg, &none, err, sizeof err) == 0) s->dt = ub_dt_client_new(&cfg, err, sizeof err);
  if (!s->dt) serve_logf("warn", NULL, "Dynatrace: %s (gates will answer error)", err);
  ub_dt_config_free(&cfg);
}

/* Waits for in-flight work, at most seconds. Returns what is left. */
static int drain(serve_state *s, double seconds) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += (time_t)seconds;
  until.tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
  if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
  pthread_mutex_lock(&s->mu);
  while (s->in_flight > 0)
    if (pthread_cond_timedwait(&s->cv, &s->mu, &until) == ETIMEDOUT) break;
  int left = s->in_flight;
  pthread_mutex_unlock(&s->mu);
  return left;
}

static int run(serve_config *c, const sigset_t *stop) {
  serve_state s;
  memset(&s, 0, sizeof s);
  s.cfg = c;
  pthread_mutex_init(&s.mu, NULL);
  pthread_cond_init(&s.cv, NULL);
  pthread_mutex_init(&s.dt_mu, NULL);
  snprintf(s.id_prefix, sizeof s.id_prefix, "%08lx", (unsigned long)(getpid() ^ time(NULL)) & 0xffffffffUL);
  serve_seal_key(c->token, s.seal_key);
  char err[900];
  if (serve_specs_load(&s, err, sizeof err) != 0) {
    fprintf(stderr, "unbreakable serve: %s\n", err);
    return UB_EXIT_USAGE;
  }
  s.metrics = serve_metrics_new();
  s.pool = s.metrics ? serve_pool_new("/proc/self/exe", c->workers, err, sizeof err) : NULL;
  if (!s.pool) {
    fprintf(stderr, "unbreakable serve: %s\n", s.metrics ? err : "out of memory");
    serve_metrics_free(s.metrics);
    serve_specs_close(&s);
    return UB_EXIT_ERROR;
  }
  start_dt_probe(&s);
  s.heal = serve_heal_start(&s); /* intake ready before the first request */
  serve_specs_heal_started(&s);
  ub_srv_opts o = {.address = c->listen_addr, .port = c->listen_port, .max_body = (size_t)1 << 20,
                   .timeout_seconds = 10, .max_connections = 512, .done = serve_request_done,
                   .admit = serve_admit};
  ub_srv *srv = ub_srv_start(&o, serve_handle, serve_refused, &s, err, sizeof err);
  int rc = UB_EXIT_OK;
  if (!srv) {
    fprintf(stderr, "unbreakable serve: %s\n", err);
    rc = UB_EXIT_USAGE;
    serve_heal_stop(s.heal);
  } else {
    char where[512];
    ledger_display_name(c->ledger, where, sizeof where);   /* never a URL's password */
    serve_logf("info", NULL, "listening on %s:%d (port %d), %d workers, specs %s, ledger %s%s",
               c->listen_addr, ub_srv_port(srv), ub_srv_port(srv), c->workers, c->specs, where,
               c->token ? "" : ", NO AUTHENTICATION");
    serve_callback_resume(&s);
    serve_heal_run(s.heal, ub_srv_port(srv));
    int sig = 0;
    while (sigwait(stop, &sig) != 0 || sig == SIGHUP)
      if (sig == SIGHUP) serve_specs_reload(&s), sig = 0;
    serve_logf("info", NULL, "signal %d: draining (at most %g s)", sig, c->drain_seconds);
    pthread_mutex_lock(&s.mu);
    s.draining = 1;
    pthread_mutex_unlock(&s.mu);
    ub_srv_quiesce(srv);
    int left = drain(&s, c->drain_seconds);
    if (left) serve_logf("warn", NULL, "%d gate(s) or callback(s) still running at the drain deadline; "
                         "pending callbacks resume at the next start", left);
    else serve_logf("info", NULL, "drained; exiting");
    serve_heal_stop(s.heal);
    if (left == 0) ub_srv_stop(srv);
    else _exit(UB_EXIT_OK); /* callbacks are in the ledger; workers die with us */
  }
  serve_specs_close(&s);
  serve_pool_free(s.pool);
  serve_metrics_free(s.metrics);
  ub_dt_client_free(s.dt);
  return rc;
}

int ub_cmd_serve(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--internal-worker") == 0) {
    /* argv[2] is the server's pid (serve/serve_pool.c). A parent that died
     * before the prctl left us with another parent: exit. Comparing with
     * the server's own id, not with 1, keeps a server that is process 1
     * (a container's entry point) working. */
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the server */
    char *end;
    long server = strtol(argv[2], &end, 10);
    if (*end || server <= 0 || getppid() != (pid_t)server) return UB_EXIT_ERROR;
    return serve_worker_main();
  }
  serve_config c;
  int rc = serve_config_parse(&c, argc, argv);
  if (rc != 0) return rc == 1 ? UB_EXIT_OK : rc;
  /* the gate workers' database (never in a request, which a callback stores);
   * set before any thread starts */
  if (ledger_is_database(c.ledger) && setenv("UB_SERVE_DATABASE", c.ledger, 1) != 0) {
    fprintf(stderr, "unbreakable serve: cannot pass the database to the gate workers: %s\n", strerror(errno));
    serve_config_free(&c);
    return UB_EXIT_ERROR;
  }
  if (serve_auth_load(&c) != 0) {
    serve_config_free(&c);
    return UB_EXIT_USAGE;
  }
  if (!c.token && !is_loopback(c.listen_addr)) {
    fprintf(stderr, "unbreakable serve: --insecure-no-auth listens on loopback only (127.0.0.0/8), "
                    "not on %s; set UB_SERVE_TOKEN to listen elsewhere\n", c.listen_addr);
    serve_config_free(&c);
    return UB_EXIT_USAGE;
  }
  if (check_ledger(&c) != 0) {
    serve_config_free(&c);
    return UB_EXIT_USAGE;
  }
  /* signals go to sigwait in this thread; every other thread has them blocked */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGHUP); /* reload the bundle (serve/serve_bundle.c) */
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  signal(SIGPIPE, SIG_IGN);
  rc = run(&c, &stop);
  serve_config_free(&c);
  return rc;
}
