/* ledger_downgrade.h: a ledger as an earlier release left it, for the
 * migration tests (test_heal.c, test_serve.c): created at today's schema,
 * then taken back by sql. */
#ifndef UB_TEST_LEDGER_DOWNGRADE_H
#define UB_TEST_LEDGER_DOWNGRADE_H

#include <sqlite3.h>

#include "ledger/ledger.h"

/* 0, or -1 when the ledger could not be created or sql failed. */
static inline int ledger_downgrade(const char *path, const char *sql) {
  char err[600];
  ub_ledger *l = ledger_open(path, err, sizeof err);
  if (!l) return -1;
  ledger_close(l);
  sqlite3 *db = NULL;
  int rc = sqlite3_open(path, &db) == SQLITE_OK && sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
  sqlite3_close(db);
  return rc;
}

#endif
