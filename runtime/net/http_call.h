/* http_call.h: one JSON request with an Authorization header on a fresh
 * engine (http.h), for the few calls that are not batched: Azure DevOps
 * (azure/ado.c) and self-healing's Dynatrace and Azure DevOps reads and
 * writes (heal/heal_http.c). The engine retries 429/502/503/504 and
 * transport errors as the caller's options say; everything else is the
 * caller's to retry. The credential goes only into the header (wiped
 * after the call); an error names the method and the URL's path from its
 * API segment on, never the host part, where a URL could carry
 * credentials. */
#ifndef UB_HTTP_CALL_H
#define UB_HTTP_CALL_H

#include "net/http.h"

typedef struct ub_http_reply {
  long status;             /* the final HTTP status, 0 when no answer */
  long retry_after_ms;     /* the answer's Retry-After, -1 when none */
  ub_buf body;             /* the answer's body (caller frees) */
  char error[300];         /* one line when the call failed, else "" */
} ub_http_reply;

/* method (GET, POST, PATCH) url with "Authorization: <scheme>
 * <credential>" ("Bearer", "Basic", "Api-Token") and body (JSON or NULL),
 * under o (attempts, per-attempt timeout, backoff, longest server wait).
 * 0 on a 2xx answer, -1 otherwise (out says why). out->body is reset
 * first. */
int ub_http_call(const char *method, const char *url, const char *scheme, const char *credential, const char *body,
                 const ub_http_opts *o, ub_http_reply *out);
/* The same with another Content-Type than JSON (e.g. the raw text of an
 * Azure DevOps log append, "application/octet-stream"). */
int ub_http_call_typed(const char *method, const char *url, const char *scheme, const char *credential,
                       const char *content_type, const char *body, const ub_http_opts *o, ub_http_reply *out);
void ub_http_reply_free(ub_http_reply *r);

#endif
