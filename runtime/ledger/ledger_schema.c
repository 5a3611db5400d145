/* ledger_schema.c: the ledger's tables as a list of forward migrations,
 * once in SQLite's dialect and once in PostgreSQL's, with the same version
 * numbers. SQLite: PRAGMA user_version holds the version applied;
 * PostgreSQL: the highest row of schema_migrations, and table ledger_info
 * marks the schema as a ledger. schema_migrations keeps when each step
 * ran. Never edit a released step: add the next one, in both lists. */
#include "ledger/ledger_internal.h"

#include <stdio.h>
#include <string.h>

typedef struct migration {
  int version;
  const char *sql;
} migration;

static const migration MIGRATIONS[] = {
  {1,
   "CREATE TABLE schema_migrations ("
   "  version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL);"
   "CREATE TABLE blobs ("
   "  digest TEXT PRIMARY KEY CHECK (length(digest) = 64),"
   "  size INTEGER NOT NULL, content BLOB NOT NULL,"
   "  created_ms INTEGER NOT NULL) WITHOUT ROWID;"
   "CREATE TABLE evaluations ("
   "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
   "  created_ms INTEGER NOT NULL, finished_ms INTEGER,"
   "  requested_by TEXT NOT NULL, request_meta TEXT,"
   "  service TEXT, stage TEXT,"
   "  kind TEXT NOT NULL CHECK (kind IN ('monspec','slo')),"
   "  target TEXT, compat TEXT,"
   "  status TEXT NOT NULL CHECK (status IN ('running','finished','error')),"
   "  verdict TEXT CHECK (verdict IS NULL OR verdict IN"
   "    ('pass','warning','fail','inconclusive','error')),"
   "  score REAL, verdict_json TEXT, timings_json TEXT, error TEXT,"
   "  invalidated INTEGER NOT NULL DEFAULT 0 CHECK (invalidated IN (0,1)),"
   "  invalidated_reason TEXT, invalidated_ms INTEGER);"
   "CREATE INDEX evaluations_by_service ON evaluations(service, stage, id);"
   "CREATE TABLE evaluation_inputs ("
   "  evaluation_id INTEGER NOT NULL REFERENCES evaluations(id),"
   "  role TEXT NOT NULL CHECK (role IN ('spec','sli','policy','ctx')),"
   "  name TEXT, digest TEXT NOT NULL REFERENCES blobs(digest),"
   "  PRIMARY KEY (evaluation_id, role));"
   "CREATE TABLE binding_requests ("
   "  evaluation_id INTEGER NOT NULL REFERENCES evaluations(id),"
   "  seq INTEGER NOT NULL, binding TEXT NOT NULL,"
   "  method TEXT NOT NULL, url TEXT NOT NULL,"
   "  request_digest TEXT REFERENCES blobs(digest),"
   "  status INTEGER NOT NULL, response_headers TEXT,"
   "  response_digest TEXT REFERENCES blobs(digest),"
   "  duration_ms REAL NOT NULL, error TEXT,"
   "  PRIMARY KEY (evaluation_id, seq));"
   "CREATE TABLE deployment_events ("
   "  id INTEGER PRIMARY KEY AUTOINCREMENT, created_ms INTEGER NOT NULL,"
   "  requested_by TEXT NOT NULL, api TEXT NOT NULL, target TEXT,"
   "  request_digest TEXT REFERENCES blobs(digest),"
   "  status INTEGER NOT NULL,"
   "  response_digest TEXT REFERENCES blobs(digest),"
   "  outcome TEXT NOT NULL CHECK (outcome IN ('ok','error','dry-run')),"
   "  message TEXT);"
   "CREATE TABLE actions ("
   "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
   "  created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,"
   "  kind TEXT NOT NULL, key TEXT NOT NULL,"
   "  idempotency_key TEXT NOT NULL UNIQUE,"
   "  state TEXT NOT NULL, payload TEXT);"
   "CREATE INDEX actions_by_key ON actions(kind, key);"},
  /* 2: status 'abandoned' for evaluations whose process ended without a
   * verdict, and who owns a running evaluation (host, pid, process start)
   * so that only rows of dead processes are abandoned (ledger_owner.c).
   * SQLite cannot change a CHECK: the table is rebuilt (foreign keys are
   * off for this step, see ledger_migrate). */
  {2,
   "CREATE TABLE evaluations_v2 ("
   "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
   "  created_ms INTEGER NOT NULL, finished_ms INTEGER,"
   "  requested_by TEXT NOT NULL, request_meta TEXT,"
   "  service TEXT, stage TEXT,"
   "  kind TEXT NOT NULL CHECK (kind IN ('monspec','slo')),"
   "  target TEXT, compat TEXT,"
   "  status TEXT NOT NULL CHECK (status IN ('running','finished','error','abandoned')),"
   "  verdict TEXT CHECK (verdict IS NULL OR verdict IN"
   "    ('pass','warning','fail','inconclusive','error')),"
   "  score REAL, verdict_json TEXT, timings_json TEXT, error TEXT,"
   "  invalidated INTEGER NOT NULL DEFAULT 0 CHECK (invalidated IN (0,1)),"
   "  invalidated_reason TEXT, invalidated_ms INTEGER,"
   "  owner_host TEXT, owner_pid INTEGER, owner_start TEXT);"
   "INSERT INTO evaluations_v2 (id, created_ms, finished_ms, requested_by, request_meta,"
   "  service, stage, kind, target, compat, status, verdict, score, verdict_json,"
   "  timings_json, error, invalidated, invalidated_reason, invalidated_ms)"
   "  SELECT id, created_ms, finished_ms, requested_by, request_meta, service, stage, kind,"
   "  target, compat, status, verdict, score, verdict_json, timings_json, error, invalidated,"
   "  invalidated_reason, invalidated_ms FROM evaluations;"
   "DROP TABLE evaluations;"
   "ALTER TABLE evaluations_v2 RENAME TO evaluations;"
   "CREATE INDEX evaluations_by_service ON evaluations(service, stage, id);"
   "CREATE INDEX evaluations_running ON evaluations(id) WHERE status = 'running';"},
  {3, /* serve: Azure DevOps callbacks owed, so a restart resumes them */
   "CREATE TABLE pending_callbacks ("
   "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
   "  created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,"
   "  evaluation_id INTEGER REFERENCES evaluations(id),"
   "  plan_url TEXT NOT NULL, project_id TEXT NOT NULL, hub_name TEXT NOT NULL,"
   "  plan_id TEXT NOT NULL, job_id TEXT NOT NULL, timeline_id TEXT NOT NULL,"
   "  task_instance_id TEXT NOT NULL,"
   "  token_sealed BLOB,"
   "  request_json TEXT NOT NULL,"
   "  deadline_ms INTEGER NOT NULL,"
   "  state TEXT NOT NULL CHECK (state IN ('pending','completed','failed')),"
   "  result TEXT, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT);"
   "CREATE INDEX pending_callbacks_by_state ON pending_callbacks(state, id);"},
  {4, /* selfheal: the healing worker takes the oldest pending notification */
   "CREATE INDEX IF NOT EXISTS actions_by_state ON actions(kind, state, id);"},
};

/* The same versions for PostgreSQL: BIGINT for every time and id, identity
 * columns, BYTEA, DOUBLE PRECISION. */
static const migration PG_MIGRATIONS[] = {
  {1,
   "CREATE TABLE schema_migrations ("
   "  version INTEGER PRIMARY KEY, applied_ms BIGINT NOT NULL);"
   "CREATE TABLE ledger_info (application_id BIGINT NOT NULL);"
   "CREATE TABLE blobs ("
   "  digest TEXT PRIMARY KEY CHECK (length(digest) = 64),"
   "  size BIGINT NOT NULL, content BYTEA NOT NULL,"
   "  created_ms BIGINT NOT NULL);"
   "CREATE TABLE evaluations ("
   "  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
   "  created_ms BIGINT NOT NULL, finished_ms BIGINT,"
   "  requested_by TEXT NOT NULL, request_meta TEXT,"
   "  service TEXT, stage TEXT,"
   "  kind TEXT NOT NULL CHECK (kind IN ('monspec','slo')),"
   "  target TEXT, compat TEXT,"
   "  status TEXT NOT NULL CONSTRAINT evaluations_status_check"
   "    CHECK (status IN ('running','finished','error')),"
   "  verdict TEXT CHECK (verdict IS NULL OR verdict IN"
   "    ('pass','warning','fail','inconclusive','error')),"
   "  score DOUBLE PRECISION, verdict_json TEXT, timings_json TEXT, error TEXT,"
   "  invalidated INTEGER NOT NULL DEFAULT 0 CHECK (invalidated IN (0,1)),"
   "  invalidated_reason TEXT, invalidated_ms BIGINT);"
   "CREATE INDEX evaluations_by_service ON evaluations(service, stage, id);"
   "CREATE TABLE evaluation_inputs ("
   "  evaluation_id BIGINT NOT NULL REFERENCES evaluations(id),"
   "  role TEXT NOT NULL CHECK (role IN ('spec','sli','policy','ctx')),"
   "  name TEXT, digest TEXT NOT NULL REFERENCES blobs(digest),"
   "  PRIMARY KEY (evaluation_id, role));"
   "CREATE TABLE binding_requests ("
   "  evaluation_id BIGINT NOT NULL REFERENCES evaluations(id),"
   "  seq INTEGER NOT NULL, binding TEXT NOT NULL,"
   "  method TEXT NOT NULL, url TEXT NOT NULL,"
   "  request_digest TEXT REFERENCES blobs(digest),"
   "  status INTEGER NOT NULL, response_headers TEXT,"
   "  response_digest TEXT REFERENCES blobs(digest),"
   "  duration_ms DOUBLE PRECISION NOT NULL, error TEXT,"
   "  PRIMARY KEY (evaluation_id, seq));"
   "CREATE TABLE deployment_events ("
   "  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, created_ms BIGINT NOT NULL,"
   "  requested_by TEXT NOT NULL, api TEXT NOT NULL, target TEXT,"
   "  request_digest TEXT REFERENCES blobs(digest),"
   "  status INTEGER NOT NULL,"
   "  response_digest TEXT REFERENCES blobs(digest),"
   "  outcome TEXT NOT NULL CHECK (outcome IN ('ok','error','dry-run')),"
   "  message TEXT);"
   "CREATE TABLE actions ("
   "  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
   "  created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL,"
   "  kind TEXT NOT NULL, key TEXT NOT NULL,"
   "  idempotency_key TEXT NOT NULL UNIQUE,"
   "  state TEXT NOT NULL, payload TEXT);"
   "CREATE INDEX actions_by_key ON actions(kind, key);"},
  {2, /* PostgreSQL changes a CHECK in place */
   "ALTER TABLE evaluations DROP CONSTRAINT evaluations_status_check,"
   "  ADD CONSTRAINT evaluations_status_check"
   "    CHECK (status IN ('running','finished','error','abandoned')),"
   "  ADD COLUMN owner_host TEXT, ADD COLUMN owner_pid BIGINT, ADD COLUMN owner_start TEXT;"
   "CREATE INDEX evaluations_running ON evaluations(id) WHERE status = 'running';"},
  {3,
   "CREATE TABLE pending_callbacks ("
   "  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
   "  created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL,"
   "  evaluation_id BIGINT REFERENCES evaluations(id),"
   "  plan_url TEXT NOT NULL, project_id TEXT NOT NULL, hub_name TEXT NOT NULL,"
   "  plan_id TEXT NOT NULL, job_id TEXT NOT NULL, timeline_id TEXT NOT NULL,"
   "  task_instance_id TEXT NOT NULL,"
   "  token_sealed BYTEA,"
   "  request_json TEXT NOT NULL,"
   "  deadline_ms BIGINT NOT NULL,"
   "  state TEXT NOT NULL CHECK (state IN ('pending','completed','failed')),"
   "  result TEXT, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,"
   "  lease_owner TEXT, lease_until_ms BIGINT);"   /* the replica running it */
   "CREATE INDEX pending_callbacks_by_state ON pending_callbacks(state, id);"},
  /* 4: the queue's index, and the lease of a replica working on an action
   * (ledger_action_claim); SQLite, used by one process, needs no lease */
  {4,
   "CREATE INDEX IF NOT EXISTS actions_by_state ON actions(kind, state, id);"
   "ALTER TABLE actions ADD COLUMN lease_owner TEXT, ADD COLUMN lease_until_ms BIGINT;"},
};

#define COUNT(a) (sizeof (a) / sizeof *(a))
_Static_assert(COUNT(MIGRATIONS) == COUNT(PG_MIGRATIONS), "a migration step in one dialect only");

static int pragma_int(ub_ledger *l, const char *sql, int *value) {
  store_stmt *st;
  if (ledger_prepare(l, sql, &st) != LEDGER_OK) return LEDGER_ERROR;
  int rc = store_step(st);
  if (rc == STORE_ROW) *value = store_column_int(st, 0);
  store_finalize(st);
  if (rc != STORE_ROW) return ledger_sql_error(l, sql);
  return LEDGER_OK;
}

static int count_tables(ub_ledger *l, int *n) {
  return pragma_int(l, LEDGER_SQL(l, "SELECT count(*) FROM sqlite_schema",
                                  "SELECT count(*)::int FROM information_schema.tables"
                                  " WHERE table_schema = current_schema()"), n);
}

static int apply(ub_ledger *l, const migration *m) {
  char sql[160];
  if (store_exec(l->db, m->sql) != STORE_OK) return ledger_sql_error(l, "migrating the schema");
  if (l->pg) {
    snprintf(sql, sizeof sql, "INSERT INTO schema_migrations VALUES (%d, %lld);", m->version,
             (long long)ledger_now_ms());
    if (m->version == 1)
      snprintf(sql + strlen(sql), sizeof sql - strlen(sql), "INSERT INTO ledger_info VALUES (%d)",
               LEDGER_APPLICATION_ID);
    return store_exec(l->db, sql) == STORE_OK ? LEDGER_OK
                                              : ledger_sql_error(l, "recording the schema version");
  }
  snprintf(sql, sizeof sql,
           "INSERT INTO schema_migrations VALUES (%d, %lld);"
           "PRAGMA user_version = %d; PRAGMA application_id = %d;",
           m->version, (long long)ledger_now_ms(), m->version, LEDGER_APPLICATION_ID);
  if (store_exec(l->db, sql) != STORE_OK) return ledger_sql_error(l, "recording the schema version");
  return LEDGER_OK;
}

/* PostgreSQL: the ledger id (0: no ledger_info table) and version (0: no
 * schema_migrations table), and how many tables the schema holds. */
static int pg_read_version(ub_ledger *l, int *app_id, int *version) {
  int has_info = 0, has_migrations = 0;
  *app_id = 0;
  *version = 0;
  /* information_schema, not to_regclass: its catalog lookup may miss a
   * table another process committed a moment ago */
  if (pragma_int(l, "SELECT count(*)::int FROM information_schema.tables WHERE table_schema ="
                    " current_schema() AND table_name = 'ledger_info'", &has_info) != LEDGER_OK ||
      pragma_int(l, "SELECT count(*)::int FROM information_schema.tables WHERE table_schema ="
                    " current_schema() AND table_name = 'schema_migrations'", &has_migrations) != LEDGER_OK)
    return LEDGER_ERROR;
  if (has_info && pragma_int(l, "SELECT coalesce(max(application_id), 0)::int FROM ledger_info", app_id) != LEDGER_OK)
    return LEDGER_ERROR;
  if (has_migrations && has_info &&
      pragma_int(l, "SELECT coalesce(max(version), 0) FROM schema_migrations", version) != LEDGER_OK)
    return LEDGER_ERROR;
  return LEDGER_OK;
}

static int read_version(ub_ledger *l, int *app_id, int *version) {
  if (l->pg) return pg_read_version(l, app_id, version);
  if (pragma_int(l, "PRAGMA application_id", app_id) != LEDGER_OK ||
      pragma_int(l, "PRAGMA user_version", version) != LEDGER_OK)
    return LEDGER_ERROR;
  return LEDGER_OK;
}

/* Refuses files that belong to something else or to a newer build. */
static int check_owner(ub_ledger *l, int app_id, int version) {
  int tables = 0;
  if (app_id != 0 && app_id != LEDGER_APPLICATION_ID) {
    ledger_set_error(l, "ledger %s: a database of another application "
                     "(application_id 0x%08x); pass --ledger or --database with another one",
                     l->path, (unsigned)app_id);
    return LEDGER_ERROR;
  }
  if (version > LEDGER_SCHEMA_VERSION) {
    ledger_set_error(l, "ledger %s: schema version %d was written by a newer "
                     "unbreakable (this one knows up to %d); upgrade unbreakable",
                     l->path, version, LEDGER_SCHEMA_VERSION);
    return LEDGER_ERROR;
  }
  if (app_id == 0 && version == 0) {
    if (count_tables(l, &tables) != LEDGER_OK) return LEDGER_ERROR;
    if (tables > 0) {
      ledger_set_error(l, "ledger %s: a database that is not an unbreakable ledger "
                       "(%d schema objects, no ledger id); pass --ledger with another file, "
                       "or --database with an empty database or schema", l->path, tables);
      return LEDGER_ERROR;
    }
  }
  return LEDGER_OK;
}

/* After a rebuilt table: every reference must still resolve. */
static int foreign_keys_hold(ub_ledger *l) {
  store_stmt *st;
  if (ledger_prepare(l, "PRAGMA foreign_key_check", &st) != LEDGER_OK) return LEDGER_ERROR;
  int rc = store_step(st);
  store_finalize(st);
  if (rc == STORE_DONE) return LEDGER_OK;
  if (rc == STORE_ROW)
    ledger_set_error(l, "ledger %s: the schema migration broke a reference; the file is left "
                     "as it was", l->path);
  else ledger_sql_error(l, "checking references after the migration");
  return LEDGER_ERROR;
}

/* Inside the write transaction (on PostgreSQL under the ledger's advisory
 * lock): read the version again, so of two processes starting at once the
 * second finds the schema migrated by the first. */
static int migrate_in_tx(ub_ledger *l, void *ud) {
  (void)ud;
  int app_id = 0, version = 0;
  const migration *steps = l->pg ? PG_MIGRATIONS : MIGRATIONS;
  if (read_version(l, &app_id, &version) != LEDGER_OK) return LEDGER_ERROR;
  if (check_owner(l, app_id, version) != LEDGER_OK) return LEDGER_ERROR;
  for (size_t i = 0; i < COUNT(MIGRATIONS); i++) {
    if (steps[i].version <= version) continue;
    if (apply(l, &steps[i]) != LEDGER_OK) return LEDGER_ERROR;
  }
  return l->pg ? LEDGER_OK : foreign_keys_hold(l);
}

int ledger_migrate(ub_ledger *l) {
  int app_id = 0, version = 0;
  /* Fast path without the write lock: already current. */
  if (read_version(l, &app_id, &version) != LEDGER_OK) return LEDGER_ERROR;
  if (app_id == LEDGER_APPLICATION_ID && version == LEDGER_SCHEMA_VERSION)
    return LEDGER_OK;
  if (l->pg) return ledger_write(l, migrate_in_tx, NULL);
  /* A table rebuild drops the old table: with foreign keys enforced that
   * would delete through the references. SQLite's procedure: keys off
   * outside the transaction, foreign_key_check inside, keys on again. */
  if (store_exec(l->db, "PRAGMA foreign_keys=OFF") != STORE_OK)
    return ledger_sql_error(l, "preparing the schema migration");
  int rc = ledger_write(l, migrate_in_tx, NULL);
  if (store_exec(l->db, "PRAGMA foreign_keys=ON") != STORE_OK && rc == LEDGER_OK)
    rc = ledger_sql_error(l, "enabling foreign keys after the schema migration");
  return rc;
}
