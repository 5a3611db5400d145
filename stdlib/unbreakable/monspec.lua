-- unbreakable.monspec: the monspec release gate for policies.
--   local monspec = require "unbreakable.monspec"
--   return function(ctx) return monspec.evaluate(ctx) end
-- evaluate() = load + validate the file, pick the target, compute the
-- windows, plan every query of both sides, fetch them through
-- unbreakable.dynatrace in two concurrent batches, judge each objective and
-- combine the verdict. Each step is exposed so a policy can change any part
-- (docs/gate.md). Submodules: schema (load/validate), windows, plan,
-- measure, judge, dtcli (the original's document), pyjson.

local schema = require "unbreakable.monspec.schema"
local windows_mod = require "unbreakable.monspec.windows"
local plan_mod = require "unbreakable.monspec.plan"
local measure_mod = require "unbreakable.monspec.measure"
local judge_mod = require "unbreakable.monspec.judge"
local dtcli = require "unbreakable.monspec.dtcli"
local pyjson = require "unbreakable.monspec.pyjson"
local verdict = require "unbreakable.verdict"

local M = {}

M.null = verdict.null
M.decode = pyjson.decode          -- JSON text -> tables that keep key order
M.dtcli_json = dtcli.json
M.suggest = schema.suggest
-- timeseries_id("service.responsetime") -> "com.dynatrace.builtin:service.responsetime"
M.timeseries_id = schema.api_timeseries_id

-- load(doc, path, opts) -> spec, warnings | nil, message, problems
-- doc: decoded JSON or the JSON text itself.
function M.load(doc, path, opts)
  if type(doc) == "string" then
    local decoded, err = pyjson.decode(doc)
    if decoded == nil then
      local msg = string.format("%s: invalid JSON: %s", path or "monspec", err)
      return nil, msg, { { path = "$", message = "invalid JSON: " .. err } }
    end
    doc = decoded
  end
  return schema.load(doc, path, opts)
end

local function names_of(t)
  local names = {}
  for k in pairs(t) do names[#names + 1] = k end
  table.sort(names)
  return names
end

local function unknown(what, name, candidates, where)
  local guess = schema.suggest(name, candidates)
  return string.format("%s: unknown %s %q%s (known: %s)", where, what, name,
                       guess and string.format("; did you mean %q?", guess) or "",
                       #candidates > 0 and table.concat(candidates, ", ") or "none")
end

-- target(ctx, spec) -> target | nil, message
-- target = { entity=, mode=, comparison=|nil, envs = {source=, compare=}, sides = {...} }
function M.target(ctx, spec)
  local t = ctx.target
  local where = spec.path or "monspec"
  if type(t) ~= "string" or not t:find("/", 1, true) then
    return nil, string.format("the target must be ENTITY/%s (got %s)",
                              ctx.mode == "pull" and "ENVIRONMENT" or "COMPARISON", tostring(t))
  end
  local ent, rest
  local p = t:find("/", 1, true)
  while p do
    local name = t:sub(1, p - 1)
    if spec.entities[name] then ent, rest = spec.entities[name], t:sub(p + 1); break end
    p = t:find("/", p + 1, true)
  end
  if not ent then
    return nil, unknown("entity definition", t:sub(1, t:find("/", 1, true) - 1), spec.entity_names, where)
  end
  if not ent.perfsignature then
    return nil, string.format("%s: %s.perfsignature: missing; %s needs a perfsignature", where, ent.path, ctx.mode)
  end
  local target = { entity = ent, mode = ctx.mode, envs = {} }
  if ctx.mode == "pullcompare" then
    local cmp = ent.comparison_by_name[rest]
    if not cmp then
      local names = {}
      for _, c in ipairs(ent.comparisons) do names[#names + 1] = c.name end
      return nil, unknown("comparison", rest, names, where .. ": " .. ent.name)
    end
    target.comparison = cmp
    target.envs.source, target.envs.compare = ent.environments[cmp.source], ent.environments[cmp.compare]
    target.sides = { "source", "compare" }
  elseif ctx.mode == "pull" then
    local env = ent.environments[rest]
    if not env then
      return nil, unknown("environment", rest, ent.environment_names, where .. ": " .. ent.name)
    end
    target.envs.source = env
    target.sides = { "source" }
  else
    return nil, string.format("ctx.mode must be \"pullcompare\" or \"pull\" (got %s)", tostring(ctx.mode))
  end
  return target
end

function M.windows(ctx, target)
  return windows_mod.windows(ctx, target)
end

-- The measures of a target: perfsignature entries, then (default mode)
-- every service method's entries.
function M.measures(target, compat)
  local list = {}
  for _, e in ipairs(target.entity.perfsignature) do list[#list + 1] = { entry = e, sides = {} } end
  if not compat then
    for _, m in ipairs(target.entity.servicemethods) do
      for _, e in ipairs(m.perfsignature) do list[#list + 1] = { entry = e, method = m.name, sides = {} } end
    end
  end
  return list
end

-- plan(target) -> the requests of both sides (see unbreakable.monspec.plan).
function M.plan(target)
  return plan_mod.plan(target)
end

-- measure(target, plan, dt, stats) -> number of batches; fills
-- measure.sides[side] of every measure of the target.
function M.measure(target, plan, dt, stats)
  local batches = measure_mod.run(dt, stats, plan, target.compat)
  for _, job in ipairs(plan.jobs) do job.measure.sides[job.side] = job.result end
  return batches
end

-- judge(target, measure) -> objective (default or dtcli rules).
function M.judge(target, m)
  if target.compat then return judge_mod.judge_dtcli(m, target) end
  return judge_mod.judge_default(m, target)
end

local function window_text(n)
  if math.type(n) == "integer" or n == math.floor(n) then return string.format("%d", math.floor(n)) end
  return tostring(n)
end

local function input_error(v, msg, kind)
  for problem in tostring(msg):gmatch("[^\n]+") do v.errors[#v.errors + 1] = problem end -- one each
  v.error_kind = kind or "input"
  return verdict.finish(v)
end

local OPTIONS = { "critical", "objective", "on_no_data", "extra_checks" }

local function check_options(options)
  if type(options) ~= "table" then
    error("monspec.evaluate: options must be a table (got " .. type(options) .. ")", 3)
  end
  for _, k in ipairs(pyjson.keys(options)) do
    local known = false
    for _, name in ipairs(OPTIONS) do known = known or k == name end
    if not known then
      local guess = type(k) == "string" and schema.suggest(k, OPTIONS)
      error(string.format("monspec.evaluate: unknown option %q%s (options: %s)", tostring(k),
                          guess and string.format("; did you mean %q?", guess) or "",
                          table.concat(OPTIONS, ", ")), 3)
    end
  end
  local levels = { pass = true, warning = true, inconclusive = true, fail = true }
  if options.on_no_data ~= nil and not levels[options.on_no_data] then
    error("options.on_no_data must be pass, warning, inconclusive or fail (got " ..
          tostring(options.on_no_data) .. ")", 3)
  end
  for _, k in ipairs({ "critical", "objective" }) do
    if options[k] ~= nil and type(options[k]) ~= "function" then
      error("options." .. k .. " must be a function", 3)
    end
  end
  if options.extra_checks ~= nil and type(options.extra_checks) ~= "table" then
    error("options.extra_checks must be a list of functions", 3)
  end
end

-- Applies the policy hooks of the default mode to one objective.
local function apply_hooks(obj, ctx, options)
  if options.critical then
    local c = options.critical(obj, ctx)
    if c ~= nil then obj.critical = c and true or false end
  end
  if obj.status == "fail" and obj.critical == false then
    obj.status = "warning"
    obj.message = obj.message .. " (not critical: warning)"
  end
  if options.objective then options.objective(obj, ctx) end
  verdict.objective(obj)
end

local function run_extra_checks(v, ctx, options)
  for i, check in ipairs(options.extra_checks or {}) do
    if type(check) ~= "function" then error("options.extra_checks[" .. i .. "] must be a function", 3) end
    local res = check(ctx, v)
    if res ~= nil then
      if type(res) ~= "table" then
        error(string.format("options.extra_checks[%d] must return an objective, a list of objectives or nil " ..
                            "(got %s)", i, type(res)), 3)
      end
      -- one objective (any table that is not a list; an empty list is none)
      if res[1] == nil and next(res) ~= nil then res = { res } end
      for _, o in ipairs(res) do
        o.kind = o.kind or "check"
        v.objectives[#v.objectives + 1] = verdict.objective(o)
      end
    end
  end
end

-- The monspec: decoded by the gate (ctx.monspec, with key order) or, in a
-- replay or a test, from its text.
local function decode_ctx_monspec(ctx)
  if type(ctx.monspec) == "table" then return ctx.monspec end
  if type(ctx.monspec_text) == "string" then
    local doc, err = pyjson.decode(ctx.monspec_text)
    if doc == nil then return nil, string.format("%s: invalid JSON: %s", ctx.monspec_path or "monspec", err) end
    return doc
  end
  return nil, "ctx.monspec is missing"
end

local function prepare(ctx, v)
  local compat = ctx.compat == "dtcli"
  if ctx.compat ~= nil and not compat then
    return nil, string.format("unknown compat mode %q (only \"dtcli\")", tostring(ctx.compat))
  end
  local doc, err = decode_ctx_monspec(ctx)
  if not doc then return nil, err end
  local spec, w = schema.load(doc, ctx.monspec_path or "monspec", { compat = compat and "dtcli" })
  if not spec then return nil, w end
  for _, msg in ipairs(w) do v.warnings[#v.warnings + 1] = msg end
  local target
  target, err = M.target(ctx, spec)
  if not target then return nil, err end
  target.compat = compat
  local wins, wwarn = M.windows(ctx, target)
  if not wins then return nil, wwarn end
  for _, msg in ipairs(wwarn) do v.warnings[#v.warnings + 1] = msg end
  target.windows = wins
  target.measures = M.measures(target, compat)
  if compat then
    if #target.entity.servicemethods > 0 then
      v.warnings[#v.warnings + 1] = "compat dtcli: servicemethods were not evaluated (the original tool ignored them)"
    end
    for _, m in ipairs(target.measures) do
      if m.entry.kind == "metric" then
        return nil, string.format("%s: %s.metric: Metrics v2 entries did not exist in the original tool; " ..
                                  "run without compat dtcli", ctx.monspec_path or "monspec", m.entry.path)
      end
    end
    if not dtcli.has_file_order(target.entity.raw_perfsignature) then
      v.warnings[#v.warnings + 1] = "compat dtcli: ctx.monspec_text missing, entry keys of the document " ..
                                    "are in a fixed order, not the file's"
    end
  end
  return target
end

local function describe_target(v, target)
  v.entity = target.entity.name
  v.etype = target.entity.etype
  if target.comparison then
    v.comparison = target.comparison.name
    v.environments = { source = target.envs.source.name, compare = target.envs.compare.name }
  else
    v.environments = { source = target.envs.source.name }
  end
  v.windows = {}
  for side, w in pairs(target.windows) do v.windows[side] = { from = w.from, to = w.to } end
end

-- A pass needs at least one objective that was actually judged: a pull whose
-- entries have no static limit measures values but compares them with
-- nothing, and would otherwise pass a release without checking anything.
function M.require_judgement(v)
  if v.verdict ~= "pass" then return end
  for _, o in ipairs(v.objectives) do
    if o.judged ~= false then return end
  end
  v.verdict = "inconclusive"
  v.warnings[#v.warnings + 1] = "no objective was judged: in a pull only entries with an upperlimit " ..
                                "or lowerlimit are checked; add limits or use a comparison"
  v.summary = "inconclusive: " .. v.warnings[#v.warnings]
end

-- evaluate(ctx, options) -> verdict table (docs/gate.md).
-- options (default mode): critical = function(obj, ctx) -> bool|nil,
--   objective = function(obj, ctx) (may change any field),
--   on_no_data = "inconclusive"|"pass"|"warning"|"fail",
--   extra_checks = { function(ctx, verdict) -> objective|{objectives}|nil }
function M.evaluate(ctx, options)
  if type(ctx) ~= "table" then
    error("monspec.evaluate: ctx must be the table the policy was called with (got " .. type(ctx) .. ")", 2)
  end
  options = options or {}
  check_options(options)
  local v = { target = ctx.target, mode = ctx.mode, compat = ctx.compat or verdict.null,
              monspec_path = ctx.monspec_path, objectives = {}, errors = {}, warnings = {} }
  local target, err = prepare(ctx, v)
  if not target then return input_error(v, err) end
  describe_target(v, target)
  local dt = require "unbreakable.dynatrace"
  local stats = require "unbreakable.stats"
  local plan = M.plan(target)
  v.batches = M.measure(target, plan, dt, stats)
  for _, m in ipairs(target.measures) do
    local obj = M.judge(target, m)
    if not target.compat then apply_hooks(obj, ctx, options) end
    v.objectives[#v.objectives + 1] = obj
  end
  if not target.compat then run_extra_checks(v, ctx, options) end
  verdict.finish(v, { on_no_data = not target.compat and options.on_no_data or nil })
  if not target.compat then M.require_judgement(v) end
  if v.verdict == "error" then v.error_kind = "evaluation" end
  if target.compat then
    local doc = dtcli.document(target.entity.raw_perfsignature, v.objectives,
                               { mode = ctx.mode, window_text = window_text(ctx.window_minutes), target = ctx.target })
    v.totalViolations = doc.totalViolations
    v.dtcli = { document = doc, json = dtcli.json(doc) }
  end
  return v
end

-- dtcli_document(verdict) -> the original's document (ordered table) of a
-- compat run, or nil when the run was not compat dtcli.
function M.dtcli_document(v)
  return v.dtcli and v.dtcli.document or nil
end

return M
