/* server.h: a small HTTP/1.1 server over libmicrohttpd: one thread per
 * connection (a handler may block while a gate runs), request bodies
 * collected up to a cap (larger ones answered 413: read and dropped up to
 * 16 MiB so the client sees the answer, refused at once beyond), an
 * inactivity timeout on reads and writes, a connection limit,
 * and a quiesce step for draining (stop accepting, finish what runs). */
#ifndef UB_NET_SERVER_H
#define UB_NET_SERVER_H

#include <stddef.h>
#include "util/buf.h"

typedef struct ub_srv ub_srv;

typedef struct ub_srv_request {
  const char *method;     /* "GET", "POST" ... */
  const char *path;       /* decoded path, no query */
  const char *remote;     /* peer address, "" when unknown */
  const char *body;       /* NUL-terminated; "" when none */
  size_t body_len;
  void *priv;             /* the connection */
} ub_srv_request;

/* Header (case-insensitive) or query argument of a request, or NULL (also
 * when the value holds a NUL byte: it would read as shorter text). */
const char *ub_srv_header(const ub_srv_request *rq, const char *name);
const char *ub_srv_query(const ub_srv_request *rq, const char *name);

typedef struct ub_srv_response {
  int status;
  const char *content_type;     /* default application/json */
  ub_buf body;
  char retry_after[16];         /* Retry-After header when non-empty */
  char request_id[40];          /* X-Request-Id header when non-empty */
} ub_srv_response;

typedef void (*ub_srv_handler)(void *ud, const ub_srv_request *rq, ub_srv_response *rs);
/* Called with the status and why when a request was refused before the
 * handler ran (413, or the admit callback's answer), so the caller can
 * count and log it. */
typedef void (*ub_srv_refused)(void *ud, const char *method, const char *path, int status,
                               const char *why);
/* Called once the headers are in, before any body is read (rq->body is
 * ""): 0 admits the request; an HTTP status refuses it at once, with
 * *message as its error, so that a caller who may not send a body (no
 * token) never has one read and held. */
typedef int (*ub_srv_admit)(void *ud, const ub_srv_request *rq, const char **message);

typedef struct ub_srv_opts {
  const char *address;          /* IPv4 literal, default 127.0.0.1 */
  int port;                     /* 0 = ephemeral */
  size_t max_body;              /* default 1 MiB */
  unsigned timeout_seconds;     /* inactivity on read and write, default 10 */
  unsigned max_connections;     /* default 256 */
  /* Connections one client address may hold at once (default a quarter of
   * max_connections): one slow client cannot take every connection, and
   * with it /healthz and every other caller's gate. */
  unsigned max_per_address;
  /* Called once a request the handler saw has ended (its answer sent, or
   * the connection lost), so that draining can wait for answers too. */
  void (*done)(void *ud);
  ub_srv_admit admit;           /* NULL: every request is read */
} ub_srv_opts;

/* Starts listening. NULL with err filled on failure. */
ub_srv *ub_srv_start(const ub_srv_opts *o, ub_srv_handler handler, ub_srv_refused refused,
                     void *ud, char *err, size_t errlen);
/* The port actually bound. */
int ub_srv_port(const ub_srv *s);
/* Stops accepting new connections; running handlers go on. */
void ub_srv_quiesce(ub_srv *s);
/* Stops the server (waits for handler threads) and frees it. */
void ub_srv_stop(ub_srv *s);

#endif
