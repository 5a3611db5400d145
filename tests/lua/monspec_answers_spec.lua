-- The monspec gate on answers that are not what was asked for: a binding
-- answer that says ok but lacks what identifies it, and what a policy hands
-- to monspec.evaluate. None of these may end in a pass (fail closed).

local S = require "monspec_support"

local SAMPLE = "unbreakable-pipeline_monspec.json"
local TARGET = "SampleJSonService/StagingToProduction"

-- One entry, failure rate avg under a static upper limit of 1: the
-- recorded Staging data has only nulls for it, so give it real points.
local ONE = [[{ "Svc": { "etype": "SERVICE",
  "environments": { "Staging": { "entities": [ "SERVICE-A" ] }, "Production": { "entities": [ "SERVICE-B" ] } },
  "comparisons": [ { "name": "StagingToProduction", "source": "Staging", "compare": "Production",
                     "shiftsourcetimeframe": 0, "shiftcomparetimeframe": 0 } ],
  "perfsignature": [ { "timeseries": "com.dynatrace.builtin:service.failurerate", "aggregate": "avg", "upperlimit": 1 } ] } }]]

local function one_scenario(points)
  return { objects = {}, routing = {}, units = { ["com.dynatrace.builtin:service.failurerate"] = "Percent (%)" },
           timeseries = { ["com.dynatrace.builtin:service.failurerate|aggregationType=avg"] = {
             ["SERVICE-A"] = points, ["SERVICE-B"] = points } } }
end

-- Installs a fake whose answers pass through change(resp, item) first.
local function run_changed(text, fields, scenario, change, options)
  local fake = S.fake_dynatrace.new(scenario).install()
  local batch = fake.batch
  fake.batch = function(items)
    local out = batch(items)
    for i, item in ipairs(items) do out[i] = change(out[i], item) or out[i] end
    return out
  end
  package.loaded["unbreakable.monspec"] = nil
  local monspec = require "unbreakable.monspec"
  return monspec.evaluate(S.ctx(text, "svc.json", fields), options)
end

describe("a Timeseries v1 answer without timeseriesId", function()
  local function drop_id(resp, item)
    if item[1] == "timeseries" then resp.timeseries_id = nil end
  end

  it("is an error in default mode (the answer does not say what it measured)", function()
    -- 0.5 % is under the limit of 1 %: with the answer taken at face value this passes
    local v = run_changed(ONE, { target = "Svc/StagingToProduction", mode = "pullcompare" },
                          one_scenario({ 0.5, n = 1 }), drop_id)
    assert.equal("error", v.objectives[1].status)
    assert.equal("error", v.verdict)
  end)

  it("is an error in compat dtcli too, also when it has no data points (the original failed)", function()
    local v = run_changed(ONE, { target = "Svc/StagingToProduction", mode = "pullcompare", compat = "dtcli" },
                          one_scenario(nil), drop_id)
    assert.equal("error", v.objectives[1].status)
    assert.equal("error", v.verdict)
  end)

  it("still judges an answer whose timeseriesId is the one asked for", function()
    local v = run_changed(ONE, { target = "Svc/StagingToProduction", mode = "pullcompare" },
                          one_scenario({ 0.5, n = 1 }), function() end)
    assert.equal("pass", v.verdict)
  end)
end)

describe("monspec.evaluate options from a policy", function()
  local function evaluate(options)
    local fake = S.fake_dynatrace.new(S.scenario()).install()
    assert(fake)
    package.loaded["unbreakable.monspec"] = nil
    local monspec = require "unbreakable.monspec"
    return monspec.evaluate(S.ctx(S.fixture(SAMPLE), SAMPLE, { target = TARGET, mode = "pullcompare" }), options)
  end

  it("an extra check that returns an objective without a name is an error, not dropped", function()
    local ok, err = pcall(evaluate, { on_no_data = "pass",
      extra_checks = { function() return { status = "fail", message = "release window closed" } end } })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("objective.name must be a non-empty string", 1, true), tostring(err))
  end)

  it("an extra check that returns something other than a table is named in the error", function()
    local ok, err = pcall(evaluate, { extra_checks = { function() return "fail" end } })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("options.extra_checks[1] must return an objective, a list of objectives or nil",
                                     1, true), tostring(err))
  end)

  it("a misspelt option is an error naming it (extra_check would silently skip the checks)", function()
    local ok, err = pcall(evaluate, { extra_check = { function() return { name = "x", status = "fail" } end } })
    assert.is_false(ok)
    assert.truthy(tostring(err):find('unknown option "extra_check"; did you mean "extra_checks"?', 1, true),
                  tostring(err))
  end)

  it("options that are not a table are named in the error", function()
    local ok, err = pcall(evaluate, "strict")
    assert.is_false(ok)
    assert.truthy(tostring(err):find("monspec.evaluate: options must be a table", 1, true), tostring(err))
  end)
end)

describe("a mean that is not a finite number", function()
  -- 1e308 + 1e308 overflows to inf: a baseline of inf would give an
  -- infinite threshold that every value passes
  local CMP = [[{ "Svc": { "etype": "SERVICE",
    "environments": { "Staging": { "entities": [ "SERVICE-A" ] }, "Production": { "entities": [ "SERVICE-B" ] } },
    "comparisons": [ { "name": "StagingToProduction", "source": "Staging", "compare": "Production",
                       "scalefactorperc": { "default": 10 }, "shiftsourcetimeframe": 0, "shiftcomparetimeframe": 0 } ],
    "perfsignature": [ { "timeseries": "com.dynatrace.builtin:service.responsetime", "aggregate": "avg" } ] } }]]

  it("is an error, not an infinite baseline", function()
    local sc = { objects = {}, routing = {}, units = {},
                 timeseries = { ["com.dynatrace.builtin:service.responsetime|aggregationType=avg"] = {
                   ["SERVICE-A"] = { 5e9, n = 1 }, ["SERVICE-B"] = { 1e308, 1e308, n = 2 } } } }
    local v = run_changed(CMP, { target = "Svc/StagingToProduction", mode = "pullcompare" }, sc, function() end)
    assert.equal("error", v.objectives[1].status)
    assert.truthy(v.objectives[1].message:find("not a finite number", 1, true), v.objectives[1].message)
    assert.equal("error", v.verdict)
  end)
end)

describe("an answer that says ok but lacks its payload", function()
  -- A missing list is not "no entities" or "no data": read so, the
  -- baseline would count as merely missing, which allow_missing_baseline
  -- accepts, and on_no_data = "pass" would pass the source.
  local CMP = [[{ "Svc": { "etype": "SERVICE",
    "environments": { "Staging": { "tags": [ { "key": "stg" } ] }, "Production": { "tags": [ { "key": "prd" } ] } },
    "comparisons": [ { "name": "StagingToProduction", "source": "Staging", "compare": "Production",
                       "allow_missing_baseline": true, "shiftsourcetimeframe": 0, "shiftcomparetimeframe": 0 } ],
    "perfsignature": [ %s ] } }]]
  local function sc()
    return { objects = { ["SERVICE-A"] = { entityId = "SERVICE-A", displayName = "a", toRelationships = { calls = { "X" } } },
                         ["SERVICE-B"] = { entityId = "SERVICE-B", displayName = "b", toRelationships = { calls = { "Y" } } } },
             routing = { ["tag=stg"] = { "SERVICE-A" }, ["tag=prd"] = { "SERVICE-B" } }, units = {},
             timeseries = { ["com.dynatrace.builtin:service.responsetime|aggregationType=avg"] = {
               ["SERVICE-A"] = { 100, n = 1 }, ["SERVICE-B"] = { 100, n = 1 } } },
             metrics = { ["builtin:service.response.time:splitBy():avg"] = {
               ['type(SERVICE),tag("prd")'] = { { 100 } }, ['type(SERVICE),tag("stg")'] = { { 100 } } } } }
  end
  local F = { target = "Svc/StagingToProduction", mode = "pullcompare" }

  it("entities_v1 without entities is an error, not an environment without entities", function()
    local v = run_changed(CMP:format('{ "smartscape": "toRelationships:calls", "validate": "lower" }'), F, sc(),
      function(resp, item)
        if item[1] == "entities_v1" and item[3].tags[1] == "prd" then resp.entities = nil end
      end)
    assert.equal("error", v.objectives[1].status)
    assert.equal("error", v.verdict)
  end)

  it("a timeseries answer without its data points is an error, not no data", function()
    local v = run_changed(CMP:format('{ "timeseries": "com.dynatrace.builtin:service.responsetime", "aggregate": "avg" }'),
      F, sc(), function(resp, item)
        if item[1] == "timeseries" and item[3].entities[1] == "SERVICE-B" then resp.series, resp.order = nil, nil end
      end)
    assert.equal("error", v.objectives[1].status)
  end)

  it("a Metrics v2 answer without result is an error, not no data", function()
    local v = run_changed(CMP:format('{ "metric": "builtin:service.response.time:splitBy():avg" }'), F, sc(),
      function(resp, item)
        if item[1] == "metrics" and item[3].entity_selector:find("prd", 1, true) then resp.result = nil end
      end)
    assert.equal("error", v.objectives[1].status)
  end)
end)
