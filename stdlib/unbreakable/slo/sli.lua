-- unbreakable.slo.sli: fetches the indicators an slo.yaml names through the
-- unbreakable.dynatrace binding, in one dt.batch, and reduces each answer
-- to the single value lighthouse scores (docs/reference/keptn-slo.md 3.4, 3.5:
-- every warning and failure message, the one retry with the metric
-- descriptor, MV2 unit conversion, data readiness delay).
--
--   sli.fetch(dt, names, indicators, ctx [, options]) -> records, summary
--     or nil, { not_ready = true, wait_ms = n } when the data is not ready.
-- Records: { metric, value, success, message, query, failed }; failed is
-- true for FAILED (a query error), false for WARNING (no usable value).

local query = require("unbreakable.slo.sli_query")

local M = {}

M.load = query.load
M.merge = query.merge
M.parse = query.parse
M.substitute = query.substitute
M.indicators_of = query.indicators_of
M.unit_of = query.unit_of
M.BUILTIN = query.BUILTIN

local READY_AFTER_MS = 120000       -- Dynatrace needs 2 min after the end
local MAX_WAIT_MS = 240000

local function failed(name, message, request)
  return { metric = name, value = 0, success = false, failed = true, message = message, query = request or "" }
end

local function warning(name, message, request)
  return { metric = name, value = 0, success = false, failed = false, message = message, query = request or "" }
end

local function ok(name, value, request)
  return { metric = name, value = value, success = true, failed = false, message = "", query = request or "" }
end

-- Reduces a Metrics v2 answer to one value (section 3.4). Returns
-- { value = v } or { warning = message } or { several = n }.
function M.reduce_metrics(resp)
  local result = resp.result or {}
  if #result ~= 1 then
    return { warning = "Metrics API v2 returned " .. #result .. " metric series collections" }
  end
  local data = result[1].data or {}
  if #data == 0 then
    local msg = "Metrics API v2 returned zero metric series"
    local w = result[1].warnings or resp.warnings
    if type(w) == "table" and #w > 0 then msg = msg .. ". Warnings: " .. table.concat(w, ", ") end
    return { warning = msg }
  end
  if #data > 1 then
    return { warning = "Metrics API v2 returned " .. #data .. " metric series but only one is supported" }
  end
  local series = data[1].series
  local n = series and #series or 0
  if n == 0 then return { warning = "Metrics API v2 returned zero values" } end
  if n > 1 then return { several = n } end
  local v = series[1]
  if v == nil or v ~= v then return { warning = "Metrics API v2 returned 'null' as value" } end
  return { value = v }
end

local function window(ctx)
  return ctx.from - ctx.from % 1000, ctx.to - ctx.to % 1000
end

local function metrics_call(spec, ctx, selector, resolution)
  local from, to = window(ctx)
  return { "metrics", selector or spec.metric_selector,
           { entity_selector = spec.entity_selector, from = from, to = to,
             resolution = resolution or spec.resolution, mz_selector = spec.mz_selector } }
end

local function first_call(spec, ctx)
  local from, to = window(ctx)
  if spec.kind == "metrics" then return metrics_call(spec, ctx) end
  -- GTF: evaluate the SLO over the given timeframe, not its own (as dynatrace-service asks)
  if spec.kind == "slo" then return { "slo", spec.id, { from = from, to = to, time_frame = "GTF" } } end
  return { "problems", { problem_selector = spec.problem_selector, entity_selector = spec.entity_selector,
                         from = from, to = to } }
end

-- Plans one indicator: its spec and first call, or a failed record.
local function plan_one(name, indicators, ctx, options)
  local text = indicators[name]
  if not text then return nil, failed(name, "SLI definition for '" .. name .. "' was not found") end
  local replaced, err = query.substitute(name, text, ctx, options.filter, options)
  if not replaced then return nil, failed(name, err) end
  local spec
  spec, err = query.parse(name, replaced)
  if not spec then return nil, failed(name, err, replaced) end
  return { name = name, spec = spec, call = first_call(spec, ctx) }
end

local function convert(spec, value)
  if spec.unit then return value / query.MV2_UNITS[spec.unit] end
  return value
end

-- Record from the answer of an SLO or problems call.
local function simple_record(item, resp)
  local name, request = item.name, resp.request
  if item.spec.kind == "slo" then
    if not resp.ok then return failed(name, "error querying Service Level Objectives API: " .. tostring(resp.error), request) end
    local v = type(resp.slo) == "table" and resp.slo.evaluatedPercentage
    if type(v) ~= "number" then return failed(name, "SLO answer has no evaluatedPercentage", request) end
    return ok(name, v, request)
  end
  if not resp.ok then return failed(name, "error querying Problems API v2: " .. tostring(resp.error), request) end
  if type(resp.total_count) ~= "number" then return failed(name, "Problems API v2 answer has no totalCount", request) end
  return ok(name, resp.total_count, request)
end

-- Record from a metrics answer; nil when it needs the retry.
local function metrics_record(item, resp, final)
  local name, request = item.name, resp.request
  if not resp.ok then return failed(name, "error querying Metrics API v2: " .. tostring(resp.error), request) end
  local r = M.reduce_metrics(resp)
  if r.warning then return warning(name, r.warning, request) end
  if r.several then
    if not final then return nil end
    return warning(name, "Metrics API v2 returned " .. r.several .. " values but only one is supported", request)
  end
  return ok(name, convert(item.spec, r.value), request)
end

-- Second call for an indicator with several values, from its descriptor.
local function retry_call(item, ctx, resp)
  local name, spec = item.name, item.spec
  if not resp.ok then
    return nil, failed(name, "error querying Metrics API v2: " .. tostring(resp.error), resp.request)
  end
  local d = type(resp.descriptor) == "table" and resp.descriptor or {}
  if not spec.resolution and d.resolutionInfSupported == true then
    return metrics_call(spec, ctx, nil, "Inf")
  end
  local default = type(d.defaultAggregation) == "table" and d.defaultAggregation.type
  if default == "value" then
    return nil, failed(name, "unable to apply ':fold' to the metric selector '" .. spec.metric_selector ..
      "': its default aggregation is 'value'; add :fold(<aggregation>) or resolution=Inf to the query",
      resp.request)
  end
  return metrics_call(spec, ctx, "(" .. spec.metric_selector .. "):fold")
end

-- Runs the retries (descriptor, then the new query) for items needing it.
local function run_retries(dt, ctx, records, pending)
  if #pending == 0 then return end
  local calls = {}
  for i, item in ipairs(pending) do calls[i] = { "metric_descriptor", item.spec.metric_selector } end
  local descriptors = dt.batch(calls) or {}
  local again, again_items = {}, {}
  for i, item in ipairs(pending) do
    local call, record = retry_call(item, ctx, descriptors[i] or { ok = false, error = "no answer" })
    if call then
      again[#again + 1] = call
      again_items[#again_items + 1] = item
    else
      records[item.index] = record
    end
  end
  if #again == 0 then return end
  local answers = dt.batch(again) or {}
  for i, item in ipairs(again_items) do
    records[item.index] = metrics_record(item, answers[i] or { ok = false, error = "no answer" }, true)
  end
end

-- Overall provider result: fail if a query FAILED, warning if a scored
-- indicator had no usable value, else pass.
function M.summary(records, info)
  local result = "pass"
  for _, r in ipairs(records) do
    if r.failed then return "fail" end
    if not r.success and not (info and info[r.metric]) then result = "warning" end
  end
  return result
end

-- Seconds to wait before querying (Q28); nil when ready, or an error.
local function readiness(ctx, now)
  if not now then return nil end
  local wait = READY_AFTER_MS - (now - ctx.to)
  if wait > MAX_WAIT_MS then
    return nil, string.format("required delay of %.2f seconds exceeds maximum of %.2f seconds",
                              wait / 1000, MAX_WAIT_MS / 1000)
  end
  if wait > 0 then return wait end
  return nil
end

-- Fetches names (list of indicator names, in objective order) using
-- indicators (name -> query, merged). ctx: placeholder values plus from /
-- to (Unix ms). options: { filter = slo filter, compat = "keptn", now =
-- Unix ms (enables the readiness delay), info = { [name] = true } }.
function M.fetch(dt, names, indicators, ctx, options)
  options = options or {}
  if type(dt) ~= "table" or type(dt.batch) ~= "function" then
    error("sli.fetch: dt must be the unbreakable.dynatrace binding (require \"unbreakable.dynatrace\")", 2)
  elseif type(names) ~= "table" then
    error("sli.fetch: names must be a list of indicator names (see sli.names_of)", 2)
  elseif type(indicators) ~= "table" then
    error("sli.fetch: indicators must be a table of name -> query (see sli.load and sli.merge)", 2)
  elseif type(ctx) ~= "table" then
    error("sli.fetch: ctx must be a table with from and to (Unix ms) and the placeholder values", 2)
  end
  if math.type(ctx.from) ~= "integer" or math.type(ctx.to) ~= "integer" then
    error("sli.fetch: ctx.from and ctx.to must be Unix milliseconds (integers)", 2)
  end
  local wait, late = readiness(ctx, options.now)
  if wait then return nil, { not_ready = true, wait_ms = wait } end
  local records, items, calls = {}, {}, {}
  for index, name in ipairs(names) do
    if late then
      records[index] = failed(name, late)
    else
      local item, record = plan_one(name, indicators, ctx, options)
      if item then
        item.index = index
        items[#items + 1] = item
        calls[#calls + 1] = item.call
      else
        records[index] = record
      end
    end
  end
  local answers = #calls > 0 and dt.batch(calls) or {}
  local pending = {}
  for i, item in ipairs(items) do
    local resp = answers[i] or { ok = false, error = "no answer" }
    if item.spec.kind == "metrics" then
      records[item.index] = metrics_record(item, resp, false)
      if not records[item.index] then pending[#pending + 1] = item end
    else
      records[item.index] = simple_record(item, resp)
    end
  end
  run_retries(dt, ctx, records, pending)
  return records, { result = M.summary(records, options.info) }
end

-- Indicator names of an unbreakable.slo.load model, one per objective in objective
-- order (a name twice when two objectives judge it: lighthouse asks for it
-- twice and the provider answers each request, so both get a value, Q18),
-- and the set of informational ones.
function M.names_of(model)
  local names, info = {}, {}
  for _, o in ipairs(model.objectives) do
    names[#names + 1] = o.sli
    if o.info then info[o.sli] = true end
  end
  return names, info
end

return M
