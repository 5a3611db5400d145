/* ledger_internal.h: what the ledger_*.c files share: the handle, the
 * error helpers, the retried write transaction and the blob store. Not for
 * use outside the ledger. */
#ifndef UB_LEDGER_INTERNAL_H
#define UB_LEDGER_INTERNAL_H

#include "util/buf.h"
#include "ledger/ledger.h"
#include "store/store.h"

/* Who runs an evaluation (ledger_owner.c). */
typedef struct ledger_owner {
  char host[256];
  long pid;
  char start[128];       /* "<boot id>/<start ticks>", "" when unknown */
} ledger_owner;

struct ub_ledger {
  store *db;
  int pg;                /* 1: PostgreSQL (store_pg.c), 0: an SQLite file */
  char *path;            /* the file, or a description of the database (no password) */
  int in_write;          /* inside ledger_write */
  char lease_owner[300]; /* PostgreSQL: this process, owner of the leases it takes */
  int64_t lease_ms;      /* how long a lease lasts (ledger_set_lease_ms) */
  char **secrets;
  size_t nsecrets;
  ledger_owner self;     /* this process, read from /proc once per process (ledger_self) */
  char err[768];
};

#define LEDGER_APPLICATION_ID 0x55424c44 /* "UBLD" */
/* pg_advisory_xact_lock key of every ledger write on PostgreSQL */
#define LEDGER_PG_WRITE_LOCK 0x55424c44

/* The columns ledger_action rows are read from (ledger_events.c). */
#define LEDGER_ACTION_COLUMNS "id, created_ms, updated_ms, kind, key, idempotency_key, state, payload"
/* The actions of one kind and key (?1, ?2), oldest first: every gate asks
 * it (the freeze check), so it must be an index search, never a scan of
 * the table (test_ledger.c checks the plan). */
#define LEDGER_SQL_ACTIONS_OF_KEY \
  "SELECT " LEDGER_ACTION_COLUMNS " FROM actions WHERE kind = ?1 AND key = ?2 ORDER BY id"

/* Picks the SQL of the ledger's back end (the few dialect differences). */
#define LEDGER_SQL(l, sqlite_sql, pg_sql) ((l)->pg ? (pg_sql) : (sqlite_sql))

void ledger_set_error(ub_ledger *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Sets the error from the store's last message for `what`; returns LEDGER_ERROR. */
int ledger_sql_error(ub_ledger *l, const char *what);
int64_t ledger_now_ms(void);

/* Runs fn(l, ud) inside one write transaction, waiting for other writers:
 * SQLite BEGIN IMMEDIATE (busy timeout, then retries); PostgreSQL BEGIN and
 * the ledger's transaction-scoped advisory lock, so writers take turns as
 * on SQLite, retried on serialization failures and deadlocks. fn returns
 * LEDGER_OK to commit; anything else rolls back and is returned. */
typedef int (*ledger_write_fn)(ub_ledger *l, void *ud);
int ledger_write(ub_ledger *l, ledger_write_fn fn, void *ud);

/* Binds text (redacted) or NULL to parameter idx. Returns STORE_OK or an
 * error code (ledger error set). */
int ledger_bind_redacted(ub_ledger *l, store_stmt *st, int idx, const char *s);
/* Redacts data and stores it once under its digest (inside a write
 * transaction). digest gets "" and LEDGER_OK when data is NULL. */
int ledger_put_blob(ub_ledger *l, const char *data, size_t len, char digest[65]);
/* Reads the blob for digest into doc (data NUL-terminated). */
int ledger_get_blob(ub_ledger *l, const char *digest, ledger_doc *doc);
void ledger_doc_free(ledger_doc *doc);

/* Copies column col (NULL stays NULL); sets *oom on allocation failure. */
char *ledger_col_dup(store_stmt *st, int col, int *oom);
int ledger_prepare(ub_ledger *l, const char *sql, store_stmt **st);

void ledger_owner_self(ledger_owner *o);
/* The same, read once per process and kept in the handle (a forked child
 * reads its own). */
const ledger_owner *ledger_self(ub_ledger *l);
/* Marks the running evaluations of dead owners abandoned (on open). */
int ledger_abandon_dead(ub_ledger *l);

/* Creates or migrates the schema to LEDGER_SCHEMA_VERSION (inside a write
 * transaction). */
int ledger_migrate(ub_ledger *l);

#endif
