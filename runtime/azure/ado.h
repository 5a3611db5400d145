/* Folder azure/: the Azure DevOps REST client (the service's callbacks;
 * the Release API of self-healing will join it). May call net/ and util/. */
/* ado.h: the Azure DevOps calls a gate in callback mode makes back into
 * the pipeline's plan (distributed task API, azure-devops notes in
 * docs/serve.md): read the plan's version, post live log lines to the
 * timeline record's feed and to its task log (create, attach, append),
 * raise TaskCompleted with the ids the hub rules ask
 * for. Built on the HTTP engine (net/http.h); the job token goes only
 * into the Authorization header and is never copied into an error. */
#ifndef UB_AZURE_ADO_H
#define UB_AZURE_ADO_H

#include <stddef.h>

typedef struct ado_plan {
  const char *plan_url;        /* PlanUrl, with or without a trailing '/' */
  const char *project_id, *hub_name, *plan_id, *job_id, *timeline_id, *task_instance_id;
} ado_plan;

typedef struct ado_call {
  long status;                 /* HTTP status, 0 when no answer */
  long retry_after_ms;         /* server-requested wait, -1 when none */
  char error[300];             /* one line when the call failed */
} ado_call;

/* The empty GUID the gates rule puts in taskId. */
#define ADO_EMPTY_GUID "00000000-0000-0000-0000-000000000000"

/* 1 when the hub is Gates (any case): then the plan version decides. */
int ado_needs_plan_version(const ado_plan *p);
/* The TaskCompleted ids: normally jobId = JobId, taskId = TaskInstanceId;
 * for hub Gates with a plan version <= 12: jobId = TaskInstanceId and
 * taskId = the empty GUID. */
void ado_completed_ids(const ado_plan *p, int plan_version, const char **job_id, const char **task_id);

/* Each returns 0 on a 2xx answer, -1 otherwise (call says why). */
int ado_get_plan_version(const ado_plan *p, const char *token, long timeout_ms, int *version, ado_call *call);
int ado_post_feed(const ado_plan *p, const char *token, long timeout_ms, const char *const *lines,
                  size_t n, ado_call *call);
int ado_task_completed(const ado_plan *p, const char *token, long timeout_ms, int plan_version,
                       const char *result, ado_call *call);
/* The task's log: POST {plan}/logs {"path": "logs\\<TaskInstanceId>"} ->
 * *log_id (location: the log's URL, or ""), then PATCH the timeline's
 * records so that the task's record shows it. One attempt each: a live
 * log never holds a gate up. */
int ado_open_task_log(const ado_plan *p, const char *token, long timeout_ms, long long *log_id,
                      ado_call *call);
/* Appends text (lines ending in '\n') to the log, as raw text. */
int ado_append_log(const ado_plan *p, const char *token, long timeout_ms, long long log_id, const char *text,
                   ado_call *call);

#endif
