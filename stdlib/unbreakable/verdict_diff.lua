-- unbreakable.verdict_diff: what changed between two verdict tables (a
-- recorded evaluation and its replay), as readable lines. Objectives are
-- matched by name (the nth of several with one name with the nth), in
-- order of the new verdict.

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

local function ordinal(n)
  if n % 100 >= 11 and n % 100 <= 13 then return n .. "th" end
  return n .. (({ "st", "nd", "rd" })[n % 10] or "th")
end

-- Objectives by key (the name; the nth of several with one name is
-- name\0n), the keys in order, and how each is shown.
local function by_name(objectives)
  local index, order, label, seen = {}, {}, {}, {}
  for _, o in ipairs(objectives or {}) do
    local name = tostring(o.name)
    local n = (seen[name] or 0) + 1
    seen[name] = n
    local key = n == 1 and name or (name .. "\0" .. n)
    index[key], order[#order + 1] = o, key
    label[key] = n == 1 and string.format("%q", name) or string.format("%q (%s)", name, ordinal(n))
  end
  return index, order, label
end

local function objective_changes(label, old, new)
  local parts = {}
  for _, f in ipairs(FIELDS) do
    if not same(old[f], new[f]) then
      parts[#parts + 1] = string.format("%s %s -> %s", f, show(old[f]), show(new[f]))
    end
  end
  if #parts == 0 then return nil end
  return string.format("objective %s: %s", label, table.concat(parts, "; "))
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
  local old_index, old_order, old_label = by_name(old.objectives)
  local new_index, new_order, new_label = by_name(new.objectives)
  for _, key in ipairs(new_order) do
    if old_index[key] == nil then
      lines[#lines + 1] = string.format("objective %s: added (status %s)", new_label[key], show(new_index[key].status))
    else
      lines[#lines + 1] = objective_changes(new_label[key], old_index[key], new_index[key])
    end
  end
  for _, key in ipairs(old_order) do
    if new_index[key] == nil then
      lines[#lines + 1] = string.format("objective %s: removed (was %s)", old_label[key], show(old_index[key].status))
    end
  end
  return lines
end

return M
