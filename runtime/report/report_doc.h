/* report_doc.h: a small read-only JSON tree (built on the json.h pull
 * reader) so the report renderers can look values up by key. */
#ifndef UB_REPORT_DOC_H
#define UB_REPORT_DOC_H

#include <stddef.h>

typedef enum rd_type { RD_NULL, RD_BOOL, RD_NUMBER, RD_STRING, RD_ARRAY, RD_OBJECT } rd_type;

typedef struct rd_node {
  rd_type type;
  char *key;                    /* member name inside an object, else NULL */
  char *str;                    /* RD_STRING */
  double num;                   /* RD_NUMBER */
  int boolean;                  /* RD_BOOL */
  struct rd_node *first, *next; /* children (arrays, objects), siblings */
  size_t count;                 /* number of children */
} rd_node;

/* Parses json (depth limit 64). NULL with err ("line L, column C (offset N): ...") on error. */
rd_node *rd_parse(const char *json, size_t len, char *err, size_t errlen);
void rd_free(rd_node *n);

/* Member key of an object (NULL when n is not an object or has no key). */
const rd_node *rd_get(const rd_node *n, const char *key);
/* The member's string, or NULL when absent or not a string. */
const char *rd_str(const rd_node *n, const char *key);
/* 1 and *out set when the member is a number, else 0. */
int rd_num(const rd_node *n, const char *key, double *out);
/* 1 when the member is true. */
int rd_true(const rd_node *n, const char *key);
/* The member when it is an array, else NULL. */
const rd_node *rd_array(const rd_node *n, const char *key);

#endif
