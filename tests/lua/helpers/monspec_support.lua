-- monspec_support: shared set-up of the monspec busted specs: the native
-- unbreakable.stats of the build (build/lua/unbreakable.so; a missing or
-- broken one fails the specs, there is no fallback), fixture paths, the
-- synthetic scenario and a runner that evaluates a monspec against a fake
-- Dynatrace.

local M = {}

M.source = os.getenv("UB_SOURCE") or "."
M.fixtures = require("fixtures").dir .. "/monspec/"

-- NOW of the specs: 2026-11-20 10:11:05 UTC in ms (whole seconds).
M.NOW = 1795657865000

do
  local native = require "unbreakable.stats"
  assert(type(native) == "table" and native.series and native.merge and native.mean,
         "unbreakable.stats lacks series/merge/mean: the build's native module is broken")
  M.stats_kind = "native"
end

local cjson = require "cjson"
local fake_dynatrace = require "fake_dynatrace"

function M.read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

function M.fixture(name) return M.read(M.fixtures .. name) end

function M.recordings()
  return cjson.decode(M.fixture("synthetic-scenario_dtcli-recordings.json"))
end

function M.scenario()
  return fake_dynatrace.from_recordings(M.recordings())
end

-- ctx for a monspec text: mode from the target form is explicit.
function M.ctx(text, path, fields)
  local ctx = { monspec_text = text, monspec_path = path, window_minutes = 5, shift_minutes = 0,
                now = M.NOW, fail_on_warning = false }
  for k, v in pairs(fields or {}) do ctx[k] = v end
  return ctx
end

-- run(text, path, ctx fields, scenario, options) -> verdict, fake
function M.run(text, path, fields, scenario, options)
  local fake = fake_dynatrace.new(scenario or M.scenario()).install()
  package.loaded["unbreakable.monspec"] = nil
  local monspec = require "unbreakable.monspec"
  return monspec.evaluate(M.ctx(text, path, fields), options), fake
end

-- Objective of a verdict by name (and method).
function M.objective(v, name, index)
  local hits = {}
  for _, o in ipairs(v.objectives) do
    if o.name == name then hits[#hits + 1] = o end
  end
  return hits[index or 1]
end

function M.by_index(v, i)
  for _, o in ipairs(v.objectives) do
    if o.index == i and not o.method then return o end
  end
end

M.cjson = cjson
M.fake_dynatrace = fake_dynatrace
return M
