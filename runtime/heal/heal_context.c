/* heal_context.c: what the selfheal policy sees. For each impacted entity
 * the CUSTOM_DEPLOYMENT events from the window before the problem started
 * until now (Events API v2, falling back to v1), each normalised to
 * {start_ms, api, title, name, version, properties, release}; for each
 * event that carries the release context deploy-event wrote, the release
 * and the deployments of that stage read from Azure DevOps (for a YAML
 * run: the pipeline's runs). Every read is listed under ctx.reads. A URL
 * found in an event is only compared with the configured organisation,
 * never called. Builds the tables in a host lua_State and pushes two: the
 * allowed rollback targets ("project/stage" -> what Azure DevOps said)
 * and the context. */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dynatrace/dynatrace.h"
#include "heal/heal_internal.h"
#include "util/json.h"

typedef struct ctx_build {
  const heal_config *c;
  int reads;             /* index of ctx.reads */
  int targets;           /* index of the targets table */
  int cache;             /* project/release/stage -> ado table */
  int failed_reads;      /* reads that got no usable answer */
} ctx_build;

static void note_read(lua_State *L, ctx_build *b, const char *method, const char *url, const ub_http_reply *call) {
  lua_createtable(L, 0, 4);
  lua_pushstring(L, method);
  lua_setfield(L, -2, "method");
  const char *path = strstr(url, "/_apis/") ? strstr(url, "/_apis/") : strstr(url, "/api/");
  lua_pushstring(L, path ? path : ""); /* never the host part */
  lua_setfield(L, -2, "url");
  lua_pushinteger(L, call->status);
  lua_setfield(L, -2, "status");
  if (call->error[0]) {
    lua_pushstring(L, call->error);
    lua_setfield(L, -2, "error");
  }
  lua_rawseti(L, b->reads, (lua_Integer)luaL_len(L, b->reads) + 1);
}

static void set_str(lua_State *L, int t, const char *key, const char *v) {
  if (!v) return;
  lua_pushstring(L, v);
  lua_setfield(L, t, key);
}

/* GET url, noted under ctx.reads; the decoded answer pushed (nil when the
 * read failed). */
static int fetch(lua_State *L, ctx_build *b, heal_service to, const char *url, ub_http_reply *call) {
  int rc = heal_fetch_json(L, b->c, to, url, call);
  note_read(L, b, "GET", url, call);
  return rc;
}

/* An Azure DevOps list answered (rc 0, the answer on top): its value
 * becomes ado[field], and ado the allowed rollback target project/stage
 * (the host checks intents against it). Else the read's error becomes
 * ado.error, counted as a failed read. */
static void take_list(lua_State *L, ctx_build *b, int ado, int rc, const ub_http_reply *call, const char *field,
                      const char *project, const char *stage) {
  if (rc != 0) {
    set_str(L, ado, "error", call->error);
    b->failed_reads++;
    return;
  }
  lua_getfield(L, -1, "value");
  if (lua_istable(L, -1)) json_mark_array(L, -1);
  lua_setfield(L, ado, field);
  char key[600];
  snprintf(key, sizeof key, "%s/%s", project, stage);
  lua_pushvalue(L, ado);
  lua_setfield(L, b->targets, key);
}

/* properties: the v2 list of {key, value} or the v1 customProperties map,
 * as one map at the top of the stack. */
static void push_properties(lua_State *L, int ev, int v2) {
  lua_newtable(L);
  int out = lua_gettop(L);
  lua_getfield(L, ev, v2 ? "properties" : "customProperties");
  int src = lua_gettop(L);
  if (lua_istable(L, src)) {
    if (v2) {
      lua_Integer n = luaL_len(L, src);
      for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, src, i);
        const char *k = heal_str(L, -1, "key"), *v = heal_str(L, -1, "value");
        if (k && v) set_str(L, out, k, v);
        lua_pop(L, 1);
      }
    } else {
      lua_pushnil(L);
      while (lua_next(L, src)) {
        if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
          lua_pushvalue(L, -2);
          lua_pushvalue(L, -2);
          lua_settable(L, out);
        }
        lua_pop(L, 1);
      }
    }
  }
  lua_pop(L, 1);
}

/* release = {kind, project, release_id, definition_id, ...} from the
 * ado.* properties deploy-event wrote; nil when absent. */
static void push_release(lua_State *L, int props) {
  const char *rid = heal_str(L, props, "ado.releaseId");
  const char *build = heal_str(L, props, "ado.buildId");
  const char *project = heal_str(L, props, "ado.project");
  if (!project || (!rid && !build)) {
    lua_pushnil(L);
    return;
  }
  lua_newtable(L);
  int r = lua_gettop(L);
  set_str(L, r, "kind", rid ? "classic" : "yaml");
  set_str(L, r, "project", project);
  static const char *const map[][2] = {
    {"release_id", "ado.releaseId"}, {"release_name", "ado.releaseName"},
    {"definition_id", "ado.releaseDefinitionId"}, {"definition_name", "ado.releaseDefinitionName"},
    {"definition_environment_id", "ado.definitionEnvironmentId"},
    {"environment_id", "ado.environmentId"}, {"stage", "ado.environmentName"},
    {"collection_uri", "ado.collectionUri"}, {"release_api_uri", "ado.releaseApiUri"},
    {"pipeline_id", "ado.pipelineId"}, {"build_id", "ado.buildId"}, {"build_number", "ado.buildNumber"},
    {"stage_name", "ado.stageName"}, {"environment_name", "ado.environmentName"},
  };
  for (size_t i = 0; i < sizeof map / sizeof *map; i++) set_str(L, r, map[i][0], heal_str(L, props, map[i][1]));
  if (!heal_str(L, r, "stage")) set_str(L, r, "stage", heal_str(L, props, "ado.stageName"));
  if (!heal_str(L, r, "stage")) set_str(L, r, "stage", heal_str(L, props, "dt.event.deployment.release_stage"));
}

/* One raw event (v1 or v2) at ev -> normalised table pushed. */
static void push_event(lua_State *L, int ev, int v2) {
  lua_newtable(L);
  int e = lua_gettop(L);
  lua_pushinteger(L, heal_int(L, ev, "startTime", 0));
  lua_setfield(L, e, "start_ms");
  set_str(L, e, "api", v2 ? "v2" : "v1");
  set_str(L, e, "title", heal_str(L, ev, "title"));
  push_properties(L, ev, v2);
  int props = lua_gettop(L);
  if (!v2) {
    static const char *const v1[] = {"deploymentName", "deploymentVersion", "deploymentProject", "source",
                                     "ciBackLink"};
    for (size_t i = 0; i < sizeof v1 / sizeof *v1; i++) set_str(L, e, v1[i], heal_str(L, ev, v1[i]));
  }
  const char *name = heal_str(L, props, "dt.event.deployment.name");
  const char *version = heal_str(L, props, "dt.event.deployment.version");
  set_str(L, e, "name", name ? name : heal_str(L, ev, "deploymentName"));
  set_str(L, e, "version", version ? version : heal_str(L, ev, "deploymentVersion"));
  push_release(L, props);
  lua_setfield(L, e, "release");
  lua_setfield(L, e, "properties");
}

/* The CUSTOM_DEPLOYMENT events of entity id between from and to: the
 * Events API v2 URL (selector: the quoted entityId term), or v1's. */
static void events_url(ub_buf *url, const ctx_build *b, int v2, const char *id, const char *selector, int64_t from,
                       int64_t to) {
  char num[2][24];
  snprintf(num[0], sizeof num[0], "%lld", (long long)from);
  snprintf(num[1], sizeof num[1], "%lld", (long long)to);
  ub_dt_target t;
  ub_dt_target_init(&t, v2 ? "/api/v2/events" : "/api/v1/events", NULL);
  if (v2) {
    ub_dt_target_param(&t, "eventSelector", "eventType(CUSTOM_DEPLOYMENT)");
    ub_dt_target_param(&t, "entitySelector", selector);
    ub_dt_target_param(&t, "pageSize", "500");
  } else {
    ub_dt_target_param(&t, "eventType", "CUSTOM_DEPLOYMENT");
    ub_dt_target_param(&t, "entityId", id);
  }
  ub_dt_target_param(&t, "from", num[0]);
  ub_dt_target_param(&t, "to", num[1]);
  char *target = ub_dt_target_take(&t);
  ub_buf_printf(url, "%s%s", b->c->dt_url, target ? target : "");
  free(target);
}

/* ent.deployments: the events of the answer on top (popped), normalised. */
static void take_events(lua_State *L, int ent, int v2) {
  int answer = lua_gettop(L);
  lua_newtable(L);
  int list = lua_gettop(L);
  lua_getfield(L, answer, "events");
  lua_Integer n = lua_istable(L, -1) ? luaL_len(L, -1) : 0;
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, -1, i);
    if (lua_istable(L, -1)) {
      push_event(L, lua_gettop(L), v2);
      lua_rawseti(L, list, (lua_Integer)luaL_len(L, list) + 1);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  json_mark_array(L, list);
  lua_setfield(L, ent, "deployments");
  set_str(L, ent, "events_api", v2 ? "v2" : "v1");
  lua_pop(L, 1);
}

/* Events of one entity: v2 first, v1 when v2 is not answered; neither is a
 * failed read (and no deployments). */
static void read_events(lua_State *L, ctx_build *b, int ent, const char *id, int64_t from, int64_t to) {
  ub_buf selector, url;
  ub_buf_init(&selector);
  ub_buf_init(&url);
  ub_buf_puts(&selector, "entityId(");
  ub_dt_selector_quote(&selector, id, strlen(id));
  ub_buf_putc(&selector, ')');
  ub_http_reply call;
  memset(&call, 0, sizeof call);
  int read = 0;
  for (int v2 = 1; v2 >= 0 && !read; v2--) {
    ub_buf_reset(&url);
    events_url(&url, b, v2, id, selector.data ? selector.data : "", from, to);
    read = fetch(L, b, HEAL_DT, url.data, &call) == 0;
    if (read) {
      take_events(L, ent, v2);
    } else {
      lua_pop(L, 1);
      set_str(L, ent, v2 ? "events_v2_error" : "events_error", call.error);
    }
  }
  ub_http_reply_free(&call);
  ub_buf_free(&selector);
  ub_buf_free(&url);
  if (read) return;
  b->failed_reads++; /* neither API answered */
  lua_newtable(L);
  json_mark_array(L, -1);
  lua_setfield(L, ent, "deployments");
}

/* The environment of release table rel whose name is stage: index pushed
 * (nil when absent). */
static void push_stage_env(lua_State *L, int rel, const char *stage) {
  lua_getfield(L, rel, "environments");
  int envs = lua_gettop(L);
  lua_Integer n = lua_istable(L, envs) ? luaL_len(L, envs) : 0;
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, envs, i);
    const char *name = heal_str(L, -1, "name");
    if (name && stage && strcmp(name, stage) == 0) {
      lua_remove(L, envs);
      return;
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_pushnil(L);
}

/* The id of the environment named name in the list answer on top (names
 * compare case-insensitively, as the service does), or 0. */
static int64_t environment_id_in(lua_State *L, const char *name) {
  int64_t id = 0;
  lua_getfield(L, -1, "value");
  lua_Integer n = lua_istable(L, -1) ? luaL_len(L, -1) : 0;
  for (lua_Integer i = 1; i <= n && !id; i++) {
    lua_rawgeti(L, -1, i);
    const char *got = heal_str(L, -1, "name");
    if (got && strcasecmp(got, name) == 0) id = heal_int(L, -1, "id", 0);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return id;
}

/* The YAML run's environment (deploy-event's ENVIRONMENT_NAME or
 * ENVIRONMENT_ID): ado.environment = {id, name} and its deployment records
 * (Environments API, newest first) as ado.environment_records: what else
 * deployed to it since, what is in progress there. An event naming no
 * environment reads nothing; a read that fails, or an environment that
 * does not exist, is ado.error (the policy never rolls back blind). */
static void read_environment(lua_State *L, ctx_build *b, int rel, int ado) {
  const heal_config *c = b->c;
  const char *project = heal_str(L, rel, "project"), *name = heal_str(L, rel, "environment_name");
  int64_t id = heal_int(L, rel, "environment_id", 0);
  if (id <= 0 && !name) return;
  ub_buf url;
  ub_buf_init(&url);
  ub_http_reply call;
  memset(&call, 0, sizeof call);
  if (id <= 0) {
    ub_buf_printf(&url, "%s/", c->ado_org_url);
    heal_url_segment(&url, project);
    ub_buf_puts(&url, "/_apis/distributedtask/environments?name=");
    heal_url_segment(&url, name);
    ub_buf_puts(&url, "&api-version=7.1");
    if (fetch(L, b, HEAL_ADO, url.data, &call) == 0) id = environment_id_in(L, name);
    else set_str(L, ado, "error", call.error), b->failed_reads++;
    lua_pop(L, 1);
    if (id <= 0 && !call.error[0])
      set_str(L, ado, "error", "the deployment's environment is not among the project's environments; "
                               "not rolled back");
  }
  if (id > 0) {
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, id);
    lua_setfield(L, -2, "id");
    set_str(L, lua_gettop(L), "name", name);
    lua_setfield(L, ado, "environment");
    ub_buf_reset(&url);
    ub_buf_printf(&url, "%s/", c->ado_org_url);
    heal_url_segment(&url, project);
    ub_buf_printf(&url, "/_apis/distributedtask/environments/%lld/environmentdeploymentrecords?top=25&api-version=7.1",
                  (long long)id);
    ub_http_reply_free(&call);
    memset(&call, 0, sizeof call);
    if (fetch(L, b, HEAL_ADO, url.data, &call) != 0) {
      set_str(L, ado, "error", call.error);
      b->failed_reads++;
    } else if (lua_getfield(L, -1, "value") == LUA_TTABLE) {
      json_mark_array(L, -1);
      lua_setfield(L, ado, "environment_records");
    } else {
      lua_pop(L, 1);
      set_str(L, ado, "error", "the environment's deployment records have no 'value' list");
    }
    lua_pop(L, 1);
  }
  ub_buf_free(&url);
  ub_http_reply_free(&call);
}

/* YAML run: ado = {kind = "yaml", builds} (the runs of the pipeline, newest
 * first), the environment's deployment records (read_environment), and an
 * allowed target "project/stage_name". */
static void read_yaml(lua_State *L, ctx_build *b, int rel, int ado) {
  const heal_config *c = b->c;
  const char *project = heal_str(L, rel, "project"), *stage = heal_str(L, rel, "stage_name");
  int64_t pipeline = heal_int(L, rel, "pipeline_id", 0);
  set_str(L, ado, "kind", "yaml");
  if (!stage || pipeline <= 0 || heal_int(L, rel, "build_id", 0) <= 0) {
    set_str(L, ado, "error", "the YAML run's event carries no pipeline id, run id and stage name");
    return;
  }
  ub_buf url;
  ub_buf_init(&url);
  ub_buf_printf(&url, "%s/", c->ado_org_url);
  heal_url_segment(&url, project);
  ub_buf_printf(&url, "/_apis/build/builds?definitions=%lld&queryOrder=finishTimeDescending&$top=25&api-version=7.1",
                (long long)pipeline);
  ub_http_reply call;
  memset(&call, 0, sizeof call);
  int rc = fetch(L, b, HEAL_ADO, url.data, &call);
  take_list(L, b, ado, rc, &call, "builds", project, stage);
  lua_pop(L, 1);
  ub_buf_free(&url);
  ub_http_reply_free(&call);
  if (rc == 0) read_environment(L, b, rel, ado);
}

/* ado = {release, deployments, error} of a classic release event. */
static void read_ado(lua_State *L, ctx_build *b, int rel) {
  const heal_config *c = b->c;
  lua_newtable(L);
  int ado = lua_gettop(L);
  const char *project = heal_str(L, rel, "project"), *stage = heal_str(L, rel, "stage");
  const char *coll = heal_str(L, rel, "collection_uri"), *api = heal_str(L, rel, "release_api_uri");
  int64_t release = heal_int(L, rel, "release_id", 0);
  if (*c->ado_error) {
    set_str(L, ado, "error", c->ado_error);
    return;
  }
  if ((coll && !heal_same_url(coll, c->ado_org_url)) || (api && !heal_same_url(api, c->ado_release_url))) {
    set_str(L, ado, "error", "the event names another Azure DevOps organisation than AZURE_DEVOPS_ORG_URL; "
                             "not read and not rolled back");
    return;
  }
  if (strcmp(heal_str(L, rel, "kind"), "yaml") == 0) {
    read_yaml(L, b, rel, ado);
    return;
  }
  if (!stage || release <= 0) {
    set_str(L, ado, "error", "the event carries no classic release id and stage");
    return;
  }
  ub_http_reply call;
  memset(&call, 0, sizeof call);
  ub_buf url;
  ub_buf_init(&url);
  heal_release_url(&url, c, project, release);
  int rc = fetch(L, b, HEAL_ADO, url.data, &call);
  int rtab = lua_gettop(L);
  if (rc != 0) {
    take_list(L, b, ado, rc, &call, NULL, NULL, NULL);
  } else {
    push_stage_env(L, rtab, stage);
    lua_getfield(L, rtab, "releaseDefinition");
    int64_t def = heal_int(L, -1, "id", heal_int(L, rel, "definition_id", 0));
    lua_pop(L, 1);
    int64_t denv = heal_int(L, -1, "definitionEnvironmentId", heal_int(L, rel, "definition_environment_id", 0));
    lua_pop(L, 1);
    lua_pushvalue(L, rtab);
    lua_setfield(L, ado, "release");
    if (def <= 0 || denv <= 0) {
      set_str(L, ado, "error", "the release has no such stage; nothing to compare");
    } else {
      ub_buf_reset(&url);
      heal_deployments_url(&url, c, project, def, denv, 25);
      rc = fetch(L, b, HEAL_ADO, url.data, &call);
      take_list(L, b, ado, rc, &call, "deployments", project, stage);
      lua_pop(L, 1);
    }
  }
  lua_settop(L, ado);
  ub_buf_free(&url);
  ub_http_reply_free(&call);
}

/* Each event with a release context gets its Azure DevOps state (read
 * once per project, release and stage). */
static void read_releases(lua_State *L, ctx_build *b, int ent) {
  lua_getfield(L, ent, "deployments");
  int list = lua_gettop(L);
  lua_Integer n = luaL_len(L, list);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, list, i);
    int ev = lua_gettop(L);
    lua_getfield(L, ev, "release");
    int rel = lua_gettop(L);
    if (lua_istable(L, rel)) {
      char key[700];
      snprintf(key, sizeof key, "%s/%s/%s", heal_str(L, rel, "project"),
               heal_str(L, rel, "release_id") ? heal_str(L, rel, "release_id") : "",
               heal_str(L, rel, "stage") ? heal_str(L, rel, "stage") : "");
      lua_getfield(L, b->cache, key);
      if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        read_ado(L, b, rel);
        lua_pushvalue(L, -1);
        lua_setfield(L, b->cache, key);
      }
      lua_setfield(L, ev, "ado");
    }
    lua_settop(L, list);
  }
  lua_pop(L, 1);
}

static void push_problem(lua_State *L, const heal_problem *p, int payload, const char *received) {
  lua_newtable(L);
  int t = lua_gettop(L);
  set_str(L, t, "state", p->state);
  set_str(L, t, "pid", p->pid);
  set_str(L, t, "problem_id", p->problem_id);
  set_str(L, t, "title", p->title);
  set_str(L, t, "received", received);
  lua_pushinteger(L, p->start_ms);
  lua_setfield(L, t, "start_ms");
  lua_pushboolean(L, p->is_test);
  lua_setfield(L, t, "test");
  static const char *const text[][2] = {{"url", "ProblemURL"}, {"impact", "ProblemImpact"},
                                        {"severity", "ProblemSeverity"}, {"tags", "Tags"},
                                        {"impacted_entity", "ImpactedEntity"}};
  for (size_t i = 0; i < sizeof text / sizeof *text; i++) set_str(L, t, text[i][0], heal_str(L, payload, text[i][1]));
  lua_pushvalue(L, payload);
  lua_setfield(L, t, "payload");
}

/* problem.status_now: the problem's status in Dynatrace right now (the
 * reference's advice: confirm OPEN before acting); absent when unknown. */
static void read_problem_status(lua_State *L, ctx_build *b, int problem, const char *pid) {
  ub_buf url;
  ub_buf_init(&url);
  ub_buf_printf(&url, "%s/api/v2/problems/", b->c->dt_url);
  heal_url_segment(&url, pid);
  ub_http_reply call;
  memset(&call, 0, sizeof call);
  if (fetch(L, b, HEAL_DT, url.data, &call) == 0) set_str(L, problem, "status_now", heal_str(L, -1, "status"));
  else b->failed_reads++;
  lua_pop(L, 1);
  ub_buf_free(&url);
  ub_http_reply_free(&call);
}

int heal_context_push(lua_State *L, const heal_config *c, const heal_problem *p, int payload, int64_t now_ms,
                      int64_t notification_id) {
  ctx_build b = {c, 0, 0, 0, 0};
  lua_newtable(L); /* targets */
  b.targets = lua_gettop(L);
  lua_newtable(L);
  b.cache = lua_gettop(L);
  lua_newtable(L);
  int ctx = lua_gettop(L);
  lua_newtable(L);
  json_mark_array(L, -1);
  b.reads = lua_gettop(L);
  lua_pushvalue(L, b.reads);
  lua_setfield(L, ctx, "reads");
  push_problem(L, p, payload, NULL);
  if (!p->is_test && strcmp(p->state, "OPEN") == 0) read_problem_status(L, &b, lua_gettop(L), p->pid);
  lua_setfield(L, ctx, "problem");
  lua_pushinteger(L, now_ms);
  lua_setfield(L, ctx, "now_ms");
  lua_newtable(L);
  lua_pushnumber(L, c->window_minutes);
  lua_setfield(L, -2, "window_minutes");
  lua_pushboolean(L, c->dry_run);
  lua_setfield(L, -2, "dry_run");
  lua_setfield(L, ctx, "settings");
  lua_newtable(L);
  if (c->link_base[0]) {
    lua_pushfstring(L, "%s/v1/selfheal/%I", c->link_base, (lua_Integer)notification_id);
    lua_setfield(L, -2, "evaluation");
  }
  lua_setfield(L, ctx, "links");
  lua_newtable(L);
  lua_pushboolean(L, c->ado_error[0] == 0);
  lua_setfield(L, -2, "configured");
  set_str(L, lua_gettop(L), "error", c->ado_error[0] ? c->ado_error : NULL);
  set_str(L, lua_gettop(L), "org_url", c->ado_org_url);
  lua_setfield(L, ctx, "azure_devops");
  /* entities */
  lua_newtable(L);
  int ents = lua_gettop(L);
  json_mark_array(L, ents);
  int64_t start = p->start_ms > 0 ? p->start_ms : now_ms;
  int64_t from = start - (int64_t)(c->window_minutes * 60000.0);
  if (!p->is_test && strcmp(p->state, "MERGED") != 0) {
    lua_getfield(L, payload, "ImpactedEntities");
    int src = lua_gettop(L);
    lua_Integer n = lua_istable(L, src) ? luaL_len(L, src) : 0;
    for (lua_Integer i = 1; i <= n && i <= 20; i++) {
      lua_rawgeti(L, src, i);
      int e = lua_gettop(L);
      lua_newtable(L);
      int ent = lua_gettop(L);
      const char *id = heal_str(L, e, "entity");
      set_str(L, ent, "id", id);
      set_str(L, ent, "name", heal_str(L, e, "name"));
      set_str(L, ent, "type", heal_str(L, e, "type"));
      if (id) {
        read_events(L, &b, ent, id, from, now_ms > start ? now_ms : start);
        read_releases(L, &b, ent);
      }
      lua_rawseti(L, ents, (lua_Integer)luaL_len(L, ents) + 1);
      lua_settop(L, src);
    }
    lua_pop(L, 1);
  }
  lua_setfield(L, ctx, "entities");
  lua_settop(L, ctx); /* leaves targets, then ctx */
  lua_remove(L, b.cache);
  return b.failed_reads;
}
