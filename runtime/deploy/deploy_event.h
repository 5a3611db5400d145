/* Folder deploy/: deployment events: what was deployed, the release
 * context read from a CI environment, where the event goes, and the
 * Events v1/v2 request bodies and answers. Pure: no network, no files
 * (commands/cmd_deploy_event.c sends and records). May call dynatrace/ (types,
 * selectors) and util/. */
/* deploy_event.h: the pure parts of `unbreakable deploy-event`: what was
 * deployed (fields and properties), the release context read from a CI
 * environment, where the event goes (tags, entity ids or a selector, from
 * flags or a monspec environment), and the Events v1 and v2 request bodies
 * (docs/reference/dynatrace-api.md 7.1 and 8.1). No network and no files here: callers pass
 * the environment and file contents in. Property names: docs/deploy-event.md. */
#ifndef UB_DEPLOY_EVENT_H
#define UB_DEPLOY_EVENT_H

#include <stddef.h>
#include "util/buf.h"

/* ---- properties: an ordered string map, later sets replace in place ---- */

typedef struct de_prop {
  char *key, *value;
} de_prop;

typedef struct de_props {
  de_prop *items;
  size_t n, cap;
} de_props;

/* Sets key to value (a NULL or empty value removes nothing and sets
 * nothing). 0 or -1 (out of memory). */
int de_props_set(de_props *p, const char *key, const char *value);
const char *de_props_get(const de_props *p, const char *key);
void de_props_free(de_props *p);

/* ---- the deployment --------------------------------------------------- */

typedef enum de_field {
  DE_NAME = 0, DE_VERSION, DE_PROJECT, DE_STAGE, DE_PRODUCT, DE_BUILD_VERSION,
  DE_CI_LINK, DE_REMEDIATION, DE_FIELD_COUNT
} de_field;

/* The v2 property that carries a field ("dt.event.deployment.name"). */
const char *de_field_property(de_field f);
/* The command-line flag that sets a field ("--name"). */
const char *de_field_flag(de_field f);

typedef struct de_event {
  char *field[DE_FIELD_COUNT];  /* NULL when unknown */
  char *source;                 /* v1 "source"; NULL = "unbreakable" */
  de_props props;               /* release context, then --property pairs */
  const char *ci;               /* detected CI system (static string) or NULL */
} de_event;

void de_event_init(de_event *ev);
void de_event_free(de_event *ev);
/* Replaces a field (value NULL or "" leaves it unchanged). 0 or -1. */
int de_event_set(de_event *ev, de_field f, const char *value);

/* Reads the release context of the pipeline this process runs in from envp
 * (a NULL-terminated "NAME=value" array, as environ): Azure Pipelines
 * classic release (RELEASE_RELEASEID), Azure Pipelines YAML (TF_BUILD and
 * BUILD_BUILDID), GitHub Actions (GITHUB_ACTIONS=true), GitLab CI
 * (GITLAB_CI=true), checked in that order. Fills the fields it knows and the
 * documented properties; ev->ci names the system ("azure-pipelines-release",
 * "azure-pipelines", "github-actions", "gitlab-ci") or stays NULL.
 * Returns 0 or -1 (out of memory). */
int de_context_from_env(de_event *ev, char *const *envp);

/* Parses "--property KEY=VALUE" text into ev->props (explicit wins over the
 * context). Keys reserved by Dynatrace (dt.* other than dt.event.*,
 * dt.davis.*, dt.entity.*) and the keys of the named fields are refused
 * with the flag to use instead. 0 or -1 with err set. */
int de_property_parse(de_event *ev, const char *text, char *err, size_t errlen);

/* The v2 title: "<name> <version>". Caller frees; NULL on out of memory. */
char *de_event_title(const de_event *ev);

/* Checks what both APIs need (name and version). 0 or -1 with err set. */
int de_event_check(const de_event *ev, char *err, size_t errlen);

/* ---- targets ---------------------------------------------------------- */

typedef struct de_tag {
  char *context;   /* upper-case; "CONTEXTLESS" when none was given */
  char *key;
  char *value;     /* NULL when absent */
} de_tag;

/* "[CONTEXT]KEY[:VALUE]": the first ':' not escaped by '\' separates key and
 * value; "\:" and "\\" stand for ':' and '\'. 0 or -1 with err set. */
int de_tag_parse(const char *text, de_tag *out, char *err, size_t errlen);
void de_tag_free(de_tag *t);
/* An upper-case copy of a tag context in *out: 0, -1 (out of memory) or -2
 * (empty, or not letters, digits and '_'). */
int de_context_normalize(const char *context, char **out);
/* Dynatrace's tag text: "[CONTEXT]key:value", context omitted when
 * CONTEXTLESS, ':' and '\' in key and value escaped with '\'. */
int de_tag_string(const de_tag *t, ub_buf *out);

typedef enum de_target_kind {
  DE_TARGET_NONE = 0, DE_TARGET_SELECTOR, DE_TARGET_TAGS, DE_TARGET_IDS
} de_target_kind;

typedef struct de_target {
  de_target_kind kind;
  char *entity_type;   /* TAGS: meTypes and type(...) */
  de_tag *tags;        /* TAGS: every tag must match */
  size_t ntags;
  char **ids;          /* IDS */
  size_t nids;
  char *selector;      /* SELECTOR, verbatim */
  char *env_name;      /* set when the target came from a monspec environment */
} de_target;

void de_target_free(de_target *t);
int de_target_add_tag(de_target *t, const de_tag *tag);   /* deep copy */
int de_target_add_id(de_target *t, const char *id);
/* Upper-case letters, digits and '_' (SERVICE, PROCESS_GROUP_INSTANCE). */
int de_entity_type_valid(const char *type);
/* TYPE-ID with TYPE as above and ID letters and digits. */
int de_entity_id_valid(const char *id);

/* The target of "ENTITY/ENVIRONMENT" in a monspec document (docs/reference/monspec.md
 * 2.3): its entity ids (they take precedence), else its tags with the
 * entity definition's etype; type_override (NULL: none) replaces etype.
 * An environment with neither is refused (it would mean every entity of the
 * type). err names file, JSON path and the fix. 0 or -1. */
int de_target_from_monspec(const char *json, size_t len, const char *file,
                           const char *entity_env, const char *type_override,
                           de_target *out, char *err, size_t errlen);

/* The v2 entity selector of a target: SELECTOR verbatim;
 * TAGS `type(T),tag("t1"),tag("t2")`; IDS `entityId("A","B")`; values in
 * double quotes with '"' and '~' escaped by '~'. */
int de_target_selector(const de_target *t, ub_buf *out);

/* ---- request bodies ---------------------------------------------------- */

/* POST /api/v2/events/ingest: eventType CUSTOM_DEPLOYMENT, title,
 * entitySelector, properties (named fields first, then ev->props). */
int de_body_v2(const de_event *ev, const de_target *t, ub_buf *out, char *err, size_t errlen);

/* POST /api/v1/events: eventType CUSTOM_DEPLOYMENT, attachRules (tagRule
 * with meTypes as an array, or entityIds), deploymentName,
 * deploymentVersion, deploymentProject, ciBackLink, remediationAction,
 * source, customProperties (stage, product and build version under their v2
 * names, then ev->props). A selector target is refused (v1 has none). */
int de_body_v1(const de_event *ev, const de_target *t, ub_buf *out, char *err, size_t errlen);

/* ---- answers ------------------------------------------------------------ */

/* What a 2xx answer says: v2 {"reportCount":N,"eventIngestResults":[{
 * "correlationId","status"}]}, v1 {"storedEventIds":[..],"storedIds":[..]}. */
typedef struct de_answer {
  long matched;      /* reportCount, or the number of storedEventIds */
  char **ids;        /* correlation ids (v2) or stored ids (v1) */
  size_t nids;
  long not_ok;       /* v2 results whose status is not "OK" */
} de_answer;

/* 0, or -1 with err saying why the body is not such an answer (not JSON,
 * count missing or not a non-negative integer). */
int de_answer_parse(int api, const char *body, size_t len, de_answer *a, char *err, size_t errlen);
void de_answer_free(de_answer *a);

/* The command (cmd_deploy_event.c), dispatched from main.c. */
int ub_cmd_deploy_event(int argc, char **argv);

#endif
