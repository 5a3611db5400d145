/* ledger_owner.c: who runs an evaluation, and the rows left `running` by
 * processes that are gone. A row records its owner as the host name, the
 * pid namespace, the pid and the process's start (boot id and start time
 * from /proc), so a reused pid is never taken for the owner. Each open of the ledger marks
 * the running rows of dead owners on this host `abandoned`, with when
 * and why; a row of another host (a shared file) is abandoned only after
 * the longest run the CLI allows. Rows of live processes are never
 * touched, so a gate running in another process keeps its row. */
#define _GNU_SOURCE
#include "ledger/ledger_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Longer than any run: --timeout is at most 86400 s, the backstop is
 * 2 × timeout + 5 s, plus the SLO form's wait for data. */
#define FOREIGN_LEASE_MS (3LL * 24 * 3600 * 1000)

static int read_line(const char *path, char *out, size_t len) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  int ok = fgets(out, (int)len, f) != NULL;
  fclose(f);
  if (!ok) return -1;
  out[strcspn(out, "\n")] = '\0';
  return 0;
}

/* "<boot id>/<start time in clock ticks>" of pid, or "" when /proc does
 * not say; *state gets the process state letter ('Z' for a zombie: it
 * ended, only its parent has not collected it yet). */
static void process_start(long pid, char *out, size_t len, char *state) {
  char path[64], stat[1024], boot[64];
  out[0] = '\0';
  *state = '?';
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  if (read_line(path, stat, sizeof stat) != 0) return;
  if (read_line("/proc/sys/kernel/random/boot_id", boot, sizeof boot) != 0) boot[0] = '\0';
  const char *p = strrchr(stat, ')');            /* the command name may hold spaces */
  if (!p) return;
  if (p[1] == ' ' && p[2]) *state = p[2];
  int field = 2;
  for (; *p && field < 22; p++)
    if (*p == ' ') field++;
  unsigned long long ticks;
  if (field == 22 && sscanf(p, "%llu", &ticks) == 1) snprintf(out, len, "%s/%llu", boot, ticks);
}

/* The host name and the pid namespace: containers that share a ledger
 * file (and maybe a host name) do not see each other's pids, so a pid is
 * only judged inside its own namespace. */
static void owner_host(char *out, size_t len) {
  char name[200] = "unknown-host", ns[64] = "";
  if (gethostname(name, sizeof name - 1) != 0) snprintf(name, sizeof name, "unknown-host");
  name[sizeof name - 1] = '\0';
  ssize_t n = readlink("/proc/self/ns/pid", ns, sizeof ns - 1);
  ns[n > 0 ? n : 0] = '\0';
  if (ns[0]) snprintf(out, len, "%s %s", name, ns);
  else snprintf(out, len, "%s", name);
}

void ledger_owner_self(ledger_owner *o) {
  memset(o, 0, sizeof *o);
  owner_host(o->host, sizeof o->host);
  o->pid = (long)getpid();
  char state;
  process_start(o->pid, o->start, sizeof o->start, &state);
}

const ledger_owner *ledger_self(ub_ledger *l) {
  if (l->self.pid != (long)getpid()) ledger_owner_self(&l->self);
  return &l->self;
}

void ledger_owner_name(char *out, size_t outlen) {
  ledger_owner o;
  ledger_owner_self(&o);
  snprintf(out, outlen, "%s pid %ld", o.host, o.pid);
}

/* 1 alive, 0 gone, -1 cannot tell (another host, or no owner recorded). */
static int owner_alive(const ledger_owner *self, const char *host, long pid, const char *start) {
  if (!host || pid <= 0 || strcmp(host, self->host) != 0) return -1;
  if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) return 0;
  if (!start || !*start) return 1;               /* pid alive, start unknown: keep it */
  char now[128], state;
  process_start(pid, now, sizeof now, &state);
  if (state == 'Z' || state == 'X') return 0;    /* ended, not yet reaped */
  return now[0] && strcmp(now, start) != 0 ? 0 : 1;
}

typedef struct abandon_row {
  int64_t id, created_ms;
  char *host, *start;
  long pid;
  char why[600];          /* "" while the owner may be alive */
} abandon_row;

typedef struct abandon_list {
  abandon_row *rows;
  size_t n;
} abandon_list;

static void judge_row(const ledger_owner *self, abandon_row *r, int64_t now) {
  int alive = owner_alive(self, r->host, r->pid, r->start);
  if (alive == 0) {
    snprintf(r->why, sizeof r->why, "abandoned: process %ld on %s ended without recording a verdict "
             "(killed, crashed, or the ledger write of its result failed)", r->pid, r->host);
  } else if (alive < 0 && now - r->created_ms > FOREIGN_LEASE_MS) {
    snprintf(r->why, sizeof r->why, "abandoned: still running %lld h after it started, longer than "
             "any run may last (owner %s%s%ld)", (long long)((now - r->created_ms) / 3600000),
             r->host ? r->host : "unknown", r->host ? " pid " : " ", r->pid);
  }
}

/* Reads the running rows (no write lock). */
static int read_running(ub_ledger *l, abandon_list *out) {
  store_stmt *st;
  if (ledger_prepare(l, "SELECT id, created_ms, owner_host, owner_pid, owner_start FROM evaluations "
                        "WHERE status = 'running' ORDER BY id", &st) != LEDGER_OK)
    return LEDGER_ERROR;
  int rc, oom = 0;
  while ((rc = store_step(st)) == STORE_ROW) {
    abandon_row *grown = realloc(out->rows, (out->n + 1) * sizeof *out->rows);
    if (!grown) { oom = 1; break; }
    out->rows = grown;
    abandon_row *r = &out->rows[out->n++];
    memset(r, 0, sizeof *r);
    r->id = store_column_int64(st, 0);
    r->created_ms = store_column_int64(st, 1);
    r->pid = (long)store_column_int64(st, 3);
    r->host = ledger_col_dup(st, 2, &oom);
    r->start = ledger_col_dup(st, 4, &oom);
  }
  store_finalize(st);
  if (oom) {
    ledger_set_error(l, "out of memory");
    return LEDGER_ERROR;
  }
  return rc == STORE_DONE ? LEDGER_OK : ledger_sql_error(l, "reading running evaluations");
}

static int mark(ub_ledger *l, int64_t id, const char *why) {
  store_stmt *st;
  if (ledger_prepare(l, "UPDATE evaluations SET status='abandoned', finished_ms=?, error=? "
                        "WHERE id=? AND status='running'", &st) != LEDGER_OK)
    return LEDGER_ERROR;
  store_bind_int64(st, 1, ledger_now_ms());
  store_bind_cstr(st, 2, why);
  store_bind_int64(st, 3, id);
  int rc = store_step(st);
  store_finalize(st);
  return rc == STORE_DONE ? LEDGER_OK : ledger_sql_error(l, "marking an evaluation abandoned");
}

/* Marks the rows judged dead; a row finished meanwhile is left alone. */
static int abandon_in_tx(ub_ledger *l, void *ud) {
  const abandon_list *list = ud;
  for (size_t i = 0; i < list->n; i++)
    if (list->rows[i].why[0] && mark(l, list->rows[i].id, list->rows[i].why) != LEDGER_OK)
      return LEDGER_ERROR;
  return LEDGER_OK;
}

int ledger_abandon_dead(ub_ledger *l) {
  abandon_list list = {0};
  /* Reads only: an open that finds no dead owner takes no write lock, even
   * while other gates run. */
  int rc = read_running(l, &list);
  if (rc == LEDGER_OK && list.n) {
    const ledger_owner *self = ledger_self(l);
    int64_t now = ledger_now_ms();
    int any = 0;
    for (size_t i = 0; i < list.n; i++) {
      judge_row(self, &list.rows[i], now);
      any |= list.rows[i].why[0] != '\0';
    }
    if (any) rc = ledger_write(l, abandon_in_tx, &list);
  }
  for (size_t i = 0; i < list.n; i++) {
    free(list.rows[i].host);
    free(list.rows[i].start);
  }
  free(list.rows);
  return rc;
}
