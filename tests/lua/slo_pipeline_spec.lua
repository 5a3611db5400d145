-- The whole Keptn flow in Lua, on the example files: load slo.yaml and
-- sli.yaml, fetch through a fake unbreakable.dynatrace, pick the baseline
-- from earlier stored evaluations, score, build evaluation.finished, store
-- it, and run again, so later runs compare against earlier ones.
local slo = require("unbreakable.slo")
local slo_load = require("unbreakable.slo.load")
local sli = require("unbreakable.slo.sli")
local stats = require("fake_stats")

local fixtures = require("fixtures")

local function fixture(name) return fixtures.read("keptn/" .. name) end

-- Answers every metrics query with one value and records the selectors.
local function fake_dt(value)
  local fake = { calls = {} }
  function fake.batch(calls)
    local out = {}
    for i, call in ipairs(calls) do
      fake.calls[#fake.calls + 1] = call
      out[i] = { ok = true, status = 200, request = "GET /api/v2/metrics/query",
                 result = { { data = { { series = stats.series({ value }, { n = 1 }) } } } } }
    end
    return out
  end
  return fake
end

describe("Keptn example files across runs", function()
  local slo_text = fixture("keptn-spec_slo_example.yaml")
  local model = assert(slo_load.load(slo_text, "slo.yaml"))
  local keptn_model = assert(slo_load.load(slo_text, "slo.yaml", { compat = "keptn" }))
  local indicators = assert(sli.load(fixture("keptn-examples_onboarding-carts_sli-config-dynatrace.yaml"), "sli.yaml"))
  local ctx = { project = "sockshop", stage = "staging", service = "carts", deployment = "primary",
                from = 1574076066000, to = 1574076576000 }
  local ledger = {}     -- newest first, as the ledger query returns them

  -- compat: "keptn" for a run that seeds the baseline (docs/slo.md)
  local function run(id, value, compat)
    local m = compat and keptn_model or model
    local dt = fake_dt(value)
    local names, info = sli.names_of(m)
    local records = sli.fetch(dt, names, indicators, ctx, { filter = m.filter, info = info })
    local previous, ids = slo.select_baseline(m, ledger, { compat = compat })
    local r = slo.score(m, records, previous, { compat = compat })
    local data = slo.finished(r, { project = ctx.project, stage = ctx.stage, service = ctx.service,
      timeStart = ctx.from, timeEnd = ctx.to, sloFileContent = slo_text, comparedEvents = ids })
    table.insert(ledger, 1, { id = id, result = data.result, indicatorResults = data.evaluation.indicatorResults })
    return r, data, dt
  end

  it("run 0: no baseline: the only scored objective cannot be judged, inconclusive (review 11, 2.6)", function()
    local r, data = run("e0", 500)
    assert.are.equal("inconclusive", r.result)
    assert.are.equal("no_baseline", r.indicatorResults[1].status)
    assert.truthy(r.message:find("Response Time P95", 1, true))
    assert.are.same({}, data.evaluation.comparedEvents)
    table.remove(ledger, 1)      -- an inconclusive run is never a baseline (include_result_with_score: pass)
  end)

  it("run 1, seeded with compat keptn: no baseline, the relative criterion passes and is named", function()
    local r, data, dt = run("e1", 500, "keptn")
    assert.are.equal("builtin:service.response.time:merge(\"dt.entity.service\"):percentile(95)", dt.calls[1][2])
    assert.are.equal("type(SERVICE),tag(keptn_project:sockshop),tag(keptn_stage:staging),tag(keptn_service:carts)," ..
      "tag(keptn_deployment:primary)", dt.calls[1][3].entity_selector)
    assert.are.equal("pass", r.result)
    assert.are.equal(100, r.score)
    assert.are.same({ "Response Time P95" }, r.judgedWithoutBaseline)
    assert.are.same({}, data.evaluation.comparedEvents)
    assert.are.equal("2019-11-18T11:21:06.000Z", data.evaluation.timeStart)
    assert.are.equal(slo.base64(slo_text), data.evaluation.sloFileContent)
  end)

  it("run 2: 540 against 500 -> target 550, pass", function()
    local r, data = run("e2", 540)
    assert.are.equal(500, r.indicatorResults[1].value.comparedValue)
    assert.are.equal(550, r.indicatorResults[1].passTargets[1].targetValue)
    assert.are.equal("pass", r.result)
    assert.are.same({ "e1" }, data.evaluation.comparedEvents)
  end)

  it("run 3: 590 against avg(540, 500) = 520 -> target 572 violated, warning objective, score 50 -> fail", function()
    local r, data = run("e3", 590)
    local e = r.indicatorResults[1]
    assert.are.equal(520, e.value.comparedValue)
    assert.are.same({ criteria = "<=+10%", targetValue = 572, violated = true }, e.passTargets[1])
    assert.are.equal("warning", e.status)
    assert.are.equal(50, r.score)
    assert.are.equal("fail", r.result)
    assert.are.same({ "e2", "e1" }, data.evaluation.comparedEvents)
  end)

  it("run 4: the failed run is not a baseline (include_result_with_score: pass)", function()
    local r, data = run("e4", 560)
    assert.are.same({ "e2", "e1" }, data.evaluation.comparedEvents)
    assert.are.equal(520, r.indicatorResults[1].value.comparedValue)
    assert.are.equal("pass", r.result)
  end)

  it("run 5..: only the newest 3 passing runs count", function()
    local _, data = run("e5", 560)
    assert.are.same({ "e4", "e2", "e1" }, data.evaluation.comparedEvents)
    local r
    r, data = run("e6", 560)
    assert.are.same({ "e5", "e4", "e2" }, data.evaluation.comparedEvents)
    assert.are.equal((560 + 560 + 540) / 3, r.indicatorResults[1].value.comparedValue)
  end)
end)
