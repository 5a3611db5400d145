/* recorder.h: the record of every HTTP exchange an evaluation made with
 * Dynatrace (request and raw response, in order), its JSON form for the
 * ledger, and replay: answering requests from a record without network. */
#ifndef UB_RECORDER_H
#define UB_RECORDER_H

#include <stddef.h>
#include "util/buf.h"

/* One request and what came back. Strings are owned by whoever filled
 * the exchange (ub_exchange_clear frees them). */
typedef struct ub_exchange {
  char *method;          /* "GET" */
  char *target;          /* path and query, relative to the tenant URL */
  long status;           /* HTTP status; 0 when no answer arrived */
  char *content_type;    /* NULL when absent */
  char *body;            /* raw body (token already redacted), NUL-terminated */
  size_t body_len;
  char *error;           /* status 0: why no answer came; else a note (e.g.
                            why a 429 was not retried) or NULL */
  int attempts;
  double duration_ms;    /* measured time of the exchange, retries and their
                            waits included; 0 when unknown */
} ub_exchange;

void ub_exchange_clear(ub_exchange *x);
/* Deep copy of the response part of src into dst (request part kept). */
int ub_exchange_copy_response(ub_exchange *dst, const ub_exchange *src);

typedef struct ub_recorder ub_recorder;

/* A recorder that collects exchanges. */
ub_recorder *ub_recorder_new(void);
/* A replay source built from the JSON of ub_recorder_to_json. NULL with
 * err filled ("recording offset N: ...") when the text is not one. */
ub_recorder *ub_recorder_from_json(const char *json, size_t len, char *err, size_t errlen);
void ub_recorder_free(ub_recorder *rec);

/* Turns a record into a replay source (ub_recorder_from_json does it). */
void ub_recorder_set_replay(ub_recorder *rec);
int ub_recorder_is_replay(const ub_recorder *rec);
size_t ub_recorder_count(const ub_recorder *rec);
const ub_exchange *ub_recorder_get(const ub_recorder *rec, size_t i);

/* Appends a deep copy of x. 0 or -1 (out of memory). */
int ub_recorder_add(ub_recorder *rec, const ub_exchange *x);

/* Replay: fills the response part of x from the first not yet used
 * recorded exchange with the same method and canonical target (query
 * parameters sorted). Returns 0, or -1 when the request is not in the
 * record (x then carries status 0 and the error "not in the recorded
 * evaluation"). */
int ub_recorder_answer(ub_recorder *rec, ub_exchange *x);

/* Serialises the record: {"version":1,"exchanges":[{...}, ...]} with a
 * fixed key order; bodies that are not valid UTF-8 go to "body_base64". */
int ub_recorder_to_json(const ub_recorder *rec, ub_buf *out);

/* Canonical form of a target for matching: the path, then the query
 * parameters sorted bytewise. */
int ub_canonical_target(const char *target, ub_buf *out);

#endif
