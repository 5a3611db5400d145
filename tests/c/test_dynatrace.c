/* test_dynatrace.c: the Dynatrace client pieces that need no network:
 * configuration sources, percent-encoding of targets, the error envelope
 * message, token redaction, the recorder (JSON round trip and replay
 * matching) and the decoders (real fixtures into series). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dynatrace/dt_decode.h"
#include "dynatrace/dynatrace.h"
#include "util/json.h"
#include "lualib/ldynatrace.h"
#include "lualib/lseries.h"
#include "dynatrace/recorder.h"
#include "util/buf.h"
#include "sandbox/sandbox.h"

#include "test_support.h"

#define TOKEN "dt0c01.ABCDEFGHIJKLMNOPQRSTUVWX.SECRETSECRETSECRETSECRET"

static void clear_env(void) {
  unsetenv("DT_TENANT_URL");
  unsetenv("DT_API_TOKEN");
  unsetenv("DT_API_TOKEN_FILE");
}

/* ---- configuration ------------------------------------------------ */

static void test_config_from_environment(void **state) {
  (void)state;
  clear_env();
  setenv("DT_TENANT_URL", "https://abc12345.live.dynatrace.com//", 1);
  setenv("DT_API_TOKEN", TOKEN, 1);
  ub_dt_config c;
  char err[256];
  assert_int_equal(ub_dt_config_resolve(&c, NULL, err, sizeof err), 0);
  assert_string_equal(c.base_url, "https://abc12345.live.dynatrace.com");
  assert_string_equal(c.token, TOKEN);
  assert_int_equal(c.concurrency, 10);
  ub_dt_config_free(&c);
  clear_env();
}

static void test_config_flags_win_and_token_file_is_trimmed(void **state) {
  (void)state;
  clear_env();
  setenv("DT_TENANT_URL", "https://env.example", 1);
  setenv("DT_API_TOKEN", "env-token", 1);
  char path[] = "/tmp/ub_dt_tokenXXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  const char text[] = "  " TOKEN "\n\n";
  assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
  close(fd);
  ub_dt_flags f = {.url = "https://flag.example/e/env-1/", .token_file = path};
  ub_dt_config c;
  char err[256];
  assert_int_equal(ub_dt_config_resolve(&c, &f, err, sizeof err), 0);
  assert_string_equal(c.base_url, "https://flag.example/e/env-1");
  assert_string_equal(c.token, TOKEN);
  ub_dt_config_free(&c);
  unlink(path);
  clear_env();
}

static void test_config_errors_name_the_fix_and_hide_the_token(void **state) {
  (void)state;
  clear_env();
  ub_dt_config c;
  char err[256];
  assert_int_equal(ub_dt_config_resolve(&c, NULL, err, sizeof err), -1);
  assert_non_null(strstr(err, "DT_TENANT_URL"));
  setenv("DT_TENANT_URL", "https://x.example", 1);
  assert_int_equal(ub_dt_config_resolve(&c, NULL, err, sizeof err), -1);
  assert_non_null(strstr(err, "DT_API_TOKEN"));
  setenv("DT_API_TOKEN", "dt0c01.AAA\r\nX-Evil: 1", 1);
  assert_int_equal(ub_dt_config_resolve(&c, NULL, err, sizeof err), -1);
  assert_null(strstr(err, "dt0c01"));
  assert_non_null(strstr(err, "DT_API_TOKEN"));
  ub_dt_flags f = {.url = "ftp://x.example", .token = TOKEN};
  assert_int_equal(ub_dt_config_resolve(&c, &f, err, sizeof err), -1);
  assert_non_null(strstr(err, "https://"));
  assert_null(strstr(err, TOKEN));
  clear_env();
}

/* The token travels in a header: plain http only to this machine. */
static void test_plain_http_only_on_loopback(void **state) {
  (void)state;
  clear_env();
  static const char *const refused[] = {
    "http://abc12345.live.dynatrace.com", "HTTP://abc12345.live.dynatrace.com/e/x",
    "http://127.0.0.1.example.com", "http://localhost.example.com:80", "http://user@127.0.0.1"};
  static const char *const allowed[] = {
    "http://127.0.0.1:8080", "http://localhost", "http://localhost:1/e/env", "http://[::1]:5",
    "https://abc12345.live.dynatrace.com"};
  ub_dt_config c;
  char err[256];
  for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
    ub_dt_flags f = {.url = refused[i], .token = TOKEN};
    if (ub_dt_config_resolve(&c, &f, err, sizeof err) != -1) fail_msg("accepted %s", refused[i]);
    assert_non_null(strstr(err, "https://"));
    assert_null(strstr(err, TOKEN));
  }
  for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++) {
    ub_dt_flags f = {.url = allowed[i], .token = TOKEN};
    if (ub_dt_config_resolve(&c, &f, err, sizeof err) != 0) fail_msg("refused %s: %s", allowed[i], err);
    ub_dt_config_free(&c);
  }
  clear_env();
}

/* ---- targets ------------------------------------------------------ */

static void test_metrics_target_encoding(void **state) {
  (void)state;
  ub_dt_target t;
  assert_int_equal(ub_dt_target_init(&t, "/api/v2/metrics/query", NULL), 0);
  ub_dt_target_param(&t, "entitySelector", "type(SERVICE),tag(keptn_project:sockshop)");
  ub_dt_target_param(&t, "from", "1664323800000");
  ub_dt_target_param(&t, "metricSelector",
                     "builtin:service.response.time:merge(\"dt.entity.service\"):percentile(95)");
  ub_dt_target_param(&t, "mzSelector", NULL);
  ub_dt_target_param(&t, "resolution", "Inf");
  ub_dt_target_param(&t, "to", "1664409600000");
  char *s = ub_dt_target_take(&t);
  /* the request dynatrace-service sent (reference 3.1) */
  assert_string_equal(s, "/api/v2/metrics/query?entitySelector=type%28SERVICE%29%2Ctag%28keptn_project%3Asockshop%29"
                         "&from=1664323800000&metricSelector=builtin%3Aservice.response.time%3Amerge%28%22dt.entity."
                         "service%22%29%3Apercentile%2895%29&resolution=Inf&to=1664409600000");
  free(s);
}

static void test_path_segment_encoding(void **state) {
  (void)state;
  ub_dt_target t;
  ub_dt_target_init(&t, "/api/v1/timeseries/", "com.dynatrace.builtin:service.responsetime");
  ub_dt_target_param(&t, "tag", "[Environment]DEPLOYMENT_GROUP_NAME:Staging");
  ub_dt_target_param(&t, "x", "a b/c?d&e=f\xc2\xb5");
  char *s = ub_dt_target_take(&t);
  assert_string_equal(s, "/api/v1/timeseries/com.dynatrace.builtin:service.responsetime"
                         "?tag=%5BEnvironment%5DDEPLOYMENT_GROUP_NAME%3AStaging"
                         "&x=a%20b%2Fc%3Fd%26e%3Df%C2%B5");
  free(s);
  ub_dt_target_init(&t, "/api/v2/problems/", "../x/-600_1V2");
  s = ub_dt_target_take(&t);
  assert_string_equal(s, "/api/v2/problems/..%2Fx%2F-600_1V2");
  free(s);
}

/* ---- error messages ----------------------------------------------- */

static void check_message(long status, const char *ctype, const char *body, const char *error,
                          const char *expect) {
  ub_exchange x = {.method = "GET", .target = "/api/v2/metrics/query?metricSelector=x",
                   .status = status, .content_type = (char *)ctype, .body = (char *)body,
                   .body_len = body ? strlen(body) : 0, .error = (char *)error, .attempts = 1};
  char err[512];
  int rc = ub_dt_check(&x, err, sizeof err);
  if (!expect) { assert_int_equal(rc, 0); return; }
  assert_int_equal(rc, -1);
  assert_string_equal(err, expect);
}

static void test_error_envelopes_from_fixtures(void **state) {
  (void)state;
  size_t n;
  char *body = read_fixture("dynatrace/api-error_400_constraints-violated_metrics-query.json", &n);
  check_message(400, "application/json", body, NULL,
                "Dynatrace API error (400): Constraints violated. [path: nextPageKey - msg: expected one "
                "of nextPageKey or metricSelector to be specified] - URL: /api/v2/metrics/query?metricSelector=x");
  free(body);
  body = read_fixture("dynatrace/api-error_403_missing-token-scope.json", &n);
  check_message(403, "application/json", body, NULL,
                "Dynatrace API error (403): Token is missing required scope. Use one of: problems.read "
                "(Read problems) - URL: /api/v2/metrics/query?metricSelector=x");
  free(body);
  body = read_fixture("dynatrace/api-error_429_too-many-requests.json", &n);
  check_message(429, "application/json", body, "not retried: waiting 90000 ms would pass the deadline",
                "Dynatrace API error (429): Too many requests. (not retried: waiting 90000 ms would pass "
                "the deadline) - URL: /api/v2/metrics/query?metricSelector=x");
  free(body);
}

static void test_non_json_answers_are_errors(void **state) {
  (void)state;
  check_message(200, "text/html; charset=utf-8", "<html>login</html>", NULL,
                "Dynatrace API error (200): received invalid response (Content-Type text/html; "
                "charset=utf-8, expected application/json) - URL: /api/v2/metrics/query?metricSelector=x");
  check_message(502, "text/html", "<html>bad gateway</html>", NULL,
                "Dynatrace API error (502): HTTP 502 with a non-JSON body (text/html) - URL: "
                "/api/v2/metrics/query?metricSelector=x");
  check_message(0, NULL, NULL, "Connection refused",
                "Dynatrace request failed: Connection refused - URL: /api/v2/metrics/query?metricSelector=x");
  check_message(200, "application/json", "{}", "response larger than the limit of 10 bytes",
                "Dynatrace request failed: response larger than the limit of 10 bytes - URL: "
                "/api/v2/metrics/query?metricSelector=x");
  check_message(200, "application/json; charset=utf-8", "{}", NULL, NULL);
}

/* ---- redaction ---------------------------------------------------- */

static void test_token_is_redacted(void **state) {
  (void)state;
  ub_dt_config c = {.base_url = "http://127.0.0.1:1", .token = TOKEN};
  char err[256];
  ub_dt_client *cl = ub_dt_client_new(&c, err, sizeof err);
  assert_non_null(cl);
  ub_buf b;
  ub_buf_init(&b);
  ub_buf_puts(&b, "echo: Api-Token " TOKEN " and again " TOKEN "!");
  ub_dt_redact(cl, &b);
  assert_string_equal(b.data, "echo: Api-Token [REDACTED] and again [REDACTED]!");
  ub_buf_free(&b);
  ub_dt_client_free(cl);
}

/* ---- recorder ----------------------------------------------------- */

static void add(ub_recorder *rec, const char *target, long status, const char *body) {
  ub_exchange x = {.method = "GET", .target = (char *)target, .status = status,
                   .content_type = "application/json", .body = (char *)body,
                   .body_len = strlen(body), .attempts = 1};
  assert_int_equal(ub_recorder_add(rec, &x), 0);
}

static void test_recorder_round_trip_and_replay(void **state) {
  (void)state;
  ub_recorder *rec = ub_recorder_new();
  add(rec, "/api/v2/metrics/query?metricSelector=a&from=1&to=2", 200, "{\"n\":1}");
  add(rec, "/api/v2/metrics/query?metricSelector=a&from=1&to=2", 503, "{\"n\":2}");
  add(rec, "/api/v1/timeseries/x", 200, "{\"unit\":\"\xb5s\"}");     /* Latin-1 byte */
  ub_buf json;
  ub_buf_init(&json);
  assert_int_equal(ub_recorder_to_json(rec, &json), 0);
  assert_non_null(strstr(json.data, "\"body_base64\":\"eyJ1bml0IjoitXMifQ==\""));
  char err[256];
  ub_recorder *replay = ub_recorder_from_json(json.data, json.len, err, sizeof err);
  assert_non_null(replay);
  assert_true(ub_recorder_is_replay(replay));
  assert_int_equal(ub_recorder_count(replay), 3);
  /* same parameters in another order match; equal requests answer in order */
  ub_exchange q = {.method = "GET", .target = "/api/v2/metrics/query?to=2&from=1&metricSelector=a"};
  assert_int_equal(ub_recorder_answer(replay, &q), 0);
  assert_int_equal(q.status, 200);
  assert_string_equal(q.body, "{\"n\":1}");
  free(q.body); free(q.content_type);
  q.body = q.content_type = NULL;
  assert_int_equal(ub_recorder_answer(replay, &q), 0);
  assert_int_equal(q.status, 503);
  free(q.body); free(q.content_type);
  q.body = q.content_type = NULL;
  assert_int_equal(ub_recorder_answer(replay, &q), -1);
  assert_int_equal(q.status, 0);
  assert_string_equal(q.error, "not in the recorded evaluation");
  free(q.error);
  ub_exchange t = {.method = "GET", .target = "/api/v1/timeseries/x"};
  assert_int_equal(ub_recorder_answer(replay, &t), 0);
  assert_int_equal(t.body_len, 13);
  assert_memory_equal(t.body, "{\"unit\":\"\xb5s\"}", 13);
  free(t.body); free(t.content_type);
  /* the re-serialised record is byte for byte the same */
  ub_buf again;
  ub_buf_init(&again);
  ub_recorder_to_json(replay, &again);
  assert_string_equal(again.data, json.data);
  ub_buf_free(&again);
  ub_buf_free(&json);
  ub_recorder_free(replay);
  ub_recorder_free(rec);
}

static void test_damaged_recording_is_rejected(void **state) {
  (void)state;
  char err[256];
  const char *bad[] = {"", "[]", "{\"version\":2,\"exchanges\":[]}",
                       "{\"version\":1,\"exchanges\":[{\"method\":\"GET\"}]}",
                       "{\"version\":1,\"exchanges\":[{\"method\":\"GET\",\"target\":\"/x\",\"surprise\":1}]}",
                       "{\"version\":1,\"exchanges\":[{\"method\":\"GET\",\"target\":\"/x\",\"body_base64\":\"@@@@\"}]}",
                       "{\"version\":1,\"exchanges\":["};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    assert_null(ub_recorder_from_json(bad[i], strlen(bad[i]), err, sizeof err));
    assert_non_null(strstr(err, "recording"));
  }
}


/* ---- the Lua binding over a replay record -------------------------- */

typedef struct canned { const char *target; long status; const char *ctype; const char *body; } canned;

static ub_recorder *replay_of(const canned *c, size_t n) {
  ub_recorder *rec = ub_recorder_new();
  for (size_t i = 0; i < n; i++) {
    ub_exchange x = {.method = "GET", .target = (char *)c[i].target, .status = c[i].status,
                     .content_type = (char *)c[i].ctype, .body = (char *)c[i].body,
                     .body_len = strlen(c[i].body), .attempts = 1};
    assert_int_equal(ub_recorder_add(rec, &x), 0);
  }
  ub_recorder_set_replay(rec);
  return rec;
}

/* Runs Lua code with dt (the module) and stats; the code asserts. */
static void run_lua(ub_recorder *rec, const char *code) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  luaL_requiref(L, "unbreakable.stats", luaopen_unbreakable_stats, 0);
  lua_pop(L, 1);
  luaL_requiref(L, "unbreakable.dynatrace", luaopen_unbreakable_dynatrace, 0);
  lua_setglobal(L, "dt");
  lua_pushlightuserdata(L, json_null());
  lua_setglobal(L, "null");
  ub_dt_bind(L, NULL, rec);
  if (luaL_dostring(L, code) != LUA_OK) fail_msg("%s", lua_tostring(L, -1));
  lua_close(L);
}

static void test_metrics_decode_into_series(void **state) {
  (void)state;
  size_t n;
  char *body = read_fixture("dynatrace/metrics-v2-query_200_three-series_splitby-service_resolution-10m.json", &n);
  canned c[] = {{"/api/v2/metrics/query?metricSelector=builtin%3Aservice.response.time%3Apercentile%2895%29"
                 "&resolution=10m", 200, "application/json", body}};
  ub_recorder *rec = replay_of(c, 1);
  run_lua(rec,
          "local r = dt.metrics('builtin:service.response.time:percentile(95)', {resolution='10m'})\n"
          "assert(r.ok, r.error); assert(r.status == 200 and r.error == nil)\n"
          "assert(r.request == 'GET " "/api/v2/metrics/query?metricSelector=builtin%3Aservice.response.time%3A"
          "percentile%2895%29&resolution=10m')\n"
          "assert(r.resolution == '10m' and r.total_count == 3 and #r.warnings == 0)\n"
          "assert(#r.result == 1 and r.result[1].metric_id == 'builtin:service.response.time:percentile(95)')\n"
          "local d = r.result[1].data; assert(#d == 3)\n"
          "assert(d[1].dimensions[1] == 'SERVICE-7A96961077A1AED2')\n"
          "assert(d[1].dimension_map['dt.entity.service'] == 'SERVICE-7A96961077A1AED2')\n"
          "local s = d[1].series; assert(#s == 144 and s[107] == 2038121 and s[1] == nil)\n"
          "assert(s:timestamp(1) == 1664323800000 and math.type(s:timestamp(1)) == 'integer')\n"
          "assert(s.entity == 'SERVICE-7A96961077A1AED2')\n"
          "assert(s.metric == 'builtin:service.response.time:percentile(95)')\n"
          "assert(d[2].series[8] == 1166152 and d[2].series[82] == 41052.5)\n"
          "assert(d[3].series[3] == 644 and d[3].series[4] == 640)\n");
  ub_recorder_free(rec);
  free(body);
}

static void test_metrics_pages_are_followed_and_merged(void **state) {
  (void)state;
  canned c[] = {
      {"/api/v2/metrics/query?metricSelector=m", 200, "application/json",
       "{\"totalCount\":2,\"nextPageKey\":\"K/1\",\"resolution\":\"1m\",\"result\":[{\"metricId\":\"m\","
       "\"data\":[{\"dimensions\":[\"A\"],\"dimensionMap\":{\"d\":\"A\"},\"timestamps\":[1,2],\"values\":[1.5,null]}]}]}"},
      {"/api/v2/metrics/query?nextPageKey=K%2F1", 200, "application/json",
       "{\"totalCount\":2,\"nextPageKey\":null,\"resolution\":\"1m\",\"warnings\":[\"w2\"],\"result\":[{\"metricId\":\"m\","
       "\"data\":[{\"dimensions\":[\"B\"],\"dimensionMap\":{\"d\":\"B\"},\"timestamps\":[3],\"values\":[7]}]}]}"}};
  ub_recorder *rec = replay_of(c, 2);
  run_lua(rec,
          "local r = dt.metrics('m')\n"
          "assert(r.ok, r.error); assert(#r.result == 1 and #r.result[1].data == 2)\n"
          "assert(r.warnings[1] == 'w2' and r.total_count == 2)\n"
          "local a, b = r.result[1].data[1].series, r.result[1].data[2].series\n"
          "assert(#a == 2 and a[1] == 1.5 and a[2] == nil and a:timestamp(2) == 2)\n"
          "assert(#b == 1 and b[1] == 7 and b.entity == 'B')\n");
  ub_recorder_free(rec);
}

static void test_timeseries_both_shapes(void **state) {
  (void)state;
  size_t n;
  char *data_result = read_fixture("dynatrace/timeseries-v1_GET-by-id_200_dataResult_service-responsetime_constructed.json", &n);
  char *result = read_fixture("dynatrace/timeseries-v1_200_docs-example_POST_app-actionspersession.json", &n);
  canned c[] = {
      {"/api/v1/timeseries/com.dynatrace.builtin:service.responsetime?startTimestamp=1501771380000"
       "&endTimestamp=1501771620000&aggregationType=avg&includeData=true&entity=SERVICE-F08D806E7EF685CF",
       200, "application/json", data_result},
      {"/api/v1/timeseries/com.dynatrace.builtin:app.actionspersession?relativeTime=hour&includeData=true",
       200, "application/json", result}};
  ub_recorder *rec = replay_of(c, 2);
  run_lua(rec,
          "local r = dt.timeseries('com.dynatrace.builtin:service.responsetime', {from=1501771380000,"
          " to=1501771620000, aggregation='AVG', entities={'SERVICE-F08D806E7EF685CF'}})\n"
          "assert(r.ok, r.error); assert(r.shape == 'dataResult' and r.resolution_ms == 60000)\n"
          "assert(r.unit == 'MicroSecond (\xc2\xb5s)' and r.aggregation == 'AVG')\n"
          "assert(r.timeseries_id == 'com.dynatrace.builtin:service.responsetime')\n"
          "assert(r.order[1] == 'SERVICE-F08D806E7EF685CF' and r.order[2] == 'SERVICE-375C22FE9B61DB6D')\n"
          "assert(r.entities['SERVICE-F08D806E7EF685CF'] == 'FinanceService')\n"
          "local s = r.series['SERVICE-F08D806E7EF685CF']\n"
          "assert(#s == 4 and s[1] == 149062.769 and s[3] == nil and s[4] == 131250.0)\n"
          "assert(s:timestamp(4) == 1501771560000 and s.entity == 'SERVICE-F08D806E7EF685CF')\n"
          "local o = dt.timeseries('com.dynatrace.builtin:app.actionspersession', {relative='hour'})\n"
          "assert(o.ok, o.error); assert(o.shape == 'result' and o.unit == 'PerMinute (count/min)')\n"
          "assert(o.series['APPLICATION-8E41C8'][2] == 3 and o.series['APPLICATION-8E41C8'][1] == nil)\n");
  ub_recorder_free(rec);
  free(data_result);
  free(result);
}

static void test_bad_bodies_are_errors_never_empty_series(void **state) {
  (void)state;
  size_t n;
  char *body = read_fixture("dynatrace/metrics-v2-query_200_single-series_resolution-1h_24values.json", &n);
  body[n / 2] = '\0';                                   /* truncated mid-document */
  canned c[] = {
      {"/api/v2/metrics/query?metricSelector=trunc", 200, "application/json", body},
      {"/api/v2/metrics/query?metricSelector=html", 200, "text/html", "<html><body>Login</body></html>"},
      {"/api/v2/metrics/query?metricSelector=nojson", 200, "application/json", "<html>"},
      {"/api/v2/metrics/query?metricSelector=noresult", 200, "application/json", "{\"totalCount\":0}"},
      {"/api/v1/timeseries/x?includeData=true", 200, "application/json", "{\"dataResult\":{\"dataPoints\":{\"A\":[[1,2,3]]}}}"},
      {"/api/v2/metrics/query?metricSelector=e403", 403, "application/json",
       "{\"error\":{\"code\":403,\"message\":\"Token is missing required scope.\"}}"}};
  ub_recorder *rec = replay_of(c, 6);
  run_lua(rec,
          "local rs = dt.batch({{'metrics','trunc'},{'metrics','html'},{'metrics','nojson'},"
          "{'metrics','noresult'},{'timeseries','x'},{'metrics','e403'},{'metrics','absent'},"
          "{'metrics','m',{bogus=1}},{'nonsense'}})\n"
          "assert(#rs == 9)\n"
          "for i = 1, 5 do local r = rs[i]\n"
          "  assert(r.ok == false and r.status == 200 and r.result == nil and r.series == nil, i)\n"
          "  assert(r.error:find('received invalid response', 1, true), r.error) end\n"
          "assert(rs[1].error:find('offset', 1, true))\n"
          "assert(rs[2].error:find('text/html', 1, true))\n"
          "assert(rs[6].status == 403 and rs[6].error == 'Dynatrace API error (403): Token is missing"
          " required scope. - URL: /api/v2/metrics/query?metricSelector=e403')\n"
          "assert(rs[7].status == 0 and rs[7].error:find('not in the recorded evaluation', 1, true))\n"
          "assert(rs[8].status == 0 and rs[8].error == \"dt.metrics: unknown option 'bogus'\")\n"
          "assert(rs[8].request == 'dt.metrics (not sent)')\n"
          "assert(rs[9].ok == false and rs[9].error:find('item 9', 1, true))\n");
  ub_recorder_free(rec);
  free(body);
}

/* Review 11, 2.1: a 200 that is valid JSON but not the call's documented
 * answer is an error for every call, never an empty list. */
static void test_wrong_shapes_are_errors_for_every_call(void **state) {
  (void)state;
  canned c[] = {
      {"/api/v1/entity/services", 200, "application/json", "{}"},
      {"/api/v1/entity/applications", 200, "application/json", "{\"error\":\"x\"}"},
      {"/api/v1/entity/infrastructure/hosts", 200, "application/json", "[{\"displayName\":\"h\"}]"},
      {"/api/v2/entities?entitySelector=a", 200, "application/json", "{\"entities\":{}}"},
      {"/api/v2/entities?entitySelector=b", 200, "application/json", "{\"entities\":[],\"error\":{\"code\":1}}"},
      {"/api/v1/events", 200, "application/json", "{\"events\":[],\"totalEventCount\":\"1\"}"},
      {"/api/v2/events", 200, "application/json", "{\"events\":[\"e\"]}"},
      {"/api/v2/problems/P", 200, "application/json", "{\"title\":\"no id\"}"},
      {"/api/v2/problems", 200, "application/json", "{\"problems\":[{\"title\":\"t\"}]}"},
      {"/api/v2/slo/S", 200, "application/json", "[]"},
      {"/api/v2/metrics/M", 200, "application/json", "{\"metricId\":5}"},
      {"/api/v2/metrics/query?metricSelector=m", 200, "application/json", "{\"result\":[{\"data\":[]}]}"},
      {"/api/v1/timeseries/t?includeData=true", 200, "application/json",
       "{\"error\":{\"code\":500},\"dataResult\":{\"dataPoints\":{}}}"},
      {"/api/v2/entities?entitySelector=ok", 200, "application/json", "{\"entities\":[],\"totalCount\":0}"},
      {"/api/v2/slo/T", 200, "application/json", "{\"id\":\"T\",\"error\":\"NONE\"}"}};
  ub_recorder *rec = replay_of(c, sizeof c / sizeof *c);
  run_lua(rec,
          "local rs = dt.batch({{'entities_v1','services'},{'entities_v1','applications'},"
          "{'entities_v1','hosts'},{'entities','a'},{'entities','b'},{'events_v1'},{'events'},"
          "{'problem','P'},{'problems'},{'slo','S'},{'metric_descriptor','M'},{'metrics','m'},"
          "{'timeseries','t'},{'entities','ok'},{'slo','T'}})\n"
          "for i = 1, 13 do local r = rs[i]\n"
          "  assert(r.ok == false and r.status == 200, i)\n"
          "  assert(r.error:find('received invalid response', 1, true), r.error) end\n"
          "assert(rs[1].error:find('expected a JSON array', 1, true), rs[1].error)\n"
          "assert(rs[5].error:find('error object', 1, true), rs[5].error)\n"
          "assert(rs[14].ok and #rs[14].entities == 0, rs[14].error)   -- a real empty list\n"
          "assert(rs[15].ok and rs[15].slo.error == 'NONE', rs[15].error) -- the SLO's own field\n");
  ub_recorder_free(rec);
}

static void test_events_keep_large_ids_exact(void **state) {
  (void)state;
  size_t n;
  char *body = read_fixture("dynatrace/events-v1-GET_200_custom-deployment_vsts_constructed.json", &n);
  canned c[] = {{"/api/v1/events?from=1546290000000&to=1546300800000&eventType=CUSTOM_DEPLOYMENT", 200,
                 "application/json", body}};
  ub_recorder *rec = replay_of(c, 1);
  run_lua(rec,
          "local r = dt.events_v1({from=1546290000000, to=1546300800000, event_type='CUSTOM_DEPLOYMENT'})\n"
          "assert(r.ok, r.error); assert(r.total_count == 2 and #r.events == 2)\n"
          "local id = r.events[1].eventId\n"
          "assert(math.type(id) == 'integer' and id == -2861530547231474633)\n"
          "assert(r.events[1].severityLevel == null)\n");
  ub_recorder_free(rec);
  free(body);
}

static void test_unbound_module_fails_closed(void **state) {
  (void)state;
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  luaL_requiref(L, "unbreakable.dynatrace", luaopen_unbreakable_dynatrace, 0);
  lua_setglobal(L, "dt");
  const char *code = "local r = dt.slo('abc')\n"
                     "assert(r.ok == false and r.status == 0 and r.error:find('not configured', 1, true))\n";
  if (luaL_dostring(L, code) != LUA_OK) fail_msg("%s", lua_tostring(L, -1));
  lua_close(L);
}

/* The request each call would send (an empty replay record answers
 * nothing, so the response shows the target and says why it failed). */
static void test_call_targets_and_argument_errors(void **state) {
  (void)state;
  ub_recorder *rec = replay_of(NULL, 0);
  run_lua(rec,
          "local function req(r) return r.request end\n"
          "assert(req(dt.timeseries('com.dynatrace.builtin:service.responsetime', {from=1, to=2,"
          " aggregation='percentile', percentile=90, query_mode='total', entities={'SERVICE-1','SERVICE-2'},"
          " tags={'[Environment]DEPLOYMENT_GROUP_NAME:Staging'}})) == 'GET /api/v1/timeseries/"
          "com.dynatrace.builtin:service.responsetime?startTimestamp=1&endTimestamp=2&aggregationType="
          "percentile&percentile=90&queryMode=TOTAL&includeData=true&entity=SERVICE-1&entity=SERVICE-2"
          "&tag=%5BEnvironment%5DDEPLOYMENT_GROUP_NAME%3AStaging')\n"
          "assert(req(dt.entities_v1('SERVICE', {tags={'app:x'}})) == 'GET /api/v1/entity/services?tag=app%3Ax')\n"
          "assert(req(dt.entities_v1('process-groups')) == 'GET /api/v1/entity/infrastructure/process-groups')\n"
          "assert(req(dt.problem('-600_1V2', {fields='evidenceDetails'})) =="
          " 'GET /api/v2/problems/-600_1V2?fields=evidenceDetails')\n"
          "assert(req(dt.events({event_selector='eventType(CUSTOM_DEPLOYMENT)', from='now-2h'})) =="
          " 'GET /api/v2/events?eventSelector=eventType%28CUSTOM_DEPLOYMENT%29&from=now-2h')\n"
          "assert(req(dt.metric_descriptor('builtin:service.response.time:percentile(95)')) =="
          " 'GET /api/v2/metrics/builtin:service.response.time:percentile%2895%29')\n"
          "local r = dt.slo('x y')\n"
          "assert(r.request == 'GET /api/v2/slo/x%20y' and r.status == 0 and not r.ok)\n"
          "local bad = {\n"
          "  {dt.timeseries('t', {percentile=100}), \"dt.timeseries: option 'percentile' must be an integer from 1 to 99\"},\n"
          "  {dt.timeseries('t', {aggregation='p95'}), \"dt.timeseries: option 'aggregation' must be one of avg, sum,"
          " min, max, median, count, percentile\"},\n"
          "  {dt.timeseries('t', {from='now-2h'}), \"dt.timeseries: option 'from' must be an integer (Unix ms)\"},\n"
          "  {dt.metrics('', {}), 'dt.metrics: the first argument must be a non-empty string'},\n"
          "  {dt.metrics('m', 'x'), 'dt.metrics: options must be a table'},\n"
          "  {dt.entities_v1('things'), \"dt.entities_v1: unknown entity kind 'things' (use applications, services,"
          " hosts, process-groups, processes or an entity type such as SERVICE)\"},\n"
          "  {dt.entities('type(HOST)', {page_size=0}), \"dt.entities: option 'page_size' must be a positive integer\"},\n"
          "}\n"
          "for i, case in ipairs(bad) do\n"
          "  assert(case[1].ok == false and case[1].status == 0, i)\n"
          "  assert(case[1].error == case[2], case[1].error)\n"
          "  assert(case[1].request:find('(not sent)', 1, true), i) end\n");
  ub_recorder_free(rec);
}

/* ---- robustness ------------------------------------------------------ */

static uint64_t next_rand(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* Truncates, flips and inserts bytes in real answers: every decoder must
 * either succeed or report an error, with the Lua stack balanced. */
static void test_decoders_survive_mutations(void **state) {
  (void)state;
  const char *files[] = {"metrics-v2-query_200_three-series_splitby-service_resolution-10m.json",
                         "timeseries-v1_GET-by-id_200_dataResult_service-responsetime_constructed.json",
                         "timeseries-v1_200_result_app-useractions_count_relativeTime-hour_dtcli-cache.json",
                         "problems-v2-get-by-id_200_open-problem_with-evidence.json"};
  static const char noise[] = "{}[],:\"\\0123456789.eE-+ntrufalse\x01\xff";
  uint64_t seed = 0x9E3779B97F4A7C15ull;
  lua_State *L = luaL_newstate();
  luaL_requiref(L, "unbreakable.stats", luaopen_unbreakable_stats, 0);
  lua_settop(L, 0);
  int decoded = 0, rejected = 0;
  for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
    size_t n;
    char *orig = read_fixture_in("dynatrace", files[f], &n);
    char *buf = malloc(n + 16);
    for (int i = 0; i < 400; i++) {
      memcpy(buf, orig, n);
      size_t len = n;
      int kind = (int)(next_rand(&seed) % 3);
      size_t at = (size_t)(next_rand(&seed) % n);
      if (kind == 0) len = at;
      else if (kind == 1) buf[at] = noise[next_rand(&seed) % (sizeof noise - 1)];
      else { memmove(buf + at + 1, buf + at, n - at); buf[at] = noise[next_rand(&seed) % (sizeof noise - 1)]; len++; }
      char err[256];
      int top = lua_gettop(L);
      int rc = (f == 0 ? dt_decode_metrics : f < 3 ? dt_decode_timeseries : dt_decode_json)(L, buf, len, err,
                                                                                           sizeof err);
      assert_int_equal(lua_gettop(L), top + (rc == 0));
      if (rc == 0) decoded++;
      else { rejected++; assert_true(err[0] != '\0'); }
      lua_settop(L, top);
    }
    free(buf);
    free(orig);
  }
  assert_true(decoded > 0 && rejected > 0);
  lua_close(L);
}

/* ---- inside the sandbox ------------------------------------------- */

static int bind_replay(lua_State *L, void *ud) {
  ub_dt_bind(L, NULL, ud);
  return 0;
}

static int take_number(lua_State *L, void *ud) {
  *(double *)ud = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : -1;
  return 0;
}

static void test_policy_reads_through_the_sandbox(void **state) {
  (void)state;
  canned c[] = {{"/api/v2/metrics/query?metricSelector=m&from=now-2h", 200, "application/json",
                 "{\"totalCount\":1,\"resolution\":\"Inf\",\"result\":[{\"metricId\":\"m\",\"data\":"
                 "[{\"dimensions\":[],\"dimensionMap\":{},\"timestamps\":[5],\"values\":[42.5]}]}]}"}};
  ub_recorder *rec = replay_of(c, 1);
  char path[] = "/tmp/ub_dt_policyXXXXXX";
  int fd = mkstemp(path);
  const char policy[] =
      "local dt = require 'unbreakable.dynatrace'\n"
      "return function()\n"
      "  local r = dt.metrics('m', {from = 'now-2h'})\n"
      "  if not r.ok then return -2 end\n"
      "  local s = r.result[1].data[1].series\n"
      "  return s:sum() + #s\n"
      "end\n";
  assert_int_equal(write(fd, policy, sizeof policy - 1), (ssize_t)(sizeof policy - 1));
  close(fd);
  sb_limits lim;
  sb_default_limits(&lim);
  const char *stdlib = getenv("UB_STDLIB");
  sandbox *sb = sb_new(&lim, stdlib ? stdlib : "stdlib");
  assert_non_null(sb);
  assert_int_equal(sb_grant(sb, "unbreakable.dynatrace", luaopen_unbreakable_dynatrace), 0);
  assert_int_equal(sb_grant(sb, "unbreakable.stats", luaopen_unbreakable_stats), 0);
  sb_set_prepare(sb, bind_replay, rec);
  double result = 0;
  sb_status st = sb_run(sb, path, NULL, take_number, &result);
  if (st != SB_OK) fail_msg("%s", sb_error(sb));
  assert_true(result == 43.5);                 /* 42.5 + one point */
  sb_free(sb);
  ub_recorder_free(rec);
  unlink(path);
}

/* A policy cannot walk to another endpoint with "." or ".." as an id: the
 * HTTP layer would resolve them (found in review). Nothing is requested. */
static void test_dot_segments_are_not_ids(void **state) {
  (void)state;
  ub_recorder *rec = replay_of(NULL, 0);
  char path[] = "/tmp/ub_dt_dotsXXXXXX";
  int fd = mkstemp(path);
  const char policy[] =
      "local dt = require 'unbreakable.dynatrace'\n"
      "return function()\n"
      "  local a, b = dt.problem('..'), dt.slo('.')\n"
      "  assert(not a.ok and a.error:find(\"'..' is not an id\", 1, true), a.error)\n"
      "  assert(not b.ok and b.error:find(\"'.' is not an id\", 1, true), b.error)\n"
      "  return 1\n"
      "end\n";
  assert_int_equal(write(fd, policy, sizeof policy - 1), (ssize_t)(sizeof policy - 1));
  close(fd);
  const char *stdlib = getenv("UB_STDLIB");
  sandbox *sb = sb_new(NULL, stdlib ? stdlib : "stdlib");
  assert_non_null(sb);
  assert_int_equal(sb_grant(sb, "unbreakable.dynatrace", luaopen_unbreakable_dynatrace), 0);
  sb_set_prepare(sb, bind_replay, rec);
  double result = 0;
  sb_status st = sb_run(sb, path, NULL, take_number, &result);
  if (st != SB_OK) fail_msg("%s", sb_error(sb));
  assert_true(result == 1);
  sb_free(sb);
  ub_recorder_free(rec);
  unlink(path);
}

/* A value goes into a selector quoted: '"' and '~' escaped by '~', so a quote
 * cannot close the value and add terms of its own. */
static void test_selector_values_are_quoted(void **state) {
  (void)state;
  ub_buf b;
  ub_buf_init(&b);
  const char *odd = "SERVICE-1\"),type(\"HOST~";
  ub_dt_selector_quote(&b, odd, strlen(odd));
  assert_false(b.failed);
  assert_string_equal(b.data, "\"SERVICE-1~\"),type(~\"HOST~~\"");
  ub_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dot_segments_are_not_ids),
      cmocka_unit_test(test_config_from_environment),
      cmocka_unit_test(test_config_flags_win_and_token_file_is_trimmed),
      cmocka_unit_test(test_config_errors_name_the_fix_and_hide_the_token),
      cmocka_unit_test(test_plain_http_only_on_loopback),
      cmocka_unit_test(test_metrics_target_encoding),
      cmocka_unit_test(test_path_segment_encoding),
      cmocka_unit_test(test_error_envelopes_from_fixtures),
      cmocka_unit_test(test_non_json_answers_are_errors),
      cmocka_unit_test(test_token_is_redacted),
      cmocka_unit_test(test_recorder_round_trip_and_replay),
      cmocka_unit_test(test_damaged_recording_is_rejected),
      cmocka_unit_test(test_metrics_decode_into_series),
      cmocka_unit_test(test_metrics_pages_are_followed_and_merged),
      cmocka_unit_test(test_timeseries_both_shapes),
      cmocka_unit_test(test_wrong_shapes_are_errors_for_every_call),
      cmocka_unit_test(test_bad_bodies_are_errors_never_empty_series),
      cmocka_unit_test(test_events_keep_large_ids_exact),
      cmocka_unit_test(test_unbound_module_fails_closed),
      cmocka_unit_test(test_call_targets_and_argument_errors),
      cmocka_unit_test(test_policy_reads_through_the_sandbox),
      cmocka_unit_test(test_decoders_survive_mutations),
      cmocka_unit_test(test_selector_values_are_quoted),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
