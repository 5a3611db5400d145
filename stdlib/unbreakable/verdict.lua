-- unbreakable.verdict: building and combining gate verdicts (shared by the
-- monspec gate and the SLO gate). A verdict table is JSON-encodable:
--   { verdict = "pass"|"warning"|"fail"|"inconclusive"|"error", summary = "...",
--     objectives = { {name=, status=, outcome=, critical=, message=, ...}, ... },
--     errors = {...}, warnings = {...}, totalViolations = n, ... }
-- Precedence: error > fail > inconclusive > warning > pass. Missing numbers
-- are verdict.null (JSON null), so that every objective shows its value,
-- baseline and threshold keys even when there is nothing to show.

local M = {}

local ok_json, json = pcall(require, "unbreakable.json")
M.null = ok_json and type(json) == "table" and json.null or nil
if M.null == nil then
  M.null = require("unbreakable.monspec.pyjson").null
end

M.LEVELS = { "pass", "warning", "inconclusive", "fail", "error" }
local RANK = {}
for i, v in ipairs(M.LEVELS) do RANK[v] = i end
M.RANK = RANK

M.STATUSES = { pass = true, warning = true, fail = true, no_data = true, error = true, inconclusive = true }

function M.is_null(v)
  return v == nil or v == M.null or type(v) == "userdata"
end

-- The number, or nil for null/missing.
function M.number(v)
  if type(v) == "number" then return v end
  return nil
end

-- Marks a list so that it encodes as [] even when empty.
function M.array(t)
  t = t or {}
  if ok_json and type(json) == "table" and json.array then return json.array(t) end
  return require("unbreakable.monspec.pyjson").array(t)
end

function M.or_null(v)
  if v == nil then return M.null end
  return v
end

-- The worse of two verdict levels.
function M.worst(a, b)
  if not a then return b end
  if not b then return a end
  return RANK[a] >= RANK[b] and a or b
end

-- What an objective contributes to the verdict.
-- opts.on_no_data: level for status "no_data" (default "inconclusive").
-- A non-critical objective never contributes more than "warning", except
-- "error": an error always fails closed.
function M.outcome(obj, opts)
  local s = obj.status
  local level
  if s == "error" then return "error"
  elseif s == "fail" then level = "fail"
  elseif s == "no_data" then level = (opts and opts.on_no_data) or "inconclusive"
  elseif s == "inconclusive" then level = "inconclusive"
  elseif s == "warning" then level = "warning"
  elseif s == "pass" then level = "pass"
  else return "error" end
  if obj.critical == false and RANK[level] > RANK.warning then level = "warning" end
  return level
end

-- Checks an objective a policy built by hand; returns it or raises with
-- the field that is wrong.
function M.objective(t)
  if type(t) ~= "table" then error("an objective must be a table", 2) end
  if type(t.name) ~= "string" or t.name == "" then error("objective.name must be a non-empty string", 2) end
  if not M.STATUSES[t.status] then
    error(string.format("objective %q: status must be pass, warning, fail, no_data, error or inconclusive (got %s)",
                        t.name, tostring(t.status)), 2)
  end
  if t.critical == nil then t.critical = true end
  if type(t.message) ~= "string" then t.message = "" end
  for _, k in ipairs({ "value", "baseline", "threshold" }) do
    if t[k] == nil then t[k] = M.null end
  end
  return t
end

local function count_by(objectives, field)
  local n = {}
  for _, o in ipairs(objectives) do n[o[field]] = (n[o[field]] or 0) + 1 end
  return n
end

-- combine(objectives, errors, opts) -> level. Errors outside objectives
-- make the verdict "error"; no objective at all is "inconclusive".
function M.combine(objectives, errors, opts)
  if errors and #errors > 0 then return "error" end
  if #objectives == 0 then return "inconclusive" end
  local level = "pass"
  for _, o in ipairs(objectives) do
    o.outcome = M.outcome(o, opts)
    level = M.worst(level, o.outcome)
  end
  return level
end

local function names_with(objectives, outcome)
  local names = {}
  for _, o in ipairs(objectives) do
    if o.outcome == outcome then names[#names + 1] = o.name end
  end
  return names
end

-- A one-line explanation of the verdict.
function M.summary(v)
  local objs = v.objectives or {}
  if v.verdict == "error" and #objs == 0 then
    local errors = v.errors or {}
    local more = #errors > 1 and string.format(" (and %d more error%s)", #errors - 1, #errors > 2 and "s" or "") or ""
    return "error: " .. (errors[1] or "the gate could not be evaluated") .. more
  end
  local n = count_by(objs, "outcome")
  local parts = {}
  for _, level in ipairs({ "error", "fail", "inconclusive", "warning", "pass" }) do
    if n[level] then parts[#parts + 1] = string.format("%d %s", n[level], level) end
  end
  local s = string.format("%s: %d objective%s (%s)", v.verdict, #objs, #objs == 1 and "" or "s",
                          table.concat(parts, ", "))
  local worst = names_with(objs, v.verdict)
  if v.verdict ~= "pass" and #worst > 0 then
    s = s .. "; " .. v.verdict .. ": " .. table.concat(worst, ", ")
  end
  if v.errors and #v.errors > 0 then s = s .. "; " .. v.errors[1] end
  return s
end

-- Human numbers for messages: integral values without a fraction, others
-- with up to 6 significant digits.
function M.fmt(v)
  if type(v) ~= "number" then return "null" end
  if v == math.floor(v) and math.abs(v) < 1e15 then return string.format("%d", math.floor(v)) end
  return string.format("%.6g", v)
end

-- finish(v, opts) -> v with verdict, outcomes, totalViolations and summary
-- filled (opts.on_no_data as in outcome()).
function M.finish(v, opts)
  v.objectives = M.array(v.objectives)
  v.errors = M.array(v.errors)
  v.warnings = M.array(v.warnings)
  v.verdict = M.combine(v.objectives, v.errors, opts)
  if v.totalViolations == nil then
    local n = 0
    for _, o in ipairs(v.objectives) do
      if o.violation then n = n + 1 end
    end
    v.totalViolations = n
  end
  v.summary = M.summary(v)
  return v
end

return M
