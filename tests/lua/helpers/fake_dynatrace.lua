-- fake_dynatrace: an in-process stand-in for the unbreakable.dynatrace
-- binding (contract: /work/briefs/dynatrace-binding.md) that answers from a
-- scenario table, records every request (and every batch) it was asked, and
-- can be told to fail requests. from_recordings() turns
-- fixtures/monspec/synthetic-scenario_dtcli-recordings.json into a scenario
-- that answers exactly like the fake API the original tool was recorded
-- against.
--
-- scenario = {
--   kind = "services",                      -- entity kind the objects belong to
--   objects = { [id] = v1 entity object },
--   routing = { ["tag=T1&tag=T2" | "entity=A&entity=B"] = { ids } },
--   timeseries = { ["<id>|aggregationType=avg"] = { [entity] = { values, n = count } } },
--   units = { [timeseries id] = unit },
--   metrics = { [selector] = { [entity selector] = { {values...}, ... } (one per series) } },
--   entities_v2 = { [selector] = { objects } },
--   fail = function(call, arg, opts) -> nil | { status =, message = },
-- }

local stats = require "unbreakable.stats"

local M = {}

local BASE_TS = 1546300800000

local function is_null(v) return type(v) == "userdata" end

local function timeseries_query(id, o)
  local q = { "startTimestamp=" .. tostring(o.from), "endTimestamp=" .. tostring(o.to),
              "aggregationType=" .. o.aggregation }
  if o.percentile then q[#q + 1] = "percentile=" .. o.percentile end
  q[#q + 1] = "includeData=true"
  if #o.entities == 0 then q[#q + 1] = "entity=" end
  for _, e in ipairs(o.entities) do q[#q + 1] = "entity=" .. e end
  return "GET /api/v1/timeseries/" .. id .. "?" .. table.concat(q, "&")
end

local ENDPOINT = { services = "/api/v1/entity/services", applications = "/api/v1/entity/applications",
                   hosts = "/api/v1/entity/infrastructure/hosts",
                   ["process-groups"] = "/api/v1/entity/infrastructure/process-groups",
                   processes = "/api/v1/entity/infrastructure/processes" }

local function entity_query(o)
  local q = {}
  for _, t in ipairs(o.tags or {}) do q[#q + 1] = "tag=" .. t end
  for _, e in ipairs(o.entities or {}) do q[#q + 1] = "entity=" .. e end
  return table.concat(q, "&")
end

local function error_response(status, message, request)
  return { ok = false, status = status, request = request,
           error = string.format("Dynatrace API error (%d): %s - URL: %s", status, message, request) }
end

local function series_of(values)
  local ts = {}
  for i = 1, values.n do ts[i] = BASE_TS + (i - 1) * 60000 end
  return stats.series(values, { n = values.n, timestamps = ts })
end

function M.new(scenario)
  local fake = { log = {}, batches = {} }
  local sc = scenario

  local function answer_timeseries(id, o)
    local request = timeseries_query(id, o)
    if #o.entities == 0 then
      return error_response(400, "Entity parameter must not be empty", request)
    end
    local key = id .. "|aggregationType=" .. o.aggregation ..
                (o.percentile and ("&percentile=" .. o.percentile) or "")
    local data = sc.timeseries[key]
    if not data then return error_response(404, "Timeseries " .. id .. " not found", request) end
    local r = { ok = true, status = 200, request = request, timeseries_id = id, unit = sc.units and sc.units[id],
                aggregation = o.aggregation:upper(), resolution_ms = 60000, entities = {}, order = {},
                series = {}, shape = "dataResult" }
    for _, e in ipairs(o.entities) do
      if data[e] then
        r.order[#r.order + 1] = e
        r.series[e] = series_of(data[e])
        r.entities[e] = sc.objects[e] and sc.objects[e].displayName or e
      end
    end
    return r
  end

  local function answer_entities_v1(kind, o)
    local q = entity_query(o)
    local request = "GET " .. (ENDPOINT[kind] or kind) .. (q ~= "" and ("?" .. q) or "")
    local ids = sc.routing[q]
    if not ids and o.entities then ids = o.entities end
    local list = {}
    for _, id in ipairs(ids or {}) do
      if sc.objects[id] then list[#list + 1] = sc.objects[id] end
    end
    return { ok = true, status = 200, request = request, entities = list }
  end

  local function answer_metrics(selector, o)
    local request = "GET /api/v2/metrics/query?metricSelector=" .. selector .. "&entitySelector=" ..
                    tostring(o.entity_selector) .. "&from=" .. o.from .. "&to=" .. o.to ..
                    "&resolution=" .. tostring(o.resolution)
    local by_sel = sc.metrics and sc.metrics[selector]
    local series_list = by_sel and by_sel[o.entity_selector] or {}
    local data = {}
    for _, values in ipairs(series_list) do
      data[#data + 1] = { dimensions = {}, dimension_map = {}, series = stats.series(values, { n = values.n or #values }) }
    end
    return { ok = true, status = 200, request = request, resolution = "Inf", total_count = #data, warnings = {},
             result = { { metric_id = selector, warnings = {}, data = data } } }
  end

  local function answer_entities_v2(selector, o)
    local request = "GET /api/v2/entities?entitySelector=" .. selector .. "&from=" .. tostring(o.from) ..
                    "&to=" .. tostring(o.to)
    return { ok = true, status = 200, request = request,
             entities = (sc.entities_v2 and sc.entities_v2[selector]) or {} }
  end

  local handlers = { timeseries = answer_timeseries, entities_v1 = answer_entities_v1,
                     metrics = answer_metrics, entities = answer_entities_v2 }

  local function one(item)
    local call, arg, o = item[1], item[2], item[3] or {}
    local h = handlers[call]
    if not h then error("fake_dynatrace: call " .. tostring(call) .. " is not faked", 2) end
    local resp = h(arg, o)
    fake.log[#fake.log + 1] = resp.request
    if sc.fail then
      local f = sc.fail(call, arg, o)
      if f then resp = error_response(f.status, f.message, resp.request) end
    end
    return resp
  end

  function fake.batch(items)
    local b = {}
    fake.batches[#fake.batches + 1] = b
    local out = {}
    for i, item in ipairs(items) do
      out[i] = one(item)
      b[#b + 1] = out[i].request
    end
    return out
  end
  function fake.timeseries(id, o) return fake.batch({ { "timeseries", id, o } })[1] end
  function fake.entities_v1(kind, o) return fake.batch({ { "entities_v1", kind, o } })[1] end
  function fake.metrics(sel, o) return fake.batch({ { "metrics", sel, o } })[1] end
  function fake.entities(sel, o) return fake.batch({ { "entities", sel, o } })[1] end
  function fake.install()
    package.loaded["unbreakable.dynatrace"] = fake
    return fake
  end
  return fake
end

-- values of a JSON array with nulls -> { values with nil holes, n = count }
function M.values(arr)
  local v = { n = #arr }
  for i = 1, #arr do
    if not is_null(arr[i]) then v[i] = arr[i] end
  end
  return v
end

-- Scenario of fixtures/monspec/synthetic-scenario_dtcli-recordings.json.
function M.from_recordings(rec)
  local sc = { kind = "services", objects = rec.services_GET_api_v1_entity_services, routing = {},
               timeseries = {}, units = {} }
  for _, r in ipairs(rec.entityQueryRouting) do sc.routing[r.query] = r.answer end
  for key, by_entity in pairs(rec.timeseriesAnswers) do
    if key:sub(1, 1) ~= "_" then
      sc.timeseries[key] = {}
      for e, arr in pairs(by_entity) do sc.timeseries[key][e] = M.values(arr) end
    end
  end
  for _, d in ipairs(rec.timeseriesDescriptors_GET_api_v1_timeseries) do sc.units[d.timeseriesId] = d.unit end
  return sc
end

return M
