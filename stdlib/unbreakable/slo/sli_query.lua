-- unbreakable.slo.sli_query: the Dynatrace sli.yaml of dynatrace-service
-- (docs/reference/keptn-slo.md 3.1-3.3): indicator files and their merge,
-- the five built-in indicators, query forms (metricSelector=..., MV2;,
-- SLO;, PV2; supported; SECPV2;, USQL; and legacy ?scope= rejected) and
-- placeholder replacement (whole names by default, Keptn's plain text
-- replacement with compat = "keptn").

local M = {}

local BUILTIN_ENTITY = "entitySelector=type(SERVICE),tag(keptn_project:$PROJECT),tag(keptn_stage:$STAGE)," ..
  "tag(keptn_service:$SERVICE),tag(keptn_deployment:$DEPLOYMENT)"

-- Used when the merged files define no indicator (Q3).
M.BUILTIN = {
  throughput = "metricSelector=builtin:service.requestCount.total:merge(\"dt.entity.service\"):sum&" .. BUILTIN_ENTITY,
  error_rate = "metricSelector=builtin:service.errors.total.rate:merge(\"dt.entity.service\"):avg&" .. BUILTIN_ENTITY,
  response_time_p50 = "metricSelector=builtin:service.response.time:merge(\"dt.entity.service\"):percentile(50)&" .. BUILTIN_ENTITY,
  response_time_p90 = "metricSelector=builtin:service.response.time:merge(\"dt.entity.service\"):percentile(90)&" .. BUILTIN_ENTITY,
  response_time_p95 = "metricSelector=builtin:service.response.time:merge(\"dt.entity.service\"):percentile(95)&" .. BUILTIN_ENTITY,
}

-- MV2 units and their divisor (to ms and KiB).
M.MV2_UNITS = { MicroSecond = 1000, Byte = 1024 }

local SUPPORTED = "supported forms: metricSelector=..., MV2;<unit>;metricSelector=..., SLO;<id>, PV2;problemSelector=..."

local function yaml_null()
  local ok, yaml = pcall(require, "unbreakable.yaml")
  return ok and yaml.null or nil
end

-- Indicators of one decoded sli.yaml. Returns a table name -> query, or
-- nil and an error naming the file and the indicator (with line and
-- column when positions from yaml.decode are given).
function M.indicators_of(doc, name, positions)
  name = name or "sli.yaml"
  local function at(path)
    local pos = positions and (positions[path] or positions["indicators"])
    return name .. (pos and (":" .. pos) or "") .. ": " .. path .. ": "
  end
  local null = yaml_null()
  if doc == nil or doc == null then return {} end
  if type(doc) ~= "table" then return nil, name .. ": (top level): must be a map with 'indicators'" end
  local raw = doc.indicators
  if raw == nil or raw == null then return {} end
  if type(raw) ~= "table" or #raw > 0 then
    return nil, at("indicators") .. "must be a map of indicator names to queries"
  end
  local keys = {}
  for k in pairs(raw) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local out = {}
  for _, k in ipairs(keys) do
    local v = raw[k]
    if type(k) ~= "string" or type(v) ~= "string" then
      return nil, at("indicators." .. tostring(k)) .. "the query must be a string"
    end
    out[k] = v
  end
  return out
end

-- Decodes and reads an sli.yaml text.
function M.load(text, name)
  local yaml = require("unbreakable.yaml")
  local ok, doc, positions = pcall(yaml.decode, text, name or "sli.yaml", { positions = true })
  if not ok then return nil, tostring(doc) end
  return M.indicators_of(doc, name, positions)
end

-- Merges indicator tables key by key, later ones winning (project <
-- stage < service). Returns the merged table and whether the built-ins
-- were used because none defined an indicator (Q3).
function M.merge(levels)
  local merged, any = {}, false
  for _, level in ipairs(levels) do
    for k, v in pairs(level or {}) do
      merged[k] = v
      any = true
    end
  end
  if not any then
    for k, v in pairs(M.BUILTIN) do merged[k] = v end
    return merged, true
  end
  return merged, false
end

local function not_supported(name, what)
  return nil, "indicator '" .. name .. "': " .. what .. " is not supported (" .. SUPPORTED .. ")"
end

-- Splits "k=v&k=v" into a table; keys must be among allowed.
local function parse_params(name, text, allowed, required)
  local params = {}
  for chunk in (text .. "&"):gmatch("([^&]*)&") do
    local key, value = chunk:match("^([^=]*)=(.*)$")
    if not key or key == "" or value == "" then
      return nil, "indicator '" .. name .. "': '" .. chunk .. "' is not key=value"
    end
    if not allowed[key] then
      return nil, "indicator '" .. name .. "': unknown parameter '" .. key .. "'"
    end
    if params[key] then
      return nil, "indicator '" .. name .. "': parameter '" .. key .. "' is given twice"
    end
    params[key] = value
  end
  if required and not params[required] then
    return nil, "indicator '" .. name .. "': " .. required .. " is missing"
  end
  return params
end

local METRIC_KEYS = { metricSelector = true, entitySelector = true, resolution = true, mzSelector = true }
local PROBLEM_KEYS = { problemSelector = true, entitySelector = true }

local function parse_metrics(name, text)
  if text:find("?scope=", 1, true) then
    return not_supported(name, "the legacy '<metricSelector>?scope=<entitySelector>' form " ..
      "(dynatrace-sli-service 0.3); write metricSelector=...&entitySelector=...")
  end
  local p, err = parse_params(name, text, METRIC_KEYS, "metricSelector")
  if not p then return nil, err end
  if p.metricSelector:find(";entitySelector=", 1, true) then
    return nil, "indicator '" .. name .. "': the metricSelector contains ';entitySelector=': " ..
      "separate the parameters with '&' (metricSelector=...&entitySelector=...)"
  end
  return { kind = "metrics", metric_selector = p.metricSelector, entity_selector = p.entitySelector,
           resolution = p.resolution, mz_selector = p.mzSelector }
end

-- Parses a query after placeholder replacement. Returns a spec:
--   { kind = "metrics", metric_selector, entity_selector, resolution, mz_selector, unit? }
--   { kind = "slo", id }  |  { kind = "problems", problem_selector, entity_selector }
-- or nil and an error naming the indicator.
function M.parse(name, query)
  local q = query:match("^%s*(.-)%s*$")
  if q:match("^SECPV2;") then return not_supported(name, "SECPV2 (security problems)") end
  if q:match("^USQL;") or q:lower():match("^select%s") then
    return not_supported(name, "USQL (user session query)")
  end
  if q:match("^MV2;") then
    local unit, rest = q:match("^MV2;([^;]*);(.*)$")
    if not unit or not M.MV2_UNITS[unit] then
      return nil, "indicator '" .. name .. "': MV2 needs a unit MicroSecond or Byte: MV2;MicroSecond;metricSelector=..."
    end
    local spec, err = parse_metrics(name, rest)
    if spec then spec.unit = unit end
    return spec, err
  end
  if q:match("^SLO;") then
    local id = q:sub(5)
    if id == "" then return nil, "indicator '" .. name .. "': SLO; needs the SLO id: SLO;<id>" end
    return { kind = "slo", id = id }
  end
  if q:match("^PV2;") then
    local p, err = parse_params(name, q:sub(5), PROBLEM_KEYS, nil)
    if not p then return nil, err end
    return { kind = "problems", problem_selector = p.problemSelector, entity_selector = p.entitySelector }
  end
  if q:match("^%u+%d*;") then
    return not_supported(name, "the query form '" .. q:match("^(%u+%d*);") .. ";'")
  end
  return parse_metrics(name, q)
end

-- ---- units ------------------------------------------------------------

-- Units of Dynatrace's built-in metrics, for reports (a metrics answer
-- carries no unit, and asking for the descriptor would add a request).
local METRIC_UNITS = {
  ["builtin:service.response.time"] = "MicroSecond",
  ["builtin:service.cpu.time"] = "MicroSecond",
  ["builtin:service.errors.total.rate"] = "Percent",
  ["builtin:service.errors.server.rate"] = "Percent",
  ["builtin:service.errors.client.rate"] = "Percent",
  ["builtin:service.requestCount.total"] = "Count",
  ["builtin:service.requestCount.server"] = "Count",
  ["builtin:host.cpu.usage"] = "Percent",
  ["builtin:host.mem.usage"] = "Percent",
}

-- The unit of an indicator's value as the gate reports it, from the query
-- text (before or after placeholder replacement): MV2 values are converted
-- to ms and KiB, an SLO answers a percentage, problems are counted; plain
-- metric selectors of built-in metrics have their known units. nil when
-- unknown.
function M.unit_of(query)
  if type(query) ~= "string" then return nil end
  local q = query:match("^%s*(.-)%s*$")
  local mv2 = q:match("^MV2;([^;]*);")
  if mv2 then return ({ MicroSecond = "MilliSecond", Byte = "KibiByte" })[mv2] end
  if q:match("^SLO;") then return "Percent" end
  if q:match("^PV2;") then return "Count" end
  local selector = q:match("metricSelector=([^&]*)")
  if not selector then return nil end
  if selector:match(":count%s*$") or selector:match(":count%(%)") then return "Count" end
  return METRIC_UNITS[selector:match("^(builtin:[%w%._-]+)")]
end

-- ---- placeholders -------------------------------------------------------

local CONTEXT_KEYS = { "CONTEXT", "EVENT", "SOURCE", "PROJECT", "STAGE", "SERVICE", "DEPLOYMENT", "TESTSTRATEGY" }

local function strip_quotes(v)
  return (tostring(v):gsub("[\"']", ""))
end

-- Plain replacement of every occurrence of a literal text.
local function replace_all(s, from, to)
  local out, pos = {}, 1
  while true do
    local i, j = s:find(from, pos, true)
    if not i then break end
    out[#out + 1] = s:sub(pos, i - 1)
    out[#out + 1] = to
    pos = j + 1
  end
  out[#out + 1] = s:sub(pos)
  return table.concat(out)
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- Keptn's replacement: plain text, in order, unknown values become "".
local function substitute_keptn(query, ctx, filter)
  local s = query
  for _, k in ipairs(sorted_keys(filter)) do
    local v = strip_quotes(filter[k])
    s = replace_all(s, "$" .. k, v)
    s = replace_all(s, "$" .. k:upper(), v)
  end
  for _, key in ipairs(CONTEXT_KEYS) do
    s = replace_all(s, "$" .. key, tostring(ctx[key:lower()] or ""))
  end
  for _, k in ipairs(sorted_keys(ctx.labels)) do
    s = replace_all(s, "$LABEL." .. k, tostring(ctx.labels[k]))
  end
  s = s:gsub("%$ENV%.([%w_]+)", function(n) return tostring((ctx.env or {})[n] or "") end)
  return s
end

-- Values of whole placeholder names (filter entries win, as in Keptn). A
-- filter key written exactly wins over the capitalised alias of another
-- ($MZ of {mz = 1, MZ = 2} is 2), whatever the hash order.
local function placeholder_values(ctx, filter)
  local values = {}
  for _, key in ipairs(CONTEXT_KEYS) do
    local v = ctx[key:lower()]
    if v ~= nil and v ~= "" then values[key] = tostring(v) end
  end
  for k, v in pairs(ctx.labels or {}) do values["LABEL." .. k] = tostring(v) end
  for k, v in pairs(ctx.env or {}) do values["ENV." .. k] = tostring(v) end
  local keys = sorted_keys(filter)
  for _, k in ipairs(keys) do values[k:upper()] = strip_quotes(filter[k]) end
  for _, k in ipairs(keys) do values[k] = strip_quotes(filter[k]) end
  return values
end

-- Default replacement (Q27): each $NAME, $LABEL.name or $ENV.name is read
-- as a whole name (the longest run of letters, digits and '_'), so
-- $SERVICE_NAME is never $SERVICE followed by "_NAME"; a name without a
-- value is an error for that indicator.
local function substitute_whole(name, query, ctx, filter)
  local values = placeholder_values(ctx, filter)
  local out, pos = {}, 1
  while true do
    local i, j, head = query:find("%$([%a_][%w_]*)", pos)
    if not i then break end
    local key = head
    if head == "LABEL" or head == "ENV" then
      local _, k, sub = query:find("^%.([%w_%-]+)", j + 1)
      if k then key, j = head .. "." .. sub, k end
    end
    if values[key] == nil then
      return nil, "indicator '" .. name .. "': placeholder $" .. key .. " has no value " ..
        "(set it for the evaluation or in the slo.yaml filter, or remove it from the query)"
    end
    out[#out + 1] = query:sub(pos, i - 1)
    out[#out + 1] = values[key]
    pos = j + 1
  end
  out[#out + 1] = query:sub(pos)
  return table.concat(out)
end

-- Replaces placeholders in an indicator's query. ctx = { project, stage,
-- service, deployment, context, event, source, teststrategy, labels = {},
-- env = {} (only variables the host chose to offer) }; filter = the
-- slo.yaml filter. Returns the text or nil and an error naming the
-- indicator (default mode only).
function M.substitute(name, query, ctx, filter, options)
  ctx = ctx or {}
  if options and options.compat == "keptn" then return substitute_keptn(query, ctx, filter) end
  return substitute_whole(name, query, ctx, filter)
end

return M
