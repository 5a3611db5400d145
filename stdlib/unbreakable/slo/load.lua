-- unbreakable.slo.load: validates a parsed slo.yaml and turns it into the
-- model that unbreakable.slo scores: types checked, defaults of
-- docs/reference/keptn-slo.md 2.2 applied, criteria parsed at load (Q20), weights (Q15), aggregate function
-- (Q14), and lint warnings (Q8, Q13, Q15, Q18). Errors name the file, the
-- path inside it and the fix. compat = "keptn" defers to evaluation what
-- lighthouse only notices there (criteria, total_score) and keeps its
-- silent rewrites (weight 0 -> 1, unknown aggregate function -> baseline 0).

local criteria = require("unbreakable.slo.criteria")

local M = {}

-- The YAML null sentinel when the loader is available (nil otherwise).
do
  local ok, yaml = pcall(require, "unbreakable.yaml")
  M.null = ok and yaml.null or nil
end

local function absent(v)
  return v == nil or (M.null ~= nil and v == M.null)
end

local function is_integer(v)
  return math.type(v) == "integer"
end

local function is_list(v)
  if type(v) ~= "table" then return false end
  local n = 0
  for _ in pairs(v) do n = n + 1 end
  return n == #v
end

local function is_map(v)
  return type(v) == "table" and (next(v) == nil or not is_list(v))
end

-- Text of a scalar the way Go's YAML decoder fills a string field.
local function scalar_text(v)
  if type(v) == "string" then return v end
  if type(v) == "number" or type(v) == "boolean" then return tostring(v) end
  return nil
end

local KNOWN_ROOT = { spec_version = true, filter = true, comparison = true,
                     objectives = true, total_score = true }
local KNOWN_COMPARISON = { compare_with = true, include_result_with_score = true,
                           number_of_comparison_results = true, aggregate_function = true }
local KNOWN_OBJECTIVE = { sli = true, displayName = true, key_sli = true, weight = true,
                          pass = true, warning = true }
local INCLUDE = { all = true, pass = true, pass_or_warn = true }
local COMPARE_WITH = { single_result = true, several_results = true }

-- "line:col" of path, or of its nearest ancestor that has a position.
local function position_of(positions, path)
  if not positions then return nil end
  if path == "(top level)" then path = "" end
  while path do
    if positions[path] then return positions[path] end
    if path == "" then return nil end
    path = path:match("^(.*)%[%d+%]$") or path:match("^(.*)%.[^%.]*$") or ""
  end
end
M.position_of = position_of

-- Collects errors and warnings as "file[:line:col]: path: message".
local function new_report(name, positions)
  local r = { name = name or "slo.yaml", errors = {}, warnings = {} }
  local function where(path)
    local pos = position_of(positions, path)
    return r.name .. (pos and (":" .. pos) or "") .. ": " .. path .. ": "
  end
  function r.error(path, msg) r.errors[#r.errors + 1] = where(path) .. msg end
  function r.warn(path, msg) r.warnings[#r.warnings + 1] = where(path) .. msg end
  return r
end

local function lint_unknown_keys(tbl, known, path, report)
  local keys = {}
  for k in pairs(tbl) do
    if not known[k] then keys[#keys + 1] = tostring(k) end
  end
  table.sort(keys)
  for _, k in ipairs(keys) do
    report.warn(path, "unknown key '" .. k .. "' is ignored (check its spelling)")
  end
end

local function load_filter(raw, report)
  local filter = {}
  if absent(raw) then return filter end
  if not is_map(raw) then
    report.error("filter", "must be a map of placeholder names to values")
    return filter
  end
  local keys = {}
  for k in pairs(raw) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    local v = raw[k]
    local text = scalar_text(v)
    if absent(v) then text = "" end
    if type(k) ~= "string" or not text then
      report.error("filter." .. tostring(k), "must be a text value")
    else
      filter[k] = text
    end
  end
  return filter
end

-- Number of earlier evaluations lighthouse fetches (section 2.2).
local function comparison_count(c)
  if c.compare_with == "single_result" then return 1 end
  if c.compare_with == "several_results" and c.number_of_comparison_results > 0 then
    return c.number_of_comparison_results
  end
  return 3
end

local function load_comparison(raw, report, compat)
  if absent(raw) then
    return { compare_with = "single_result", include_result_with_score = "all",
             number_of_comparison_results = 1, aggregate_function = "avg", count = 1 }
  end
  local c = { compare_with = "", include_result_with_score = "all",
              number_of_comparison_results = 0, aggregate_function = "avg" }
  if not is_map(raw) then
    report.error("comparison", "must be a map (compare_with, include_result_with_score, ...)")
    c.count = 3
    return c
  end
  lint_unknown_keys(raw, KNOWN_COMPARISON, "comparison", report)
  for _, key in ipairs({ "compare_with", "include_result_with_score", "aggregate_function" }) do
    local v = raw[key]
    if not absent(v) then
      local text = scalar_text(v)
      if not text then report.error("comparison." .. key, "must be a text value")
      elseif text ~= "" then c[key] = text end
    end
  end
  local n = raw.number_of_comparison_results
  if not absent(n) then
    if not is_integer(n) or n < 0 then
      report.error("comparison.number_of_comparison_results",
        "must be a whole number of 0 or more, got " .. tostring(n))
    else
      c.number_of_comparison_results = n
    end
  end
  if c.compare_with ~= "" and not COMPARE_WITH[c.compare_with] and not compat then
    report.error("comparison.compare_with", "'" .. c.compare_with ..
      "' is not one of single_result, several_results")
  end
  if not INCLUDE[c.include_result_with_score] and not compat then
    report.error("comparison.include_result_with_score", "'" .. c.include_result_with_score ..
      "' is not one of all, pass, pass_or_warn")
  end
  if not criteria.is_aggregate_function(c.aggregate_function) and not compat then
    report.error("comparison.aggregate_function", "'" .. c.aggregate_function ..
      "' is not supported; use one of avg, p50, p90, p95 (lighthouse would silently use a baseline of 0)")
  end
  if c.compare_with == "several_results" and c.number_of_comparison_results == 0 then
    report.warn("comparison.number_of_comparison_results",
      "missing under several_results: lighthouse uses 3 earlier evaluations; write the number you mean")
  elseif c.compare_with == "" then
    report.warn("comparison.compare_with", "missing: lighthouse compares with 3 earlier evaluations")
  end
  c.count = comparison_count(c)
  return c
end

-- Parses every criterion of a list of criteria sets.
local function load_criteria_sets(raw, path, report, compat)
  if absent(raw) then return {} end
  if not is_list(raw) then
    report.error(path, "must be a list of {criteria: [...]} sets")
    return {}
  end
  local sets = {}
  for i, set in ipairs(raw) do
    local set_path = path .. "[" .. i .. "]"
    local list = {}
    if is_map(set) and not absent(set.criteria) then
      if not is_list(set.criteria) then
        report.error(set_path .. ".criteria", "must be a list of strings such as \"<=+10%\"")
      else
        for j, text in ipairs(set.criteria) do
          local s = scalar_text(text)
          list[j] = s
          if not s then
            report.error(set_path .. ".criteria[" .. j .. "]", "must be a string such as \"<600\"")
          else
            local c, err = criteria.parse(s)
            if not c and not compat then
              report.error(set_path .. ".criteria[" .. j .. "]", err)
            elseif c and criteria.unsigned_percent(c) then
              report.warn(set_path .. ".criteria[" .. j .. "]", "'" .. s ..
                "' means at most " .. string.format("%g", c.value) .. " % above the baseline (a relative increase); " ..
                "write '" .. c.op .. "+" .. s:gsub(" ", ""):sub(#c.op + 1) ..
                "' to say so, or an absolute value without '%'")
            end
          end
        end
      end
    elseif not is_map(set) and not absent(set) then
      report.error(set_path, "must be a map with a 'criteria' list")
    end
    if #list == 0 and not compat then
      report.error(set_path .. ".criteria", "empty criteria list: lighthouse would count it as " ..
        "satisfied but leave it out of the score; write at least one criterion")
    end
    sets[#sets + 1] = { criteria = list }
  end
  return sets
end

local function load_weight(raw, path, report, compat)
  if absent(raw) then return 1 end
  if not is_integer(raw) then
    report.error(path, "must be a whole number, got " .. tostring(raw))
    return 1
  end
  if compat then return raw == 0 and 1 or raw end
  if raw < 0 then
    report.error(path, "must be 0 or more, got " .. raw)
    return 1
  end
  return raw
end

local function load_objective(raw, i, report, compat)
  local path = "objectives[" .. i .. "]"
  if not is_map(raw) then
    report.error(path, "must be a map with at least 'sli'")
    return nil
  end
  lint_unknown_keys(raw, KNOWN_OBJECTIVE, path, report)
  local o = { index = i }
  o.sli = scalar_text(raw.sli)
  if not o.sli or o.sli == "" then
    report.error(path .. ".sli", "missing: name the indicator of sli.yaml this objective judges")
    o.sli = ""
  end
  if not absent(raw.displayName) then
    o.displayName = scalar_text(raw.displayName)
    if not o.displayName then report.error(path .. ".displayName", "must be a string") end
  end
  o.name = (o.displayName and o.displayName ~= "") and o.displayName or o.sli
  o.key_sli = false
  if not absent(raw.key_sli) then
    if type(raw.key_sli) ~= "boolean" then
      report.error(path .. ".key_sli", "must be true or false, got " .. tostring(raw.key_sli))
    else
      o.key_sli = raw.key_sli
    end
  end
  o.weight = load_weight(raw.weight, path .. ".weight", report, compat)
  o.pass = load_criteria_sets(raw.pass, path .. ".pass", report, compat)
  o.warning = load_criteria_sets(raw.warning, path .. ".warning", report, compat)
  o.info = #o.pass == 0
  if o.info and #o.warning > 0 then
    report.warn(path .. ".warning", "never judged: an objective without pass criteria is informational " ..
      "(Keptn shows its value and never scores it); add pass criteria to judge it")
  end
  if o.weight == 0 and not o.key_sli and not o.info then
    report.warn(path .. ".weight", "weight 0 on an objective that is not key_sli: it cannot " ..
      "change the result; make it key_sli or remove its pass criteria (info objective)")
  end
  return o
end

local function load_objectives(raw, report, compat)
  local objectives = {}
  if absent(raw) then return objectives end
  if not is_list(raw) then
    report.error("objectives", "must be a list of objectives")
    return objectives
  end
  local seen = {}
  for i = 1, #raw do
    local entry = raw[i]
    if not absent(entry) then
      local o = load_objective(entry, i, report, compat)
      if o then
        if seen[o.sli] then
          report.warn("objectives[" .. i .. "].sli", "'" .. o.sli .. "' is also objective " ..
            seen[o.sli] .. ": both judge the same indicator, each with its own query (Keptn behaviour)")
        else
          seen[o.sli] = i
        end
        objectives[#objectives + 1] = o
      end
    end
  end
  return objectives
end

-- "90%" or 90 -> 90.0; nil and an error otherwise (no spaces, one '%').
function M.parse_score_target(v)
  if type(v) == "number" then return v + 0.0 end
  if type(v) ~= "string" then return nil, "must be a number or a percentage like \"90%\"" end
  local s = v
  if s:sub(-1) == "%" then s = s:sub(1, -2) end
  if not s:match("^[+-]?%d+%.?%d*$") and not s:match("^[+-]?%.%d+$") then
    return nil, "'" .. v .. "' is not a number or a percentage like \"90%\""
  end
  return tonumber(s) + 0.0
end

local function load_total_score(raw, report, compat)
  local t = {}
  if absent(raw) or not is_map(raw) or absent(raw.pass) then
    t.error = "no target score defined"
    if not compat then
      report.error("total_score.pass", "missing: write e.g. total_score: {pass: \"90%\", warning: \"75%\"}")
    end
    return t
  end
  local err
  t.pass, err = M.parse_score_target(raw.pass)
  if not t.pass then
    t.error = "total_score.pass: " .. err
    if not compat then report.error("total_score.pass", err) end
  end
  if not absent(raw.warning) then
    t.warning, err = M.parse_score_target(raw.warning)
    if not t.warning then
      t.error = "total_score.warning: " .. err
      if not compat then report.error("total_score.warning", err) end
    end
  end
  return t
end

-- Validates a parsed slo.yaml. options: { compat = "keptn", name =
-- "slo.yaml", positions = path -> "line:col" (from yaml.decode) }.
-- Returns model, warnings; or nil, errors (list of strings), warnings.
function M.normalize(raw, options)
  options = options or {}
  local compat = options.compat == "keptn"
  local report = new_report(options.name, options.positions)
  if absent(raw) or not is_map(raw) then
    report.error("(top level)", "must be a map with objectives and total_score")
    return nil, report.errors, report.warnings
  end
  lint_unknown_keys(raw, KNOWN_ROOT, "(top level)", report)
  local model = {
    compat = compat,
    filter = load_filter(raw.filter, report),
    comparison = load_comparison(raw.comparison, report, compat),
    objectives = load_objectives(raw.objectives, report, compat),
    total_score = load_total_score(raw.total_score, report, compat),
    normalized = true,
  }
  if #report.errors > 0 then return nil, report.errors, report.warnings end
  return model, report.warnings
end

-- Decodes and validates slo.yaml text. Returns model, warnings or nil,
-- one message with every error (one per line), warnings.
function M.load(text, name, options)
  local yaml = require("unbreakable.yaml")
  options = options or {}
  name = name or "slo.yaml"
  local ok, raw, positions = pcall(yaml.decode, text, name, { positions = true })
  if not ok then return nil, tostring(raw), {} end
  local opts = { compat = options.compat, name = name, positions = positions }
  local model, errors, warnings = M.normalize(raw, opts)
  if not model then return nil, table.concat(errors, "\n"), warnings end
  return model, errors
end

return M
