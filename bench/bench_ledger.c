/* bench_ledger.c: what recording costs a gate, and what the open-time
 * integrity check costs as the ledger grows. All figures are medians of
 * several runs in this process, printed with the ratio to a baseline
 * measured in the same run:
 *  - one evaluation recorded (begin, 50 requests with 4 KiB bodies,
 *    finish) with a transaction per request vs. one batch, and by one
 *    writer alone vs. with 3 other writer processes writing at once;
 *  - ledger_open (WAL setup, schema check, PRAGMA quick_check) of an empty
 *    ledger vs. one holding N such evaluations;
 *  - redaction (every byte the ledger stores passes through it) of a real
 *    Dynatrace answer vs. the SHA-256 digest the ledger also takes of it.
 * Build with -DCMAKE_BUILD_TYPE=Release.
 *
 * usage: bench_ledger [evaluations]   (default 400) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ledger/ledger.h"
#include "ledger/ledger_redact.h"
#include "util/digest.h"
#include "bench_util.h"

#define REQUESTS 50
#define BODY 4096
#define RUNS 7   /* at most; --quick runs 2 */

/* One gate's worth of records; bodies differ per evaluation (no dedup). */
static int record_one(ub_ledger *l, unsigned salt, int batch) {
  static char body[REQUESTS][BODY + 1];
  static ledger_request reqs[REQUESTS];
  int64_t id;
  ledger_eval_start s = {.requested_by = "bench", .service = "svc", .stage = "stage",
                         .kind = "monspec", .spec = {"spec", "{\"x\":1}", 7},
                         .policy = {"p.lua", "return 1", 8}, .ctx_json = "{}"};
  if (ledger_begin_evaluation(l, &s, &id) != LEDGER_OK) return -1;
  for (int k = 0; k < REQUESTS; k++) {
    int head = snprintf(body[k], sizeof body[k], "{\"salt\":%u,\"k\":%d,\"pad\":\"", salt, k);
    for (int i = head; i < BODY; i++) body[k][i] = (char)('a' + (unsigned)i % 26u);
    ledger_request r = {.seq = k, .binding = "dynatrace.metrics", .method = "GET",
                        .url = "/api/v2/metrics/query?metricSelector=x", .status = 200,
                        .response_body = body[k], .response_body_len = BODY, .duration_ms = 1};
    reqs[k] = r;
    if (!batch && ledger_add_request(l, id, &r) != LEDGER_OK) return -1;
  }
  if (batch && ledger_add_requests(l, id, reqs, REQUESTS) != LEDGER_OK) return -1;
  ledger_eval_result res = {.status = "finished", .verdict = "pass", .verdict_json = "{}"};
  return ledger_finish_evaluation(l, id, &res) == LEDGER_OK ? 0 : -1;
}

static ub_ledger *open_or_die(const char *path) {
  char err[512];
  ub_ledger *l = ledger_open(path, err, sizeof err);
  if (!l) {
    fprintf(stderr, "%s\n", err);
    exit(1);
  }
  return l;
}

/* Seconds per evaluation recorded by this process, median of RUNS. */
static double time_records(const char *path, unsigned salt0, int batch, int runs) {
  double t[RUNS];
  ub_ledger *l = open_or_die(path);
  for (int r = 0; r < runs; r++) {
    double t0 = ub_clock_seconds();
    if (record_one(l, salt0 + (unsigned)r, batch) != 0) {
      fprintf(stderr, "%s\n", ledger_error(l));
      exit(1);
    }
    t[r] = ub_clock_seconds() - t0;
  }
  ledger_close(l);
  return bench_median(t, runs);
}

static pid_t spawn_writer(const char *path, int count, unsigned salt) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  ub_ledger *l = open_or_die(path);
  for (int i = 0; i < count; i++)
    if (record_one(l, salt + (unsigned)i, 0) != 0) _exit(1);
  ledger_close(l);
  _exit(0);
}

static double time_open(const char *path) {
  double t[RUNS];
  for (int r = 0; r < RUNS; r++) {
    double t0 = ub_clock_seconds();
    ub_ledger *l = open_or_die(path);
    t[r] = ub_clock_seconds() - t0;
    ledger_close(l);
  }
  return bench_median(t, RUNS);
}

static long long file_size(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* Reads a fixture of the source tree (UB_SOURCE, else the working
 * directory); NULL when it is not there. */
static char *read_fixture(const char *rel, size_t *len) {
  char path[1024];
  const char *root = getenv("UB_SOURCE");
  snprintf(path, sizeof path, "%s/%s", root ? root : ".", rel);
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *text = malloc(1 << 20);
  *len = text ? fread(text, 1, 1 << 20, f) : 0;
  fclose(f);
  return text;
}

/* Median seconds of one redaction of text (digest 0) or of its SHA-256
 * digest (digest 1). */
static double time_redact(const char *text, size_t len, int digest, int runs) {
  double t[RUNS];
  const char *secrets[] = {"dt0c01.ABCDEFGHIJKLMNOPQRSTUVWX.0123456789abcdefghijklmnopqrstuvwxyz"};
  for (int r = 0; r < runs; r++) {
    double t0 = ub_clock_seconds();
    for (int k = 0; k < 100; k++) {
      ub_buf out;
      char hex[65];
      ub_buf_init(&out);
      if (digest) ub_sha256_hex(text, len, hex);
      else ledger_redact(text, len, secrets, 1, &out);
      ub_buf_free(&out);
    }
    t[r] = (ub_clock_seconds() - t0) / 100;
  }
  return bench_median(t, runs);
}

static void bench_redaction(int runs) {
  static const char *const rel = "tests/fixtures/dynatrace/entities-v1-services_200_dtcli-cache.json";
  size_t len = 0;
  char *text = read_fixture(rel, &len);
  if (!text || len == 0) {
    printf("redaction: skipped (%s not found; run from the source tree or set UB_SOURCE)\n", rel);
    free(text);
    return;
  }
  double digest = time_redact(text, len, 1, runs), redact = time_redact(text, len, 0, runs);
  printf("a Dynatrace answer (%zu B): SHA-256 digest %.3f ms, redaction %.3f ms (x%.1f, %.0f MB/s)\n",
         len, digest * 1e3, redact * 1e3, redact / digest, (double)len / redact / 1e6);
  free(text);
}

int main(int argc, char **argv) {
  int quick = bench_quick_mode(&argc, argv);
  int n = argc > 1 ? atoi(argv[1]) : quick ? 20 : 400;
  int runs = quick ? 2 : RUNS, writes = quick ? 3 : 30;
  char dir[] = "/tmp/ub-bench-ledger-XXXXXX", path[128], empty[128];
  if (n <= 0 || !mkdtemp(dir)) return 2;
  snprintf(path, sizeof path, "%s/ledger.db", dir);
  snprintf(empty, sizeof empty, "%s/empty.db", dir);

  double alone = time_records(path, 1000, 0, runs);
  double batched = time_records(path, 3000, 1, runs);
  printf("record one evaluation (%d requests x %d B): a transaction per request %.2f ms, "
         "one batch %.2f ms (x%.2f)\n", REQUESTS, BODY, alone * 1e3, batched * 1e3, batched / alone);
  pid_t pids[3];
  for (int w = 0; w < 3; w++) pids[w] = spawn_writer(path, writes, 100000u * (unsigned)(w + 1));
  double contended = time_records(path, 2000, 0, runs);
  for (int w = 0; w < 3; w++) waitpid(pids[w], NULL, 0);
  printf("record one evaluation (%d requests x %d B): alone %.2f ms, with 3 other writers "
         "%.2f ms (x%.2f)\n", REQUESTS, BODY, alone * 1e3, contended * 1e3, contended / alone);

  ub_ledger *l = open_or_die(path);
  for (int i = 0; i < n; i++) record_one(l, 500000u + (unsigned)i, 1);
  ledger_close(l);
  ledger_close(open_or_die(empty));
  double t_empty = time_open(empty), t_full = time_open(path);
  printf("ledger_open: empty %.2f ms, %d+ evaluations (%.1f MiB) %.2f ms (x%.1f)\n",
         t_empty * 1e3, n, (double)file_size(path) / 1048576.0, t_full * 1e3, t_full / t_empty);

  bench_redaction(runs);

  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : 1;
}
