-- The shipped SLO gate policy (policies/slo.lua) with the ctx the host
-- gives it (runtime/gate/gate_slo.c): slo.yaml and sli.yaml texts, the timeframe
-- and the earlier evaluations of the ledger, newest first, each
-- { id, result, indicatorResults }. Dynatrace is a fake that answers every
-- metrics query with one value.
local stats = require("fake_stats")

local SOURCE = os.getenv("UB_SOURCE") or "."

local SLO = [[
objectives:
  - sli: response_time_p95
    pass:
      - criteria: ["<=+10%"]
total_score:
  pass: "90%"
]]

local SLI = [[
indicators:
  response_time_p95: "metricSelector=builtin:service.response.time:splitBy():percentile(95)&entitySelector=type(SERVICE),tag(keptn_service:$SERVICE)"
]]

local FROM, TO = 1795657200000, 1795657800000

local function fake_dt(value)
  local fake = {}
  function fake.batch(calls)
    local out = {}
    for i in ipairs(calls) do
      out[i] = { ok = true, status = 200, request = "GET /api/v2/metrics/query",
                 result = { { data = { { series = stats.series({ value }, { n = 1 }) } } } } }
    end
    return out
  end
  return fake
end

local function evaluate(value, previous, fields)
  package.loaded["unbreakable.dynatrace"] = fake_dt(value)
  local policy = assert(loadfile(SOURCE .. "/policies/slo.lua"))()
  local ctx = { slo_text = SLO, sli_text = SLI, slo_path = "slo.yaml", sli_path = "sli.yaml",
                service = "carts", stage = "staging", project = "sockshop", deployment = "",
                from = FROM, to = TO, now = TO + 10 * 60000, previous = previous }
  for k, v in pairs(fields or {}) do ctx[k] = v end
  return policy(ctx)
end

local function stored(id, result, value)
  local results = {}
  if value then
    results[1] = { status = "pass", score = 1,
                   value = { metric = "response_time_p95", value = value, success = true } }
  end
  return { id = id, result = result, indicatorResults = results }
end

describe("policies/slo.lua baseline", function()
  it("compares with the newest earlier evaluation (single_result): 5000 against 500 -> target 550, fail", function()
    local v = evaluate(5000, { stored(1, "pass", 500) })
    assert.are.equal("fail", v.verdict)
    assert.are.same({ "1" }, v.comparedEvents)
    assert.are.equal(550, v.indicatorResults[1].passTargets[1].targetValue)
  end)

  it("does not take a run that only answered 'not ready' (inconclusive, no values) as the baseline", function()
    -- The ledger keeps the inconclusive run of a gate that did not wait for
    -- the data (Q28). It is no evaluation: Keptn never produced one. Taken
    -- as the single baseline it has no values, and the relative criterion
    -- would pass without a baseline (Q11) whatever the value.
    local v = evaluate(5000, { stored(2, "inconclusive"), stored(1, "pass", 500) })
    assert.are.same({ "1" }, v.comparedEvents)
    assert.are.equal("fail", v.verdict)
  end)
end)

describe("policies/slo.lua output shape (docs/reference/keptn-slo.md section 8)", function()
  it("writes the targets of an info objective as JSON arrays, in the Keptn data and the verdict", function()
    local json = require("unbreakable.json")
    local info_slo = SLO:gsub("total_score:", "  - sli: cpu\ntotal_score:")
    local sli = SLI .. '  cpu: "metricSelector=builtin:service.cpu.time:splitBy():avg&entitySelector=type(SERVICE)"\n'
    local v = evaluate(500, {}, { slo_text = info_slo, sli_text = sli })
    assert.are.equal("info", v.indicatorResults[2].status)
    -- Keptn reads passTargets/warningTargets as lists: {} would not parse
    local keptn = json.decode(json.encode(v.keptn))
    local cpu = keptn.evaluation.indicatorResults[2]
    assert.are.equal("cpu", cpu.value.metric)
    assert.truthy(json.encode(v.keptn):find('"passTargets":[]', 1, true))
    assert.is_nil(json.encode(v.keptn):find('Targets":{}', 1, true))
    assert.is_nil(json.encode(v):find('Targets":{}', 1, true))
  end)
end)

describe("policies/slo.lua with two objectives on one indicator (Q18)", function()
  it("gives both a value, as lighthouse asks the provider once per objective", function()
    -- lighthouse requests one indicator per objective (duplicates kept) and
    -- dynatrace-service answers one record per requested indicator, so
    -- both objectives are judged: 500 < 1000 and 500 < 600 -> score 100
    local two = [[
objectives:
  - sli: response_time_p95
    pass:
      - criteria: ["<1000"]
  - sli: response_time_p95
    displayName: strict
    pass:
      - criteria: ["<600"]
total_score:
  pass: "90%"
]]
    local v = evaluate(500, {}, { slo_text = two })
    assert.are.equal(100, v.score)
    assert.are.equal("pass", v.verdict)
    assert.are.equal("pass", v.indicatorResults[2].status)
  end)
end)

describe("policies/slo.lua objectives for the reports", function()
  it("give the operator of the first pass criterion with its target", function()
    local lower = SLO:gsub('"<=%+10%%"', '">=-20%%"')
    local v = evaluate(300, { stored(1, "pass", 500) }, { slo_text = lower })
    -- 500 * (100 - 20) / 100 = 400; 300 >= 400 is violated
    assert.are.equal(400, v.objectives[1].threshold)
    assert.are.equal(">=", v.objectives[1].threshold_op)
    assert.are.equal("fail", v.verdict)
  end)

  it("write the criteria sets as they combine: AND inside a set, OR between sets", function()
    local sets = SLO:gsub('      %- criteria: %["<=%+10%%"%]', '      - criteria: ["<=+10%%", "<600"]\n      - criteria: ["<100"]')
    local v = evaluate(300, {}, { slo_text = sets })
    assert.are.equal("(<=+10% AND <600) OR <100", v.objectives[1].criteria)
  end)
end)

describe("policies/slo.lua lint warnings (review 11, 2.7)", function()
  it("reach the verdict's warnings: a misspelt key and an unsigned percentage", function()
    local linted = [[
objectives:
  - sli: response_time_p95
    wieght: 2
    pass:
      - criteria: ["<1000", "<=1%"]
total_score:
  pass: "90%"
]]
    local v = evaluate(500, {}, { slo_text = linted })
    local all = table.concat(v.warnings, "\n")
    assert.truthy(all:find("unknown key 'wieght' is ignored", 1, true), all)
    assert.truthy(all:find("'<=1%' means at most 1 % above the baseline", 1, true), all)
  end)

  it("come with the errors of an invalid file", function()
    local bad = "objectives:\n  - sli: x\n    wieght: 2\n    pass:\n      - criteria: [\"<<1\"]\ntotal_score:\n  pass: \"90%\"\n"
    local v = evaluate(500, {}, { slo_text = bad })
    assert.are.equal("error", v.verdict)
    assert.are.equal("input", v.error_kind)
    assert.truthy(table.concat(v.warnings, "\n"):find("wieght", 1, true))
  end)
end)

describe("policies/slo.lua without a baseline (review 11, 2.6)", function()
  it("leaves a relative-only objective unjudged: inconclusive, judged = false", function()
    local v = evaluate(5000, {})
    assert.are.equal("inconclusive", v.verdict)
    assert.are.equal("no_baseline", v.objectives[1].status)
    assert.is_false(v.objectives[1].judged)
  end)

  it("keeps Keptn's pass with compat keptn", function()
    local v = evaluate(5000, {}, { compat = "keptn" })
    assert.are.equal("pass", v.verdict)
    assert.is_true(v.objectives[1].judged)
  end)
end)

describe("policies/slo.lua with compat keptn and a baseline", function()
  it("compares with earlier evaluations too (the baseline was selected with other options)", function()
    local v = evaluate(5000, { stored(1, "pass", 500) }, { compat = "keptn" })
    assert.are.same({ "1" }, v.comparedEvents)
    assert.are.equal(550, v.indicatorResults[1].passTargets[1].targetValue)
    assert.are.equal("fail", v.verdict)
  end)
end)
