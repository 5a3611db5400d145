-- unbreakable.monspec.judge: turns the measurements of one measure (source
-- and, for pullcompare, compare side) into an objective that explains
-- itself. Two rule sets (docs/reference/monspec.md §4.9 and §5):
--   default: no data is null/no_data, both static limits apply (a band),
--            errors on either side are "error", an empty baseline is
--            inconclusive unless allow_missing_baseline;
--   dtcli:   the original's numbers (no data = 0, upperlimit hides
--            lowerlimit, threshold keeps the limit's JSON type), recorded
--            in objective.dtcli for the document, and the status the global
--            compat rule needs.

local verdict = require "unbreakable.verdict"
local schema = require "unbreakable.monspec.schema"
local pyjson = require "unbreakable.monspec.pyjson"

local M = {}
local fmt = verdict.fmt
local null = verdict.null

local function unit_text(unit)
  return (type(unit) == "string" and unit ~= "") and (" " .. unit) or ""
end

local function query_text(entry)
  if entry.kind == "timeseries" then
    local agg = entry.aggregate
    local a = agg.type == "percentile" and ("percentile " .. agg.percentile) or agg.type
    return string.format("Timeseries v1 %s (%s)%s", entry.api_id, a,
                         entry.method and (" of service method " .. entry.method) or "")
  elseif entry.kind == "smartscape" then
    return string.format("Smartscape: number of %s.%s of the matched entities",
                         entry.relation_list, entry.relation_type)
  end
  return string.format("Metrics v2 %s (resolution=Inf)%s", entry.id,
                       entry.method and (" of service method " .. entry.method) or "")
end
M.query_text = query_text

-- Percent allowed for an entry: exact key, then (default mode) the same
-- Timeseries id written with or without com.dynatrace.builtin:, then
-- "default", then 0.
function M.scalefactor(cmp, entry, compat)
  local sf = cmp.scalefactorperc or {}
  if sf[entry.id] ~= nil then return sf[entry.id] end
  if not compat and entry.kind == "timeseries" then
    for k, v in pairs(sf) do
      if k ~= "default" and schema.api_timeseries_id(k) == entry.api_id then return v end
    end
  end
  if sf.default ~= nil then return sf.default end
  return 0
end

-- The points of a measured series for the report's chart: timestamps and
-- values (missing as null), at most MAX_CHART_POINTS by an even stride.
local MAX_CHART_POINTS = 600
function M.chart(series)
  if series == nil or #series == 0 then return nil end
  local n = #series
  local step = math.max(1, math.ceil(n / MAX_CHART_POINTS))
  local ts, vals = verdict.array({}), verdict.array({})
  for i = 1, n, step do
    ts[#ts + 1] = series:timestamp(i) or null
    local v = series[i]
    vals[#vals + 1] = v == nil and null or v
  end
  return { timestamps = ts, values = vals }
end

local function skeleton(m, target)
  local e = m.entry
  local src, cmp = m.sides.source, m.sides.compare
  local obj = {
    name = e.name, kind = e.kind, query = query_text(e), method = e.method,
    aggregate = e.aggregate and e.aggregate.text or (e.raw.aggregate ~= nil and e.raw.aggregate) or null,
    validate = e.validate, critical = e.critical, index = e.index,
    value = null, baseline = null, threshold = null, unit = (src and src.unit) or (cmp and cmp.unit) or null,
    entities = { source = verdict.array(src and src.entities or {}) }, requests = { source = src and src.request or null },
    points = { source = src and src.points or 0 }, side = "source", violation = false,
  }
  obj[e.kind] = e.id
  if not target.compat then
    obj.series = M.chart(src and src.series)
    obj.baseline_series = M.chart(cmp and cmp.series)
  end
  if target.mode == "pullcompare" then
    obj.entities.compare = verdict.array(cmp and cmp.entities or {})
    obj.requests.compare = cmp and cmp.request or null
    obj.points.compare = cmp and cmp.points or 0
  end
  for _, side in ipairs({ "source", "compare" }) do
    local s = m.sides[side]
    if s and s.resolution_request then
      obj.requests[side .. "_entities"] = s.resolution_request
    end
  end
  return obj
end

local function no_data_reason(meas, env_name, method)
  if meas.no_entities and method then
    return string.format("no service method named %q under the services of environment %s", method, env_name)
  elseif meas.no_entities then
    return string.format("no entities matched environment %s", env_name)
  end
  return string.format("no data points in the %s window", env_name)
end

---------------------------------------------------------------------------
-- default rules

local function judge_static(obj, e, value)
  local ul, ll = e.upperlimit, e.lowerlimit
  obj.upper_threshold, obj.lower_threshold = ul or null, ll or null
  obj.threshold = ul or ll
  local u = unit_text(obj.unit)
  local above, below = ul and value > ul, ll and value < ll
  obj.violation = (above or below) and true or false
  obj.status = obj.violation and "fail" or "pass"
  if above then
    obj.message = string.format("%s%s is above the upper limit %s%s", fmt(value), u, fmt(ul), u)
  elseif below then
    obj.message = string.format("%s%s is below the lower limit %s%s", fmt(value), u, fmt(ll), u)
  elseif ul and ll then
    obj.message = string.format("%s%s is within the limits [%s, %s]%s", fmt(value), u, fmt(ll), fmt(ul), u)
  elseif ul then
    obj.message = string.format("%s%s is not above the upper limit %s%s", fmt(value), u, fmt(ul), u)
  else
    obj.message = string.format("%s%s is not below the lower limit %s%s", fmt(value), u, fmt(ll), u)
  end
end

local function judge_baseline(obj, e, value, base, target)
  local sf = M.scalefactor(target.comparison, e, false)
  local mult = e.validate == "lower" and -1 or 1
  local threshold = base + (mult * base * sf) / 100
  obj.threshold, obj.scalefactor = threshold, sf
  local u = unit_text(obj.unit)
  local violated
  if e.validate == "lower" then violated = value < threshold else violated = value > threshold end
  obj.violation = violated
  obj.status = violated and "fail" or "pass"
  local rel = e.validate == "lower" and "below" or "above"
  obj.message = string.format("%s%s is %s%s the threshold %s%s (baseline %s%s %s %s%%, validate %s)",
    fmt(value), u, violated and "" or "not ", rel, fmt(threshold), u, fmt(base), u,
    mult < 0 and "-" or "+", fmt(sf), e.validate)
end

function M.judge_default(m, target)
  local e = m.entry
  local obj = skeleton(m, target)
  local src, cmp = m.sides.source, m.sides.compare
  local src_env = target.envs.source.name
  local cmp_env = target.envs.compare and target.envs.compare.name
  obj.value = src.value or null
  if cmp then obj.baseline = cmp.value or null end
  local errs = {}
  if src.error then errs[#errs + 1] = "source (" .. src_env .. "): " .. src.error end
  if cmp and cmp.error then errs[#errs + 1] = "compare (" .. cmp_env .. "): " .. cmp.error end
  if #errs > 0 then
    obj.status, obj.message = "error", table.concat(errs, "; ")
    obj.side = src.error and "source" or "compare"
    return obj
  end
  local static = e.upperlimit ~= nil or e.lowerlimit ~= nil
  if src.value == nil then
    obj.status = "no_data"
    obj.message = no_data_reason(src, src_env, e.method) ..
                  (static and "; the static limit cannot be checked" or "; nothing to judge")
    if static then obj.upper_threshold, obj.lower_threshold = e.upperlimit or null, e.lowerlimit or null
      obj.threshold = e.upperlimit or e.lowerlimit end
    return obj
  end
  if static then
    judge_static(obj, e, src.value)
  elseif target.mode == "pull" then
    obj.status = "pass"
    obj.judged = false -- measured, but there was nothing to compare it with
    obj.message = string.format("%s%s measured; no static limit, and pull has no baseline",
                                fmt(src.value), unit_text(obj.unit))
  elseif cmp.value == nil then
    obj.side = "compare"
    local why = no_data_reason(cmp, cmp_env, e.method)
    if target.comparison.allow_missing_baseline then
      obj.status = "pass"
      obj.message = "baseline missing (" .. why .. "); allowed by allow_missing_baseline"
    else
      obj.status = "inconclusive"
      obj.message = "baseline missing: " .. why ..
                    " (set allow_missing_baseline: true on the comparison to accept this)"
    end
  else
    judge_baseline(obj, e, src.value, cmp.value, target)
  end
  return obj
end

---------------------------------------------------------------------------
-- compat dtcli rules (docs/reference/monspec.md §4.9, §5)

-- The original's float(): a numeric string becomes a float, a number stays.
local function py_limit(raw)
  if raw == nil or pyjson.is_null(raw) then return nil end
  if type(raw) == "string" then return schema.parse_numeric_string(raw) end
  return raw
end

local function dtcli_source(meas)
  if meas.value ~= nil then return meas.value end
  return 0
end

local function dtcli_compare(meas, entry)
  if meas.error then return null end
  if meas.value ~= nil then return meas.value end
  if meas.no_entities and entry.kind == "timeseries" then return null end  -- M8 as recorded
  return 0
end

local function dtcli_threshold(e, src, cmp_py, target, fields)
  local ul, ll = py_limit(e.raw.upperlimit), py_limit(e.raw.lowerlimit)
  if ul ~= nil then
    fields[#fields + 1] = { "threshold", ul }
    if src > ul then fields[#fields + 1] = { "violation", 1 }; return true, ul, "static", nil, ">" end
    return false, ul, "static"
  end
  if ll ~= nil then
    fields[#fields + 1] = { "threshold", ll }
    if src < ll then fields[#fields + 1] = { "violation", 1 }; return true, ll, "static", nil, "<" end
    return false, ll, "static"
  end
  if cmp_py == nil or cmp_py == null then
    fields[#fields + 1] = { "threshold", null }
    fields[#fields + 1] = { "violation", 0 }
    return false, nil, "none"
  end
  local sf = M.scalefactor(target.comparison, e, true)
  local mult = e.validate == "lower" and -1 or 1
  local threshold = cmp_py + (mult * cmp_py * sf) / 100
  local violated
  if e.validate == "lower" then violated = src < threshold else violated = src > threshold end
  fields[#fields + 1] = { "threshold", threshold }
  fields[#fields + 1] = { "violation", violated and 1 or 0 }
  return violated, threshold, "baseline", sf, e.validate == "lower" and "<" or ">"
end

-- { {key, value}, ... } -> a table with those keys in that order.
function M.fields_table(fields)
  local t, order = {}, {}
  for _, f in ipairs(fields) do
    t[f[1]] = f[2]
    order[#order + 1] = f[1]
  end
  return pyjson.ordered(t, order)
end

-- obj.dtcli = the result keys the original wrote on this entry, in order
-- (result, result_compare, threshold, violation; a key it did not write is
-- absent).
function M.judge_dtcli(m, target)
  local e = m.entry
  local obj = skeleton(m, target)
  local src, cmp = m.sides.source, m.sides.compare
  obj.critical = true
  local fields = {}
  obj.dtcli = pyjson.ordered({}, {})
  if src.error then
    obj.status, obj.message = "error", "source (" .. target.envs.source.name .. "): " .. src.error ..
                                      " (the original command failed here)"
    return obj
  end
  local src_py = dtcli_source(src)
  fields[#fields + 1] = { "result", src_py }
  local cmp_py
  if cmp then
    cmp_py = dtcli_compare(cmp, e)
    fields[#fields + 1] = { "result_compare", cmp_py }
  end
  local violated, threshold, how, sf, op = dtcli_threshold(e, src_py, cmp_py, target, fields)
  obj.value, obj.baseline = src_py, cmp_py == nil and null or cmp_py
  obj.threshold, obj.scalefactor = threshold == nil and null or threshold, sf
  obj.violation = violated
  obj.dtcli = M.fields_table(fields)
  local u = unit_text(obj.unit)
  if cmp and cmp.error then
    obj.status, obj.side = "error", "compare"
    obj.message = "compare (" .. target.envs.compare.name .. "): " .. cmp.error ..
                  " (the original tool hid this error and showed null)"
  elseif violated then
    obj.status = "fail"
    obj.message = string.format("%s%s %s threshold %s%s (%s)", fmt(src_py), u, op, fmt(threshold), u,
      how == "static" and "static limit" or ("baseline " .. fmt(cmp_py) .. u .. ", " .. fmt(sf) .. "%"))
  elseif src.value == nil then
    obj.status = "no_data"
    obj.message = no_data_reason(src, target.envs.source.name) .. "; the original tool reported 0"
  elseif how == "baseline" and cmp.value == nil then
    obj.status, obj.side = "inconclusive", "compare"
    obj.message = "baseline: " .. no_data_reason(cmp, target.envs.compare.name) ..
                  "; the original reported " .. (cmp_py == null and "null" or "0")
  elseif how == "none" and cmp and cmp_py == null then
    obj.status, obj.side = "inconclusive", "compare"
    obj.message = "baseline: " .. no_data_reason(cmp, target.envs.compare.name) .. "; no threshold can be computed"
  else
    obj.status = "pass"
    obj.message = how == "none" and string.format("%s%s measured; no static limit and no baseline", fmt(src_py), u)
      or string.format("%s%s within threshold %s%s", fmt(src_py), u, fmt(threshold), u)
  end
  return obj
end

return M
