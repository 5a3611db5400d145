/* deploy_event_ci.c: the release context of the pipeline a deploy-event runs
 * in, read from its environment variables (docs/reference/azure-devops-api.md 5.3 for Azure
 * Pipelines; GitHub Actions and GitLab CI default variables). Each system is
 * a table: which variable fills which deployment field (first non-empty
 * wins) and which documented property (docs/deploy-event.md). */
#include "deploy/deploy_event.h"

#include <stdlib.h>
#include <string.h>

#include "dynatrace/dynatrace.h"

typedef struct field_map {
  de_field field;
  const char *var;
} field_map;

typedef struct prop_map {
  const char *var;
  const char *prop;
} prop_map;

typedef struct ci_system {
  const char *name;
  const field_map *fields;
  const prop_map *props;
} ci_system;

/* ---- Azure Pipelines, classic release (RELEASE_RELEASEID present) ---- */

static const field_map ado_release_fields[] = {
  {DE_NAME, "RELEASE_DEFINITIONNAME"}, {DE_VERSION, "RELEASE_RELEASENAME"},
  {DE_VERSION, "RELEASE_RELEASEID"}, {DE_PROJECT, "SYSTEM_TEAMPROJECT"},
  {DE_STAGE, "RELEASE_ENVIRONMENTNAME"}, {DE_BUILD_VERSION, "BUILD_BUILDNUMBER"},
  {DE_CI_LINK, "RELEASE_RELEASEWEBURL"}, {DE_CI_LINK, "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI"},
  {DE_FIELD_COUNT, NULL}};

static const prop_map ado_release_props[] = {
  {"SYSTEM_TEAMFOUNDATIONCOLLECTIONURI", "ado.collectionUri"},
  {"SYSTEM_COLLECTIONURI", "ado.collectionUri"},
  {"SYSTEM_TEAMFOUNDATIONSERVERURI", "ado.releaseApiUri"},
  {"SYSTEM_TEAMPROJECT", "ado.project"},
  {"SYSTEM_TEAMPROJECTID", "ado.projectId"},
  {"RELEASE_DEFINITIONID", "ado.releaseDefinitionId"},
  {"RELEASE_DEFINITIONNAME", "ado.releaseDefinitionName"},
  {"RELEASE_RELEASEID", "ado.releaseId"},
  {"RELEASE_RELEASENAME", "ado.releaseName"},
  {"RELEASE_RELEASEURI", "ado.releaseUri"},
  {"RELEASE_RELEASEWEBURL", "ado.releaseWebUrl"},
  {"RELEASE_ENVIRONMENTNAME", "ado.environmentName"},
  {"RELEASE_ENVIRONMENTID", "ado.environmentId"},
  {"RELEASE_DEFINITIONENVIRONMENTID", "ado.definitionEnvironmentId"},
  {"RELEASE_DEPLOYMENTID", "ado.deploymentId"},
  {"RELEASE_ATTEMPTNUMBER", "ado.attemptNumber"},
  {"BUILD_SOURCEVERSION", "vcs.commit"},
  {NULL, NULL}};

/* ---- Azure Pipelines, YAML (TF_BUILD and BUILD_BUILDID) ---------------- */

static const field_map ado_yaml_fields[] = {
  {DE_NAME, "BUILD_DEFINITIONNAME"}, {DE_VERSION, "BUILD_BUILDNUMBER"},
  {DE_PROJECT, "SYSTEM_TEAMPROJECT"}, {DE_STAGE, "ENVIRONMENT_NAME"},
  {DE_STAGE, "SYSTEM_STAGENAME"}, {DE_BUILD_VERSION, "BUILD_BUILDID"},
  {DE_FIELD_COUNT, NULL}};

static const prop_map ado_yaml_props[] = {
  {"SYSTEM_TEAMFOUNDATIONCOLLECTIONURI", "ado.collectionUri"},
  {"SYSTEM_COLLECTIONURI", "ado.collectionUri"},
  {"SYSTEM_TEAMPROJECT", "ado.project"},
  {"SYSTEM_TEAMPROJECTID", "ado.projectId"},
  {"SYSTEM_DEFINITIONID", "ado.pipelineId"},
  {"BUILD_DEFINITIONNAME", "ado.pipelineName"},
  {"BUILD_BUILDID", "ado.buildId"},
  {"BUILD_BUILDNUMBER", "ado.buildNumber"},
  {"SYSTEM_STAGENAME", "ado.stageName"},
  {"SYSTEM_STAGEATTEMPT", "ado.stageAttempt"},
  {"SYSTEM_JOBATTEMPT", "ado.jobAttempt"},
  {"ENVIRONMENT_NAME", "ado.environmentName"},
  {"ENVIRONMENT_ID", "ado.environmentId"},
  {"BUILD_SOURCEVERSION", "vcs.commit"},
  {"BUILD_SOURCEBRANCH", "vcs.ref"},
  {"BUILD_REPOSITORY_URI", "vcs.repository"},
  {NULL, NULL}};

/* ---- GitHub Actions (GITHUB_ACTIONS=true) ------------------------------ */

static const field_map github_fields[] = {
  {DE_NAME, "GITHUB_WORKFLOW"}, {DE_VERSION, "GITHUB_SHA"},
  {DE_PROJECT, "GITHUB_REPOSITORY"}, {DE_BUILD_VERSION, "GITHUB_RUN_NUMBER"},
  {DE_FIELD_COUNT, NULL}};

static const prop_map github_props[] = {
  {"GITHUB_SERVER_URL", "github.serverUrl"},
  {"GITHUB_REPOSITORY", "github.repository"},
  {"GITHUB_WORKFLOW", "github.workflow"},
  {"GITHUB_RUN_ID", "github.runId"},
  {"GITHUB_RUN_NUMBER", "github.runNumber"},
  {"GITHUB_RUN_ATTEMPT", "github.runAttempt"},
  {"GITHUB_JOB", "github.job"},
  {"GITHUB_REF_NAME", "github.refName"},
  {"GITHUB_SHA", "vcs.commit"},
  {"GITHUB_REF", "vcs.ref"},
  {NULL, NULL}};

/* ---- GitLab CI (GITLAB_CI=true) ---------------------------------------- */

static const field_map gitlab_fields[] = {
  {DE_NAME, "CI_PROJECT_NAME"}, {DE_VERSION, "CI_COMMIT_TAG"}, {DE_VERSION, "CI_COMMIT_SHA"},
  {DE_PROJECT, "CI_PROJECT_PATH"}, {DE_STAGE, "CI_ENVIRONMENT_NAME"},
  {DE_BUILD_VERSION, "CI_PIPELINE_IID"}, {DE_BUILD_VERSION, "CI_PIPELINE_ID"},
  {DE_CI_LINK, "CI_PIPELINE_URL"}, {DE_FIELD_COUNT, NULL}};

static const prop_map gitlab_props[] = {
  {"CI_SERVER_URL", "gitlab.serverUrl"},
  {"CI_PROJECT_PATH", "gitlab.projectPath"},
  {"CI_PROJECT_ID", "gitlab.projectId"},
  {"CI_PIPELINE_ID", "gitlab.pipelineId"},
  {"CI_PIPELINE_IID", "gitlab.pipelineIid"},
  {"CI_PIPELINE_URL", "gitlab.pipelineUrl"},
  {"CI_JOB_ID", "gitlab.jobId"},
  {"CI_JOB_URL", "gitlab.jobUrl"},
  {"CI_ENVIRONMENT_NAME", "gitlab.environmentName"},
  {"CI_ENVIRONMENT_URL", "gitlab.environmentUrl"},
  {"CI_COMMIT_SHA", "vcs.commit"},
  {"CI_COMMIT_REF_NAME", "vcs.ref"},
  {NULL, NULL}};

static const ci_system ado_release = {"azure-pipelines-release", ado_release_fields, ado_release_props};
static const ci_system ado_yaml = {"azure-pipelines", ado_yaml_fields, ado_yaml_props};
static const ci_system github = {"github-actions", github_fields, github_props};
static const ci_system gitlab = {"gitlab-ci", gitlab_fields, gitlab_props};

/* The non-empty value of name in envp, or NULL. */
static const char *env_get(char *const *envp, const char *name) {
  size_t n = strlen(name);
  for (char *const *e = envp; e && *e; e++)
    if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return (*e)[n + 1] ? *e + n + 1 : NULL;
  return NULL;
}

static const ci_system *detect(char *const *envp) {
  const char *v;
  if (env_get(envp, "RELEASE_RELEASEID")) return &ado_release;
  if (env_get(envp, "TF_BUILD") && env_get(envp, "BUILD_BUILDID")) return &ado_yaml;
  if ((v = env_get(envp, "GITHUB_ACTIONS")) && strcmp(v, "true") == 0) return &github;
  if ((v = env_get(envp, "GITLAB_CI")) && strcmp(v, "true") == 0) return &gitlab;
  return NULL;
}

/* Links built from several variables, when the system has no single one. */
static int derived_link(const ci_system *ci, char *const *envp, ub_buf *out) {
  if (ci == &ado_yaml) {
    const char *coll = env_get(envp, "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI");
    const char *proj = env_get(envp, "SYSTEM_TEAMPROJECT");
    const char *id = env_get(envp, "BUILD_BUILDID");
    if (!coll || !proj || !id) return 0;
    ub_buf_printf(out, "%s%s", coll, coll[strlen(coll) - 1] == '/' ? "" : "/");
    ub_dt_encode(out, proj, 1);
    ub_buf_puts(out, "/_build/results?buildId=");
    ub_dt_encode(out, id, 0);
  } else if (ci == &github) {
    const char *server = env_get(envp, "GITHUB_SERVER_URL");
    const char *repo = env_get(envp, "GITHUB_REPOSITORY");
    const char *run = env_get(envp, "GITHUB_RUN_ID");
    if (!server || !repo || !run) return 0;
    ub_buf_printf(out, "%s/%s/actions/runs/%s", server, repo, run);
  }
  return out->failed ? -1 : 0;
}

static int apply(const ci_system *ci, char *const *envp, de_event *ev) {
  for (const field_map *f = ci->fields; f->var; f++)
    if (!ev->field[f->field] && de_event_set(ev, f->field, env_get(envp, f->var)) != 0) return -1;
  for (const prop_map *p = ci->props; p->var; p++)
    if (!de_props_get(&ev->props, p->prop) && de_props_set(&ev->props, p->prop, env_get(envp, p->var)) != 0)
      return -1;
  if (!ev->field[DE_CI_LINK]) {
    ub_buf link;
    ub_buf_init(&link);
    int rc = derived_link(ci, envp, &link);
    if (rc == 0 && link.len) rc = de_event_set(ev, DE_CI_LINK, link.data);
    ub_buf_free(&link);
    if (rc != 0) return -1;
  }
  return de_props_set(&ev->props, "ci.system", ci->name);
}

int de_context_from_env(de_event *ev, char *const *envp) {
  const ci_system *ci = detect(envp);
  if (!ci) return 0;
  ev->ci = ci->name;
  return apply(ci, envp, ev);
}
