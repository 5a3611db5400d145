-- The shipped default policy and the example user policy
-- (examples/monspec/critical-only.lua), evaluated on the recorded synthetic
-- scenario of the original tool (fixtures/monspec/synthetic-scenario_*).

local S = require "monspec_support"

local SAMPLE = "unbreakable-pipeline_monspec.json"
local TARGET = "SampleJSonService/StagingToProduction"

local function policy(path)
  local chunk = assert(loadfile(S.source .. "/" .. path))
  return chunk()
end

local function evaluate(path, scenario, fields)
  local fake = S.fake_dynatrace.new(scenario or S.scenario()).install()
  local f = { target = TARGET, mode = "pullcompare" }
  for k, v in pairs(fields or {}) do f[k] = v end
  return policy(path)(S.ctx(S.fixture(SAMPLE), SAMPLE, f)), fake
end

-- Sample objectives on the recorded data (default mode, scale factor 30 %,
-- requestspermin 90 %):
--  1 response time avg   160000.0 vs 110000 * 1.3 = 143000.0   -> fail
--  2 response time p90   300000.0 vs 250000 * 1.3 = 325000.0   -> pass
--  3 failure rate avg    no data (null, null)                  -> no_data
--  4 requests/min count  11.0 vs 105 - 94.5 = 10.5 (lower)     -> pass
--  5 calls, upperlimit 2 3 > 2.0                               -> fail
--  6 runsOn (lower)      1 vs 1 - 0.3 = 0.7                    -> pass
--  7 calls out (lower)   1 vs 0.7                              -> pass
--  8-10 /api/invoke methods: the scenario has no such method   -> no_data
describe("policies/monspec.lua (the default policy)", function()
  it("fails the sample release on the recorded data", function()
    local v = evaluate("policies/monspec.lua")
    local status = {}
    for _, o in ipairs(v.objectives) do status[#status + 1] = o.status end
    assert.same({ "fail", "pass", "no_data", "pass", "fail", "pass", "pass", "no_data", "no_data", "no_data" }, status)
    assert.equal("fail", v.verdict)
    assert.equal(2, v.totalViolations)
    assert.equal(143000.0, v.objectives[1].threshold)
    assert.equal(325000.0, v.objectives[2].threshold)
    assert.equal(10.5, v.objectives[4].threshold)
    assert.equal(2.0, v.objectives[5].threshold)
    assert.equal(0.7, v.objectives[6].threshold)
  end)

  it("in compat dtcli returns the original document with the verdict", function()
    local v = evaluate("policies/monspec.lua", nil, { compat = "dtcli" })
    assert.equal(S.fixture("dtcli-output_pullcompare_sample_StagingToProduction_5.json"), v.dtcli.json .. "\n")
    assert.equal("fail", v.verdict)
  end)
end)

describe("examples/monspec/critical-only.lua", function()
  it("makes only p90 response time and failure rate critical", function()
    local v = evaluate("examples/monspec/critical-only.lua")
    local critical = {}
    for _, o in ipairs(v.objectives) do
      if o.critical then critical[#critical + 1] = o.name end
    end
    assert.same({ "com.dynatrace.builtin:service.responsetime p90", "com.dynatrace.builtin:service.failurerate avg" },
                critical)
  end)

  it("turns the avg response time and call-count failures into warnings; the failure rate without data stays inconclusive", function()
    local v = evaluate("examples/monspec/critical-only.lua")
    assert.equal("warning", v.objectives[1].status)
    assert.equal("160000 us is above the threshold 143000 us (baseline 110000 us + 30%, validate upper) " ..
                 "(not critical: warning)", v.objectives[1].message)
    assert.equal("warning", v.objectives[5].status)
    assert.equal("no_data", v.objectives[3].status)
    assert.equal("inconclusive", v.objectives[3].outcome)
    assert.equal("warning", v.objectives[8].outcome)     -- a non-critical method without data only warns
    assert.equal("inconclusive", v.verdict)
    assert.equal(2, v.totalViolations)
  end)

  it("passes with a warning once the failure rate has data under the baseline threshold", function()
    local sc = S.scenario()
    -- Staging failure rate 0.2, 0.4 -> 0.30000000000000004 <= 0.5 * 1.3 = 0.65
    sc.timeseries["com.dynatrace.builtin:service.failurerate|aggregationType=avg"]["SERVICE-STG"] = { 0.2, 0.4, n = 2 }
    local v = evaluate("examples/monspec/critical-only.lua", sc)
    assert.equal(0.30000000000000004, v.objectives[3].value)
    assert.equal("pass", v.objectives[3].status)
    assert.equal("warning", v.verdict)
    -- the default policy still fails the same data
    assert.equal("fail", evaluate("policies/monspec.lua", sc).verdict)
  end)

  it("fails when the p90 response time regresses", function()
    local sc = S.scenario()
    sc.timeseries["com.dynatrace.builtin:service.failurerate|aggregationType=avg"]["SERVICE-STG"] = { 0.2, n = 1 }
    -- 330000 > 250000 * 1.3 = 325000
    sc.timeseries["com.dynatrace.builtin:service.responsetime|aggregationType=percentile&percentile=90"]["SERVICE-STG"] =
      { 330000, n = 1 }
    local v = evaluate("examples/monspec/critical-only.lua", sc)
    assert.equal("fail", v.objectives[2].status)
    assert.equal("fail", v.verdict)
    -- warnings: rt avg, calls (limit), the 3 method objectives without data; pass: 3, 4, 6, 7
    assert.equal("fail: 10 objectives (1 fail, 5 warning, 4 pass); fail: com.dynatrace.builtin:service.responsetime p90",
                 v.summary)
  end)

  it("still fails closed on an API error", function()
    local sc = S.scenario()
    sc.fail = function(call, _, o)
      if call == "timeseries" and o.aggregation == "count" then return { status = 500, message = "Internal error" } end
    end
    assert.equal("error", evaluate("examples/monspec/critical-only.lua", sc).verdict)
  end)
end)

describe("policy hooks", function()
  local monspec = require "unbreakable.monspec"

  local function run(options)
    S.fake_dynatrace.new(S.scenario()).install()
    return monspec.evaluate(S.ctx(S.fixture(SAMPLE), SAMPLE, { target = TARGET, mode = "pullcompare" }), options)
  end

  it("objective() may change any field of an objective, e.g. a threshold", function()
    local v = run({ objective = function(obj)
      if obj.smartscape == "toRelationships:calls" and obj.upper_threshold then
        -- allow 3 calls: 3 is not above 3
        obj.threshold, obj.upper_threshold, obj.status, obj.violation = 3.0, 3.0, "pass", false
        obj.message = "3 calls allowed by the team's policy"
      end
    end })
    assert.equal("pass", v.objectives[5].status)
    assert.equal(1, v.totalViolations)
  end)

  it("extra_checks add objectives that count in the verdict", function()
    local v = run({
      on_no_data = "pass",
      critical = function(obj) return obj.index == 1 and not obj.method and false or nil end,
      extra_checks = { function(_, verdict)
        return { name = "at most 1 warning", status = #verdict.objectives > 100 and "fail" or "pass",
                 message = "counted " .. #verdict.objectives .. " objectives" }
      end },
    })
    local last = v.objectives[#v.objectives]
    assert.equal("at most 1 warning", last.name)
    assert.equal("check", last.kind)
    assert.equal("counted 10 objectives", last.message)
    -- rt avg is a warning now, calls (upperlimit) still fails
    assert.equal("fail", v.verdict)
  end)

  it("rejects an extra check that returns a malformed objective", function()
    assert.has_error(function()
      run({ extra_checks = { function() return { name = "x", status = "great" } end } })
    end)
  end)
end)

describe("the example monspec files", function()
  it("load without errors or warnings", function()
    local monspec = require "unbreakable.monspec"
    for _, f in ipairs({ "checkout.monspec.json", "checkout-metrics-v2.monspec.json" }) do
      local spec, warnings = monspec.load(S.read(S.source .. "/examples/monspec/" .. f), f)
      assert.is_table(spec, warnings)
      assert.same({}, warnings)
    end
  end)
end)
