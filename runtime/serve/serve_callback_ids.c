/* serve_callback_ids.c: where a gate's callback goes: Azure DevOps's
 * headers (or the first generation's body fields) read into checked ids,
 * and the --allow-callback prefixes a PlanUrl must start with, so that the
 * caller's job token is only ever sent back to Azure DevOps. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve.h"

static int label_char(char c) { return isalnum((unsigned char)c) || c == '-'; }

/* prefix may hold "*" standing for one DNS label. */
static int prefix_match(const char *prefix, const char *url) {
  while (*prefix) {
    if (*prefix == '*') {
      if (!label_char(*url)) return 0;
      while (label_char(*url)) url++;
      prefix++;
      continue;
    }
    if (tolower((unsigned char)*prefix) != tolower((unsigned char)*url)) return 0;
    prefix++, url++;
  }
  return 1;
}

int serve_callback_allowed(const serve_config *c, const char *url) {
  for (const char *p = url; *p; p++)
    if ((unsigned char)*p <= ' ' || *p == '\\' || *p == '@' || *p == '"') return 0;
  for (int i = 0; i < c->nallow; i++)
    if (prefix_match(c->allow[i], url)) return 1;
  return 0;
}

/* Ids go into URL paths: GUID-like characters only. */
static int plain_id(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.') return 0;
  return 1;
}

/* The ids from any source: get returns a named value or NULL; where names
 * the source in messages ("header", "field"). */
static int callback_from(const serve_config *c, const char *(*get)(void *ud, const char *name), void *ud,
                         const char *where, serve_callback_ids *ids, char *err, size_t errlen) {
  static const char *const names[] = {"PlanUrl", "ProjectId", "HubName", "PlanId", "JobId",
                                      "TimelineId", "TaskInstanceId", "AuthToken"};
  memset(ids, 0, sizeof *ids);
  char *slots[] = {ids->plan_url, ids->project_id, ids->hub_name, ids->plan_id, ids->job_id,
                   ids->timeline_id, ids->task_instance_id};
  size_t sizes[] = {sizeof ids->plan_url, sizeof ids->project_id, sizeof ids->hub_name,
                    sizeof ids->plan_id, sizeof ids->job_id, sizeof ids->timeline_id,
                    sizeof ids->task_instance_id};
  int present = 0;
  for (int i = 0; i < 8; i++) present += get(ud, names[i]) != NULL;
  if (present == 0) return 0;
  for (int i = 0; i < 8; i++) {
    const char *v = get(ud, names[i]);
    if (!v || !*v) {
      snprintf(err, errlen, "callback mode needs every Azure DevOps %s; '%s' is missing", where, names[i]);
      return -1;
    }
    if (i == 7) continue;
    if (strlen(v) >= sizes[i]) {
      snprintf(err, errlen, "%s '%s' is too long", where, names[i]);
      return -1;
    }
    if (i > 0 && !plain_id(v)) {
      snprintf(err, errlen, "%s '%s' must be an id (letters, digits, '-')", where, names[i]);
      return -1;
    }
    snprintf(slots[i], sizes[i], "%s", v);
  }
  if (!serve_callback_allowed(c, ids->plan_url)) {
    char shown[200];
    snprintf(shown, sizeof shown, "%.150s", ids->plan_url);
    for (char *p = shown; *p; p++)
      if ((unsigned char)*p < ' ' || *p == '"' || *p == '\\') *p = '?';
    snprintf(err, errlen, "PlanUrl '%s' is not allowed: it must start with an --allow-callback "
             "prefix; nothing was called", shown);
    return -1;
  }
  ids->token = strdup(get(ud, "AuthToken"));
  if (!ids->token) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  return 1;
}

static const char *header_of(void *ud, const char *name) { return ub_srv_header(ud, name); }

int serve_callback_from_headers(const serve_config *c, const ub_srv_request *rq,
                                serve_callback_ids *ids, char *err, size_t errlen) {
  return callback_from(c, header_of, (void *)rq, "header", ids, err, errlen);
}

static const char *body_value_of(void *ud, const char *name) {
  const serve_gate_req *req = ud;
  for (int i = 0; i < SERVE_BODY_CALLBACK_FIELDS; i++)
    if (strcmp(SERVE_BODY_CALLBACK_NAMES[i], name) == 0) return req->body_callback[i];
  return NULL;
}

int serve_callback_from_body(const serve_config *c, const serve_gate_req *req,
                             serve_callback_ids *ids, char *err, size_t errlen) {
  return callback_from(c, body_value_of, (void *)req, "field", ids, err, errlen);
}

static void wipe_free(char *s) {
  if (!s) return;
  memset(s, 0, strlen(s));
  free(s);
}

void serve_callback_ids_free(serve_callback_ids *ids) {
  wipe_free(ids->token);
  ids->token = NULL;
}
