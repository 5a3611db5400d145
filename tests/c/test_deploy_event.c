/* test_deploy_event.c: the pure parts of `unbreakable deploy-event`: tag
 * parsing and rendering (escaped ':'), entity selectors, the v1 and v2
 * bodies byte for byte, the release context of each CI system (the Azure
 * agent-environment fixture as the environment), flag precedence, property
 * rules, monspec targets with their error paths, and the answers. Every
 * expected string below is written by hand from the references. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/buf.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/deploy_event.h"
#include "util/json.h"

#include "test_support.h"

/* ---- helpers ------------------------------------------------------------ */

/* The agent-environment fixture as an environ-style array (keys without
 * a leading '_'), plus extra "K=V" entries. */
static char **fixture_env(const char *const *extra) {
  size_t len;
  char *text = read_fixture("azure-devops/agent-environment_release-job_constructed.json", &len);
  char **env = calloc(128, sizeof *env);
  size_t n = 0;
  json_reader r;
  json_reader_init(&r, text, len, 4);
  assert_int_equal(json_next(&r), JSON_OBJECT);
  while (json_next(&r) == JSON_STRING) {
    char key[128];
    snprintf(key, sizeof key, "%s", r.str.data);
    assert_int_equal(json_next(&r), JSON_STRING);
    if (key[0] == '_') continue;
    ub_buf b;
    ub_buf_init(&b);
    ub_buf_printf(&b, "%s=%s", key, r.str.data);
    env[n++] = ub_buf_steal(&b, NULL);
  }
  json_reader_free(&r);
  free(text);
  for (size_t i = 0; extra && extra[i]; i++) env[n++] = strdup(extra[i]);
  return env;
}

static void env_free(char **env) {
  for (size_t i = 0; env[i]; i++) free(env[i]);
  free(env);
}

/* Canonical JSON text (sorted keys) of a document, for semantic equality. */
static char *canonical(const char *json) {
  lua_State *L = luaL_newstate();
  char err[256];
  assert_int_equal(json_decode_lua(L, json, strlen(json), 32, err, sizeof err), 0);
  json_enc_opts o = {0, 0, 100, 1, "doc"};
  ub_buf out;
  ub_buf_init(&out);
  assert_int_equal(json_encode_lua(L, -1, &o, &out, err, sizeof err), 0);
  lua_close(L);
  return ub_buf_steal(&out, NULL);
}

static de_target tag_target(const char *type, const char *const *tags) {
  de_target t = {.kind = DE_TARGET_TAGS, .entity_type = strdup(type)};
  char err[256];
  for (size_t i = 0; tags[i]; i++) {
    de_tag tag;
    assert_int_equal(de_tag_parse(tags[i], &tag, err, sizeof err), 0);
    assert_int_equal(de_target_add_tag(&t, &tag), 0);
    de_tag_free(&tag);
  }
  return t;
}

static void full_event(de_event *ev) {
  de_event_init(ev);
  de_event_set(ev, DE_NAME, "checkout");
  de_event_set(ev, DE_VERSION, "1.4.2");
  de_event_set(ev, DE_PROJECT, "shop");
  de_event_set(ev, DE_STAGE, "production");
  de_event_set(ev, DE_PRODUCT, "frontend");
  de_event_set(ev, DE_BUILD_VERSION, "123");
  de_event_set(ev, DE_CI_LINK, "https://ci/run/123");
  de_event_set(ev, DE_REMEDIATION, "https://heal/42");
  de_props_set(&ev->props, "ado.releaseId", "42");
  de_props_set(&ev->props, "owner", "team \"a\"");
}

/* ---- tags ----------------------------------------------------------------- */

static void expect_tag(const char *text, const char *ctx, const char *key, const char *value) {
  de_tag t;
  char err[256];
  assert_int_equal(de_tag_parse(text, &t, err, sizeof err), 0);
  assert_string_equal(t.context, ctx);
  assert_string_equal(t.key, key);
  if (value) assert_string_equal(t.value, value);
  else assert_null(t.value);
  de_tag_free(&t);
}

static void expect_tag_error(const char *text, const char *fragment) {
  de_tag t;
  char err[256] = "";
  assert_int_equal(de_tag_parse(text, &t, err, sizeof err), -1);
  if (!strstr(err, fragment)) fail_msg("error for '%s' was '%s', wanted '%s'", text, err, fragment);
}

static void test_tag_parse(void **state) {
  (void)state;
  expect_tag("[Environment]DEPLOYMENT_GROUP_NAME:Production", "ENVIRONMENT", "DEPLOYMENT_GROUP_NAME",
             "Production");
  expect_tag("DeploymentGroup", "CONTEXTLESS", "DeploymentGroup", NULL);
  expect_tag("[KUBERNETES]app:web:v2", "KUBERNETES", "app", "web:v2");   /* first ':' splits */
  expect_tag("a\\:b:c", "CONTEXTLESS", "a:b", "c");                      /* escaped ':' in key */
  expect_tag("k:x\\:y", "CONTEXTLESS", "k", "x:y");
  expect_tag("back\\\\:slash", "CONTEXTLESS", "back\\", "slash");        /* "\\" then a real ':' */
  expect_tag("k:", "CONTEXTLESS", "k", "");
  expect_tag_error("[Environment]", "empty key");
  expect_tag_error(":v", "empty key");
  expect_tag_error("[Env", "missing ']'");
  expect_tag_error("[]k", "context must be");
  expect_tag_error("[a-b]k", "context must be");
  expect_tag_error("k\n:v", "control characters");
}

static void test_tag_string(void **state) {
  (void)state;
  de_tag t = {"CONTEXTLESS", "a:b", "c:d\\e"};
  ub_buf b;
  ub_buf_init(&b);
  assert_int_equal(de_tag_string(&t, &b), 0);
  assert_string_equal(b.data, "a\\:b:c\\:d\\\\e");
  ub_buf_reset(&b);
  de_tag env = {"ENVIRONMENT", "DTMaaSHost", NULL};
  de_tag_string(&env, &b);
  assert_string_equal(b.data, "[ENVIRONMENT]DTMaaSHost");
  ub_buf_free(&b);
}

/* ---- selectors ------------------------------------------------------------ */

static void test_selectors(void **state) {
  (void)state;
  const char *tags[] = {"[Environment]DEPLOYMENT_GROUP_NAME:Production", "checkout", NULL};
  de_target t = tag_target("SERVICE", tags);
  ub_buf b;
  ub_buf_init(&b);
  assert_int_equal(de_target_selector(&t, &b), 0);
  assert_string_equal(b.data, "type(SERVICE),tag(\"[ENVIRONMENT]DEPLOYMENT_GROUP_NAME:Production\"),"
                              "tag(\"checkout\")");
  de_target_free(&t);

  const char *odd[] = {"a\"b~c:x\\:y", NULL};
  t = tag_target("PROCESS_GROUP_INSTANCE", odd);
  ub_buf_reset(&b);
  de_target_selector(&t, &b);
  assert_string_equal(b.data, "type(PROCESS_GROUP_INSTANCE),tag(\"a~\"b~~c:x\\:y\")");
  de_target_free(&t);

  de_target ids = {.kind = DE_TARGET_IDS};
  de_target_add_id(&ids, "SERVICE-8AC3A0761537D748");
  de_target_add_id(&ids, "SERVICE-STG");
  ub_buf_reset(&b);
  de_target_selector(&ids, &b);
  assert_string_equal(b.data, "entityId(\"SERVICE-8AC3A0761537D748\",\"SERVICE-STG\")");
  de_target_free(&ids);

  de_target none = {0};
  ub_buf_reset(&b);
  assert_int_equal(de_target_selector(&none, &b), -1);
  ub_buf_free(&b);
}

static void test_entity_validation(void **state) {
  (void)state;
  assert_true(de_entity_type_valid("SERVICE"));
  assert_true(de_entity_type_valid("PROCESS_GROUP_INSTANCE"));
  assert_false(de_entity_type_valid("service"));
  assert_false(de_entity_type_valid("SERVICE),tag(x"));
  assert_false(de_entity_type_valid(""));
  assert_true(de_entity_id_valid("SERVICE-8AC3A0761537D748"));
  assert_true(de_entity_id_valid("PROCESS_GROUP_INSTANCE-D23E64F62FDC200A"));
  assert_false(de_entity_id_valid("SERVICE - 8AC3A0761537D748"));   /* the corrupted fixture id */
  assert_false(de_entity_id_valid("8AC3A0761537D748"));
  assert_false(de_entity_id_valid("SERVICE-"));
  assert_false(de_entity_id_valid("SERVICE-\"x"));
}

/* ---- bodies ----------------------------------------------------------------- */

static void test_body_v2(void **state) {
  (void)state;
  de_event ev;
  full_event(&ev);
  const char *tags[] = {"[ENVIRONMENT]DEPLOYMENT_GROUP_NAME:Production", NULL};
  de_target t = tag_target("SERVICE", tags);
  ub_buf b;
  ub_buf_init(&b);
  char err[256];
  assert_int_equal(de_body_v2(&ev, &t, &b, err, sizeof err), 0);
  assert_string_equal(b.data,
    "{\"eventType\":\"CUSTOM_DEPLOYMENT\",\"title\":\"checkout 1.4.2\","
    "\"entitySelector\":\"type(SERVICE),tag(\\\"[ENVIRONMENT]DEPLOYMENT_GROUP_NAME:Production\\\")\","
    "\"properties\":{\"dt.event.deployment.name\":\"checkout\",\"dt.event.deployment.version\":\"1.4.2\","
    "\"dt.event.deployment.project\":\"shop\",\"dt.event.deployment.release_stage\":\"production\","
    "\"dt.event.deployment.release_product\":\"frontend\","
    "\"dt.event.deployment.release_build_version\":\"123\","
    "\"dt.event.deployment.ci_back_link\":\"https://ci/run/123\","
    "\"dt.event.deployment.remediation_action_link\":\"https://heal/42\","
    "\"ado.releaseId\":\"42\",\"owner\":\"team \\\"a\\\"\"}}");
  /* Unknown fields are omitted, not sent as null or "". */
  de_event small;
  de_event_init(&small);
  de_event_set(&small, DE_NAME, "n");
  de_event_set(&small, DE_VERSION, "v");
  ub_buf_reset(&b);
  assert_int_equal(de_body_v2(&small, &t, &b, err, sizeof err), 0);
  assert_null(strstr(b.data, "project"));
  assert_null(strstr(b.data, "null"));
  de_event_free(&small);
  de_target_free(&t);
  de_event_free(&ev);
  ub_buf_free(&b);
}

static void test_body_v1(void **state) {
  (void)state;
  de_event ev;
  full_event(&ev);
  const char *tags[] = {"[Environment]DEPLOYMENT_GROUP_NAME:Production", "DTMaaSHost", NULL};
  de_target t = tag_target("HOST", tags);
  ub_buf b;
  ub_buf_init(&b);
  char err[256];
  assert_int_equal(de_body_v1(&ev, &t, &b, err, sizeof err), 0);
  assert_string_equal(b.data,
    "{\"eventType\":\"CUSTOM_DEPLOYMENT\",\"attachRules\":{\"tagRule\":[{\"meTypes\":[\"HOST\"],"
    "\"tags\":[{\"context\":\"ENVIRONMENT\",\"key\":\"DEPLOYMENT_GROUP_NAME\",\"value\":\"Production\"},"
    "{\"context\":\"CONTEXTLESS\",\"key\":\"DTMaaSHost\"}]}]},"
    "\"deploymentName\":\"checkout\",\"deploymentVersion\":\"1.4.2\",\"deploymentProject\":\"shop\","
    "\"ciBackLink\":\"https://ci/run/123\",\"remediationAction\":\"https://heal/42\","
    "\"source\":\"unbreakable\",\"customProperties\":{"
    "\"dt.event.deployment.release_stage\":\"production\","
    "\"dt.event.deployment.release_product\":\"frontend\","
    "\"dt.event.deployment.release_build_version\":\"123\","
    "\"ado.releaseId\":\"42\",\"owner\":\"team \\\"a\\\"\"}}");
  de_target_free(&t);

  de_target ids = {.kind = DE_TARGET_IDS};
  de_target_add_id(&ids, "SERVICE-8AC3A0761537D748");
  ub_buf_reset(&b);
  assert_int_equal(de_body_v1(&ev, &ids, &b, err, sizeof err), 0);
  assert_non_null(strstr(b.data, "\"attachRules\":{\"entityIds\":[\"SERVICE-8AC3A0761537D748\"]},"));
  de_target_free(&ids);

  de_target sel = {.kind = DE_TARGET_SELECTOR, .selector = strdup("type(SERVICE)")};
  ub_buf_reset(&b);
  assert_int_equal(de_body_v1(&ev, &sel, &b, err, sizeof err), -1);
  assert_non_null(strstr(err, "v1 has no entity selector"));
  de_target_free(&sel);
  de_event_free(&ev);
  ub_buf_free(&b);
}

/* The original push task's body (G2 defaults filled) is what v1 produces
 * from the same values: same members, same meTypes array. */
static void test_body_v1_matches_original_task(void **state) {
  (void)state;
  de_event ev;
  de_event_init(&ev);
  de_event_set(&ev, DE_NAME, "SampleDevOpsPipeline");
  de_event_set(&ev, DE_VERSION, "42");
  de_event_set(&ev, DE_PROJECT, "SampleProject");
  de_event_set(&ev, DE_CI_LINK, "https://dev.azure.com/myorg/");
  ev.source = strdup("VSTS");
  de_props_set(&ev.props, "JenkinsUrl", "https://dev.azure.com/myorg/");
  de_props_set(&ev.props, "BuildUrl", "vstfs:///ReleaseManagement/Release/42");
  de_props_set(&ev.props, "GitCommit", "2f435d07-769f-4e46-849d-10d1ab9ba6ab");
  const char *tags[] = {"[ENVIRONMENT]DEPLOYMENT_GROUP_NAME:Production", NULL};
  de_target t = tag_target("SERVICE", tags);
  ub_buf b;
  ub_buf_init(&b);
  char err[256];
  assert_int_equal(de_body_v1(&ev, &t, &b, err, sizeof err), 0);
  char *fixture = read_fixture(
      "dynatrace/events-v1-POST-request_CUSTOM_DEPLOYMENT_tagRule_unbreakable-push-task_constructed.json", NULL);
  char *want = canonical(fixture), *got = canonical(b.data);
  assert_string_equal(got, want);
  free(want);
  free(got);
  free(fixture);
  de_target_free(&t);
  de_event_free(&ev);
  ub_buf_free(&b);
}

/* ---- release context --------------------------------------------------------- */

static void test_env_azure_release_fixture(void **state) {
  (void)state;
  char **env = fixture_env(NULL);
  de_event ev;
  de_event_init(&ev);
  assert_int_equal(de_context_from_env(&ev, env), 0);
  assert_string_equal(ev.ci, "azure-pipelines-release");
  assert_string_equal(ev.field[DE_NAME], "SampleDevOpsPipeline");
  assert_string_equal(ev.field[DE_VERSION], "Release-42");
  assert_string_equal(ev.field[DE_PROJECT], "SampleProject");
  assert_string_equal(ev.field[DE_STAGE], "Production");
  assert_string_equal(ev.field[DE_CI_LINK], "https://dev.azure.com/myorg/79f5c12e-3337-4151-be41-a268d2c73344"
                                            "/_release?releaseId=42&_a=release-summary");
  assert_null(ev.field[DE_BUILD_VERSION]);   /* no BUILD_BUILDNUMBER in the fixture */
  static const char *const want[][2] = {
    {"ado.collectionUri", "https://dev.azure.com/myorg/"},
    {"ado.releaseApiUri", "https://vsrm.dev.azure.com/myorg/"},
    {"ado.project", "SampleProject"},
    {"ado.projectId", "79f5c12e-3337-4151-be41-a268d2c73344"},
    {"ado.releaseDefinitionId", "7"},
    {"ado.releaseDefinitionName", "SampleDevOpsPipeline"},
    {"ado.releaseId", "42"},
    {"ado.releaseName", "Release-42"},
    {"ado.releaseUri", "vstfs:///ReleaseManagement/Release/42"},
    {"ado.releaseWebUrl", "https://dev.azure.com/myorg/79f5c12e-3337-4151-be41-a268d2c73344/_release?releaseId=42&_a=release-summary"},
    {"ado.environmentName", "Production"},
    {"ado.environmentId", "102"},
    {"ado.definitionEnvironmentId", "2"},
    {"ado.deploymentId", "230"},
    {"ado.attemptNumber", "1"},
    {"vcs.commit", "bc0044458ba1d9298cdc649cb5dcf013180706f7"},
    {"ci.system", "azure-pipelines-release"}};
  size_t nwant = sizeof want / sizeof want[0];
  assert_int_equal(ev.props.n, nwant);
  for (size_t i = 0; i < nwant; i++) {
    assert_string_equal(ev.props.items[i].key, want[i][0]);
    assert_string_equal(ev.props.items[i].value, want[i][1]);
  }
  /* Nothing from INPUT_* or secrets-looking variables leaks into the event. */
  for (size_t i = 0; i < ev.props.n; i++) assert_null(strstr(ev.props.items[i].value, "abc12345"));
  de_event_free(&ev);
  env_free(env);
}

static void test_env_release_id_only(void **state) {
  (void)state;
  char *env[] = {"RELEASE_RELEASEID=7", "TF_BUILD=True", "BUILD_BUILDID=99",
                 "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI=https://dev.azure.com/o/", NULL};
  de_event ev;
  de_event_init(&ev);
  de_context_from_env(&ev, env);
  assert_string_equal(ev.ci, "azure-pipelines-release");   /* release wins over YAML */
  assert_string_equal(ev.field[DE_VERSION], "7");          /* no release name: the id */
  assert_string_equal(ev.field[DE_CI_LINK], "https://dev.azure.com/o/");
  assert_null(de_props_get(&ev.props, "ado.buildId"));
  de_event_free(&ev);
}

static void test_env_azure_yaml(void **state) {
  (void)state;
  char *env[] = {"TF_BUILD=True", "BUILD_BUILDID=1234", "BUILD_BUILDNUMBER=20261127.3",
                 "BUILD_DEFINITIONNAME=shop-cd", "SYSTEM_TEAMPROJECT=My Project",
                 "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI=https://dev.azure.com/org/", "SYSTEM_DEFINITIONID=17",
                 "SYSTEM_STAGENAME=deploy_prod", "ENVIRONMENT_NAME=production", "ENVIRONMENT_ID=5",
                 "BUILD_SOURCEVERSION=abc123", "SYSTEM_JOBATTEMPT=2", "RELEASE_RELEASEID=", NULL};
  de_event ev;
  de_event_init(&ev);
  de_context_from_env(&ev, env);
  assert_string_equal(ev.ci, "azure-pipelines");
  assert_string_equal(ev.field[DE_NAME], "shop-cd");
  assert_string_equal(ev.field[DE_VERSION], "20261127.3");
  assert_string_equal(ev.field[DE_PROJECT], "My Project");
  assert_string_equal(ev.field[DE_STAGE], "production");   /* environment before stage */
  assert_string_equal(ev.field[DE_BUILD_VERSION], "1234");
  assert_string_equal(ev.field[DE_CI_LINK], "https://dev.azure.com/org/My%20Project/_build/results?buildId=1234");
  assert_string_equal(de_props_get(&ev.props, "ado.pipelineId"), "17");
  assert_string_equal(de_props_get(&ev.props, "ado.stageName"), "deploy_prod");
  assert_string_equal(de_props_get(&ev.props, "ado.environmentName"), "production");
  assert_string_equal(de_props_get(&ev.props, "ado.environmentId"), "5");
  assert_string_equal(de_props_get(&ev.props, "ado.jobAttempt"), "2");
  assert_string_equal(de_props_get(&ev.props, "vcs.commit"), "abc123");
  de_event_free(&ev);
}

static void test_env_github(void **state) {
  (void)state;
  char *env[] = {"GITHUB_ACTIONS=true", "GITHUB_REPOSITORY=acme/shop", "GITHUB_RUN_ID=555",
                 "GITHUB_RUN_NUMBER=12", "GITHUB_RUN_ATTEMPT=1", "GITHUB_SHA=deadbeef",
                 "GITHUB_SERVER_URL=https://github.com", "GITHUB_WORKFLOW=deploy", "GITHUB_REF=refs/heads/main",
                 "GITHUB_REF_NAME=main", "GITHUB_TOKEN=ghs_secret", NULL};
  de_event ev;
  de_event_init(&ev);
  de_context_from_env(&ev, env);
  assert_string_equal(ev.ci, "github-actions");
  assert_string_equal(ev.field[DE_NAME], "deploy");
  assert_string_equal(ev.field[DE_VERSION], "deadbeef");
  assert_string_equal(ev.field[DE_PROJECT], "acme/shop");
  assert_string_equal(ev.field[DE_BUILD_VERSION], "12");
  assert_string_equal(ev.field[DE_CI_LINK], "https://github.com/acme/shop/actions/runs/555");
  assert_null(ev.field[DE_STAGE]);
  assert_string_equal(de_props_get(&ev.props, "github.runId"), "555");
  assert_string_equal(de_props_get(&ev.props, "github.refName"), "main");
  assert_string_equal(de_props_get(&ev.props, "vcs.ref"), "refs/heads/main");
  for (size_t i = 0; i < ev.props.n; i++) assert_null(strstr(ev.props.items[i].value, "ghs_secret"));
  de_event_free(&ev);
}

static void test_env_gitlab(void **state) {
  (void)state;
  char *env[] = {"GITLAB_CI=true", "CI_PROJECT_PATH=acme/shop", "CI_PROJECT_NAME=shop", "CI_PIPELINE_ID=900",
                 "CI_PIPELINE_IID=31", "CI_PIPELINE_URL=https://gitlab.com/acme/shop/-/pipelines/900",
                 "CI_COMMIT_SHA=cafe", "CI_COMMIT_TAG=v2.0.0", "CI_ENVIRONMENT_NAME=staging",
                 "CI_JOB_TOKEN=glcbt-secret", NULL};
  de_event ev;
  de_event_init(&ev);
  de_context_from_env(&ev, env);
  assert_string_equal(ev.ci, "gitlab-ci");
  assert_string_equal(ev.field[DE_NAME], "shop");
  assert_string_equal(ev.field[DE_VERSION], "v2.0.0");   /* the tag before the commit */
  assert_string_equal(ev.field[DE_STAGE], "staging");
  assert_string_equal(ev.field[DE_BUILD_VERSION], "31");
  assert_string_equal(ev.field[DE_CI_LINK], "https://gitlab.com/acme/shop/-/pipelines/900");
  assert_string_equal(de_props_get(&ev.props, "gitlab.pipelineId"), "900");
  assert_string_equal(de_props_get(&ev.props, "vcs.commit"), "cafe");
  for (size_t i = 0; i < ev.props.n; i++) assert_null(strstr(ev.props.items[i].value, "glcbt"));
  de_event_free(&ev);
}

static void test_env_none(void **state) {
  (void)state;
  char *env[] = {"PATH=/usr/bin", "GITHUB_ACTIONS=false", "GITLAB_CI=", "TF_BUILD=True", NULL};
  de_event ev;
  de_event_init(&ev);
  assert_int_equal(de_context_from_env(&ev, env), 0);
  assert_null(ev.ci);
  for (int f = 0; f < DE_FIELD_COUNT; f++) assert_null(ev.field[f]);
  assert_int_equal(ev.props.n, 0);
  char err[300];
  assert_int_equal(de_event_check(&ev, err, sizeof err), -1);
  assert_non_null(strstr(err, "--name"));
  de_event_set(&ev, DE_NAME, "n");
  assert_int_equal(de_event_check(&ev, err, sizeof err), -1);
  assert_non_null(strstr(err, "--version"));
  de_event_free(&ev);
}

/* Flags are applied after the context, so they replace it; a --property
 * with a context key replaces the value in place. */
static void test_flag_precedence(void **state) {
  (void)state;
  char **env = fixture_env(NULL);
  de_event ev;
  de_event_init(&ev);
  de_context_from_env(&ev, env);
  size_t before = ev.props.n;
  char err[256];
  assert_int_equal(de_event_set(&ev, DE_VERSION, "2.0"), 0);
  assert_int_equal(de_event_set(&ev, DE_STAGE, NULL), 0);     /* flag not given: kept */
  assert_int_equal(de_property_parse(&ev, "ado.releaseId=43", err, sizeof err), 0);
  assert_int_equal(de_property_parse(&ev, "change=CR-1=a", err, sizeof err), 0);
  assert_string_equal(ev.field[DE_VERSION], "2.0");
  assert_string_equal(ev.field[DE_STAGE], "Production");
  assert_int_equal(ev.props.n, before + 1);
  assert_string_equal(ev.props.items[6].key, "ado.releaseId");
  assert_string_equal(ev.props.items[6].value, "43");
  assert_string_equal(de_props_get(&ev.props, "change"), "CR-1=a");   /* split at the first '=' */
  de_event_free(&ev);
  env_free(env);
}

static void expect_property_error(const char *text, const char *fragment) {
  de_event ev;
  de_event_init(&ev);
  char err[300] = "";
  assert_int_equal(de_property_parse(&ev, text, err, sizeof err), -1);
  if (!strstr(err, fragment)) fail_msg("error for '%s' was '%s', wanted '%s'", text, err, fragment);
  assert_int_equal(ev.props.n, 0);
  de_event_free(&ev);
}

static void test_property_rules(void **state) {
  (void)state;
  expect_property_error("=x", "KEY=VALUE");
  expect_property_error("novalue", "KEY=VALUE");
  expect_property_error("k=", "empty value");
  expect_property_error("dt.event.deployment.version=1", "use --version");
  expect_property_error("dt.event.deployment.ci_back_link=x", "use --ci-link");
  expect_property_error("dt.host=x", "reserved");
  expect_property_error("k=a\nb", "control characters");
  de_event ev;
  de_event_init(&ev);
  char err[300];
  assert_int_equal(de_property_parse(&ev, "dt.event.is_rootcause_relevant=true", err, sizeof err), 0);
  assert_int_equal(de_property_parse(&ev, "dt.entity.service=SERVICE-1", err, sizeof err), 0);
  assert_int_equal(ev.props.n, 2);
  de_event_free(&ev);
}

/* ---- monspec targets ------------------------------------------------------------ */

static void test_monspec_tags(void **state) {
  (void)state;
  size_t len;
  char *doc = read_fixture("monspec/unbreakable-pipeline_monspec.json", &len);
  de_target t;
  char err[600];
  assert_int_equal(de_target_from_monspec(doc, len, "m.json", "SampleJSonService/Production", NULL, &t,
                                          err, sizeof err), 0);
  assert_int_equal(t.kind, DE_TARGET_TAGS);
  assert_string_equal(t.entity_type, "SERVICE");
  assert_string_equal(t.env_name, "Production");
  assert_int_equal(t.ntags, 1);
  assert_string_equal(t.tags[0].context, "ENVIRONMENT");   /* "Environment" normalised */
  assert_string_equal(t.tags[0].key, "DEPLOYMENT_GROUP_NAME");
  assert_string_equal(t.tags[0].value, "Production");
  de_target_free(&t);
  free(doc);

  doc = read_fixture("monspec/dtcli_monspec_multi-entity.json", &len);
  assert_int_equal(de_target_from_monspec(doc, len, "m.json", "FrontendAppBuild1/Dev", NULL, &t, err,
                                          sizeof err), 0);
  ub_buf b;
  ub_buf_init(&b);
  de_target_selector(&t, &b);
  assert_string_equal(b.data, "type(PROCESS_GROUP_INSTANCE),tag(\"SERVICE_TYPE:FRONTEND\"),tag(\"BUILD_NUMBER:1\")");
  de_target_free(&t);
  assert_int_equal(de_target_from_monspec(doc, len, "m.json", "MaaSHost/Lab2", "PROCESS_GROUP", &t, err,
                                          sizeof err), 0);
  ub_buf_reset(&b);
  de_target_selector(&t, &b);
  assert_string_equal(b.data, "type(PROCESS_GROUP),tag(\"[ENVIRONMENT]DTMaaSHost\")");
  de_target_free(&t);
  ub_buf_free(&b);
  free(doc);
}

static void test_monspec_entities(void **state) {
  (void)state;
  size_t len;
  char *doc = read_fixture("monspec/edge-cases_monspec.json", &len);
  de_target t;
  char err[600];
  assert_int_equal(de_target_from_monspec(doc, len, "e.json", "EdgeService/Staging", NULL, &t, err,
                                          sizeof err), 0);
  assert_int_equal(t.kind, DE_TARGET_IDS);
  assert_int_equal(t.nids, 1);
  assert_string_equal(t.ids[0], "SERVICE-STG");
  de_target_free(&t);
  free(doc);
  /* entities take precedence over tags */
  const char *both = "{\"S\":{\"etype\":\"SERVICE\",\"environments\":{\"P\":{\"entities\":[\"SERVICE-A1\","
                     "\"SERVICE-B2\"],\"tags\":[{\"key\":\"x\"}]}}}}";
  assert_int_equal(de_target_from_monspec(both, strlen(both), "b.json", "S/P", NULL, &t, err, sizeof err), 0);
  assert_int_equal(t.kind, DE_TARGET_IDS);
  assert_int_equal(t.nids, 2);
  assert_int_equal(t.ntags, 0);
  de_target_free(&t);
}

static void expect_monspec_error(const char *doc, const char *which, const char *fragment) {
  de_target t;
  char err[600] = "";
  assert_int_equal(de_target_from_monspec(doc, strlen(doc), "bad.json", which, NULL, &t, err, sizeof err), -1);
  if (!strstr(err, fragment)) fail_msg("error was '%s', wanted '%s'", err, fragment);
}

static void test_monspec_errors(void **state) {
  (void)state;
  const char *ok_env = "{\"_c\":1,\"S\":{\"etype\":\"SERVICE\",\"environments\":{\"P\":{\"tags\":[{\"key\":\"k\"}]}}}}";
  expect_monspec_error(ok_env, "S", "must be ENTITY/ENVIRONMENT");
  expect_monspec_error(ok_env, "X/P", "bad.json: /X: no entity definition of that name (known: S)");
  expect_monspec_error(ok_env, "S/Q", "bad.json: /S/environments/Q: no environment of that name (known: P)");
  expect_monspec_error("[1]", "S/P", "bad.json: /: a monspec file must be a JSON object");
  expect_monspec_error("{\"S\":", "S/P", "bad.json is not valid JSON");
  expect_monspec_error("{\"S\":{\"etype\":\"DATABASE\",\"environments\":{}}}", "S/P",
                       "bad.json: /S: \"etype\" 'DATABASE' is not one of");
  expect_monspec_error("{\"S\":{\"environments\":{}}}", "S/P", "missing \"etype\"");
  expect_monspec_error("{\"S\":{\"etype\":\"HOST\",\"environments\":{\"P\":{\"tags\":[]}}}}", "S/P",
                       "bad.json: /S/environments/P: the environment has neither");
  expect_monspec_error("{\"S\":{\"etype\":\"HOST\",\"environments\":{\"P\":{\"tags\":[{\"key\":\"a\"},"
                       "{\"value\":\"v\"}]}}}}", "S/P",
                       "bad.json: /S/environments/P/tags/1: a tag needs a non-empty \"key\"");
  expect_monspec_error("{\"S\":{\"etype\":\"HOST\",\"environments\":{\"P\":{\"tags\":[{\"key\":\"a\","
                       "\"value\":5}]}}}}", "S/P", "/S/environments/P/tags/0/value: must be a string");
  expect_monspec_error("{\"S\":{\"etype\":\"HOST\",\"environments\":{\"P\":{\"tags\":[{\"key\":\"a\","
                       "\"context\":\"a b\"}]}}}}", "S/P", "/tags/0: invalid \"context\"");
  expect_monspec_error("{\"S\":{\"etype\":\"HOST\",\"environments\":{\"P\":{\"entities\":[\"SERVICE - 1\"]}}}}",
                       "S/P", "/S/environments/P/entities/0: must be an entity id");
  expect_monspec_error("{\"S\":{\"etype\":\"HOST\",\"environments\":{\"a/b\":{\"entities\":5}}}}", "S/a/b",
                       "/S/environments/a~1b/entities: must be an array");
}

/* ---- answers ------------------------------------------------------------------- */

static void test_answers(void **state) {
  (void)state;
  de_answer a;
  char err[256];
  char *body = read_fixture("dynatrace/events-v2-ingest_201_response.json", NULL);
  assert_int_equal(de_answer_parse(2, body, strlen(body), &a, err, sizeof err), 0);
  assert_int_equal(a.matched, 1);
  assert_int_equal(a.nids, 1);
  assert_string_equal(a.ids[0], "bc7e2e3ed951aa6c");
  assert_int_equal(a.not_ok, 0);
  de_answer_free(&a);
  free(body);
  body = read_fixture("dynatrace/events-v2-ingest_201_response_no-entity-matched.json", NULL);
  assert_int_equal(de_answer_parse(2, body, strlen(body), &a, err, sizeof err), 0);
  assert_int_equal(a.matched, 0);
  de_answer_free(&a);
  free(body);
  body = read_fixture("dynatrace/events-v1-POST_200_response_multiple-entities.json", NULL);
  assert_int_equal(de_answer_parse(1, body, strlen(body), &a, err, sizeof err), 0);
  assert_int_equal(a.matched, 3);
  assert_int_equal(a.nids, 3);
  assert_string_equal(a.ids[1], "-4314211936928920170_1654148872269");
  de_answer_free(&a);
  free(body);
  const char *empty_v1 = "{\"storedEventIds\":[],\"storedIds\":[],\"storedCorrelationIds\":[]}";
  assert_int_equal(de_answer_parse(1, empty_v1, strlen(empty_v1), &a, err, sizeof err), 0);
  assert_int_equal(a.matched, 0);
  de_answer_free(&a);
  const char *bad_status = "{\"reportCount\":2,\"eventIngestResults\":[{\"correlationId\":\"a\",\"status\":\"OK\"},"
                           "{\"correlationId\":\"b\",\"status\":\"INVALID_ENTITY_TYPE\"}]}";
  assert_int_equal(de_answer_parse(2, bad_status, strlen(bad_status), &a, err, sizeof err), 0);
  assert_int_equal(a.not_ok, 1);
  assert_int_equal(a.matched, 1);   /* only the OK result was recorded */
  de_answer_free(&a);
  /* reportCount says 1 but the only result is rejected, or has no status:
   * nothing was recorded, so nothing matched. */
  static const char *const rejected[] = {
    "{\"reportCount\":1,\"eventIngestResults\":[{\"correlationId\":\"a\",\"status\":\"INVALID_ENTITY\"}]}",
    "{\"reportCount\":1,\"eventIngestResults\":[{\"correlationId\":\"a\"}]}",
    "{\"reportCount\":1,\"eventIngestResults\":[{\"correlationId\":\"a\",\"status\":null}]}",
    /* a NUL inside the status or its key is not "OK" nor "status" */
    "{\"reportCount\":1,\"eventIngestResults\":[{\"correlationId\":\"a\",\"status\":\"OK\\u0000x\"}]}",
    "{\"reportCount\":1,\"eventIngestResults\":[{\"correlationId\":\"a\",\"status\\u0000\":\"OK\"}]}"};
  for (size_t i = 0; i < sizeof rejected / sizeof rejected[0]; i++) {
    assert_int_equal(de_answer_parse(2, rejected[i], strlen(rejected[i]), &a, err, sizeof err), 0);
    assert_int_equal(a.not_ok, 1);
    assert_int_equal(a.matched, 0);
    de_answer_free(&a);
  }
  static const char *const broken[][2] = {
    {"{}", "no \"reportCount\""}, {"{\"reportCount\":-1}", "not the JSON object"},
    {"{\"reportCount\":1.5}", "not the JSON object"}, {"<html>", "not the JSON object"},
    {"{\"reportCount\":1} x", "not the JSON object"}, {"", "not the JSON object"}};
  for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
    assert_int_equal(de_answer_parse(2, broken[i][0], strlen(broken[i][0]), &a, err, sizeof err), -1);
    assert_non_null(strstr(err, broken[i][1]));
  }
  const char *null_ids = "{\"storedEventIds\":null}";
  assert_int_equal(de_answer_parse(1, null_ids, strlen(null_ids), &a, err, sizeof err), -1);
  assert_int_equal(de_answer_parse(1, "{}", 2, &a, err, sizeof err), -1);
  assert_non_null(strstr(err, "storedEventIds"));
}

/* Review 11, 2.1: a success answer that is not the documented one (an
 * error object, items of the wrong type, a missing list) is an error. */
static void test_answers_wrong_shapes(void **state) {
  (void)state;
  de_answer a;
  char err[256];
  static const char *const v2[] = {
    "{\"reportCount\":1}",
    "{\"reportCount\":1,\"eventIngestResults\":\"x\"}",
    "{\"reportCount\":1,\"eventIngestResults\":[\"a\"]}",
    "{\"reportCount\":1,\"eventIngestResults\":[],\"error\":{\"code\":500}}",
    "{\"error\":\"x\"}",
    "{\"reportCount\":1,\"reportCount\":0,\"eventIngestResults\":[]}"};
  for (size_t i = 0; i < sizeof v2 / sizeof v2[0]; i++) {
    assert_int_equal(de_answer_parse(2, v2[i], strlen(v2[i]), &a, err, sizeof err), -1);
  }
  static const char *const v1[] = {
    "{\"storedEventIds\":[1],\"storedIds\":5}",
    "{\"storedEventIds\":[\"1\"]}",
    "{\"storedEventIds\":[1],\"storedIds\":[1]}",
    "{\"storedEventIds\":[1],\"error\":\"x\"}",
    "{\"storedEventIds\":[],\"storedEventIds\":[1]}"};
  for (size_t i = 0; i < sizeof v1 / sizeof v1[0]; i++) {
    assert_int_equal(de_answer_parse(1, v1[i], strlen(v1[i]), &a, err, sizeof err), -1);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_answers_wrong_shapes),
    cmocka_unit_test(test_tag_parse),
    cmocka_unit_test(test_tag_string),
    cmocka_unit_test(test_selectors),
    cmocka_unit_test(test_entity_validation),
    cmocka_unit_test(test_body_v2),
    cmocka_unit_test(test_body_v1),
    cmocka_unit_test(test_body_v1_matches_original_task),
    cmocka_unit_test(test_env_azure_release_fixture),
    cmocka_unit_test(test_env_release_id_only),
    cmocka_unit_test(test_env_azure_yaml),
    cmocka_unit_test(test_env_github),
    cmocka_unit_test(test_env_gitlab),
    cmocka_unit_test(test_env_none),
    cmocka_unit_test(test_flag_precedence),
    cmocka_unit_test(test_property_rules),
    cmocka_unit_test(test_monspec_tags),
    cmocka_unit_test(test_monspec_entities),
    cmocka_unit_test(test_monspec_errors),
    cmocka_unit_test(test_answers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
