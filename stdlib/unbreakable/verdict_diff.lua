-- unbreakable.verdict_diff: what changed between two verdict tables (a
-- recorded evaluation and its replay), as readable lines. Objectives are
-- matched by name, in order of the new verdict.

local M = {}

local json_ok, json = pcall(require, "unbreakable.json")
local NULL = json_ok and json.null or nil

local FIELDS = { "status", "value", "baseline", "threshold", "unit", "critical" }

local function show(v)
  if v == nil or v == NULL then return "null" end
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

local function same(a, b)
  if (a == nil or a == NULL) and (b == nil or b == NULL) then return true end
  return a == b
end

local function by_name(objectives)
  local index, order = {}, {}
  for _, o in ipairs(objectives or {}) do
    local name = tostring(o.name)
    if index[name] == nil then order[#order + 1] = name end
    index[name] = o
  end
  return index, order
end

local function objective_changes(name, old, new)
  local parts = {}
  for _, f in ipairs(FIELDS) do
    if not same(old[f], new[f]) then
      parts[#parts + 1] = string.format("%s %s -> %s", f, show(old[f]), show(new[f]))
    end
  end
  if #parts == 0 then return nil end
  return string.format("objective %q: %s", name, table.concat(parts, "; "))
end

-- diff(old, new) -> list of lines (empty when nothing that matters changed)
function M.diff(old, new)
  local lines = {}
  if not same(old.verdict, new.verdict) then
    lines[#lines + 1] = string.format("verdict: %s -> %s", show(old.verdict), show(new.verdict))
  end
  if not same(old.totalViolations, new.totalViolations) then
    lines[#lines + 1] = string.format("totalViolations: %s -> %s",
                                      show(old.totalViolations), show(new.totalViolations))
  end
  local old_index, old_order = by_name(old.objectives)
  local new_index, new_order = by_name(new.objectives)
  for _, name in ipairs(new_order) do
    if old_index[name] == nil then
      lines[#lines + 1] = string.format("objective %q: added (status %s)", name, show(new_index[name].status))
    else
      lines[#lines + 1] = objective_changes(name, old_index[name], new_index[name])
    end
  end
  for _, name in ipairs(old_order) do
    if new_index[name] == nil then
      lines[#lines + 1] = string.format("objective %q: removed (was %s)", name, show(old_index[name].status))
    end
  end
  return lines
end

return M
