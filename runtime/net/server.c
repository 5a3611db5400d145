/* server.c: the HTTP server (server.h) on libmicrohttpd. */
#include "net/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

struct ub_srv {
  struct MHD_Daemon *d;
  ub_srv_handler handler;
  ub_srv_refused refused;
  ub_srv_admit admit;
  void (*done)(void *ud);
  void *ud;
  size_t max_body;
  int port;
  int quiesced;
};

#define DRAIN_BODY_LIMIT ((unsigned long long)16 << 20)

/* Per-request state kept between the calls of the access handler. */
typedef struct conn_state {
  ub_buf body;
  int too_large;
  int dispatched;              /* the handler ran: report its end */
  unsigned long long received; /* body bytes, kept or dropped */
} conn_state;

/* A value holding a NUL byte (a raw one in a header, %00 in a query) would
 * be read as C text shorter than what was sent: "Bearer TOKEN\0junk" would
 * pass as the token. Such a value is treated as absent. */
static const char *lookup(const ub_srv_request *rq, enum MHD_ValueKind kind, const char *name) {
  const char *value = NULL;
  size_t len = 0;
  if (MHD_lookup_connection_value_n(rq->priv, kind, name, strlen(name), &value, &len) != MHD_YES || !value)
    return NULL;
  return strlen(value) == len ? value : NULL;
}

const char *ub_srv_header(const ub_srv_request *rq, const char *name) {
  return lookup(rq, MHD_HEADER_KIND, name);
}

const char *ub_srv_query(const ub_srv_request *rq, const char *name) {
  return lookup(rq, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result send_response(struct MHD_Connection *c, ub_srv_response *rs) {
  struct MHD_Response *r = MHD_create_response_from_buffer(
      rs->body.len, rs->body.data ? rs->body.data : (void *)"", MHD_RESPMEM_MUST_COPY);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, "Content-Type", rs->content_type ? rs->content_type : "application/json");
  MHD_add_response_header(r, "Cache-Control", "no-store");
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  if (rs->retry_after[0]) MHD_add_response_header(r, "Retry-After", rs->retry_after);
  if (rs->request_id[0]) MHD_add_response_header(r, "X-Request-Id", rs->request_id);
  enum MHD_Result ret = MHD_queue_response(c, (unsigned)rs->status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result refuse(ub_srv *s, struct MHD_Connection *c, const char *method,
                              const char *url, int status, const char *message) {
  ub_srv_response rs = {.status = status};
  ub_buf_init(&rs.body);
  ub_buf_printf(&rs.body, "{\"status\":\"error\",\"error\":\"%s\"}", message); /* our own words */
  if (s->refused) s->refused(s->ud, method, url, status, message);
  enum MHD_Result ret = send_response(c, &rs);
  ub_buf_free(&rs.body);
  return ret;
}

static void remote_address(struct MHD_Connection *c, char *out, size_t size) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  out[0] = '\0';
  if (!ci || !ci->client_addr) return;
  if (ci->client_addr->sa_family == AF_INET)
    inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, out, (socklen_t)size);
  else if (ci->client_addr->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr, out, (socklen_t)size);
}

static enum MHD_Result dispatch(ub_srv *s, struct MHD_Connection *c, const char *url,
                                const char *method, conn_state *cs) {
  char remote[64];
  remote_address(c, remote, sizeof remote);
  ub_srv_request rq = {method, url, remote, cs->body.data ? cs->body.data : "", cs->body.len, c};
  ub_srv_response rs = {.status = 500};
  ub_buf_init(&rs.body);
  s->handler(s->ud, &rq, &rs);
  enum MHD_Result ret = send_response(c, &rs);
  ub_buf_free(&rs.body);
  return ret;
}

/* Counts the Content-Length and Transfer-Encoding headers. */
typedef struct framing { int lengths, encodings; } framing;

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  (void)kind, (void)value;
  framing *f = cls;
  if (strcasecmp(key, "Content-Length") == 0) f->lengths++;
  if (strcasecmp(key, "Transfer-Encoding") == 0) f->encodings++;
  return MHD_YES;
}

/* 1 when where the body ends is ambiguous: two Content-Length headers, or
 * one beside a Transfer-Encoding. A proxy in front may read the other one
 * and take the rest of this body for a request of its own (smuggling). */
static int ambiguous_framing(struct MHD_Connection *c) {
  framing f = {0, 0};
  MHD_get_connection_values(c, MHD_HEADER_KIND, count_framing, &f);
  return f.lengths > 1 || f.encodings > 1 || (f.lengths && f.encodings);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls) {
  (void)version;
  ub_srv *s = cls;
  conn_state *cs = *req_cls;
  if (!cs) {
    /* A body a little too large is read and dropped, so that the client,
     * still sending, gets the 413 rather than a reset; a far larger one is
     * refused at once (the connection then closes). */
    const char *len = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (ambiguous_framing(c))
      return refuse(s, c, method, url, 400, "send one Content-Length or one Transfer-Encoding, not both or two");
    if (len && strtoull(len, NULL, 10) > DRAIN_BODY_LIMIT)
      return refuse(s, c, method, url, 413, "request body larger than 1 MiB");
    if (s->admit) {
      char remote[64];
      remote_address(c, remote, sizeof remote);
      ub_srv_request rq = {method, url, remote, "", 0, c};
      const char *message = "refused";
      int status = s->admit(s->ud, &rq, &message);
      if (status) return refuse(s, c, method, url, status, message);
    }
    cs = calloc(1, sizeof *cs);
    if (!cs) return MHD_NO;
    ub_buf_init(&cs->body);
    *req_cls = cs;
    return MHD_YES;
  }
  if (*upload_size) {
    cs->received += *upload_size;
    if (cs->received > DRAIN_BODY_LIMIT) return refuse(s, c, method, url, 413, "request body larger than 1 MiB");
    if (!cs->too_large && cs->body.len + *upload_size > s->max_body) {
      cs->too_large = 1;
      ub_buf_free(&cs->body);
    }
    if (!cs->too_large && ub_buf_append(&cs->body, upload, *upload_size) != 0) cs->too_large = 1;
    *upload_size = 0;
    return MHD_YES;
  }
  if (cs->too_large) return refuse(s, c, method, url, 413, "request body larger than 1 MiB");
  cs->dispatched = 1;
  return dispatch(s, c, url, method, cs);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)c, (void)toe;
  ub_srv *s = cls;
  conn_state *cs = *req_cls;
  if (!cs) return;
  if (cs->dispatched && s->done) s->done(s->ud);
  ub_buf_free(&cs->body);
  free(cs);
  *req_cls = NULL;
}

ub_srv *ub_srv_start(const ub_srv_opts *o, ub_srv_handler handler, ub_srv_refused refused,
                     void *ud, char *err, size_t errlen) {
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)o->port);
  const char *address = o->address ? o->address : "127.0.0.1";
  if (inet_pton(AF_INET, address, &sa.sin_addr) != 1) {
    snprintf(err, errlen, "--listen: '%s' is not an IPv4 address (e.g. 127.0.0.1:8080)", address);
    return NULL;
  }
  ub_srv *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  s->handler = handler;
  s->refused = refused;
  s->admit = o->admit;
  s->done = o->done;
  s->ud = ud;
  s->max_body = o->max_body ? o->max_body : (size_t)1 << 20;
  unsigned max_connections = o->max_connections ? o->max_connections : 256;
  unsigned per_address = o->max_per_address ? o->max_per_address : max_connections / 4;
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC;
  s->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, on_request, s,
                          MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                          MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(o->timeout_seconds ? o->timeout_seconds : 10),
                          MHD_OPTION_CONNECTION_LIMIT, max_connections,
                          MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_address,
                          MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
                          MHD_OPTION_LISTEN_BACKLOG_SIZE, 256u,
                          MHD_OPTION_END);
  if (!s->d) {
    snprintf(err, errlen, "cannot listen on %s:%d (address in use, or not permitted)", address, o->port);
    free(s);
    return NULL;
  }
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
  s->port = di ? di->port : o->port;
  return s;
}

int ub_srv_port(const ub_srv *s) { return s->port; }

void ub_srv_quiesce(ub_srv *s) {
  if (s->quiesced) return;
  s->quiesced = 1;
  MHD_socket fd = MHD_quiesce_daemon(s->d);
  if (fd != MHD_INVALID_SOCKET) close(fd);
}

void ub_srv_stop(ub_srv *s) {
  if (!s) return;
  MHD_stop_daemon(s->d);
  free(s);
}
