/* report_doc.c: builds the rd_node tree from json_next() tokens. */
#include "report/report_doc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"

#define RD_MAX_DEPTH 64

static rd_node *build(json_reader *r, json_token t);

static rd_node *new_node(rd_type type) {
  rd_node *n = calloc(1, sizeof *n);
  if (n) n->type = type;
  return n;
}

/* Reads children until the closing token; objects read a key first. */
static int build_children(json_reader *r, rd_node *parent, json_token close) {
  rd_node **tail = &parent->first;
  for (;;) {
    json_token t = json_next(r);
    if (t == close) return 0;
    char *key = NULL;
    if (parent->type == RD_OBJECT) {
      if (t != JSON_STRING || !(key = strdup(r->str.data ? r->str.data : ""))) return -1;
      t = json_next(r);
    }
    rd_node *child = build(r, t);
    if (!child) {
      free(key);
      return -1;
    }
    child->key = key;
    *tail = child;
    tail = &child->next;
    parent->count++;
  }
}

static rd_node *build(json_reader *r, json_token t) {
  rd_node *n = NULL;
  switch (t) {
  case JSON_NULL: return new_node(RD_NULL);
  case JSON_TRUE:
  case JSON_FALSE:
    if ((n = new_node(RD_BOOL))) n->boolean = t == JSON_TRUE;
    return n;
  case JSON_NUMBER:
    if ((n = new_node(RD_NUMBER))) n->num = r->is_integer ? (double)r->integer : r->num;
    return n;
  case JSON_STRING:
    if ((n = new_node(RD_STRING)) && !(n->str = strdup(r->str.data ? r->str.data : ""))) {
      free(n);
      return NULL;
    }
    return n;
  case JSON_ARRAY:
  case JSON_OBJECT:
    n = new_node(t == JSON_ARRAY ? RD_ARRAY : RD_OBJECT);
    if (n && build_children(r, n, t == JSON_ARRAY ? JSON_ARRAY_END : JSON_OBJECT_END) != 0) {
      rd_free(n);
      return NULL;
    }
    return n;
  default: return NULL;
  }
}

rd_node *rd_parse(const char *json, size_t len, char *err, size_t errlen) {
  json_reader r;
  json_reader_init(&r, json, len, RD_MAX_DEPTH);
  rd_node *root = build(&r, json_next(&r));
  if (root && json_next(&r) != JSON_END) {
    rd_free(root);
    root = NULL;
  }
  if (!root) snprintf(err, errlen, "%s", r.err[0] ? r.err : "out of memory or bad JSON");
  json_reader_free(&r);
  return root;
}

void rd_free(rd_node *n) {
  while (n) {
    rd_node *next = n->next;
    rd_free(n->first);
    free(n->key);
    free(n->str);
    free(n);
    n = next;
  }
}

const rd_node *rd_get(const rd_node *n, const char *key) {
  if (!n || n->type != RD_OBJECT) return NULL;
  for (const rd_node *c = n->first; c; c = c->next)
    if (c->key && strcmp(c->key, key) == 0) return c;
  return NULL;
}

const char *rd_str(const rd_node *n, const char *key) {
  const rd_node *v = rd_get(n, key);
  return v && v->type == RD_STRING ? v->str : NULL;
}

int rd_num(const rd_node *n, const char *key, double *out) {
  const rd_node *v = rd_get(n, key);
  if (!v || v->type != RD_NUMBER) return 0;
  *out = v->num;
  return 1;
}

int rd_true(const rd_node *n, const char *key) {
  const rd_node *v = rd_get(n, key);
  return v && v->type == RD_BOOL && v->boolean;
}

const rd_node *rd_array(const rd_node *n, const char *key) {
  const rd_node *v = rd_get(n, key);
  return v && v->type == RD_ARRAY ? v : NULL;
}
