-- Loading slo.yaml through the YAML loader (unbreakable.yaml): every Keptn
-- fixture, type errors with file and path, defaults of 2.2 and the lint
-- warnings of Q8, Q13, Q15, Q18.
local loader = require("unbreakable.slo.load")
local yaml = require("unbreakable.yaml")

local fixtures = require("fixtures")

local function fixture(name) return fixtures.read("keptn/" .. name) end

local function count_matching(list, needle)
  local n = 0
  for _, s in ipairs(list) do
    if s:find(needle, 1, true) then n = n + 1 end
  end
  return n
end

describe("slo.yaml fixtures", function()
  it("onboarding-carts quality gates", function()
    local name = "keptn-examples_onboarding-carts_slo-quality-gates.yaml"
    local m, warnings = assert(loader.load(fixture(name), name))
    assert.are.same({}, warnings)
    assert.are.same({}, m.filter)
    assert.are.equal(1, m.comparison.count)
    assert.are.equal("pass", m.comparison.include_result_with_score)
    assert.are.equal(1, #m.objectives)
    local o = m.objectives[1]
    assert.are.equal("response_time_p95", o.sli)
    assert.are.equal("Response time P95", o.name)
    assert.are.same({ { criteria = { "<=+10%", "<600" } } }, o.pass)
    assert.are.same({ { criteria = { "<=800" } } }, o.warning)
    assert.are.equal(90, m.total_score.pass)
    assert.are.equal(75, m.total_score.warning)
  end)

  it("self-healing: a key objective '=0'", function()
    local name = "keptn-examples_onboarding-carts_slo-self-healing-dynatrace.yaml"
    local m = assert(loader.load(fixture(name), name))
    assert.are.equal(2, #m.objectives)
    assert.is_true(m.objectives[2].key_sli)
    assert.are.equal(40, m.total_score.warning)
  end)

  it("simplenodeservice perftest: 13 objectives, defaults, Q13 lint for '<=1%' and '<=2%'", function()
    local name = "keptn-examples_simplenodeservice_keptn_slo_perftest.yaml"
    local m, warnings = assert(loader.load(fixture(name), name))
    assert.are.equal(13, #m.objectives)
    assert.are.equal("avg", m.comparison.aggregate_function)
    assert.are.equal(1, m.comparison.count)                     -- single_result
    assert.are.equal(2, m.objectives[3].weight)
    assert.are.equal(1, m.objectives[1].weight)                 -- missing -> 1
    assert.is_true(m.objectives[4].info)                        -- response_time_p50
    assert.are.equal(2, count_matching(warnings, "above the baseline (a relative increase)"))
    assert.are.equal(1, count_matching(warnings,
      name .. ":24:13: objectives[3].pass[1].criteria[1]: '<=1%' means at most 1 % above the baseline"))
    assert.are.equal(1, count_matching(warnings, "write '<=+1%'"))
  end)

  it("dynatrace-service docs: 'filter:' empty, throughput is info", function()
    local name = "dynatrace-service_docs_slo.yaml"
    local m = assert(loader.load(fixture(name), name))
    assert.are.same({}, m.filter)
    assert.is_true(m.objectives[3].info)
    assert.are.equal("pass", m.comparison.include_result_with_score)
  end)

  it("keptn spec example: filter placeholders and several_results 3", function()
    local name = "keptn-spec_slo_example.yaml"
    local m = assert(loader.load(fixture(name), name))
    assert.are.same({ mz_id = "4711", svc_id = "a14b-cd87-0d51" }, m.filter)
    assert.are.equal(3, m.comparison.count)
    assert.are.equal("Response Time P95", m.objectives[1].displayName)
  end)

  it("annotated lighthouse example: unquoted 75% and weight 2", function()
    local name = "lighthouse-service_examples_slo_annotated.yaml"
    local m = assert(loader.load(fixture(name), name))
    assert.are.equal(75, m.total_score.warning)
    assert.are.equal(1, m.comparison.count)   -- single_result ignores the 3
    assert.are.equal(2, m.objectives[2].weight)
    assert.are.equal("handler", next(m.filter))
  end)

  it("scores the quality-gates fixture end to end (560 against 500 -> warning)", function()
    local name = "keptn-examples_onboarding-carts_slo-quality-gates.yaml"
    local slo = require("unbreakable.slo")
    local raw = yaml.decode(fixture(name), name)
    local prev = { { { value = { metric = "response_time_p95", value = 500, success = true } } } }
    local r = slo.score(raw, { { metric = "response_time_p95", value = 560, success = true } }, prev)
    assert.are.equal("warning", r.indicatorResults[1].status)
    assert.are.equal(50, r.score)
    assert.are.equal("fail", r.result)       -- 50 < 75
  end)
end)

describe("slo.yaml errors and lint", function()
  it("a YAML syntax error carries file, line and column", function()
    local m, err = loader.load("objectives:\n  - sli: a\n   pass: x\n", "slo.yaml")
    assert.is_nil(m)
    assert.matches("^slo%.yaml:3:%d+: ", err)
  end)

  it("a fractional weight and a non-boolean key_sli are type errors with their path", function()
    local text = "objectives:\n  - sli: a\n    weight: 1.5\n    key_sli: yes\n" ..
                 "    pass: [{criteria: ['<1']}]\ntotal_score: {pass: 90%}\n"
    local m, err = loader.load(text, "slo.yaml")
    assert.is_nil(m)
    assert.matches("slo.yaml:3:13: objectives[1].weight: must be a whole number, got 1.5", err, 1, true)
    assert.matches("slo.yaml:4:14: objectives[1].key_sli: must be true or false, got yes", err, 1, true)
    m, err = loader.load(text, "slo.yaml", { compat = "keptn" })
    assert.is_nil(m)       -- lighthouse rejects the whole file too
  end)

  it("criteria are parsed at load by default (Q20), not in compat", function()
    local text = "objectives:\n  - sli: a\n    pass: [{criteria: ['10']}]\ntotal_score: {pass: 90%}\n"
    local m, err = loader.load(text, "slo.yaml")
    assert.is_nil(m)
    assert.matches("slo.yaml:3:24: objectives[1].pass[1].criteria[1]: invalid criteria string '10'", err, 1, true)
    assert.is_table((loader.load(text, "slo.yaml", { compat = "keptn" })))
  end)

  it("drops null objectives and reads 'criteria:' left empty as an empty list", function()
    local text = "objectives:\n  -\n  - sli: a\n    pass:\n      - criteria:\ntotal_score: {pass: 90%}\n"
    local m, err = loader.load(text, "slo.yaml")
    assert.is_nil(m)
    assert.are.equal("slo.yaml:5:18: objectives[2].pass[1].criteria: empty criteria list: lighthouse would " ..
      "count it as satisfied but leave it out of the score; write at least one criterion", err)
    m = assert(loader.load(text, "slo.yaml", { compat = "keptn" }))
    assert.are.equal(1, #m.objectives)
    assert.are.equal(2, m.objectives[1].index)
    assert.are.same({ { criteria = {} } }, m.objectives[1].pass)
  end)

  it("lints several_results without a number (Q8), weight 0 without key (Q15), duplicates (Q18), unknown keys", function()
    local text = table.concat({
      "comparison:", "  compare_with: several_results",
      "objectives:",
      "  - sli: a", "    weight: 0", "    pass: [{criteria: ['<1']}]",
      "  - sli: a", "    pass: [{criteria: ['<2']}]",
      "  - sli: b", "    wieght: 2", "    pass: [{criteria: ['<2']}]",
      "total_score: {pass: 90%}", "" }, "\n")
    local m, warnings = assert(loader.load(text, "slo.yaml"))
    assert.are.equal(3, m.comparison.count)
    assert.are.equal(1, count_matching(warnings, "slo.yaml:2:3: comparison.number_of_comparison_results: missing under several_results"))
    assert.are.equal(1, count_matching(warnings, "slo.yaml:5:13: objectives[1].weight: weight 0 on an objective that is not key_sli"))
    assert.are.equal(1, count_matching(warnings, "slo.yaml:7:10: objectives[2].sli: 'a' is also objective 1"))
    assert.are.equal(1, count_matching(warnings, "slo.yaml:9:5: objectives[3]: unknown key 'wieght'"))
  end)

  it("unknown compare_with and include_result_with_score are errors by default", function()
    local text = "comparison: {compare_with: several, include_result_with_score: passed}\n" ..
                 "objectives: [{sli: a, pass: [{criteria: ['<1']}]}]\ntotal_score: {pass: 90%}\n"
    local m, err = loader.load(text, "slo.yaml")
    assert.is_nil(m)
    assert.matches("comparison.compare_with: 'several' is not one of", err, 1, true)
    assert.matches("comparison.include_result_with_score: 'passed' is not one of", err, 1, true)
    m = assert(loader.load(text, "slo.yaml", { compat = "keptn" }))
    assert.are.equal(3, m.comparison.count)
  end)

  it("warns about warning criteria on an objective without pass criteria: they are never judged", function()
    -- Keptn makes such an objective informational: its value is shown and
    -- never scored, so "<=800" can be crossed without any effect
    local text = "objectives:\n  - sli: rt\n    warning: [{criteria: ['<=800']}]\n" ..
                 "  - sli: err\n    pass: [{criteria: ['<1']}]\ntotal_score: {pass: 90%}\n"
    for _, compat in ipairs({ false, true }) do
      local m, warnings = assert(loader.load(text, "slo.yaml", { compat = compat and "keptn" or nil }))
      assert.is_true(m.objectives[1].info)
      assert.are.equal(1, count_matching(warnings, "slo.yaml:3:14: objectives[1].warning: never judged: " ..
        "an objective without pass criteria is informational"))
    end
  end)

  it("an empty file is an error naming the fix", function()
    local m, err = loader.load("# nothing\n", "slo.yaml")
    assert.is_nil(m)
    assert.matches("slo.yaml: (top level): must be a map with objectives and total_score", err, 1, true)
  end)
end)
