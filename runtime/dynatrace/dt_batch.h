/* dt_batch.h: runs a batch of read calls: every first page in parallel,
 * then the follow-up pages in rounds, each answer recorded (or taken from
 * a replay record), checked and decoded. */
#ifndef UB_DT_BATCH_H
#define UB_DT_BATCH_H

#include <stddef.h>
#include <stdint.h>
#include <lua.h>

#include "dynatrace/dt_calls.h"
#include "dynatrace/dynatrace.h"
#include "dynatrace/recorder.h"

typedef struct dt_binding {
  ub_dt_client *client;     /* NULL: replay only */
  ub_recorder *rec;         /* NULL: nothing recorded */
  int64_t deadline_ms;      /* monotonic; 0 = client timeout per batch */
  int max_pages;
} dt_binding;

typedef struct dt_result {
  int failed;
  long status;              /* of the last answer, 0 when none */
  int pages;
  char error[700];
} dt_result;

/* Pushes one table: [i] = array of the decoded pages of call i (empty
 * when it failed or was not sent). Calls whose target is NULL are not
 * sent. Raises only on memory errors and sandbox kills. */
void dt_batch_run(lua_State *L, const dt_binding *b, const dt_call *calls, dt_result *res,
                  size_t n);

#endif
