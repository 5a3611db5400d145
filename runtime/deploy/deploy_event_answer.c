/* deploy_event_answer.c: reads what Dynatrace answered to a deployment
 * event: how many entities it reached (v2 reportCount, v1 storedEventIds) and
 * the ids it gave back (see deploy_event.h). Integers beyond 2^53 (v1 event
 * ids) are only counted, never converted. */
#include "deploy/deploy_event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"

void de_answer_free(de_answer *a) {
  for (size_t i = 0; i < a->nids; i++) free(a->ids[i]);
  free(a->ids);
  memset(a, 0, sizeof *a);
}

static int answer_add_id(de_answer *a, const char *id) {
  char **grown = realloc(a->ids, (a->nids + 1) * sizeof *grown);
  if (!grown) return -1;
  a->ids = grown;
  if (!(a->ids[a->nids] = strdup(id))) return -1;
  a->nids++;
  return 0;
}

/* One {"correlationId","status"} object of eventIngestResults; a result
 * without status "OK" counts as not OK. */
static int read_ingest_result(json_reader *r, de_answer *a) {
  json_token t;
  int ok = 0;
  while ((t = json_next(r)) == JSON_STRING) {
    int is_correlation = json_str_is(r, "correlationId"), is_status = json_str_is(r, "status");
    json_token v = json_next(r);
    if (v == JSON_STRING && is_correlation) {
      if (answer_add_id(a, r->str.data) != 0) return -1;
    } else if (is_status) {
      ok = v == JSON_STRING && json_str_is(r, "OK");
      if (v != JSON_STRING && json_skip(r, v) != 0) return -1;
    } else if (json_skip(r, v) != 0) {
      return -1;
    }
  }
  if (!ok) a->not_ok++;
  return t == JSON_OBJECT_END ? 0 : -1;
}

/* Reads the array whose first token was just returned; counts its items and
 * keeps string items (v1 storedIds) or ingest results (v2). An item of the
 * wrong type, or no array at all, means this is not the documented answer. */
static int read_answer_array(json_reader *r, json_token first, const char *key, de_answer *a,
                             long *count) {
  if (first != JSON_ARRAY) return -1;
  json_token t;
  while ((t = json_next(r)) != JSON_ARRAY_END) {
    (*count)++;
    if (!strcmp(key, "eventIngestResults")) {
      if (t != JSON_OBJECT || read_ingest_result(r, a) != 0) return -1;
    } else if (!strcmp(key, "storedIds")) {
      if (t != JSON_STRING || answer_add_id(a, r->str.data) != 0) return -1;
    } else if (t != JSON_NUMBER) {       /* storedEventIds: int64 event ids */
      return -1;
    }
  }
  return 0;
}

static int read_answer(json_reader *r, int api, de_answer *a, int *have_count, long *results,
                       int *have_results) {
  json_token t;
  long ignored = 0;
  while ((t = json_next(r)) == JSON_STRING) {
    char key[40];
    snprintf(key, sizeof key, "%s", r->str.data);
    json_token v = json_next(r);
    if (api == 2 && !strcmp(key, "reportCount")) {
      if (v != JSON_NUMBER || !r->is_integer || r->integer < 0) return -1;
      a->matched = (long)r->integer;
      *have_count = 1;
    } else if (api == 1 && !strcmp(key, "storedEventIds")) {
      a->matched = 0;
      int rc = read_answer_array(r, v, key, a, &a->matched);
      if (rc != 0) return -1;   /* null or not an array: not an answer */
      *have_count = 1;
    } else if (!strcmp(key, "error")) {
      return -1;                   /* an error object is not an answer */
    } else if (!strcmp(key, "eventIngestResults")) {
      *results = 0;
      if (read_answer_array(r, v, key, a, results) < 0) return -1;
      *have_results = 1;
    } else if (!strcmp(key, "storedIds")) {
      if (read_answer_array(r, v, key, a, &ignored) < 0) return -1;
    } else if (json_skip(r, v) != 0) {
      return -1;
    }
  }
  return t == JSON_OBJECT_END && json_next(r) == JSON_END ? 0 : -1;
}

int de_answer_parse(int api, const char *body, size_t len, de_answer *a, char *err, size_t errlen) {
  memset(a, 0, sizeof *a);
  json_reader r;
  json_reader_init(&r, body ? body : "", body ? len : 0, 32);
  int have_count = 0, have_results = api == 1;
  long results = 0;
  int rc = json_next(&r) == JSON_OBJECT ? read_answer(&r, api, a, &have_count, &results, &have_results) : -1;
  json_reader_free(&r);
  /* A result whose status is not OK was not recorded: only OK results count. */
  if (rc == 0 && results > 0 && a->matched > results - a->not_ok) a->matched = results - a->not_ok;
  if (rc == 0 && have_count && have_results) return 0;
  if (rc != 0)
    snprintf(err, errlen, "the answer is not the JSON object the Events API %s returns",
             api == 2 ? "v2" : "v1");
  else if (!have_count)
    snprintf(err, errlen, "the answer has no %s",
             api == 2 ? "\"reportCount\"" : "\"storedEventIds\" array");
  else
    snprintf(err, errlen, "the answer has no \"eventIngestResults\" array");
  de_answer_free(a);
  return -1;
}
