/* bench_dt_client.c: how close the Dynatrace client gets to the floor of
 * parallel fetching, and how fast it decodes a large metrics answer.
 *
 * 1. 100 metric queries through dt.batch (the policy path: fetch, record,
 *    decode into series) against the simulator with 50 ms latency per
 *    request and a concurrency of 10. Floor: ceil(100/10) x the median
 *    latency of one request measured in the same run (and x 50 ms).
 * 2. Decode throughput on a generated metrics answer: the streaming
 *    decoder into series, the generic JSON-to-Lua-tables decoder, and
 *    `python3 -c 'import json; json.load(open(F))'` timed in this program.
 *
 * usage: bench_dt_client [SOURCE_DIR]   (default $UB_SOURCE or .) */
#include <lauxlib.h>
#include <lualib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dynatrace/dt_decode.h"
#include "dynatrace/dynatrace.h"
#include "net/http.h"
#include "util/json.h"
#include "lualib/ldynatrace.h"
#include "lualib/lseries.h"
#include "dynatrace/recorder.h"
#include "bench_util.h"

#define TOKEN "dt0c01.BENCH.TOKEN"
enum { QUERIES = 100, CONCURRENCY = 10, LATENCY_MS = 50, RUNS = 5 };

/* What one run measures: the full benchmark, or the short mode (--quick). */
typedef struct dt_bench_plan {
  int runs;       /* repetitions per figure, at most RUNS */
  int queries;    /* metric queries in the batch */
  int series;     /* series in the generated metrics answer (1440 points each) */
} dt_bench_plan;

/* ---- simulator ---------------------------------------------------- */

static pid_t start_sim(const char *source, int *port) {
  char sim[1024], scenario[1024], port_file[] = "/tmp/ub_bench_dt_portXXXXXX";
  int fd = mkstemp(port_file);
  if (fd < 0) return -1;
  close(fd);
  unlink(port_file);
  snprintf(sim, sizeof sim, "%s/tests/sim/dynatrace_sim.py", source);
  snprintf(scenario, sizeof scenario, "%s/tests/sim/scenarios/demo.json", source);
  pid_t pid = fork();
  if (pid == 0) {
    freopen("/dev/null", "w", stdout);
    execlp("python3", "python3", sim, "--scenario", scenario, "--port", "0", "--port-file", port_file,
           "--token", TOKEN, (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 200 && pid > 0; i++) {
    FILE *f = fopen(port_file, "r");
    if (f && fscanf(f, "%d", port) == 1) { fclose(f); unlink(port_file); return pid; }
    if (f) fclose(f);
    usleep(50000);
  }
  if (pid > 0) kill(pid, SIGTERM);
  return -1;
}

static int post_control(int port, const char *path, const char *body) {
  char url[256];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
  ub_http *h = ub_http_new(NULL);
  const char *headers[] = {"Content-Type: application/json", NULL};
  ub_http_request r = {.method = "POST", .url = url, .headers = headers, .body = body,
                       .body_len = strlen(body)};
  int rc = h && ub_http_run(h, &r, 1, ub_clock_ms() + 5000) == 0 && r.status == 200 ? 0 : -1;
  ub_http_request_clear(&r);
  ub_http_free(h);
  return rc;
}

/* ---- part 1: parallel fetching ------------------------------------ */

static const char batch_code[] =
    "local n = ...\n"
    "local calls = {}\n"
    "for i = 1, n do calls[i] = {'metrics', 'builtin:service.response.time:percentile(90)',\n"
    "  {entity_selector = 'type(SERVICE)', resolution = 'Inf', to = 1800000000000 + i, from = 1799990000000 + i}} end\n"
    "local rs = dt.batch(calls)\n"
    "for i = 1, n do assert(rs[i].ok, rs[i].error) end\n";

static lua_State *bench_state(ub_dt_client *cl, ub_recorder *rec) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  luaL_requiref(L, "unbreakable.stats", luaopen_unbreakable_stats, 0);
  luaL_requiref(L, "unbreakable.dynatrace", luaopen_unbreakable_dynatrace, 0);
  lua_setglobal(L, "dt");
  lua_settop(L, 0);
  ub_dt_bind(L, cl, rec);
  return L;
}

/* Seconds for one dt.batch of n queries; negative on failure. */
static double timed_batch(ub_dt_client *cl, int n) {
  ub_recorder *rec = ub_recorder_new();
  lua_State *L = bench_state(cl, rec);
  if (luaL_loadstring(L, batch_code) != LUA_OK) return -1;
  lua_pushinteger(L, n);
  double t0 = ub_clock_seconds();
  int rc = lua_pcall(L, 1, 0, 0);
  double t = ub_clock_seconds() - t0;
  if (rc != LUA_OK) fprintf(stderr, "batch failed: %s\n", lua_tostring(L, -1));
  lua_close(L);
  ub_recorder_free(rec);
  return rc == LUA_OK ? t : -1;
}

static int bench_parallel(int port, const dt_bench_plan *plan) {
  const int runs = plan->runs, queries = plan->queries;
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
  ub_dt_config cfg = {.base_url = url, .token = TOKEN, .concurrency = CONCURRENCY,
                      .timeout_ms = 60000, .max_attempts = 1};
  char err[256];
  ub_dt_client *cl = ub_dt_client_new(&cfg, err, sizeof err);
  char rule[128];
  snprintf(rule, sizeof rule, "{\"path\": \"/api/v2/metrics/query\", \"latencyMs\": %d}", LATENCY_MS);
  if (!cl || post_control(port, "/_sim/faults", rule) != 0) {
    fprintf(stderr, "cannot set up the client or the latency fault\n");
    return -1;
  }
  double single[15], wall[RUNS];
  timed_batch(cl, 1);                                   /* warm-up: connection, caches */
  for (int i = 0; i < 15; i++) single[i] = timed_batch(cl, 1);
  for (int i = 0; i < runs; i++) wall[i] = timed_batch(cl, queries);
  for (int i = 0; i < runs; i++)
    if (wall[i] < 0) return -1;
  double one = bench_median(single, 15), w = bench_median(wall, runs);
  int waves = (queries + CONCURRENCY - 1) / CONCURRENCY;
  double floor_measured = waves * one, floor_nominal = waves * LATENCY_MS / 1000.0;
  printf("parallel fetch: %d metric queries, concurrency %d, simulator latency %d ms\n", queries,
         CONCURRENCY, LATENCY_MS);
  printf("  one query alone (median of 15):        %8.1f ms\n", one * 1000);
  printf("  batch of %d (median of %d runs):       %8.1f ms\n", queries, runs, w * 1000);
  printf("  floor %d x one query (same run):        %8.1f ms   ratio %.2fx (target <= 1.30x)\n", waves,
         floor_measured * 1000, w / floor_measured);
  printf("  floor %d x %d ms (nominal):              %8.1f ms   ratio %.2fx\n", waves, LATENCY_MS,
         floor_nominal * 1000, w / floor_nominal);
  ub_dt_client_free(cl);
  return 0;
}

/* ---- part 2: decoding --------------------------------------------- */

/* A Metrics v2 page of `series` series x `points` points (every 7th
 * value null), in the shape the API answers. */
static int write_large_answer(const char *path, int series, int points) {
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fprintf(f, "{\"totalCount\": %d, \"nextPageKey\": null, \"resolution\": \"1m\", \"result\": "
             "[{\"metricId\": \"builtin:service.response.time:percentile(90)\", \"data\": [", series);
  for (int s = 0; s < series; s++) {
    fprintf(f, "%s{\"dimensions\": [\"SERVICE-%016X\"], \"dimensionMap\": {\"dt.entity.service\": "
               "\"SERVICE-%016X\"}, \"timestamps\": [", s ? ", " : "", s, s);
    for (int p = 0; p < points; p++) fprintf(f, "%s%lld", p ? ", " : "", 1664323800000LL + p * 60000LL);
    fputs("], \"values\": [", f);
    for (int p = 0; p < points; p++) {
      if (p % 7 == 3) fprintf(f, "%snull", p ? ", " : "");
      else fprintf(f, "%s%.6f", p ? ", " : "", 100000.0 + s * 13.25 + p * 0.731);
    }
    fputs("]}", f);
  }
  fputs("]}]}", f);
  return fclose(f);
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *data = malloc((size_t)n + 1);
  if (data && fread(data, 1, (size_t)n, f) != (size_t)n) { free(data); data = NULL; }
  fclose(f);
  if (data) { data[n] = '\0'; *len = (size_t)n; }
  return data;
}

static double time_decoder(const char *data, size_t len, int streaming) {
  lua_State *L = luaL_newstate();
  luaL_requiref(L, "unbreakable.stats", luaopen_unbreakable_stats, 0);
  lua_settop(L, 0);
  char err[256];
  double t0 = ub_clock_seconds();
  int rc = streaming ? dt_decode_metrics(L, data, len, err, sizeof err)
                     : json_decode_lua(L, data, len, 64, err, sizeof err);
  double t = ub_clock_seconds() - t0;
  lua_close(L);
  if (rc != 0) { fprintf(stderr, "decode failed: %s\n", err); return -1; }
  return t;
}

/* lua-cjson (Debian's lua-cjson, numbers as floats): seconds, or -1 when
 * the module is not installed. */
static double time_cjson(const char *data, size_t len) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  double t = -1;
  if (luaL_dostring(L, "return require('cjson').decode") == LUA_OK) {
    lua_pushlstring(L, data, len);
    double t0 = ub_clock_seconds();
    if (lua_pcall(L, 1, 1, 0) == LUA_OK) t = ub_clock_seconds() - t0;
  }
  lua_close(L);
  return t;
}

static double time_python(const char *code, const char *path) {
  double t0 = ub_clock_seconds();
  pid_t pid = fork();
  if (pid == 0) {
    execlp("python3", "python3", "-c", code, path, (char *)NULL);
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  double t = ub_clock_seconds() - t0;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? t : -1;
}

static int bench_decode(const dt_bench_plan *plan) {
  const int runs = plan->runs;
  char path[] = "/tmp/ub_bench_dt_metricsXXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return -1;
  close(fd);
  size_t len;
  char *data = NULL;
  if (write_large_answer(path, plan->series, 1440) != 0 || !(data = slurp(path, &len))) return -1;
  double stream[RUNS], tables[RUNS], cjson[RUNS], py[RUNS], py_start[RUNS];
  for (int i = 0; i < runs; i++) {
    stream[i] = time_decoder(data, len, 1);
    tables[i] = time_decoder(data, len, 0);
    cjson[i] = time_cjson(data, len);
    py[i] = time_python("import json, sys; json.load(open(sys.argv[1]))", path);
    py_start[i] = time_python("import json, sys", path);
  }
  double mb = len / 1048576.0, s = bench_median(stream, runs), t = bench_median(tables, runs);
  double p = bench_median(py, runs), ps = bench_median(py_start, runs), cj = bench_median(cjson, runs);
  printf("decode: metrics answer of %.1f MB (%d series x 1440 points, 1/7 null), median of %d\n", mb,
         plan->series, runs);
  printf("  streaming into series (dt_decode_metrics): %7.1f ms  %7.1f MB/s\n", s * 1000, mb / s);
  printf("  generic JSON to Lua tables (json_decode):  %7.1f ms  %7.1f MB/s\n", t * 1000, mb / t);
  if (cj > 0)
    printf("  lua-cjson decode to Lua tables (floats):   %7.1f ms  %7.1f MB/s\n", cj * 1000, mb / cj);
  printf("  python3 json.load, whole process:          %7.1f ms  %7.1f MB/s\n", p * 1000, mb / p);
  printf("  python3 json.load minus interpreter start: %7.1f ms  %7.1f MB/s\n", (p - ps) * 1000,
         mb / (p - ps));
  printf("  streaming vs python (process): %.2fx faster\n", p / s);
  free(data);
  unlink(path);
  return 0;
}

int main(int argc, char **argv) {
  dt_bench_plan plan = {RUNS, QUERIES, 2000};
  if (bench_quick_mode(&argc, argv)) plan = (dt_bench_plan){1, 20, 50};
  const char *source = argc > 1 ? argv[1] : getenv("UB_SOURCE") ? getenv("UB_SOURCE") : ".";
  int port = 0;
  pid_t sim = start_sim(source, &port);
  if (sim < 0) {
    fprintf(stderr, "cannot start the simulator from %s (give the source directory)\n", source);
    return 2;
  }
  int rc = bench_parallel(port, &plan);
  kill(sim, SIGTERM);
  waitpid(sim, NULL, 0);
  if (bench_decode(&plan) != 0) rc = -1;
  return rc == 0 ? 0 : 1;
}
