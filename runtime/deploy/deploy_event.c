/* deploy_event.c: the deployment description (fields and properties), tag
 * parsing, targets and the Events v1/v2 request bodies (see deploy_event.h).
 * The CI environment lives in deploy_event_ci.c, monspec targets in
 * deploy_event_target.c, Dynatrace's answers in deploy_event_answer.c. */
#include "deploy/deploy_event.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynatrace/dynatrace.h"
#include "util/json.h"

/* ---- properties ------------------------------------------------------- */

int de_props_set(de_props *p, const char *key, const char *value) {
  if (!key || !*key || !value || !*value) return 0;
  char *copy = strdup(value);
  if (!copy) return -1;
  for (size_t i = 0; i < p->n; i++) {
    if (strcmp(p->items[i].key, key) == 0) {
      free(p->items[i].value);
      p->items[i].value = copy;
      return 0;
    }
  }
  if (p->n == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 16;
    de_prop *grown = realloc(p->items, cap * sizeof *grown);
    if (!grown) { free(copy); return -1; }
    p->items = grown;
    p->cap = cap;
  }
  char *kcopy = strdup(key);
  if (!kcopy) { free(copy); return -1; }
  p->items[p->n].key = kcopy;
  p->items[p->n].value = copy;
  p->n++;
  return 0;
}

const char *de_props_get(const de_props *p, const char *key) {
  for (size_t i = 0; i < p->n; i++)
    if (strcmp(p->items[i].key, key) == 0) return p->items[i].value;
  return NULL;
}

void de_props_free(de_props *p) {
  for (size_t i = 0; i < p->n; i++) {
    free(p->items[i].key);
    free(p->items[i].value);
  }
  free(p->items);
  memset(p, 0, sizeof *p);
}

/* ---- fields ------------------------------------------------------------ */

typedef struct field_info {
  const char *property;   /* v2 property */
  const char *flag;       /* command-line flag */
  const char *v1;         /* v1 top-level field, NULL = customProperties */
} field_info;

static const field_info fields[DE_FIELD_COUNT] = {
  [DE_NAME] = {"dt.event.deployment.name", "--name", "deploymentName"},
  [DE_VERSION] = {"dt.event.deployment.version", "--version", "deploymentVersion"},
  [DE_PROJECT] = {"dt.event.deployment.project", "--project", "deploymentProject"},
  [DE_STAGE] = {"dt.event.deployment.release_stage", "--stage", NULL},
  [DE_PRODUCT] = {"dt.event.deployment.release_product", "--product", NULL},
  [DE_BUILD_VERSION] = {"dt.event.deployment.release_build_version", "--build-version", NULL},
  [DE_CI_LINK] = {"dt.event.deployment.ci_back_link", "--ci-link", "ciBackLink"},
  [DE_REMEDIATION] = {"dt.event.deployment.remediation_action_link", "--remediation-link",
                      "remediationAction"},
};

const char *de_field_property(de_field f) { return fields[f].property; }
const char *de_field_flag(de_field f) { return fields[f].flag; }

void de_event_init(de_event *ev) { memset(ev, 0, sizeof *ev); }

void de_event_free(de_event *ev) {
  for (int i = 0; i < DE_FIELD_COUNT; i++) free(ev->field[i]);
  free(ev->source);
  de_props_free(&ev->props);
  memset(ev, 0, sizeof *ev);
}

int de_event_set(de_event *ev, de_field f, const char *value) {
  if (!value || !*value) return 0;
  char *copy = strdup(value);
  if (!copy) return -1;
  free(ev->field[f]);
  ev->field[f] = copy;
  return 0;
}

static int has_control(const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p < 0x20 || *p == 0x7f) return 1;
  return 0;
}

static int starts_with(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Dynatrace reserves dt.* except dt.event.*, dt.davis.* and dt.entity.*. */
static int key_reserved(const char *key) {
  return starts_with(key, "dt.") && !starts_with(key, "dt.event.") &&
         !starts_with(key, "dt.davis.") && !starts_with(key, "dt.entity.");
}

int de_property_parse(de_event *ev, const char *text, char *err, size_t errlen) {
  const char *eq = strchr(text, '=');
  if (!eq || eq == text) {
    snprintf(err, errlen, "--property '%.80s' must be KEY=VALUE with a non-empty KEY", text);
    return -1;
  }
  size_t klen = (size_t)(eq - text);
  char *key = strndup(text, klen);
  if (!key) { snprintf(err, errlen, "out of memory"); return -1; }
  int rc = -1;
  if (has_control(key) || has_control(eq + 1)) {
    snprintf(err, errlen, "--property %.80s: key and value must not contain control characters", key);
    goto out;
  }
  for (int f = 0; f < DE_FIELD_COUNT; f++) {
    if (strcmp(key, fields[f].property) == 0) {
      snprintf(err, errlen, "--property %s: use %s instead", key, fields[f].flag);
      goto out;
    }
  }
  if (key_reserved(key)) {
    snprintf(err, errlen, "--property %.80s: keys starting with dt. are reserved by Dynatrace "
             "(only dt.event.*, dt.davis.* and dt.entity.* may be sent)", key);
    goto out;
  }
  if (!eq[1]) {
    snprintf(err, errlen, "--property %.80s has an empty value: give KEY=VALUE", key);
    goto out;
  }
  rc = de_props_set(&ev->props, key, eq + 1);
  if (rc != 0) snprintf(err, errlen, "out of memory");
out:
  free(key);
  return rc;
}

char *de_event_title(const de_event *ev) {
  ub_buf b;
  ub_buf_init(&b);
  ub_buf_puts(&b, ev->field[DE_NAME] ? ev->field[DE_NAME] : "deployment");
  if (ev->field[DE_VERSION]) ub_buf_printf(&b, " %s", ev->field[DE_VERSION]);
  if (b.failed) { ub_buf_free(&b); return NULL; }
  return ub_buf_steal(&b, NULL);
}

int de_event_check(const de_event *ev, char *err, size_t errlen) {
  static const de_field required[] = {DE_NAME, DE_VERSION};
  for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
    if (!ev->field[required[i]]) {
      snprintf(err, errlen, "no deployment %s: give %s, or run inside Azure Pipelines, GitHub "
               "Actions or GitLab CI where it is read from the pipeline's variables",
               required[i] == DE_NAME ? "name" : "version", fields[required[i]].flag);
      return -1;
    }
  }
  for (int f = 0; f < DE_FIELD_COUNT; f++) {
    if (ev->field[f] && has_control(ev->field[f])) {
      snprintf(err, errlen, "%s must not contain control characters", fields[f].flag);
      return -1;
    }
  }
  return 0;
}

/* ---- tags -------------------------------------------------------------- */

void de_tag_free(de_tag *t) {
  free(t->context);
  free(t->key);
  free(t->value);
  memset(t, 0, sizeof *t);
}

/* Copies [s, end) into out, turning "\x" into "x". */
static char *unescape_range(const char *s, const char *end) {
  char *out = malloc((size_t)(end - s) + 1), *o = out;
  if (!out) return NULL;
  for (const char *p = s; p < end; p++) {
    if (*p == '\\' && p + 1 < end) p++;
    *o++ = *p;
  }
  *o = '\0';
  return out;
}

/* The first ':' not escaped by a backslash, or NULL. */
static const char *unescaped_colon(const char *s) {
  for (const char *p = s; *p; p++) {
    if (*p == '\\' && p[1]) p++;
    else if (*p == ':') return p;
  }
  return NULL;
}

int de_context_normalize(const char *context, char **out) {
  *out = NULL;
  if (!*context) return -2;
  for (const char *c = context; *c; c++)
    if (!isalnum((unsigned char)*c) && *c != '_') return -2;
  if (!(*out = strdup(context))) return -1;
  for (char *c = *out; *c; c++) *c = (char)toupper((unsigned char)*c);
  return 0;
}

static int parse_context(const char **text, de_tag *out, char *err, size_t errlen) {
  const char *s = *text;
  if (*s != '[') {
    out->context = strdup("CONTEXTLESS");
    return out->context ? 0 : -1;
  }
  const char *close = strchr(s, ']');
  if (!close) {
    snprintf(err, errlen, "tag '%.80s': missing ']' after the context", s);
    return -1;
  }
  char *raw = strndup(s + 1, (size_t)(close - s - 1));
  if (!raw) return -1;
  int rc = de_context_normalize(raw, &out->context);
  free(raw);
  if (rc == -2)
    snprintf(err, errlen, "tag '%.80s': the context must be letters, digits and '_' (e.g. [ENVIRONMENT])", s);
  if (rc != 0) return -1;
  *text = close + 1;
  return 0;
}

int de_tag_parse(const char *text, de_tag *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  err[0] = '\0';
  const char *rest = text;
  if (has_control(text)) {
    snprintf(err, errlen, "tag '%.80s' contains control characters", text);
    return -1;
  }
  if (parse_context(&rest, out, err, errlen) != 0) goto fail;
  const char *colon = unescaped_colon(rest);
  const char *kend = colon ? colon : rest + strlen(rest);
  out->key = unescape_range(rest, kend);
  if (!out->key) goto fail;
  if (!out->key[0]) {
    snprintf(err, errlen, "tag '%.80s' has an empty key: write [CONTEXT]KEY[:VALUE]", text);
    goto fail;
  }
  if (colon && !(out->value = unescape_range(colon + 1, colon + 1 + strlen(colon + 1)))) goto fail;
  return 0;
fail:
  if (!err[0]) snprintf(err, errlen, "out of memory");
  de_tag_free(out);
  return -1;
}

static void put_escaped_tag_part(ub_buf *out, const char *s) {
  for (const char *p = s; *p; p++) {
    if (*p == ':' || *p == '\\') ub_buf_putc(out, '\\');
    ub_buf_putc(out, *p);
  }
}

int de_tag_string(const de_tag *t, ub_buf *out) {
  if (t->context && strcmp(t->context, "CONTEXTLESS") != 0) ub_buf_printf(out, "[%s]", t->context);
  put_escaped_tag_part(out, t->key);
  if (t->value) {
    ub_buf_putc(out, ':');
    put_escaped_tag_part(out, t->value);
  }
  return out->failed ? -1 : 0;
}

/* ---- targets ----------------------------------------------------------- */

void de_target_free(de_target *t) {
  free(t->entity_type);
  for (size_t i = 0; i < t->ntags; i++) de_tag_free(&t->tags[i]);
  free(t->tags);
  for (size_t i = 0; i < t->nids; i++) free(t->ids[i]);
  free(t->ids);
  free(t->selector);
  free(t->env_name);
  memset(t, 0, sizeof *t);
}

static char *dup_or_null(const char *s, int *oom) {
  if (!s) return NULL;
  char *c = strdup(s);
  if (!c) *oom = 1;
  return c;
}

int de_target_add_tag(de_target *t, const de_tag *tag) {
  de_tag *grown = realloc(t->tags, (t->ntags + 1) * sizeof *grown);
  if (!grown) return -1;
  t->tags = grown;
  int oom = 0;
  de_tag copy = {dup_or_null(tag->context ? tag->context : "CONTEXTLESS", &oom),
                 dup_or_null(tag->key, &oom), dup_or_null(tag->value, &oom)};
  if (oom) { de_tag_free(&copy); return -1; }
  t->tags[t->ntags++] = copy;
  return 0;
}

int de_target_add_id(de_target *t, const char *id) {
  char **grown = realloc(t->ids, (t->nids + 1) * sizeof *grown);
  if (!grown) return -1;
  t->ids = grown;
  if (!(t->ids[t->nids] = strdup(id))) return -1;
  t->nids++;
  return 0;
}

int de_entity_type_valid(const char *type) {
  if (!type || !*type || !isupper((unsigned char)type[0])) return 0;
  for (const char *p = type; *p; p++)
    if (!isupper((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_') return 0;
  return 1;
}

int de_entity_id_valid(const char *id) {
  const char *dash = id ? strrchr(id, '-') : NULL;
  if (!dash || !dash[1]) return 0;
  char type[64];
  size_t n = (size_t)(dash - id);
  if (n == 0 || n >= sizeof type) return 0;
  memcpy(type, id, n);
  type[n] = '\0';
  if (!de_entity_type_valid(type)) return 0;
  for (const char *p = dash + 1; *p; p++)
    if (!isalnum((unsigned char)*p)) return 0;
  return 1;
}

int de_target_selector(const de_target *t, ub_buf *out) {
  if (t->kind == DE_TARGET_SELECTOR) {
    ub_buf_puts(out, t->selector);
  } else if (t->kind == DE_TARGET_TAGS) {
    ub_buf_printf(out, "type(%s)", t->entity_type);
    for (size_t i = 0; i < t->ntags; i++) {
      ub_buf tag;
      ub_buf_init(&tag);
      de_tag_string(&t->tags[i], &tag);
      ub_buf_puts(out, ",tag(");
      ub_dt_selector_quote(out, tag.data ? tag.data : "", tag.len);
      ub_buf_putc(out, ')');
      if (tag.failed) out->failed = 1;
      ub_buf_free(&tag);
    }
  } else if (t->kind == DE_TARGET_IDS) {
    ub_buf_puts(out, "entityId(");
    for (size_t i = 0; i < t->nids; i++) {
      if (i) ub_buf_putc(out, ',');
      ub_dt_selector_quote(out, t->ids[i], strlen(t->ids[i]));
    }
    ub_buf_putc(out, ')');
  } else {
    return -1;
  }
  return out->failed ? -1 : 0;
}

/* ---- bodies ------------------------------------------------------------ */

static void put_member(ub_buf *out, int *first, const char *key, const char *value) {
  if (!value) return;
  if (!*first) ub_buf_putc(out, ',');
  *first = 0;
  json_append_string(out, key, strlen(key));
  ub_buf_putc(out, ':');
  json_append_string(out, value, strlen(value));
}

static void put_key(ub_buf *out, int *first, const char *key) {
  if (!*first) ub_buf_putc(out, ',');
  *first = 0;
  json_append_string(out, key, strlen(key));
  ub_buf_putc(out, ':');
}

static void put_props(ub_buf *out, int *first, const de_props *p) {
  for (size_t i = 0; i < p->n; i++) put_member(out, first, p->items[i].key, p->items[i].value);
}

static int finish_body(ub_buf *out, char *err, size_t errlen) {
  if (!out->failed) return 0;
  snprintf(err, errlen, "out of memory while building the request body");
  return -1;
}

int de_body_v2(const de_event *ev, const de_target *t, ub_buf *out, char *err, size_t errlen) {
  ub_buf selector;
  ub_buf_init(&selector);
  char *title = de_event_title(ev);
  if (de_target_selector(t, &selector) != 0 || !title) {
    snprintf(err, errlen, t->kind == DE_TARGET_NONE ? "no target: give --monspec with --environment, "
             "--entity-selector or --tag" : "out of memory while building the entity selector");
    ub_buf_free(&selector);
    free(title);
    return -1;
  }
  int first = 1;
  ub_buf_putc(out, '{');
  put_member(out, &first, "eventType", "CUSTOM_DEPLOYMENT");
  put_member(out, &first, "title", title);
  put_member(out, &first, "entitySelector", selector.data);
  put_key(out, &first, "properties");
  ub_buf_putc(out, '{');
  int pfirst = 1;
  for (int f = 0; f < DE_FIELD_COUNT; f++) put_member(out, &pfirst, fields[f].property, ev->field[f]);
  put_props(out, &pfirst, &ev->props);
  ub_buf_puts(out, "}}");
  ub_buf_free(&selector);
  free(title);
  return finish_body(out, err, errlen);
}

static void put_tag_object(ub_buf *out, const de_tag *tag) {
  int first = 1;
  ub_buf_putc(out, '{');
  put_member(out, &first, "context", tag->context ? tag->context : "CONTEXTLESS");
  put_member(out, &first, "key", tag->key);
  put_member(out, &first, "value", tag->value);
  ub_buf_putc(out, '}');
}

static void put_attach_rules(ub_buf *out, const de_target *t) {
  if (t->kind == DE_TARGET_IDS) {
    ub_buf_puts(out, "{\"entityIds\":[");
    for (size_t i = 0; i < t->nids; i++) {
      if (i) ub_buf_putc(out, ',');
      json_append_string(out, t->ids[i], strlen(t->ids[i]));
    }
    ub_buf_puts(out, "]}");
    return;
  }
  ub_buf_puts(out, "{\"tagRule\":[{\"meTypes\":[");
  json_append_string(out, t->entity_type, strlen(t->entity_type));
  ub_buf_puts(out, "],\"tags\":[");
  for (size_t i = 0; i < t->ntags; i++) {
    if (i) ub_buf_putc(out, ',');
    put_tag_object(out, &t->tags[i]);
  }
  ub_buf_puts(out, "]}]}");
}

int de_body_v1(const de_event *ev, const de_target *t, ub_buf *out, char *err, size_t errlen) {
  if (t->kind != DE_TARGET_TAGS && t->kind != DE_TARGET_IDS) {
    snprintf(err, errlen, t->kind == DE_TARGET_SELECTOR
             ? "Events API v1 has no entity selector: use --tag or --monspec with --api v1, or --api v2"
             : "no target: give --monspec with --environment or --tag");
    return -1;
  }
  int first = 1;
  ub_buf_putc(out, '{');
  put_member(out, &first, "eventType", "CUSTOM_DEPLOYMENT");
  put_key(out, &first, "attachRules");
  put_attach_rules(out, t);
  for (int f = 0; f < DE_FIELD_COUNT; f++)
    if (fields[f].v1) put_member(out, &first, fields[f].v1, ev->field[f]);
  put_member(out, &first, "source", ev->source ? ev->source : "unbreakable");
  put_key(out, &first, "customProperties");
  ub_buf_putc(out, '{');
  int pfirst = 1;
  for (int f = 0; f < DE_FIELD_COUNT; f++)
    if (!fields[f].v1) put_member(out, &pfirst, fields[f].property, ev->field[f]);
  put_props(out, &pfirst, &ev->props);
  ub_buf_puts(out, "}}");
  return finish_body(out, err, errlen);
}
