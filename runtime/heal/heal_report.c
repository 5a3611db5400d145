/* heal_report.c: the HTML page of one healing (docs/selfheal.md): the
 * notification, what the policy saw (per entity its pipeline deployments
 * and the stage's deployments in Azure DevOps), what it decided (each
 * intent and its reason) and each intent's outcome. One self-contained
 * page, no script, every text escaped; output depends only on the record. */
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "heal/heal_internal.h"
#include "util/text.h"
#include "util/json.h"

static const char CSS[] =
    "body{font:14px/1.45 system-ui,'DejaVu Sans',sans-serif;color:#1f2328;max-width:1100px;margin:24px auto;"
    "padding:0 16px}h1{font-size:22px}h2{font-size:17px;margin-top:26px}"
    "table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #d0d7de;padding:6px 8px;"
    "text-align:left;vertical-align:top}th{background:#f6f8fa}"
    ".badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px;font-weight:700}"
    ".s-done,.s-already-done{background:#1a7f37}.s-failed,.s-policy-error{background:#cf222e}"
    ".s-dry-run,.s-other{background:#57606a}code{font:13px ui-monospace,monospace;background:#f6f8fa;"
    "padding:1px 4px;overflow-wrap:anywhere}.muted{color:#57606a}";

static void esc(ub_buf *out, const char *s) { ub_xml_puts(out, s); }

static void badge(ub_buf *out, const char *status) {
  const char *cls = "other";
  static const char *const known[] = {"done", "already-done", "failed", "policy-error", "dry-run"};
  for (size_t i = 0; status && i < sizeof known / sizeof *known; i++)
    if (strcmp(status, known[i]) == 0) cls = known[i];
  ub_buf_printf(out, "<span class=\"badge s-%s\">", cls);
  esc(out, status ? status : "none");
  ub_buf_puts(out, "</span>");
}

static void row2(ub_buf *out, const char *k, const char *v) {
  ub_buf_puts(out, "<tr><th>");
  esc(out, k);
  ub_buf_puts(out, "</th><td>");
  esc(out, v ? v : "-");
  ub_buf_puts(out, "</td></tr>");
}

/* Pushes field key of the value at idx, nil when that is not a table (a
 * record may hold any JSON an answer held). */
static int push_field(lua_State *L, int idx, const char *key) {
  idx = lua_absindex(L, idx);
  if (!lua_istable(L, idx)) {
    lua_pushnil(L);
    return lua_gettop(L);
  }
  lua_getfield(L, idx, key);
  return lua_gettop(L);
}

static lua_Integer list_len(lua_State *L, int idx) { return lua_istable(L, idx) ? luaL_len(L, idx) : 0; }

/* The stage's deployments as Azure DevOps listed them (the newest six), or
 * why they were not read. */
static void ado_cell(lua_State *L, int ado, ub_buf *out) {
  if (heal_str(L, ado, "error")) {
    esc(out, heal_str(L, ado, "error"));
    return;
  }
  int list = push_field(L, ado, "deployments");
  lua_Integer k = list_len(L, list);
  for (lua_Integer x = 1; x <= k && x <= 6; x++) {
    lua_rawgeti(L, list, x);
    push_field(L, -1, "release");
    esc(out, heal_str(L, -1, "name"));
    ub_buf_puts(out, ": ");
    esc(out, heal_str(L, -2, "deploymentStatus"));
    ub_buf_puts(out, "<br>");
    lua_settop(L, list);
  }
  lua_pop(L, 1);
}

/* The cells of pipeline deployment d (an event of the context). */
static void deployment_cells(lua_State *L, int d, ub_buf *out) {
  ub_buf_puts(out, "<td>");
  esc(out, heal_str(L, d, "name"));
  ub_buf_puts(out, " ");
  esc(out, heal_str(L, d, "version"));
  ub_buf_printf(out, " <span class=\"muted\">(%s, start %lld)</span></td><td>",
                heal_str(L, d, "api") ? heal_str(L, d, "api") : "?", (long long)heal_int(L, d, "start_ms", 0));
  int rel = push_field(L, d, "release");
  esc(out, heal_str(L, rel, "project"));
  ub_buf_puts(out, " / ");
  esc(out, heal_str(L, rel, "release_name") ? heal_str(L, rel, "release_name") : heal_str(L, rel, "release_id"));
  ub_buf_puts(out, " / ");
  esc(out, heal_str(L, rel, "stage"));
  ub_buf_puts(out, "</td><td>");
  ado_cell(L, push_field(L, d, "ado"), out);
  ub_buf_puts(out, "</td>");
  lua_settop(L, rel - 1);
}

/* One row per pipeline deployment of each entity (one saying there was
 * none when the entity had none). */
static void entities(lua_State *L, int ctx, ub_buf *out) {
  ub_buf_puts(out, "<h2>What the policy saw</h2><table><tr><th>entity</th><th>pipeline deployment</th>"
                   "<th>release, stage</th><th>Azure DevOps deployments of the stage (newest first)</th></tr>");
  int ents = push_field(L, ctx, "entities");
  lua_Integer n = list_len(L, ents);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, ents, i);
    int e = lua_gettop(L);
    int deps = push_field(L, e, "deployments");
    lua_Integer m = list_len(L, deps);
    for (lua_Integer j = m > 0 ? 1 : 0; j <= m; j++) {
      ub_buf_puts(out, "<tr><td><code>");
      esc(out, heal_str(L, e, "id"));
      ub_buf_puts(out, "</code> ");
      esc(out, heal_str(L, e, "name"));
      ub_buf_puts(out, "</td>");
      if (m == 0) {
        ub_buf_puts(out, "<td class=\"muted\" colspan=\"3\">no deployment event in the window</td></tr>");
        continue;
      }
      lua_rawgeti(L, deps, j);
      deployment_cells(L, lua_gettop(L), out);
      ub_buf_puts(out, "</tr>");
      lua_settop(L, deps);
    }
    lua_settop(L, ents);
  }
  lua_settop(L, ents - 1);
  ub_buf_puts(out, "</table>");
}

/* The intent's target: project / release / stage of a rollback, else its
 * text or title. */
static void intent_cell(lua_State *L, int t, ub_buf *out) {
  const char *kind = heal_str(L, t, "kind");
  ub_buf_puts(out, "<b>");
  esc(out, kind);
  ub_buf_puts(out, "</b> ");
  if (kind && strcmp(kind, "rollback") == 0) {
    esc(out, heal_str(L, t, "project"));
    ub_buf_puts(out, " / release ");
    esc(out, heal_str(L, t, "release"));
    ub_buf_puts(out, " / ");
    esc(out, heal_str(L, t, "stage"));
  } else {
    esc(out, heal_str(L, t, "text") ? heal_str(L, t, "text") : heal_str(L, t, "title"));
  }
}

static void intents(lua_State *L, int dec, ub_buf *out) {
  ub_buf_puts(out, "<h2>What it decided, and what happened</h2><table><tr><th>#</th><th>intent</th>"
                   "<th>reason</th><th>outcome</th></tr>");
  int list = push_field(L, dec, "intents");
  int outs = push_field(L, dec, "outcomes");
  lua_Integer n = list_len(L, list);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, list, i);
    int t = lua_gettop(L);
    ub_buf_printf(out, "<tr><td>%lld</td><td>", (long long)i);
    intent_cell(L, t, out);
    ub_buf_puts(out, "</td><td>");
    esc(out, heal_str(L, t, "reason"));
    ub_buf_puts(out, "</td><td>");
    if (lua_istable(L, outs)) lua_rawgeti(L, outs, i);
    else lua_pushnil(L);
    badge(out, heal_str(L, -1, "status"));
    ub_buf_puts(out, " ");
    esc(out, heal_str(L, -1, "detail"));
    ub_buf_puts(out, "</td></tr>");
    lua_settop(L, outs);
  }
  if (n == 0) ub_buf_puts(out, "<tr><td colspan=\"4\" class=\"muted\">no intents: nothing to do</td></tr>");
  ub_buf_puts(out, "</table>");
  lua_settop(L, list - 1);
}

int heal_report_html(const ledger_action *decision, ub_buf *out) {
  lua_State *L = luaL_newstate();
  char err[200];
  if (!L) return -1;
  const char *json = decision->payload_json ? decision->payload_json : "{}";
  if (json_decode_lua(L, json, strlen(json), 200, err, sizeof err) != 0 || !lua_istable(L, -1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  int dec = lua_gettop(L);
  ub_buf_printf(out, "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                     "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src "
                     "'unsafe-inline'\"><title>unbreakable selfheal %lld</title><style>%s</style></head><body>",
                (long long)decision->id, CSS);
  ub_buf_puts(out, "<h1>Self-healing of problem ");
  esc(out, heal_str(L, dec, "problem_id") ? heal_str(L, dec, "problem_id") : decision->key);
  ub_buf_puts(out, " ");
  badge(out, decision->state);
  ub_buf_puts(out, "</h1><table>");
  row2(out, "title", heal_str(L, dec, "title"));
  row2(out, "state", heal_str(L, dec, "state"));
  row2(out, "PID", heal_str(L, dec, "pid"));
  row2(out, "notification", heal_str(L, dec, "notification"));
  row2(out, "summary", heal_str(L, dec, "summary"));
  row2(out, "policy", heal_str(L, dec, "policy"));
  lua_getfield(L, dec, "dry_run");
  row2(out, "dry run", lua_toboolean(L, -1) ? "yes: nothing was executed" : "no");
  lua_pop(L, 1);
  if (heal_str(L, dec, "policy_error")) row2(out, "policy error", heal_str(L, dec, "policy_error"));
  ub_buf_puts(out, "</table>");
  lua_getfield(L, dec, "context");
  if (lua_istable(L, -1)) entities(L, lua_gettop(L), out);
  lua_pop(L, 1);
  intents(L, dec, out);
  if (heal_str(L, dec, "log")) {
    ub_buf_puts(out, "<h2>Policy log</h2><pre>");
    esc(out, heal_str(L, dec, "log"));
    ub_buf_puts(out, "</pre>");
  }
  ub_buf_puts(out, "</body></html>\n");
  lua_close(L);
  return out->failed ? -1 : 0;
}
