-- unbreakable.monspec.measure: runs a plan through unbreakable.dynatrace
-- (two concurrent batches) and turns each answer into one measurement per
-- measure and side:
--   { value = number|nil, points = n, entities = {ids}, no_entities = bool,
--     error = message|nil, request = "what was asked", unit = string|nil,
--     notes = {...} }
-- value nil with no error means "no data". Timeseries v1 values are the
-- pooled flat mean of the non-null points, in dataPoints key order then
-- point order (docs/reference/monspec.md §4.6, kept on purpose: M12).

local plan_mod = require "unbreakable.monspec.plan"
local pyjson = require "unbreakable.monspec.pyjson"

local M = {}

local function describe(req)
  return string.format("%s %s", req[1], tostring(req[2]))
end

-- Sends a list of requests in one dt.batch, each distinct request once.
-- Returns responses in the order of the list.
local function send(dt, requests)
  if #requests == 0 then return {} end
  local unique, index_of, slots = {}, {}, {}
  for i, req in ipairs(requests) do
    local key = plan_mod.request_key(req)
    if not index_of[key] then
      unique[#unique + 1] = req
      index_of[key] = #unique
    end
    slots[i] = index_of[key]
  end
  local answers = dt.batch(unique)
  local out = {}
  for i, slot in ipairs(slots) do
    local resp = type(answers) == "table" and answers[slot] or nil
    if type(resp) ~= "table" then
      resp = { ok = false, status = 0, error = "no answer from the Dynatrace binding",
               request = describe(requests[i]) }
    end
    out[i] = resp
  end
  return out
end

-- A mean that overflowed (inf, or nan from inf - inf) would make every
-- comparison with it pass; it is an error.
local function not_finite(v)
  return v ~= nil and (v ~= v or v == math.huge or v == -math.huge)
end

local function failed(resp, req)
  local msg = resp.error
  if type(msg) ~= "string" or msg == "" then
    msg = string.format("Dynatrace request failed (status %s)", tostring(resp.status))
  end
  return { error = msg, request = resp.request or describe(req), notes = {} }
end

-- Objects with a displayName, as the original kept them (§4.3).
local function named_objects(list)
  local out = {}
  if type(list) ~= "table" then return out end
  for _, o in ipairs(list) do
    if type(o) == "table" and o.displayName ~= nil and not pyjson.is_null(o.displayName) then
      out[#out + 1] = o
    end
  end
  return out
end

local function ids_of(objects)
  local ids = {}
  for _, o in ipairs(objects) do
    if type(o.entityId) == "string" then ids[#ids + 1] = o.entityId end
  end
  return ids
end

---------------------------------------------------------------------------
-- per kind

local function timeseries_value(resp, req, stats, compat)
  if not resp.ok then return failed(resp, req) end
  local m = { request = resp.request or describe(req), unit = resp.unit, entities = {}, notes = {} }
  -- ok without the data points is an unusable answer, not "no data"
  if type(resp.series) ~= "table" or type(resp.order) ~= "table" then
    m.error = "the answer has no dataPoints"
    return m
  end
  -- An answer that does not name the timeseries asked for is unusable
  -- (the original failed on it too, §4.5).
  if resp.timeseries_id == nil then
    m.error = string.format("the answer has no timeseriesId (asked for %s)", req[2])
    return m
  elseif resp.timeseries_id ~= req[2] then
    m.error = string.format("the answer is for %s, not %s", tostring(resp.timeseries_id), req[2])
    return m
  end
  local wanted = {}
  for _, id in ipairs(req[3].entities) do wanted[id] = true end
  local list = {}
  for _, id in ipairs(resp.order or {}) do
    if wanted[id] and resp.series and resp.series[id] then
      if compat and type(resp.entities) == "table" and resp.entities[id] == nil then
        m.error = string.format("the answer has data for %s but no entities[%s]", id, id)
        return m
      end
      list[#list + 1] = resp.series[id]
      m.entities[#m.entities + 1] = id
    end
  end
  m.points = 0
  if #list == 0 then return m end
  if compat then
    for _, f in ipairs({ { "timeseries_id", "timeseriesId" }, { "unit", "unit" }, { "aggregation", "aggregationType" },
                         { "resolution_ms", "resolutionInMillisUTC" } }) do
      if resp[f[1]] == nil then
        m.error = "the answer has data points but no " .. f[2]
        return m
      end
    end
  end
  local merged = #list == 1 and list[1] or stats.merge(list)
  m.series = merged
  m.points = stats.count(merged)
  local v = stats.mean(merged)
  if v ~= nil and math.type(v) == "integer" then v = v + 0.0 end
  if not_finite(v) then
    m.error = string.format("the mean of the %d points is not a finite number (%s)", m.points, tostring(v))
    return m
  end
  m.value = v
  return m
end

local function is_list(t)
  return type(t) == "table" and (next(t) == nil or pyjson.is_array(t))
end

local function smartscape_value(objects, entry)
  local total = 0
  for _, o in ipairs(objects) do
    local rel = type(o[entry.relation_list]) == "table" and o[entry.relation_list][entry.relation_type]
    if is_list(rel) then total = total + #rel end
  end
  return total
end

local function metric_value(resp, req, stats)
  if not resp.ok then return failed(resp, req) end
  local m = { request = resp.request or describe(req), entities = {}, notes = {}, points = 0 }
  if type(resp.result) ~= "table" then
    m.error = "the answer has no result"
    return m
  end
  for _, w in ipairs(resp.warnings or {}) do m.notes[#m.notes + 1] = "Dynatrace: " .. tostring(w) end
  local result = type(resp.result) == "table" and resp.result[1]
  for _, w in ipairs(result and result.warnings or {}) do m.notes[#m.notes + 1] = "Dynatrace: " .. tostring(w) end
  local data = result and result.data or {}
  if #data == 0 then return m end
  if #data > 1 then
    m.error = string.format("the selector returned %d series; add :splitBy() (or :merge(...)) so that it " ..
                            "returns one value per window", #data)
    return m
  end
  local s = data[1].series
  local n = s and stats.count(s) or 0
  m.points = n
  if n == 0 then return m end
  if n > 1 then
    m.error = string.format("expected one value for the window (resolution=Inf), got %d; " ..
                            "the metric may not support resolution=Inf: add :fold or an aggregation", n)
    return m
  end
  local v = stats.mean(s) + 0.0
  if not_finite(v) then
    m.error = string.format("the value is not a finite number (%s)", tostring(v))
    return m
  end
  m.value = v
  return m
end

---------------------------------------------------------------------------
-- the run

-- exact_name: keep only objects with this displayName (method look-ups).
local function finish_resolution(resp, req, exact_name)
  if not resp.ok then return { error = failed(resp, req).error, request = resp.request or describe(req) } end
  if type(resp.entities) ~= "table" then
    return { error = "the answer has no entities list", request = resp.request or describe(req) }
  end
  local objs = named_objects(resp.entities)
  if exact_name then
    local keep = {}
    for _, o in ipairs(objs) do
      if o.displayName == exact_name then keep[#keep + 1] = o end
    end
    objs = keep
  end
  return { objects = objs, ids = ids_of(objs), request = resp.request or describe(req) }
end

-- A job that needed a look-up: its request, or (no request needed) its
-- measurement right away.
local function second_phase_request(job, resolved)
  local e = job.measure.entry
  if resolved.error then return nil, { error = resolved.error, request = resolved.request, notes = {} } end
  local objects, ids = resolved.objects, resolved.ids
  if e.kind == "smartscape" then
    -- no entity is no data (compat shows it as 0, judge.lua)
    local value = #objects > 0 and smartscape_value(objects, e) or nil
    return nil, { value = value, points = #objects, entities = ids, no_entities = #objects == 0,
                  request = resolved.request, unit = "count", notes = {} }
  end
  if #ids == 0 then
    return nil, { no_entities = true, entities = {}, points = 0, request = resolved.request, notes = {} }
  end
  if e.kind == "metric" then
    return plan_mod.metric_request(e, plan_mod.ids_selector("SERVICE_METHOD", ids), job.window)
  end
  return plan_mod.timeseries_request(e, ids, job.window)
end

local function finish_job(job, resp, req, stats, compat)
  local e = job.measure.entry
  if e.kind == "metric" then
    local m = metric_value(resp, req, stats)
    m.unit = m.unit or e.unit
    return m
  end
  return timeseries_value(resp, req, stats, compat)
end

-- Batch 1: look-ups and the queries that need none. Returns the resolved
-- environments and methods by key.
local function first_batch(dt, stats, plan, compat)
  local reqs, kinds = {}, {}
  for _, name in ipairs(plan.resolution_order) do
    reqs[#reqs + 1] = plan.resolutions[name]
    kinds[#reqs] = { "env", name }
  end
  for _, key in ipairs(plan.method_order) do
    reqs[#reqs + 1] = plan.methods[key]
    kinds[#reqs] = { "method", key }
  end
  for _, job in ipairs(plan.jobs) do
    if job.request then
      reqs[#reqs + 1] = job.request
      kinds[#reqs] = { "job", job }
    end
  end
  local answers = send(dt, reqs)
  local resolved = { env = {}, method = {} }
  for i, k in ipairs(kinds) do
    if k[1] == "env" then
      resolved.env[k[2]] = finish_resolution(answers[i], reqs[i])
    elseif k[1] == "method" then
      resolved.method[k[2]] = finish_resolution(answers[i], reqs[i], plan.method_names[k[2]])
    else
      k[2].result = finish_job(k[2], answers[i], reqs[i], stats, compat)
    end
  end
  return resolved, #reqs > 0 and 1 or 0
end

local function resolution_of(job, resolved)
  if job.needs == "env" then return resolved.env[job.env.name] end
  return resolved.method[job.method_key]
end

-- Batch 2: the queries built from the resolved ids.
local function second_batch(dt, stats, plan, compat, resolved)
  local reqs, jobs = {}, {}
  for _, job in ipairs(plan.jobs) do
    if job.needs then
      local req, immediate = second_phase_request(job, resolution_of(job, resolved))
      if req then
        reqs[#reqs + 1] = req
        jobs[#reqs] = job
      else
        job.result = immediate
      end
    end
  end
  local answers = send(dt, reqs)
  for i, job in ipairs(jobs) do
    job.result = finish_job(job, answers[i], reqs[i], stats, compat)
    job.result.resolution_request = resolution_of(job, resolved).request
  end
  return #reqs > 0 and 1 or 0
end

-- run(dt, stats, plan, compat) fills job.result for every job of the plan
-- and returns the number of dt.batch calls made (0 to 2).
function M.run(dt, stats, plan, compat)
  local resolved, n1 = first_batch(dt, stats, plan, compat)
  return n1 + second_batch(dt, stats, plan, compat, resolved)
end

return M
