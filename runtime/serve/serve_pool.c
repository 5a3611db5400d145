/* serve_pool.c: the gate worker processes. Each worker is this binary
 * started as `serve --internal-worker` (posix_spawn, safe from a threaded
 * server), kept alive across gates so that its Dynatrace connections stay
 * open. One gate at a time per worker; a request and its answers are
 * length-prefixed JSON frames on fds 3 (to the worker) and 4 (from it).
 * A worker that dies (a crash reachable from a policy) or outlives the
 * process backstop is killed, reaped and replaced: it costs one request. */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "serve/serve.h"
#include "serve/serve_frame.h"
#include "util/clock.h"
#include "util/json.h"

extern char **environ;

typedef struct worker {
  pid_t pid;
  int to_fd, from_fd;
  int busy;
} worker;

struct serve_pool {
  pthread_mutex_t mu;
  char *exe;
  worker *w;
  int n;
};

/* Moves a pipe end above the fds the worker gets (3, 4), close-on-exec. */
static int lift(int *fd) {
  int high = fcntl(*fd, F_DUPFD_CLOEXEC, 10);
  close(*fd);
  *fd = high;
  return high >= 0 ? 0 : -1;
}

static int make_pipe(int fds[2]) {
  if (pipe2(fds, O_CLOEXEC) != 0) return -1;
  int ok = lift(&fds[0]) == 0;
  ok &= lift(&fds[1]) == 0;
  if (ok) return 0;
  if (fds[0] >= 0) close(fds[0]);
  if (fds[1] >= 0) close(fds[1]);
  return -1;
}

static int spawn(serve_pool *p, worker *w, char *err, size_t errlen) {
  int req[2], resp[2];
  if (make_pipe(req) != 0) goto fail;
  if (make_pipe(resp) != 0) {
    close(req[0]), close(req[1]);
    goto fail;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, req[0], 3);
  posix_spawn_file_actions_adddup2(&fa, resp[1], 4);
  /* The worker is told who its parent is: it checks that it was not
   * orphaned before PR_SET_PDEATHSIG took hold by comparing with this id,
   * not with 1, which is the server itself in a container. */
  char parent[24];
  snprintf(parent, sizeof parent, "%ld", (long)getpid());
  char *argv[] = {p->exe, "serve", "--internal-worker", parent, NULL};
  int rc = posix_spawn(&w->pid, p->exe, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(req[0]);
  close(resp[1]);
  if (rc != 0) {
    close(req[1]), close(resp[0]);
    errno = rc;
    goto fail;
  }
  w->to_fd = req[1];
  w->from_fd = resp[0];
  return 0;
fail:
  snprintf(err, errlen, "cannot start a gate worker (%s): %s", p->exe, strerror(errno));
  w->pid = 0;
  return -1;
}

static void bury(worker *w, int *status) {
  if (w->pid > 0) {
    kill(w->pid, SIGKILL);
    while (waitpid(w->pid, status, 0) < 0 && errno == EINTR) {}
  }
  if (w->to_fd >= 0) close(w->to_fd);
  if (w->from_fd >= 0) close(w->from_fd);
  w->pid = 0;
  w->to_fd = w->from_fd = -1;
}

serve_pool *serve_pool_new(const char *exe, int n, char *err, size_t errlen) {
  serve_pool *p = calloc(1, sizeof *p);
  if (!p || !(p->exe = strdup(exe)) || !(p->w = calloc((size_t)n, sizeof *p->w))) {
    snprintf(err, errlen, "out of memory");
    if (p) free(p->exe), free(p);
    return NULL;
  }
  pthread_mutex_init(&p->mu, NULL);
  p->n = n;
  for (int i = 0; i < n; i++) {
    p->w[i].to_fd = p->w[i].from_fd = -1;
    if (spawn(p, &p->w[i], err, errlen) != 0) {
      serve_pool_free(p);
      return NULL;
    }
  }
  return p;
}

void serve_pool_free(serve_pool *p) {
  if (!p) return;
  for (int i = 0; i < p->n; i++) {
    int status;
    if (p->w[i].to_fd >= 0) close(p->w[i].to_fd), p->w[i].to_fd = -1; /* EOF: exits */
    bury(&p->w[i], &status);
  }
  pthread_mutex_destroy(&p->mu);
  free(p->w);
  free(p->exe);
  free(p);
}

int serve_pool_acquire(serve_pool *p) {
  pthread_mutex_lock(&p->mu);
  int got = -1;
  for (int i = 0; i < p->n && got < 0; i++)
    if (!p->w[i].busy) got = i;
  if (got >= 0) p->w[got].busy = 1;
  pthread_mutex_unlock(&p->mu);
  return got;
}

void serve_pool_release(serve_pool *p, int w) {
  pthread_mutex_lock(&p->mu);
  p->w[w].busy = 0;
  pthread_mutex_unlock(&p->mu);
}

int serve_pool_busy(serve_pool *p) {
  pthread_mutex_lock(&p->mu);
  int n = 0;
  for (int i = 0; i < p->n; i++) n += p->w[i].busy;
  pthread_mutex_unlock(&p->mu);
  return n;
}

void serve_gate_result_init(serve_gate_result *r) {
  memset(r, 0, sizeof *r);
  r->rc = -1;
  ub_buf_init(&r->verdict_json);
  ub_buf_init(&r->messages);
}

void serve_gate_result_free(serve_gate_result *r) {
  ub_buf_free(&r->verdict_json);
  ub_buf_free(&r->messages);
}

/* A whole number read by r (3 or 3.0), else absent. */
static int64_t whole_number(const json_reader *r, int64_t absent) {
  if (r->is_integer) return r->integer;
  if (r->num == floor(r->num) && r->num >= -9.2e18 && r->num <= 9.2e18) return (int64_t)r->num;
  return absent;
}

/* The fields of the worker's final frame that serve reads. */
enum { F_RC, F_EVALUATION, F_DT_REQUESTS, F_DT_RETRIES, F_VERDICT, F_SUMMARY, F_ERROR, F_MESSAGES,
       F_OTHER };

/* Which field the key just read names (compared whole: json_str_is). */
static int answer_field(const json_reader *r) {
  static const char *const keys[F_OTHER] = {"rc", "evaluation", "dt_requests", "dt_retries",
                                            "verdict", "summary", "error", "messages"};
  for (int f = 0; f < F_OTHER; f++)
    if (json_str_is(r, keys[f])) return f;
  return F_OTHER;
}

/* One member of the worker's final frame: field f, the first token of its
 * value t. Fields of the wrong type are left as they are. */
static void take_member(const json_reader *r, int f, json_token t, serve_gate_result *out) {
  if (t == JSON_NUMBER) {
    if (f == F_RC) {
      int64_t rc = whole_number(r, -1);
      out->rc = rc >= 0 && rc <= 255 ? (int)rc : -1;
    } else if (f == F_EVALUATION) {
      out->evaluation = whole_number(r, 0);
    } else if (f == F_DT_REQUESTS) {
      out->dt_requests = (size_t)whole_number(r, 0);
    } else if (f == F_DT_RETRIES) {
      out->dt_retries = (size_t)whole_number(r, 0);
    }
    return;
  }
  if (t != JSON_STRING) return;
  if (f == F_VERDICT) snprintf(out->verdict, sizeof out->verdict, "%s", r->str.data);
  else if (f == F_SUMMARY) snprintf(out->summary, sizeof out->summary, "%s", r->str.data);
  else if (f == F_ERROR) snprintf(out->error, sizeof out->error, "%s", r->str.data);
  else if (f == F_MESSAGES) ub_buf_puts(&out->messages, r->str.data);
}

/* The fields of got that its frame set, into out (the frame was whole). */
static void keep_result(const serve_gate_result *got, serve_gate_result *out) {
  out->rc = got->rc;
  out->evaluation = got->evaluation;
  out->dt_requests = got->dt_requests;
  out->dt_retries = got->dt_retries;
  if (got->verdict[0]) snprintf(out->verdict, sizeof out->verdict, "%s", got->verdict);
  if (got->summary[0]) snprintf(out->summary, sizeof out->summary, "%s", got->summary);
  if (got->error[0]) snprintf(out->error, sizeof out->error, "%s", got->error);
  if (got->messages.len) ub_buf_append(&out->messages, got->messages.data, got->messages.len);
}

/* Reads the worker's final frame into out: one pass of the pull reader
 * over the whole text into a scratch result, kept only when the frame is
 * whole (a damaged frame is refused as a whole: nothing read before the
 * damage reaches out), then verdict_json copied out as it was written.
 * A key is compared whole: one with a NUL ("rc\u0000") names no field. An
 * answer without an exit status decides nothing (rc stays -1). */
static int take_result(const char *json, size_t len, serve_gate_result *out) {
  json_reader r;
  serve_gate_result got;
  int ok = 0;
  serve_gate_result_init(&got);
  json_reader_init(&r, json, len, 250); /* verdict_json may be 100 deep (gate_run.c) */
  if (json_next(&r) == JSON_OBJECT) {
    json_token t;
    while ((t = json_next(&r)) == JSON_STRING) {
      int field = answer_field(&r);
      json_token v = json_next(&r);
      if (v == JSON_ERROR || v == JSON_OBJECT_END || json_skip(&r, v) != 0) break;
      take_member(&r, field, v, &got);
    }
    ok = t == JSON_OBJECT_END && json_next(&r) == JSON_END && !got.messages.failed;
  }
  json_reader_free(&r);
  if (ok) keep_result(&got, out);
  serve_gate_result_free(&got);
  if (!ok) {
    snprintf(out->error, sizeof out->error, "the gate worker answered something unreadable");
    return -1;
  }
  serve_json_field(&out->verdict_json, json, len, "verdict_json");
  return 0;
}

/* A {"line": TEXT} frame: TEXT to on_line. */
static void take_line(const char *json, size_t len, const serve_gate_hooks *h) {
  ub_buf text;
  ub_buf_init(&text);
  json_reader r;
  json_reader_init(&r, json, len, 8);
  if (json_next(&r) == JSON_OBJECT && json_next(&r) == JSON_STRING && json_str_is(&r, "line") &&
      json_next(&r) == JSON_STRING)
    ub_buf_append(&text, r.str.data, r.str.len);
  json_reader_free(&r);
  if (text.data && h->on_line) h->on_line(h->ud, text.data);
  ub_buf_free(&text);
}

/* Reads frames until the final one, the deadline or EOF. */
static int read_answer(worker *w, double deadline, const serve_gate_hooks *h, serve_gate_result *out,
                       int *timed_out) {
  serve_frame_reader fr;
  serve_frame_reader_init(&fr);
  int rc = -1;
  for (;;) {
    ub_buf frame;
    ub_buf_init(&frame);
    int got = serve_frame_read(w->from_fd, &fr, &frame, deadline);
    if (got <= 0) {
      *timed_out = got == 0;
      ub_buf_free(&frame);
      break;
    }
    if (strncmp(frame.data, "{\"begin\":", 9) == 0) {
      if (h->on_begin) h->on_begin(h->ud, strtoll(frame.data + 9, NULL, 10));
      ub_buf_free(&frame);
      continue;
    }
    if (strncmp(frame.data, "{\"line\":", 8) == 0) {
      take_line(frame.data, frame.len, h);
      ub_buf_free(&frame);
      continue;
    }
    rc = take_result(frame.data, frame.len, out);
    ub_buf_free(&frame);
    break;
  }
  serve_frame_reader_free(&fr);
  return rc;
}

static void describe_death(serve_gate_result *out, int status, int timed_out, double hard) {
  out->rc = -1;
  out->killed = 1;
  snprintf(out->verdict, sizeof out->verdict, "error");
  if (timed_out)
    snprintf(out->error, sizeof out->error, "stopped by the host backstop after %g s "
             "(the in-process limits did not end it)", hard);
  else if (WIFSIGNALED(status))
    snprintf(out->error, sizeof out->error, "the evaluation process died from signal %d (%s); "
             "the server is unharmed", WTERMSIG(status), strsignal(WTERMSIG(status)));
  else
    snprintf(out->error, sizeof out->error, "the evaluation process ended without an answer");
}

int serve_pool_run(serve_pool *p, int wi, const char *request_json, double hard_seconds,
                   const serve_gate_hooks *hooks, serve_gate_result *out) {
  static const serve_gate_hooks none = {NULL, NULL, NULL};
  const serve_gate_hooks *h = hooks ? hooks : &none;
  worker *w = &p->w[wi];
  char err[300];
  if (w->pid <= 0 && spawn(p, w, err, sizeof err) != 0) {
    snprintf(out->error, sizeof out->error, "%s", err);
    snprintf(out->verdict, sizeof out->verdict, "error");
    return -1;
  }
  int timed_out = 0, rc = -1, status = 0;
  if (w->pid > 0 && waitpid(w->pid, &status, WNOHANG) == w->pid) { /* died while idle */
    w->pid = 0;
    bury(w, &status);
    if (spawn(p, w, err, sizeof err) != 0) {
      snprintf(out->error, sizeof out->error, "%s", err);
      snprintf(out->verdict, sizeof out->verdict, "error");
      return -1;
    }
  }
  int sent = serve_frame_write(w->to_fd, request_json, strlen(request_json)) == 0;
  if (!sent) { /* the worker died while idle: the gate never started, so start a new one */
    bury(w, &status);
    sent = spawn(p, w, err, sizeof err) == 0 &&
           serve_frame_write(w->to_fd, request_json, strlen(request_json)) == 0;
  }
  if (sent) rc = read_answer(w, ub_clock_seconds() + hard_seconds, h, out, &timed_out);
  if (rc == 0) return 0;
  bury(w, &status);
  describe_death(out, status, timed_out, hard_seconds);
  if (spawn(p, w, err, sizeof err) != 0) w->pid = 0; /* retried at the next gate */
  return -1;
}
