-- Baseline selection (docs/reference/keptn-slo.md 2.2, 6.1, 6.2; quirks Q8, Q9, Q10, Q26)
-- and the evaluation.finished builder (section 8).
local slo = require("unbreakable.slo")

local function ir(metric, value, success)
  return { value = { metric = metric, value = value, success = success ~= false } }
end

local function stored(id, result, rt, extra)
  local e = { id = id, result = result, indicatorResults = { ir("rt", rt) } }
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

local function objectives()
  return { { sli = "rt", pass = { { criteria = { "<=+10%" } } } } }
end

-- newest first
local history = {
  stored("e6", "fail", 900),
  stored("e5", "pass", 100, { invalidated = true }),
  stored("e4", "warning", 200),
  stored("e3", "pass", 300),
  stored("e2", "pass", 400),
  stored("e1", "pass", 500),
}

local function ids_for(comparison)
  local _, ids = slo.select_baseline({ comparison = comparison, objectives = objectives(),
                                       total_score = { pass = "90%" } }, history)
  return ids
end

describe("baseline selection", function()
  it("no comparison block: single_result, all results -> the newest valid one (2.2)", function()
    assert.are.same({ "e6" }, ids_for(nil))
  end)

  it("include_result_with_score filters on the overall result; invalidated are excluded (Q9, Q10)", function()
    assert.are.same({ "e3", "e2", "e1" },
      ids_for({ compare_with = "several_results", number_of_comparison_results = 3, include_result_with_score = "pass" }))
    assert.are.same({ "e4", "e3" },
      ids_for({ compare_with = "several_results", number_of_comparison_results = 2, include_result_with_score = "pass_or_warn" }))
    assert.are.same({ "e6", "e4", "e3", "e2" },
      ids_for({ compare_with = "several_results", number_of_comparison_results = 4, include_result_with_score = "all" }))
  end)

  it("single_result ignores number_of_comparison_results", function()
    assert.are.same({ "e3" },
      ids_for({ compare_with = "single_result", number_of_comparison_results = 5, include_result_with_score = "pass" }))
  end)

  it("comparison block without number (or an empty compare_with) takes 3 (Q8)", function()
    assert.are.same({ "e3", "e2", "e1" },
      ids_for({ compare_with = "several_results", include_result_with_score = "pass" }))
    assert.are.same({ "e6", "e4", "e3" }, ids_for({ include_result_with_score = "all" }))
    assert.are.same({ "e6", "e4", "e3" }, ids_for({ compare_with = "several_results", number_of_comparison_results = 0 }))
  end)

  it("fewer qualifying evaluations than N: the ones that exist are used (Q26)", function()
    assert.are.same({ "e3", "e2", "e1" },
      ids_for({ compare_with = "several_results", number_of_comparison_results = 10, include_result_with_score = "pass" }))
  end)

  it("feeds score: avg of 300, 400, 500 = 400 -> '<=+10%' targets 440", function()
    local s = { comparison = { compare_with = "several_results", number_of_comparison_results = 3,
                               include_result_with_score = "pass" },
                objectives = objectives(), total_score = { pass = "90%" } }
    local previous, ids = slo.select_baseline(s, history)
    assert.are.same({ "e3", "e2", "e1" }, ids)
    local r = slo.score(s, { { metric = "rt", value = 440, success = true } }, previous)
    assert.are.equal(400, r.indicatorResults[1].value.comparedValue)
    assert.are.same({ { criteria = "<=+10%", targetValue = 440, violated = false } }, r.indicatorResults[1].passTargets)
    assert.are.equal("pass", r.result)
  end)

  it("failed SLI values of chosen evaluations never become baselines (Q10)", function()
    local s = { objectives = objectives(), total_score = { pass = "90%" },
                comparison = { compare_with = "several_results", number_of_comparison_results = 2 } }
    local prev = { { ir("rt", 0, false) }, { ir("rt", 200) } }
    local r = slo.score(s, { { metric = "rt", value = 210, success = true } }, prev)
    assert.are.equal(200, r.indicatorResults[1].value.comparedValue)
  end)

  it("reads indicatorResults under evaluation as the ledger may store them", function()
    local prev = slo.select_baseline({ objectives = objectives(), total_score = { pass = 90 } },
      { { id = "x", result = "pass", evaluation = { indicatorResults = { ir("rt", 7) } } } })
    assert.are.equal(7, prev[1][1].value.value)
  end)

  it("an invalid slo gives the load errors", function()
    local prev, errors = slo.select_baseline({ objectives = {}, comparison = { aggregate_function = "max" },
                                               total_score = { pass = "90%" } }, history)
    assert.is_nil(prev)
    assert.matches("aggregate_function: 'max' is not supported", errors[1], 1, true)
  end)
end)

describe("evaluation.finished data", function()
  it("base64 follows RFC 4648 (test vectors of section 10)", function()
    local vectors = { [""] = "", f = "Zg==", fo = "Zm8=", foo = "Zm9v", foob = "Zm9vYg==",
                      fooba = "Zm9vYmE=", foobar = "Zm9vYmFy" }
    for plain, encoded in pairs(vectors) do assert.are.equal(encoded, slo.base64(plain)) end
    assert.are.equal("/w==", slo.base64("\255"))
  end)

  it("formats Unix ms as the Keptn timestamp", function()
    local event = require("unbreakable.slo.event")
    assert.are.equal("2019-11-18T11:21:06.000Z", event.iso_time(1574076066000))
    assert.are.equal("1970-01-01T00:00:00.000Z", event.iso_time(0))
    assert.are.equal("2000-02-29T23:59:59.999Z", event.iso_time(951868799999))
    assert.are.equal("2019-11-18T11:29:36.000Z", event.iso_time("2019-11-18T11:29:36.000Z"))
  end)

  it("builds the section 8 shape with nulls where there is no baseline", function()
    local null = setmetatable({}, { __name = "null" })
    local s = { objectives = { { sli = "rt", displayName = "RT", pass = { { criteria = { "<=+10%" } } } } },
                total_score = { pass = "90%" } }
    local r = slo.score(s, { { metric = "rt", value = 5, success = true } }, {})
    local data = slo.finished(r, { project = "sockshop", stage = "staging", service = "carts",
      timeStart = 1574076066000, timeEnd = "2019-11-18T11:29:36.000Z", sloFileContent = "foobar",
      comparedEvents = {}, null = null })
    assert.are.equal("sockshop", data.project)
    assert.are.equal("succeeded", data.status)
    -- the only objective has no baseline: not judged, the evaluation is inconclusive (review 11, 2.6)
    assert.are.equal("inconclusive", data.result)
    assert.are.equal("inconclusive", data.evaluation.result)
    assert.are.equal(0, data.evaluation.score)
    assert.are.equal("Zm9vYmFy", data.evaluation.sloFileContent)
    assert.are.equal("2019-11-18T11:21:06.000Z", data.evaluation.timeStart)
    local e = data.evaluation.indicatorResults[1]
    assert.are.equal(null, e.value.comparedValue)
    assert.are.equal(null, e.passTargets[1].targetValue)
    assert.are.equal(null, e.warningTargets)
    assert.is_true(e.passTargets[1].baselineMissing)
    -- the score result itself is not modified
    assert.is_nil(r.indicatorResults[1].value.comparedValue)
  end)

  it("keeps Q21's inconsistent fields in compat", function()
    local s = { objectives = { { sli = "a", pass = { { criteria = { "<1" } } } },
                               { sli = "b", weight = 9, pass = { { criteria = { "<1" } } } } },
                total_score = { pass = "90%" } }
    local r = slo.score(s, { { metric = "a", value = 0, success = false, failed = true, message = "boom" },
                             { metric = "b", value = 0, success = true } }, {}, { compat = "keptn" })
    local data = slo.finished(r, {})
    assert.are.equal("fail", data.result)
    assert.are.equal("pass", data.evaluation.result)
    assert.are.equal(90, data.evaluation.score)
  end)
end)
