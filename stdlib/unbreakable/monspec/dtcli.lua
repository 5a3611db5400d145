-- unbreakable.monspec.dtcli: the original tool's output document
-- (docs/reference/monspec.md §4.10) and its exact one-line text. Each
-- perfsignature entry keeps its own keys in file order (comments "_..." and
-- metricId/metricDef removed), then result, result_compare, threshold and
-- violation in the order the original wrote them.

local pyjson = require "unbreakable.monspec.pyjson"

local M = {}

-- Used only when the monspec was decoded without key order (no
-- ctx.monspec_text): a fixed order, which may differ from the file.
local CANONICAL = { "timeseries", "smartscape", "metric", "aggregate", "validate", "upperlimit",
                    "lowerlimit", "threshold", "unit", "critical" }

local function own_keys(raw)
  local mt = getmetatable(raw)
  if type(mt) == "table" and mt.__jsonorder then return pyjson.keys(raw), true end
  local keys, seen = {}, {}
  for _, k in ipairs(CANONICAL) do
    if raw[k] ~= nil then keys[#keys + 1] = k; seen[k] = true end
  end
  for _, k in ipairs(pyjson.keys(raw)) do
    if not seen[k] then keys[#keys + 1] = k end
  end
  return keys, false
end

local function entry_document(raw, fields)
  local t, order = {}, {}
  for _, k in ipairs((own_keys(raw))) do
    if type(k) == "string" and k:sub(1, 1) ~= "_" and k ~= "metricId" and k ~= "metricDef" then
      order[#order + 1] = k
      t[k] = raw[k]
    end
  end
  for _, k in ipairs(fields and pyjson.keys(fields) or {}) do
    if t[k] == nil then order[#order + 1] = k end
    t[k] = fields[k]
  end
  return pyjson.ordered(t, order)
end

-- document(raw_perfsignature, objectives, info) -> ordered document table
-- objectives: judged objectives with .index (position in the perfsignature)
-- and .dtcli = the ordered result keys (judge.lua); info = { mode=, window_text=, target= }.
function M.document(raw_perfsignature, objectives, info)
  local by_index = {}
  for _, o in ipairs(objectives) do
    if o.dtcli and not o.method then by_index[o.index] = o end
  end
  local entries, total = pyjson.array({}), 0
  for i, raw in ipairs(raw_perfsignature) do
    local o = by_index[i]
    entries[i] = entry_document(raw, o and o.dtcli)
    if o and o.dtcli.violation == 1 then total = total + 1 end
  end
  if info.mode == "pullcompare" then
    return pyjson.ordered({ performanceSignature = entries, comment = "Pulled compare for " .. info.window_text,
                            totalViolations = total }, { "performanceSignature", "comment", "totalViolations" })
  end
  return pyjson.ordered({ performanceSignature = entries, totalViolations = total,
                          comment = "Pulled metrics for " .. info.target },
                        { "performanceSignature", "totalViolations", "comment" })
end

-- The exact text Python's json.dumps(document) printed.
function M.json(doc)
  return pyjson.dumps(doc)
end

-- True when every entry carries its file key order.
function M.has_file_order(raw_perfsignature)
  for _, raw in ipairs(raw_perfsignature) do
    if type(raw) == "table" and not select(2, own_keys(raw)) then return false end
  end
  return true
end

return M
