-- unbreakable.slo: Keptn lighthouse scoring of slo.yaml objectives, usable
-- without Dynatrace (docs/reference/keptn-slo.md sections 5-8, quirks of
-- section 10; docs/slo.md says what differs from Keptn and why).
--
--   slo.score(slo, values, previous [, options]) -> result table
--   slo.select_baseline(slo, evaluations [, options]) -> previous, ids
--   slo.finished(result, meta) -> evaluation.finished data (section 8)
--
-- options.compat = "keptn" reproduces lighthouse's quirks; the default is
-- the safe behaviour (fails closed, says what it could not judge).

local criteria = require("unbreakable.slo.criteria")
local loader = require("unbreakable.slo.load")
local event = require("unbreakable.slo.event")

local M = {}

local function fmt(x)
  return string.format("%.6g", x)
end

-- A result that ends before any objective was judged.
local function early(result, status, message, extra)
  local r = { result = result, evaluationResult = result, status = status, score = 0,
              message = message, indicatorResults = {} }
  for k, v in pairs(extra or {}) do r[k] = v end
  return r
end

-- The unbreakable.slo.load model of slo (raw decoded table or a model already).
local function model_of(slo, options)
  local compat = options.compat == "keptn"
  if type(slo) == "table" and slo.normalized then
    if slo.compat ~= compat then
      return nil, { "the slo model was loaded with compat = " .. (slo.compat and "keptn" or "default") ..
        "; load it again with the options given to score" }
    end
    return slo
  end
  return loader.normalize(slo, { compat = options.compat, name = options.name })
end

-- Successful earlier values of one SLI, in the order given (section 6.2).
local function earlier_values(previous, sli)
  local values = {}
  for _, evaluation in ipairs(previous or {}) do
    for _, entry in ipairs(evaluation) do
      local v = entry.value
      if type(v) == "table" and v.metric == sli and v.success == true
          and type(v.value) == "number" then
        values[#values + 1] = v.value
      end
    end
  end
  return values
end

-- Takes the first record for sli out of the pool (section 5, value matching).
local function take_value(pool, sli)
  for i, record in ipairs(pool) do
    if record.metric == sli then
      table.remove(pool, i)
      return record
    end
  end
  return nil
end

-- One criterion's report entry.
local function target_entry(text, target, violated, compat)
  local t = { criteria = text, violated = violated }
  if target ~= nil then
    t.targetValue = target
  elseif compat then
    t.targetValue = 0
  else
    t.baselineMissing = true
  end
  return t
end

-- OR over sets, AND inside a set; every criterion is evaluated for display.
-- Returns state, targets, used_missing_baseline; or nil, nil, error.
-- state is true, false, or (default mode) UNKNOWN: a relative criterion
-- without a baseline cannot be judged, and it decides the outcome (no set
-- holds for sure, and some set holds unless that criterion fails). Keptn
-- (compat) counts such a criterion as met.
local UNKNOWN = "unknown"

local function evaluate_sets(value, sets, baseline, compat)
  local holds, maybe, targets, no_baseline = false, false, {}, false
  for _, set in ipairs(sets) do
    local all, unknown = true, false
    for _, text in ipairs(set.criteria) do
      local c, err = criteria.parse(text)
      if not c then return nil, nil, err end
      local ok, target = criteria.evaluate(value, c, baseline)
      if target == nil then no_baseline = true end
      if target == nil and not compat then
        unknown = true
        targets[#targets + 1] = target_entry(text, nil, false, compat)
      else
        targets[#targets + 1] = target_entry(text, target, not ok, compat)
        all = all and ok
      end
    end
    if all and not unknown then holds = true end
    if all and unknown then maybe = true end
  end
  if holds then return true, targets, no_baseline end
  return maybe and UNKNOWN or false, targets, no_baseline
end

-- Targets shown for an objective without a value: every parseable pass
-- criterion, violated.
local function missing_value_targets(sets, baseline, compat)
  local targets = {}
  for _, set in ipairs(sets) do
    for _, text in ipairs(set.criteria) do
      local c = criteria.parse(text)
      if c then
        local target = c.value
        if c.relative then target = not baseline.skip and criteria.target(c, baseline.value) or nil end
        targets[#targets + 1] = target_entry(text, target, true, compat)
      end
    end
  end
  return targets
end

local function has_relative(sets)
  for _, set in ipairs(sets) do
    for _, text in ipairs(set.criteria) do
      local c = criteria.parse(text)
      if c and c.relative then return true end
    end
  end
  return false
end

local function missing_message(record)
  if not record then return "no value received from SLI provider" end
  if record.success == true then return "the SLI value is not a number" end
  return record.message or "no value received from SLI provider"
end

-- Judges one objective. Returns the indicatorResults entry and facts for
-- the totals, or nil and the error that aborts the evaluation (Q20).
local function judge(o, record, previous, model)
  local compat = model.compat
  local baseline = criteria.aggregate(earlier_values(previous, o.sli),
                                      model.comparison.aggregate_function)
  local compared = baseline.value
  if baseline.skip and not compat then compared = nil end
  local entry = { displayName = o.displayName or "", keySli = o.key_sli, score = 0 }
  local facts = { objective = o }
  if o.info then
    entry.status = "info"
    entry.value = record and { metric = o.sli, value = record.value, success = record.success,
                               message = record.message or "", comparedValue = compared }
                  or { metric = o.sli, value = 0, success = false,
                       message = "no value received from SLI provider", comparedValue = compared }
    entry.passTargets, entry.warningTargets = {}, {}
    facts.missing = not record or record.success ~= true
    return entry, facts
  end
  if not record or record.success ~= true or type(record.value) ~= "number" or record.value ~= record.value then
    entry.status = "fail"
    entry.value = { metric = o.sli, value = 0, success = false, comparedValue = compared,
                    message = missing_message(record) }
    if compat then entry.keySli = false end
    entry.passTargets = missing_value_targets(o.pass, baseline, compat)
    facts.missing = true
    facts.key_failure = o.key_sli and entry.value.message or nil
    return entry, facts
  end
  entry.value = { metric = o.sli, value = record.value, success = true,
                  message = record.message or "", comparedValue = compared }
  -- on a parse error the third value is the message
  local passed, pass_targets, no_baseline = evaluate_sets(record.value, o.pass, baseline, compat)
  if passed == nil then return nil, "error with " .. o.name .. ": " .. no_baseline end
  entry.passTargets = pass_targets
  local warned, warning_targets = false, nil
  if #o.warning > 0 then
    local no_baseline_w
    warned, warning_targets, no_baseline_w = evaluate_sets(record.value, o.warning, baseline, compat)
    if warned == nil then warned, warning_targets = false, nil end -- ignored, as lighthouse does
    no_baseline = no_baseline or no_baseline_w
  end
  entry.warningTargets = warning_targets
  if passed == true then
    entry.score, entry.status = o.weight, "pass"
  elseif passed == UNKNOWN or warned == UNKNOWN then
    -- not judged: the outcome hangs on a relative criterion without a baseline
    entry.status = "no_baseline"
    facts.unjudged = true
  elseif warned then
    entry.score, entry.status = 0.5 * o.weight, "warning"
  else
    entry.status = "fail"
    if o.key_sli then facts.key_failure = "failed evaluation with score 0.000000" end
  end
  facts.no_baseline = no_baseline
  facts.zero_baseline = not baseline.skip and baseline.value == 0 and has_relative(o.pass)
  return entry, facts
end

-- Judges every objective in file order. Returns the summary, or nil and
-- the error of an unparseable pass criterion (compat only: Q20).
local function judge_all(model, values, previous)
  local pool = {}
  for i, record in ipairs(values or {}) do pool[i] = record end
  local s = { entries = {}, max_score = 0, total = 0, scored = 0, judged = 0, missing = {},
              without_baseline = {}, zero_baseline = {}, unjudged = {}, key_unjudged = nil,
              key_failure = nil }
  for _, o in ipairs(model.objectives) do
    local entry, facts = judge(o, take_value(pool, o.sli), previous, model)
    if not entry then return nil, facts end
    s.entries[#s.entries + 1] = entry
    if not o.info then
      s.scored = s.scored + 1
      if facts.unjudged then
        s.unjudged[#s.unjudged + 1] = o.name           -- out of the score: not judged
        if o.key_sli and not s.key_unjudged then s.key_unjudged = o.name end
      else
        s.judged = s.judged + 1
        s.max_score = s.max_score + o.weight
        if #entry.passTargets > 0 then s.total = s.total + entry.score end -- Q19
      end
    end
    if facts.missing then s.missing[#s.missing + 1] = o.name end
    if facts.no_baseline then s.without_baseline[#s.without_baseline + 1] = o.name end
    if facts.zero_baseline then s.zero_baseline[#s.zero_baseline + 1] = o.name end
    if facts.key_failure and not s.key_failure then
      s.key_failure = "Evaluation failed due to key_sli objective '" .. o.name .. "': " .. facts.key_failure
    end
  end
  s.additional = {}
  for _, record in ipairs(pool) do s.additional[#s.additional + 1] = tostring(record.metric) end
  return s
end

-- Result from the score and the total_score targets (section 7).
local function verdict(score, targets, key_failure)
  if score >= targets.pass and not key_failure then return "pass", "" end
  if targets.warning and not key_failure then
    if score >= targets.warning then return "warning", "" end
    return "fail", "Evaluation failed since the calculated score of " .. fmt(score) ..
      " is below the warning target value of " .. fmt(targets.warning)
  end
  if key_failure then return "fail", key_failure end
  return "fail", "Evaluation failed since the calculated score of " .. fmt(score) ..
    " is below the target value of " .. fmt(targets.pass)
end

-- Indicators whose query FAILED (an error, not just "no data"): records
-- marked failed = true by unbreakable.slo.sli.
local function failed_indicators(values)
  local names, messages = {}, {}
  for _, record in ipairs(values or {}) do
    if record.failed then
      names[#names + 1] = tostring(record.metric)
      messages[#messages + 1] = tostring(record.metric) .. ": " .. tostring(record.message or "")
    end
  end
  return names, messages
end

local function join_notes(parts)
  local out = {}
  for _, p in ipairs(parts) do
    if p and p ~= "" then out[#out + 1] = p end
  end
  return table.concat(out, "; ")
end

-- Result when no objective carries weight (Q5).
local function unscored_result(model, s)
  if model.compat then return "pass", 100, "" end
  if s.scored == 0 then
    return nil, 0, "no scored objectives: every objective is informational (no pass criteria); " ..
      "add pass criteria to at least one objective"
  end
  if s.key_failure then return "fail", 100, s.key_failure end
  return "pass", 100, "every scored objective has weight 0: the result comes from key_sli objectives only"
end

-- Default mode: a key objective, or every scored objective, that could not
-- be judged for want of a baseline makes the gate inconclusive (a fresh CI
-- agent has no history: Keptn passed every relative criterion there).
local function inconclusive_message(s)
  if s.key_failure or #s.unjudged == 0 then return nil end
  local what
  if s.key_unjudged then
    what = "key objective " .. s.key_unjudged .. " has"
  elseif s.judged == 0 then
    what = "no scored objective has"
  else
    return nil
  end
  return "inconclusive: " .. what .. " a baseline for its relative criteria (no earlier evaluation " ..
    "qualified; not judged: " .. table.concat(s.unjudged, ", ") .. "). Keep the ledger between CI " ..
    "runs (docs/slo.md), or run with --compat keptn to pass them as Keptn did"
end

-- Notes this project adds to the message (default mode only).
local function default_notes(s)
  local notes = {}
  if #s.without_baseline > 0 then
    notes[#notes + 1] = "no baseline (no earlier evaluation qualified) for the relative criteria of: " ..
      table.concat(s.without_baseline, ", ")
  end
  if #s.zero_baseline > 0 then
    notes[#notes + 1] = "baseline is 0, so relative targets are 0: " .. table.concat(s.zero_baseline, ", ")
  end
  if #s.missing > 0 then
    notes[#notes + 1] = "no value for: " .. table.concat(s.missing, ", ")
  end
  return table.concat(notes, "; ")
end

local OPTIONS = { compat = true, name = true, sli_aborted = true, sli_error = true }

-- Raises (at the caller of score) for arguments that would otherwise be
-- read as "no value" or "no baseline" without a word.
local function check_arguments(values, previous, options)
  if type(options) ~= "table" then
    error("slo.score: options must be a table such as { compat = \"keptn\" } (got " .. type(options) .. ")", 3)
  end
  for k in pairs(options) do
    if not OPTIONS[k] then
      error("slo.score: unknown option '" .. tostring(k) .. "' (known: compat, name, sli_aborted, sli_error)", 3)
    end
  end
  if values ~= nil and (type(values) ~= "table" or (next(values) ~= nil and values[1] == nil)) then
    error("slo.score: values must be a list of SLI records { metric, value, success }", 3)
  end
  if previous ~= nil and type(previous) ~= "table" then
    error("slo.score: previous must be a list of indicatorResults lists (from slo.select_baseline)", 3)
  end
  for i, p in ipairs(previous or {}) do
    if type(p) ~= "table" or p.indicatorResults ~= nil or p.evaluation ~= nil or p.result ~= nil then
      error("slo.score: previous[" .. i .. "] is a stored evaluation; pass the evaluations through " ..
            "slo.select_baseline(slo, evaluations) and give score the previous it returns", 3)
    end
  end
end

-- Scores the objectives of slo (parsed slo.yaml, or a model of
-- unbreakable.slo.load) with the SLI records values ({metric, value, success,
-- message[, failed]}) against previous (list of earlier evaluations, each a
-- list of indicatorResults entries). options: { compat = "keptn",
-- sli_error = "<message>" when the provider itself errored, sli_aborted =
-- true when it was aborted }.
function M.score(slo, values, previous, options)
  options = options or {}
  check_arguments(values, previous, options)
  local compat = options.compat == "keptn"
  if slo == nil or (loader.null ~= nil and slo == loader.null) then
    if compat then
      return early("pass", "succeeded", "no evaluation performed by lighthouse because no SLO file configured")
    end
    return early("fail", "errored", "no SLO file: a gate without objectives approves nothing")
  end
  if options.sli_aborted then
    return early("fail", "errored", "evaluation performed by lighthouse was aborted")
  end
  if options.sli_error then
    return early("fail", "errored", "lighthouse received an unexpected error: " .. tostring(options.sli_error))
  end
  local model, errors = model_of(slo, options)
  if not model then return early("fail", "errored", table.concat(errors, "; "), { errors = errors }) end
  if #model.objectives == 0 then
    return early("fail", "succeeded", "lighthouse failed because no SLO objective was provided")
  end
  local s, abort = judge_all(model, values, previous)
  if not s then return early("fail", "succeeded", abort) end -- Q20, compat
  local r = { status = "succeeded", indicatorResults = s.entries,
              judgedWithoutBaseline = s.without_baseline, missingValues = s.missing,
              additionalSlis = s.additional }
  if model.total_score.error then
    r.result, r.evaluationResult, r.status, r.score = "fail", "fail", "errored", 0
    r.message = model.total_score.error
    return r
  end
  local message
  local unjudged = not model.compat and inconclusive_message(s)
  if unjudged then
    r.result, r.score, message = "inconclusive", 0, unjudged
  elseif s.max_score == 0 then
    r.result, r.score, message = unscored_result(model, s)
    if not r.result then
      r.result, r.status, r.score = "fail", "errored", 0
    end
  else
    r.score = 100 * s.total / s.max_score
    r.result, message = verdict(r.score, model.total_score, s.key_failure)
  end
  r.evaluationResult = r.result
  local notes = {}
  notes[1] = message
  if #s.additional > 0 then
    notes[#notes + 1] = "Lighthouse received additional SLIs, which are not specified as SLO: " ..
      table.concat(s.additional, ", ") .. " ."
  end
  local failed, failed_messages = failed_indicators(values)
  r.failedIndicators = failed
  if #failed > 0 then
    r.result = "fail" -- Q21: the event result fails in both modes
    if compat then
      notes = { "lighthouse failed because SLI failed with message " .. table.concat(failed_messages, "; ") }
    else
      r.evaluationResult = "fail"
      table.insert(notes, 1, "SLI queries failed: " .. table.concat(failed_messages, "; "))
    end
  end
  if not compat then notes[#notes + 1] = default_notes(s) end
  r.message = join_notes(notes)
  return r
end

-- Earlier evaluations that form the baseline (section 6.1): evaluations is
-- a list of stored evaluations, newest first, each { id, result,
-- invalidated, indicatorResults } (or with evaluation.indicatorResults).
-- Returns previous (list of indicatorResults lists) and the ids used
-- (comparedEvents); nil and the errors when slo is invalid.
function M.select_baseline(slo, evaluations, options)
  options = options or {}
  local model, errors = model_of(slo, options)
  if not model then return nil, errors end
  local include = model.comparison.include_result_with_score
  local previous, ids = {}, {}
  for _, e in ipairs(evaluations or {}) do
    if #previous >= model.comparison.count then break end
    local ok = not e.invalidated and (include == "pass" and e.result == "pass"
      or include == "pass_or_warn" and (e.result == "pass" or e.result == "warning")
      or include ~= "pass" and include ~= "pass_or_warn")
    if ok then
      previous[#previous + 1] = e.indicatorResults or (e.evaluation and e.evaluation.indicatorResults) or {}
      ids[#ids + 1] = e.id
    end
  end
  return previous, ids
end

M.finished = event.finished
M.base64 = event.base64

return M
