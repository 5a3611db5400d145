-- unbreakable.monspec.plan: which Dynatrace requests a gate run needs, for
-- both sides at once, so that they can go out concurrently in two batches:
--   batch 1: entity resolutions (v1 objects: ids for timeseries, relations
--            for smartscape counts), service method look-ups (v2 entities)
--            and every query that needs no resolution (Metrics v2 entries,
--            timeseries of environments given by entity ids);
--   batch 2: the queries that need the ids batch 1 resolved.
-- A request is a dt.batch item: { call, argument, opts }.

local M = {}

-- Quotes a value for an entity selector: "..." with ~ escaping " and ~.
local function selector_quote(s)
  return '"' .. s:gsub("~", "~~"):gsub('"', '~"') .. '"'
end
M.selector_quote = selector_quote

-- type(T),entityId("A","B",...)
function M.ids_selector(etype, ids)
  local q = {}
  for i, id in ipairs(ids) do q[i] = selector_quote(id) end
  return "type(" .. etype .. "),entityId(" .. table.concat(q, ",") .. ")"
end

-- entitySelector of an environment: type(T),tag("...")... or entityId(...).
function M.env_selector(etype, env)
  if env.entities then return M.ids_selector(etype, env.entities) end
  local parts = { "type(" .. etype .. ")" }
  for _, t in ipairs(env.tags or {}) do parts[#parts + 1] = "tag(" .. selector_quote(t) .. ")" end
  return table.concat(parts, ",")
end

-- The entities_v1 request that returns the full objects of an environment.
function M.resolution_request(ent, env)
  if env.entities then
    return { "entities_v1", ent.kind, { entities = env.entities } }
  end
  return { "entities_v1", ent.kind, { tags = env.tags } }
end

-- Service methods with this exact name under the environment's services
-- (docs/reference/monspec.md M15; this project's design, see docs/gate.md).
-- The method must have been seen in the 3 days before the window ends (the
-- default activity window of the v1 entity API).
function M.method_request(ent, env, method_name, window)
  local selector = "type(SERVICE_METHOD),entityName.equals(" .. selector_quote(method_name) .. ")," ..
                   "fromRelationships.isServiceMethodOfService(" .. M.env_selector(ent.etype, env) .. ")"
  return { "entities", selector, { from = window.to - 3 * 24 * 3600 * 1000, to = window.to } }
end

function M.timeseries_request(entry, ids, window)
  local agg = entry.aggregate
  local opts = { from = window.from, to = window.to, aggregation = agg.type, entities = ids }
  if agg.type == "percentile" then opts.percentile = agg.percentile end
  return { "timeseries", entry.api_id, opts }
end

function M.metric_request(entry, entity_selector, window)
  return { "metrics", entry.id, { entity_selector = entity_selector, from = window.from,
                                  to = window.to, resolution = "Inf" } }
end

-- A stable text for a request, to send identical requests once.
local function key_of(v)
  local t = type(v)
  if t ~= "table" then return t:sub(1, 1) .. tostring(v) end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. "=" .. key_of(v[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end
M.request_key = key_of

-- plan(target, measures) -> plan
-- target: { entity=, mode=, envs = {source=env, compare=env|nil}, windows = {...} }
-- measures: list of { entry = normalized entry, method = name|nil }
-- plan.resolutions[env name] = request; plan.methods[key] = request (and
-- plan.resolution_order / plan.method_order: their keys in planning order);
-- plan.jobs = list of { measure=, side=, env=, window=, request=|nil, needs=|nil }
function M.plan(target)
  local ent = target.entity
  local p = { resolutions = {}, methods = {}, jobs = {}, resolution_order = {}, method_order = {},
              method_names = {} }
  for _, side in ipairs(target.sides) do
    local env, window = target.envs[side], target.windows[side]
    for _, m in ipairs(target.measures) do
      local e = m.entry
      local job = { measure = m, side = side, env = env, window = window, kind = e.kind }
      if m.method then
        local key = env.name .. "\0" .. m.method .. "\0" .. side
        if not p.methods[key] then
          p.methods[key] = M.method_request(ent, env, m.method, window)
          p.method_order[#p.method_order + 1] = key
          p.method_names[key] = m.method
        end
        job.needs, job.method_key = "method", key
      elseif e.kind == "metric" then
        job.request = M.metric_request(e, M.env_selector(ent.etype, env), window)
      elseif e.kind == "timeseries" and env.entities then
        job.request = M.timeseries_request(e, env.entities, window)
      else
        if not p.resolutions[env.name] then
          p.resolutions[env.name] = M.resolution_request(ent, env)
          p.resolution_order[#p.resolution_order + 1] = env.name
        end
        job.needs = "env"
      end
      p.jobs[#p.jobs + 1] = job
    end
  end
  return p
end

return M
