/* serve_request.c: turns a gate request body into the request a worker
 * runs. Strict: malformed JSON, an unknown field or a value of the wrong
 * type is refused with a message naming the field; files are named
 * relative to --specs only (serve_paths.c), also the policy a monspec
 * names. Also the original gate's body (dtcli-compat) and the mapping of
 * verdicts to the status Azure DevOps's success criterion reads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lauxlib.h>

#include "ledger/ledger.h"
#include "serve/serve.h"
#include "util/spec_path.h"
#include "util/json.h"

/* What a parse reads names against: the specs folder live for this
 * request (--specs, or the verified bundle's folder) and the settings. */
typedef struct req_ctx {
  const char *specs;
  const serve_config *cfg;
} req_ctx;

typedef struct field {
  const char *name;
  int type;            /* LUA_TSTRING, LUA_TNUMBER, LUA_TBOOLEAN, LUA_TTABLE */
} field;

static const field GATE_FIELDS[] = {
  {"monspec", LUA_TSTRING}, {"compare", LUA_TSTRING}, {"pull", LUA_TSTRING},
  {"window", LUA_TNUMBER}, {"shift", LUA_TNUMBER}, {"policy", LUA_TSTRING},
  {"compat", LUA_TSTRING}, {"labels", LUA_TTABLE}, {"fail_on_warning", LUA_TBOOLEAN},
  {"slo", LUA_TSTRING}, {"sli", LUA_TSTRING}, {"service", LUA_TSTRING},
  {"stage", LUA_TSTRING}, {"project", LUA_TSTRING}, {NULL, 0}};

static const char *type_word(int t) {
  return t == LUA_TSTRING ? "a string" : t == LUA_TNUMBER ? "a number"
       : t == LUA_TBOOLEAN ? "true or false" : "an object";
}

/* 1 when a string of the table at idx (keys and values, nested tables
 * included) holds a NUL byte: read as C text it would be shorter than what
 * was sent ("a.json\u0000x" naming a.json, "planurl\u0000" matching
 * planurl); name gets its key. */
static int holds_nul(lua_State *L, int idx, int depth, char *name, size_t namelen) {
  int found = 0;
  lua_pushnil(L);
  while (!found && lua_next(L, idx)) {
    size_t klen = 0, vlen = 0;
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &klen) : NULL;
    const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &vlen) : NULL;
    found = (k && strlen(k) != klen) || (v && strlen(v) != vlen) ||
            (lua_type(L, -1) == LUA_TTABLE && depth > 0 && holds_nul(L, lua_gettop(L), depth - 1, name, namelen));
    if (found && k && !name[0]) snprintf(name, namelen, "%.*s", (int)strnlen(k, 100), k);
    lua_pop(L, found ? 2 : 1);
  }
  return found;
}

/* Decodes body; the object is left at index 1. */
static int decode_body(lua_State *L, const char *body, size_t len, char *err, size_t errlen) {
  char why[200];
  if (len == 0) {
    snprintf(err, errlen, "the request has no body: send a JSON object");
    return -1;
  }
  if (json_decode_lua(L, body, len, 20, why, sizeof why) != 0) {
    snprintf(err, errlen, "the body is not valid JSON: %s", why);
    return -1;
  }
  if (!lua_istable(L, 1) || (lua_rawlen(L, 1) > 0)) {
    snprintf(err, errlen, "the body must be a JSON object");
    return -1;
  }
  char name[104] = "";
  if (holds_nul(L, 1, 20, name, sizeof name)) {
    snprintf(err, errlen, "field '%s' holds a NUL character (\\u0000): remove it", name);
    return -1;
  }
  return 0;
}

/* Every key of the object at 1 is known and of its type. */
static int check_fields(lua_State *L, const field *known, char *err, size_t errlen) {
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    if (lua_type(L, -2) != LUA_TSTRING) {
      snprintf(err, errlen, "the body must be a JSON object");
      return -1;
    }
    const char *key = lua_tostring(L, -2);
    const field *f = known;
    while (f->name && strcmp(f->name, key) != 0) f++;
    if (!f->name) {
      snprintf(err, errlen, "unknown field '%.100s' (see docs/serve.md for the fields of a gate request)", key);
      return -1;
    }
    int t = lua_type(L, -1);
    if (t == LUA_TLIGHTUSERDATA) t = LUA_TNIL; /* JSON null */
    if (t != f->type || (t == LUA_TTABLE && lua_rawlen(L, -1) > 0)) {
      snprintf(err, errlen, "field '%s' must be %s", key, type_word(f->type));
      return -1;
    }
    lua_pop(L, 1);
  }
  return 0;
}

static const char *get_str(lua_State *L, const char *key) {
  lua_getfield(L, 1, key);
  const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  lua_pop(L, 1);
  return s;
}

static void put_str(ub_buf *b, const char *key, const char *v) {
  if (!v) return;
  ub_buf_printf(b, ",\"%s\":", key);
  json_append_string(b, v, strlen(v));
}

static int put_path(const req_ctx *c, ub_buf *b, const char *key, const char *name,
                    char *err, size_t errlen) {
  char path[4096], why[600];
  if (ub_spec_path(c->specs, name, path, sizeof path, why, sizeof why) != 0) {
    snprintf(err, errlen, "field '%s': %s", key, why);
    return -1;
  }
  put_str(b, key, path);
  return 0;
}

/* The top-level "policy" string of a JSON document into key: 1, or 0
 * when the document has none or is not valid JSON (the gate reports
 * that), read in one pass without building the document. It reads what
 * the gate's decoder (pyjson) reads where it can: a UTF-8 byte order mark
 * first, nesting to 250 deep. A text the gate reads with a policy key
 * that this reader refuses is refused by the gate (gate_exec.c
 * choose_policy): the key is only ever used once checked here. */
static int policy_key(const char *text, size_t len, ub_buf *key) {
  json_reader r;
  json_token t = JSON_ERROR;
  int found = 0;
  if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
    text += 3;
    len -= 3;
  }
  json_reader_init(&r, text, len, 250);
  if (json_next(&r) == JSON_OBJECT) {
    while ((t = json_next(&r)) == JSON_STRING) {
      int is_policy = json_str_is(&r, "policy");
      json_token v = json_next(&r);
      if (v == JSON_ERROR || v == JSON_OBJECT_END || json_skip(&r, v) != 0) break;
      if (is_policy && v == JSON_STRING) {
        ub_buf_reset(key);
        ub_buf_puts(key, r.str.data);
        found = 1;
      }
    }
  }
  int whole = t == JSON_OBJECT_END && json_next(&r) == JSON_END;
  json_reader_free(&r);
  return found && whole && !key->failed;
}

/* The "policy" a monspec file names, resolved under --specs like a
 * request's own names (relative to the monspec's folder). */
static int monspec_policy(const req_ctx *c, const char *monspec_name, const char *path,
                          ub_buf *b, char *err, size_t errlen) {
  char why[600];
  size_t len;
  char *text = ub_read_all(path, (size_t)4 << 20, &len, why, sizeof why);
  if (!text) return 0; /* the gate reports it */
  ub_buf policy;
  ub_buf_init(&policy);
  int rc = 0;
  if (policy_key(text, len, &policy)) {
    const char *key = policy.data;
    char name[4096];
    const char *slash = strrchr(monspec_name, '/');
    if (slash) snprintf(name, sizeof name, "%.*s/%s", (int)(slash - monspec_name), monspec_name, key);
    else snprintf(name, sizeof name, "%s", key);
    char real[4096];
    if (key[0] == '/' || ub_spec_path(c->specs, name, real, sizeof real, why, sizeof why) != 0) {
      snprintf(err, errlen, "monspec '%s' names policy '%s', which is not a file under the specs "
               "folder: give \"policy\" in the request or fix the monspec", monspec_name, key);
      rc = -1;
    } else {
      put_str(b, "policy", real);
    }
  }
  ub_buf_free(&policy);
  free(text);
  return rc;
}

/* "meta": the route and the request's labels (none in an original body,
 * which has no such field), recorded with the evaluation. */
static int put_meta(lua_State *L, ub_buf *b, const char *route, char *err, size_t errlen) {
  ub_buf meta;
  ub_buf_init(&meta);
  ub_buf_puts(&meta, "{\"route\":");
  json_append_string(&meta, route, strlen(route));
  if (lua_getfield(L, 1, "labels") == LUA_TTABLE) {
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      int t = lua_type(L, -1);
      if (++n > 32 || (t != LUA_TSTRING && t != LUA_TNUMBER && t != LUA_TBOOLEAN) ||
          (t == LUA_TSTRING && lua_rawlen(L, -1) > 512)) {
        snprintf(err, errlen, "field 'labels' must be an object of at most 32 strings (512 "
                 "characters each), numbers or booleans");
        ub_buf_free(&meta);
        lua_pop(L, 3);
        return -1;
      }
      lua_pop(L, 1);
    }
    char why[200];
    json_enc_opts o = {0, 0, 4, 1, "labels"};
    ub_buf_puts(&meta, ",\"labels\":");
    if (json_encode_lua(L, -1, &o, &meta, why, sizeof why) != 0) {
      snprintf(err, errlen, "field 'labels': %s", why);
      ub_buf_free(&meta);
      lua_pop(L, 1);
      return -1;
    }
  }
  lua_pop(L, 1);
  ub_buf_puts(&meta, "}");
  put_str(b, "meta", meta.data);
  ub_buf_free(&meta);
  return 0;
}

static int common_tail(const req_ctx *c, ub_buf *b, const char *requested_by) {
  /* a database URL may hold a password and a callback's request is stored:
   * workers take a database from UB_SERVE_DATABASE (cmd_serve.c) instead */
  put_str(b, "ledger", ledger_is_database(c->cfg->ledger) ? "" : c->cfg->ledger);
  put_str(b, "requested_by", requested_by);
  ub_buf_printf(b, ",\"timeout\":%g}", c->cfg->gate_timeout);
  return b->failed ? -1 : 0;
}

static int monspec_request(const req_ctx *c, lua_State *L, serve_gate_req *out, char *err, size_t errlen) {
  const char *monspec = get_str(L, "monspec"), *compare = get_str(L, "compare"), *pull = get_str(L, "pull");
  if ((compare != NULL) == (pull != NULL)) {
    snprintf(err, errlen, "give exactly one of 'compare' (ENTITY/COMPARISON) or 'pull' (ENTITY/ENVIRONMENT)");
    return -1;
  }
  const char *target = compare ? compare : pull;
  const char *slash = strchr(target, '/');
  if (!slash || slash == target || !slash[1]) {
    snprintf(err, errlen, "field '%s' must be ENTITY/%s", compare ? "compare" : "pull",
             compare ? "COMPARISON" : "ENVIRONMENT");
    return -1;
  }
  const char *compat = get_str(L, "compat");
  if (compat && strcmp(compat, "dtcli") != 0) {
    snprintf(err, errlen, "field 'compat' must be \"dtcli\" with a monspec");
    return -1;
  }
  const char *bad[] = {"slo", "sli", "service", "stage", "project", NULL};
  for (int i = 0; bad[i]; i++)
    if (get_str(L, bad[i])) {
      snprintf(err, errlen, "field '%s' belongs to an SLO gate, not to a monspec gate", bad[i]);
      return -1;
    }
  ub_buf *b = &out->worker_json;
  ub_buf_puts(b, "{\"kind\":\"monspec\"");
  if (put_path(c, b, "monspec", monspec, err, errlen) != 0) return -1;
  const char *policy = get_str(L, "policy");
  if (policy) {
    if (put_path(c, b, "policy", policy, err, errlen) != 0) return -1;
  } else {
    char path[4096], why[600];
    ub_spec_path(c->specs, monspec, path, sizeof path, why, sizeof why);
    if (monspec_policy(c, monspec, path, b, err, errlen) != 0) return -1;
  }
  put_str(b, "target", target);
  put_str(b, "mode", compare ? "pullcompare" : "pull");
  put_str(b, "compat", compat);
  snprintf(out->service, sizeof out->service, "%.*s", (int)(slash - target), target);
  snprintf(out->stage, sizeof out->stage, "%s", slash + 1);
  return 0;
}

static int slo_request(const req_ctx *c, lua_State *L, serve_gate_req *out, char *err, size_t errlen) {
  const char *need[] = {"sli", "service", "stage", NULL};
  for (int i = 0; need[i]; i++)
    if (!get_str(L, need[i]) || !*get_str(L, need[i])) {
      snprintf(err, errlen, "an SLO gate needs field '%s'", need[i]);
      return -1;
    }
  const char *bad[] = {"compare", "pull", NULL};
  for (int i = 0; bad[i]; i++)
    if (get_str(L, bad[i])) {
      snprintf(err, errlen, "field '%s' belongs to a monspec gate, not to an SLO gate", bad[i]);
      return -1;
    }
  const char *compat = get_str(L, "compat");
  if (compat && strcmp(compat, "keptn") != 0) {
    snprintf(err, errlen, "field 'compat' must be \"keptn\" with an SLO file");
    return -1;
  }
  ub_buf *b = &out->worker_json;
  ub_buf_puts(b, "{\"kind\":\"slo\"");
  if (put_path(c, b, "slo", get_str(L, "slo"), err, errlen) != 0 ||
      put_path(c, b, "sli", get_str(L, "sli"), err, errlen) != 0)
    return -1;
  if (get_str(L, "policy") && put_path(c, b, "policy", get_str(L, "policy"), err, errlen) != 0) return -1;
  put_str(b, "service", get_str(L, "service"));
  put_str(b, "stage", get_str(L, "stage"));
  put_str(b, "project", get_str(L, "project"));
  put_str(b, "compat", compat);
  snprintf(out->service, sizeof out->service, "%s", get_str(L, "service"));
  snprintf(out->stage, sizeof out->stage, "%s", get_str(L, "stage"));
  return 0;
}

static int numbers(lua_State *L, serve_gate_req *out, char *err, size_t errlen) {
  double window = 5, shift = 0;
  if (lua_getfield(L, 1, "window") == LUA_TNUMBER) window = lua_tonumber(L, -1);
  if (lua_getfield(L, 1, "shift") == LUA_TNUMBER) shift = lua_tonumber(L, -1);
  lua_pop(L, 2);
  if (!(window >= 1 && window <= 60 * 24 * 31)) { /* as the CLI's --window: less is an empty timeframe */
    snprintf(err, errlen, "field 'window' must be minutes, at least 1 and at most 44640");
    return -1;
  }
  if (!(shift >= 0 && shift <= 60 * 24 * 366)) {
    snprintf(err, errlen, "field 'shift' must be minutes, 0 to 527040");
    return -1;
  }
  lua_getfield(L, 1, "fail_on_warning");
  out->fail_on_warning = lua_toboolean(L, -1);
  lua_pop(L, 1);
  ub_buf_printf(&out->worker_json, ",\"window\":%.17g,\"shift\":%.17g,\"fail_on_warning\":%d",
                window, shift, out->fail_on_warning);
  return 0;
}

/* What a route reads from the decoded body (at index 1) into out. */
typedef int (*body_reader)(const req_ctx *c, lua_State *L, serve_gate_req *out, char *err, size_t errlen);

/* Decodes body, lets read fill out, then adds what every worker request
 * ends with. */
static int parse_body(const req_ctx *c, const char *body, size_t len, const char *requested_by,
                      body_reader read, serve_gate_req *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  ub_buf_init(&out->worker_json);
  lua_State *L = luaL_newstate();
  if (!L) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  int rc = decode_body(L, body, len, err, errlen);
  if (rc == 0) rc = read(c, L, out, err, errlen);
  if (rc == 0) rc = common_tail(c, &out->worker_json, requested_by);
  lua_close(L);
  return rc;
}

static int gate_read(const req_ctx *c, lua_State *L, serve_gate_req *out, char *err, size_t errlen) {
  if (check_fields(L, GATE_FIELDS, err, errlen) != 0) return -1;
  int has_monspec = get_str(L, "monspec") != NULL, has_slo = get_str(L, "slo") != NULL;
  if (has_monspec == has_slo) {
    snprintf(err, errlen, "give exactly one of 'monspec' (with 'compare' or 'pull') or 'slo' (with "
             "'sli', 'service', 'stage')");
    return -1;
  }
  int rc = has_monspec ? monspec_request(c, L, out, err, errlen) : slo_request(c, L, out, err, errlen);
  if (rc == 0) rc = numbers(L, out, err, errlen);
  if (rc == 0) rc = put_meta(L, &out->worker_json, "/v1/gate", err, errlen);
  return rc;
}

int serve_parse_gate(const serve_config *c, const char *specs, const char *body, size_t len,
                     const char *requested_by, serve_gate_req *out, char *err, size_t errlen) {
  req_ctx rc = {specs, c};
  return parse_body(&rc, body, len, requested_by, gate_read, out, err, errlen);
}

/* ---- the original gate's body ------------------------------------------ */

const char *const SERVE_BODY_CALLBACK_NAMES[SERVE_BODY_CALLBACK_FIELDS] = {
  "PlanUrl", "ProjectId", "HubName", "PlanId", "JobId", "TimelineId", "TaskInstanceId", "AuthToken"};

static const char *const DTCLI_KNOWN[] = {
  "content-type", "planurl", "projectid", "hubname", "planid", "jobid", "timelineid",
  "taskinstanceid", "authtoken", "monspecurl", "pipelineinfourl", "dynatracetennanturl",
  "dynatracetenanturl", "dynatracetoken", "proxyurl", "servicetocompare", "comparewindow",
  "compareshift", "comparetype", NULL};

/* A field of the original body, matched case-insensitively; a value that
 * is an unsubstituted pipeline variable "$(name)" counts as absent. */
static const char *dtcli_str(lua_State *L, const char *name, char *num, size_t numlen) {
  const char *found = NULL;
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    if (lua_type(L, -2) == LUA_TSTRING && strcasecmp(lua_tostring(L, -2), name) == 0) {
      if (lua_type(L, -1) == LUA_TSTRING) found = lua_tostring(L, -1);
      else if (lua_type(L, -1) == LUA_TNUMBER) {
        snprintf(num, numlen, "%.17g", lua_tonumber(L, -1));
        found = num;
      }
    }
    lua_pop(L, 1);
  }
  if (found && found[0] == '$' && found[1] == '(' && found[strlen(found) - 1] == ')' &&
      !strchr(found + 2, '('))
    found = NULL;
  return found;
}

static int dtcli_check(lua_State *L, char *err, size_t errlen) {
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
    int known = 0;
    for (int i = 0; DTCLI_KNOWN[i]; i++) known |= strcasecmp(key, DTCLI_KNOWN[i]) == 0;
    int t = lua_type(L, -1);
    if (!known) {
      snprintf(err, errlen, "unknown field '%.100s'", key);
      lua_pop(L, 2);
      return -1;
    }
    if (t != LUA_TSTRING && t != LUA_TNUMBER && t != LUA_TLIGHTUSERDATA) {
      snprintf(err, errlen, "field '%s' must be a string", key);
      lua_pop(L, 2);
      return -1;
    }
    lua_pop(L, 1);
  }
  return 0;
}

static int dtcli_number(const char *text, const char *name, double dflt, double *out, char *err, size_t errlen) {
  if (!text || !*text) {
    *out = dflt;
    return 0;
  }
  char *end;
  double v = strtod(text, &end);
  if (end == text || *end || !(v >= 0) || v > 60 * 24 * 31) {
    snprintf(err, errlen, "field '%s' must be a number of minutes (got '%.40s')", name, text);
    return -1;
  }
  *out = v;
  return 0;
}

static int dtcli_fill(const req_ctx *c, lua_State *L, serve_gate_req *out, char *err, size_t errlen) {
  char n1[32], n2[32], n3[32], n4[32], n5[32]; /* one each: a number is formatted into it */
  const char *monspec_url = dtcli_str(L, "monspecUrl", n4, sizeof n4);
  const char *service = dtcli_str(L, "serviceToCompare", n5, sizeof n5);
  if (!monspec_url || !*monspec_url) {
    snprintf(err, errlen, "Required property 'monspecUrl' not found in JSON");
    return -1;
  }
  if (!service || !strchr(service, '/') || service[0] == '/') {
    snprintf(err, errlen, "Required property 'serviceToCompare' (Entity/Comparison) not found in JSON");
    return -1;
  }
  const char *type = dtcli_str(L, "compareType", n1, sizeof n1);
  if (type && *type && strcmp(type, "pull") != 0 && strcmp(type, "pullcompare") != 0) {
    snprintf(err, errlen, "field 'compareType' must be pull or pullcompare (got '%.40s')", type);
    return -1;
  }
  double window, shift;
  if (dtcli_number(dtcli_str(L, "compareWindow", n2, sizeof n2), "compareWindow", 5, &window, err, errlen) != 0 ||
      dtcli_number(dtcli_str(L, "compareShift", n3, sizeof n3), "compareShift", 0, &shift, err, errlen) != 0)
    return -1;
  if (window < 1) {
    snprintf(err, errlen, "field 'compareWindow' must be at least 1 minute");
    return -1;
  }
  /* the URL is never fetched: its last segment names a file under --specs */
  const char *name = strrchr(monspec_url, '/');
  name = name ? name + 1 : monspec_url;
  char clean[512];
  snprintf(clean, sizeof clean, "%.*s", (int)strcspn(name, "?#"), name);
  ub_buf *b = &out->worker_json;
  ub_buf_puts(b, "{\"kind\":\"monspec\",\"compat\":\"dtcli\"");
  if (put_path(c, b, "monspec", clean, err, errlen) != 0) return -1;
  char path[4096], why[600];
  ub_spec_path(c->specs, clean, path, sizeof path, why, sizeof why);
  if (monspec_policy(c, clean, path, b, err, errlen) != 0) return -1;
  int pull = type && strcmp(type, "pull") == 0;
  put_str(b, "target", service);
  put_str(b, "mode", pull ? "pull" : "pullcompare");
  ub_buf_printf(b, ",\"window\":%.17g,\"shift\":%.17g,\"fail_on_warning\":0", window, pull ? shift : 0);
  const char *slash = strchr(service, '/');
  snprintf(out->service, sizeof out->service, "%.*s", (int)(slash - service), service);
  snprintf(out->stage, sizeof out->stage, "%s", slash + 1);
  return 0;
}

static int dtcli_read(const req_ctx *c, lua_State *L, serve_gate_req *out, char *err, size_t errlen) {
  int rc = dtcli_check(L, err, errlen);
  if (rc == 0) rc = dtcli_fill(c, L, out, err, errlen);
  for (int i = 0; rc == 0 && i < SERVE_BODY_CALLBACK_FIELDS; i++) {
    char num[32];
    const char *v = dtcli_str(L, SERVE_BODY_CALLBACK_NAMES[i], num, sizeof num);
    if (v && !(out->body_callback[i] = strdup(v))) {
      snprintf(err, errlen, "out of memory");
      rc = -1;
    }
  }
  if (rc == 0) rc = put_meta(L, &out->worker_json, "/v1/gate/dtcli-compat", err, errlen);
  return rc;
}

int serve_parse_dtcli(const serve_config *c, const char *specs, const char *body, size_t len,
                      const char *requested_by, serve_gate_req *out, char *err, size_t errlen) {
  req_ctx rc = {specs, c};
  return parse_body(&rc, body, len, requested_by, dtcli_read, out, err, errlen);
}

void serve_gate_req_free(serve_gate_req *r) {
  ub_buf_free(&r->worker_json);
  for (int i = 0; i < SERVE_BODY_CALLBACK_FIELDS; i++) {
    if (r->body_callback[i]) memset(r->body_callback[i], 0, strlen(r->body_callback[i])); /* the token */
    free(r->body_callback[i]);
    r->body_callback[i] = NULL;
  }
}

/* The worker's rc is the gate's exit status (docs/gate.md): 0 go, 1 fail,
 * 4 inconclusive, anything else an error. It is read with the verdict: a
 * policy that said pass whose decision could not be recorded keeps its
 * verdict but ends with an error status, and is an error here. */
enum { GATE_GO = 0, GATE_FAIL = 1, GATE_INCONCLUSIVE = 4 };

int serve_result_failed(const serve_gate_result *r) {
  return r->rc < 0 || !r->verdict[0] || r->error[0] ||
         (r->rc != GATE_GO && r->rc != GATE_FAIL && r->rc != GATE_INCONCLUSIVE);
}

const char *serve_status_of(const serve_gate_result *r, int fail_on_warning) {
  if (serve_result_failed(r)) return "error";
  int go = strcmp(r->verdict, "pass") == 0 || (strcmp(r->verdict, "warning") == 0 && !fail_on_warning);
  if (go) return r->rc == GATE_GO ? "success" : "error";
  if (strcmp(r->verdict, "warning") == 0 || strcmp(r->verdict, "fail") == 0) return "failure";
  if (strcmp(r->verdict, "inconclusive") == 0) return "inconclusive";
  return "error";
}

void serve_json_field(ub_buf *out, const char *json, size_t len, const char *key) {
  json_reader r;
  json_reader_init(&r, json, len, 200);
  size_t start = 0, end = 0;
  if (json_next(&r) == JSON_OBJECT) {
    for (json_token t = json_next(&r); t == JSON_STRING && !end; t = json_next(&r)) {
      int wanted = json_str_is(&r, key);
      size_t at = json_offset(&r);
      t = json_next(&r);
      if (json_skip(&r, t) != 0) break;
      if (wanted) {
        start = at;
        end = json_offset(&r);
      }
    }
  }
  json_reader_free(&r);
  while (start < end && (json[start] == ':' || json[start] == ' ')) start++;
  if (end > start) ub_buf_append(out, json + start, end - start);
  else ub_buf_puts(out, "null");
}
