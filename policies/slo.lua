-- policies/slo.lua: the default Keptn-style SLO gate. Loads slo.yaml and
-- sli.yaml as Keptn users wrote them, fetches every indicator from Dynatrace
-- in one batch, picks the baseline from earlier evaluations of the same
-- service and stage (given by the host from the ledger), scores like
-- Keptn's lighthouse (docs/slo.md says where and why the default differs)
-- and returns a verdict table that also carries Keptn's evaluation.finished
-- data.
local json = require "unbreakable.json"
local slo = require "unbreakable.slo"
local slo_load = require "unbreakable.slo.load"
local criteria = require "unbreakable.slo.criteria"
local sli = require "unbreakable.slo.sli"

local function input_error(v, messages)
  v.verdict, v.error_kind = "error", "input"
  for _, m in ipairs(messages) do v.errors[#v.errors + 1] = tostring(m) end
  v.summary = "error: " .. table.concat(v.errors, "; ")
  return v
end

-- Results of runs that were evaluations (the host reports an errored run
-- as fail, as Keptn did). An inconclusive run only answered "not ready"
-- (docs/reference/keptn-slo.md Q28): it has no values, and taken as a
-- baseline it would make every relative criterion pass without one (Q11).
local EVALUATED = { pass = true, warning = true, fail = true }

-- Earlier evaluations from the ledger, newest first, in the shape
-- slo.select_baseline reads.
local function stored_evaluations(ctx)
  local rows = {}
  for _, p in ipairs(ctx.previous or {}) do
    if EVALUATED[p.result] then
      rows[#rows + 1] = { id = tostring(p.id), result = p.result, invalidated = false,
                          indicatorResults = p.indicatorResults or {} }
    end
  end
  return rows
end

-- The first pass target and the operator of its criterion (for reports).
local function first_target(entry)
  local t = entry.passTargets
  if type(t) == "table" and t[1] then
    local c = criteria.parse(t[1].criteria)
    return t[1].targetValue, c and c.op or json.null
  end
  return json.null, json.null
end

-- The pass (or warning) criteria as they combine: AND inside a set, OR
-- between sets.
local function criteria_text(objective, which)
  local sets = objective and objective[which or "pass"] or {}
  local parts = {}
  for _, set in ipairs(sets) do
    local text = table.concat(set.criteria, " AND ")
    if #sets > 1 and #set.criteria > 1 then text = "(" .. text .. ")" end
    parts[#parts + 1] = text
  end
  return table.concat(parts, " OR ")
end

-- no_baseline: not judged (a relative criterion had no baseline), which the
-- host never counts as a judgement
local STATUS = { pass = "pass", warning = "warning", fail = "fail", info = "pass", no_baseline = "no_baseline" }

-- One objective per indicator, in the verdict shape the reports read
-- (indicatorResults follow the model's objectives one to one).
local function objectives_of(r, queries, model, indicators)
  local out = {}
  for i, e in ipairs(r.indicatorResults or {}) do
    local value = e.value or {}
    local threshold, op = first_target(e)
    out[#out + 1] = {
      name = e.displayName ~= "" and e.displayName or value.metric,
      sli = value.metric, query = queries[value.metric] or json.null,
      value = value.success and value.value or json.null,
      baseline = value.comparedValue == nil and json.null or value.comparedValue,
      threshold = threshold, threshold_op = op, criteria = criteria_text(model.objectives[i]),
      warning_criteria = criteria_text(model.objectives[i], "warning"),
      unit = sli.unit_of(indicators[value.metric]) or json.null,
      status = value.success == false and e.status ~= "info" and "no_data" or STATUS[e.status] or "fail",
      critical = e.keySli == true, score = e.score, keptn_status = e.status,
      -- informational and unjudged objectives are no judgement (docs/gate.md)
      judged = e.status ~= "info" and e.status ~= "no_baseline",
      message = e.status == "no_baseline"
                and "not judged: its relative criteria need a baseline and no earlier evaluation qualified"
                or value.message ~= "" and value.message
                or string.format("%s (score %s)", tostring(e.status), tostring(e.score)),
    }
  end
  return out
end

local function verdict_of(r)
  if r.status == "errored" then return "error" end
  return r.result
end

return function(ctx)
  local compat = ctx.compat
  local key = (ctx.project or "") ~= "" and (ctx.project .. "/") or ""
  local v = { target = key .. ctx.service .. "/" .. ctx.stage, mode = "slo", compat = compat or json.null,
              objectives = json.array(), errors = json.array(), warnings = json.array(),
              windows = { source = { from = ctx.from, to = ctx.to } } }
  -- load returns model, warnings; or nil, errors, warnings
  local model, errs_or_warns, warns = slo_load.load(ctx.slo_text, ctx.slo_path, { compat = compat })
  if not model then
    for _, w in ipairs(warns or {}) do v.warnings[#v.warnings + 1] = w end
    return input_error(v, type(errs_or_warns) == "table" and errs_or_warns or { errs_or_warns })
  end
  for _, w in ipairs(errs_or_warns or {}) do v.warnings[#v.warnings + 1] = w end
  local indicators, err = sli.load(ctx.sli_text, ctx.sli_path)
  if not indicators then return input_error(v, { err }) end
  local merged, builtins = sli.merge({ indicators })
  if builtins then v.warnings[#v.warnings + 1] = "sli.yaml defines no indicators: using the five built-in ones (throughput, error_rate, response_time_p50/p90/p95)" end
  local names, info = sli.names_of(model)
  local dt = require "unbreakable.dynatrace"
  local placeholders = { project = ctx.project, stage = ctx.stage, service = ctx.service,
                         deployment = ctx.deployment, labels = ctx.labels or {},
                         from = ctx.from, to = ctx.to }
  local records, meta = sli.fetch(dt, names, merged, placeholders,
                                  { filter = model.filter, info = info, compat = compat, now = ctx.now })
  if not records then
    v.verdict = "inconclusive"
    v.summary = string.format("the data of the timeframe is not ready yet: Dynatrace needs 2 minutes after its end; wait %d s or run without --no-wait",
                              math.ceil((meta.wait_ms or 0) / 1000))
    return v
  end
  -- the model was loaded with compat: select with the same options (an error
  -- here would otherwise read as "no baseline")
  local previous, ids = slo.select_baseline(model, stored_evaluations(ctx), { compat = compat })
  if not previous then return input_error(v, ids) end
  local r = slo.score(model, records, previous, { compat = compat })
  local queries = {}
  for _, rec in ipairs(records) do queries[rec.metric] = rec.query end
  v.verdict = verdict_of(r)
  v.summary = r.message
  v.score, v.result, v.status = r.score, r.result, r.status
  v.comparedEvents = json.array(ids)
  v.judgedWithoutBaseline = json.array(r.judgedWithoutBaseline)
  v.objectives = json.array(objectives_of(r, queries, model, merged))
  v.total_score = { pass = model.total_score.pass or json.null, warning = model.total_score.warning or json.null }
  v.keptn = slo.finished(r, { project = ctx.project, stage = ctx.stage, service = ctx.service,
                              timeStart = ctx.from, timeEnd = ctx.to, sloFileContent = ctx.slo_text,
                              comparedEvents = ids, null = json.null, array = json.array })
  -- the stored shape is Keptn's (docs/reference/keptn-slo.md section 8): nulls and lists as there
  v.indicatorResults = v.keptn.evaluation.indicatorResults
  return v
end
