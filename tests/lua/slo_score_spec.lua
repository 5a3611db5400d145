-- Scoring of slo.yaml objectives (docs/reference/keptn-slo.md sections 5-7, 9, 10):
-- the worked example and every quirk, default against compat = "keptn".
-- SLO tables are written inline: no YAML loader and no Dynatrace needed.
local slo = require("unbreakable.slo")

local KEPTN = { compat = "keptn" }

local function ir(metric, value, success)
  return { value = { metric = metric, value = value, success = success ~= false } }
end

local function rec(metric, value, success, message)
  return { metric = metric, value = value, success = success ~= false, message = message or "" }
end

local function crit(...)
  return { criteria = { ... } }
end

-- Finds the indicatorResults entry of an SLI.
local function entry(result, sli)
  for _, e in ipairs(result.indicatorResults) do
    if e.value.metric == sli then return e end
  end
  error("no entry for " .. sli)
end

local function simple(objectives, total)
  return { objectives = objectives, total_score = total or { pass = "90%", warning = "75%" } }
end

describe("worked example (section 9)", function()
  local example = {
    comparison = { compare_with = "several_results", number_of_comparison_results = 3,
                   include_result_with_score = "pass", aggregate_function = "avg" },
    objectives = {
      { sli = "response_time_p95", weight = 1, pass = { crit("<=+10%", "<600") }, warning = { crit("<=800") } },
      { sli = "error_rate", weight = 2, key_sli = true, pass = { crit("<=2") } },
      { sli = "throughput", weight = 1, pass = { crit(">=-20%"), crit(">1000") } },
      { sli = "cpu" },
    },
    total_score = { pass = "90%", warning = "60%" },
  }
  local previous = {
    { ir("response_time_p95", 480), ir("error_rate", 1), ir("throughput", 1500) },
    { ir("response_time_p95", 500), ir("error_rate", 2), ir("throughput", 1400) },
    { ir("response_time_p95", 520), ir("error_rate", 3), ir("throughput", 0, false) },
  }
  local values = { rec("response_time_p95", 560), rec("error_rate", 1.5),
                   rec("throughput", 1100), rec("cpu", 40) }

  for _, mode in ipairs({ "default", "keptn" }) do
    it("scores 87.5 -> warning, every target as in the reference (" .. mode .. ")", function()
      local r = slo.score(example, values, previous, mode == "keptn" and KEPTN or nil)
      assert.are.equal(87.5, r.score)          -- maxScore 4, total 0.5 + 2 + 1 = 3.5
      assert.are.equal("warning", r.result)
      assert.are.equal("warning", r.evaluationResult)
      assert.are.equal("succeeded", r.status)

      local rt = entry(r, "response_time_p95")
      assert.are.equal("warning", rt.status)
      assert.are.equal(0.5, rt.score)
      assert.are.equal(500, rt.value.comparedValue)
      assert.are.same({ { criteria = "<=+10%", targetValue = 550, violated = true },
                        { criteria = "<600", targetValue = 600, violated = false } }, rt.passTargets)
      assert.are.same({ { criteria = "<=800", targetValue = 800, violated = false } }, rt.warningTargets)

      local er = entry(r, "error_rate")
      assert.are.equal("pass", er.status)
      assert.are.equal(2, er.score)
      assert.is_true(er.keySli)
      assert.are.same({ { criteria = "<=2", targetValue = 2, violated = false } }, er.passTargets)

      local tp = entry(r, "throughput")
      assert.are.equal("pass", tp.status)
      assert.are.equal(1, tp.score)
      assert.are.equal(1450, tp.value.comparedValue)   -- the failed 3rd value is excluded
      assert.are.same({ { criteria = ">=-20%", targetValue = 1160, violated = true },
                        { criteria = ">1000", targetValue = 1000, violated = false } }, tp.passTargets)

      local cpu = entry(r, "cpu")
      assert.are.equal("info", cpu.status)
      assert.are.equal(0, cpu.score)
      assert.are.equal(40, cpu.value.value)
    end)
  end
end)

describe("objective evaluation (section 5)", function()
  it("ANDs criteria inside a set and ORs the sets", function()
    local s = simple({ { sli = "x", pass = { crit("<10", ">5"), crit("=100") } } })
    assert.are.equal("pass", entry(slo.score(s, { rec("x", 7) }, {}), "x").status)
    assert.are.equal("fail", entry(slo.score(s, { rec("x", 4) }, {}), "x").status)
    assert.are.equal("pass", entry(slo.score(s, { rec("x", 100) }, {}), "x").status)
  end)

  it("warning gives half the weight and is only used when pass fails", function()
    local s = simple({ { sli = "x", weight = 4, pass = { crit("<10") }, warning = { crit("<20") } } })
    local r = slo.score(s, { rec("x", 15) }, {})
    assert.are.equal(2, entry(r, "x").score)
    assert.are.equal(50, r.score)
    assert.are.equal("fail", r.result)
    r = slo.score(s, { rec("x", 5) }, {})
    assert.are.equal(4, entry(r, "x").score)
    assert.are.equal(100, r.score)
  end)

  it("matches values by sli name, first record first; leftovers are reported", function()
    local s = simple({ { sli = "a", displayName = "A display", pass = { crit("<10") } } })
    local r = slo.score(s, { rec("b", 1), rec("a", 5), rec("a", 50), rec("c", 2) }, {})
    assert.are.equal(5, entry(r, "a").value.value)
    assert.are.equal("A display", entry(r, "a").displayName)
    assert.are.same({ "b", "a", "c" }, r.additionalSlis)
    assert.matches("Lighthouse received additional SLIs, which are not specified as SLO: b, a, c .", r.message, 1, true)
  end)

  it("compares the score with >=: 90.0 with '90%' passes, unrounded 89.99 fails (Q7)", function()
    local objs = {}
    for i = 1, 10 do objs[i] = { sli = "s" .. i, pass = { crit("<1") } } end
    local values = {}
    for i = 1, 10 do values[i] = rec("s" .. i, i == 10 and 5 or 0) end
    local r = slo.score(simple(objs, { pass = "90%" }), values, {})
    assert.are.equal(90, r.score)
    assert.are.equal("pass", r.result)
    objs[11] = { sli = "s11", weight = 90, pass = { crit("<1") } }
    values[11] = rec("s11", 0)
    objs[12] = { sli = "s12", weight = 1, pass = { crit("<1") } }
    values[12] = rec("s12", 5)
    -- total 9 + 90 = 99 of 101 -> 98.0198..., pass 98.02 must fail
    r = slo.score(simple(objs, { pass = "98.02" }), values, {})
    assert.near(9900 / 101, r.score, 1e-12)
    assert.are.equal("fail", r.result)
  end)

  it("rejects total_score with spaces, accepts numbers and '75%' (Q7)", function()
    local objs = { { sli = "x", pass = { crit("<1") } } }
    local r = slo.score(simple(objs, { pass = " 90%" }), { rec("x", 0) }, {})
    assert.are.equal("errored", r.status)
    assert.are.equal("fail", r.result)
    r = slo.score(simple(objs, { pass = 90, warning = "75%" }), { rec("x", 0) }, {})
    assert.are.equal("pass", r.result)
  end)

  it("a key objective in warning does not fail the evaluation (Q17)", function()
    local s = simple({ { sli = "k", key_sli = true, pass = { crit("<1") }, warning = { crit("<10") } },
                       { sli = "o", weight = 3, pass = { crit("<1") } } }, { pass = "80%", warning = "50%" })
    local r = slo.score(s, { rec("k", 5), rec("o", 0) }, {})
    assert.are.equal("warning", entry(r, "k").status)
    assert.are.equal(87.5, r.score)      -- (0.5 + 3) / 4
    assert.are.equal("pass", r.result)
  end)

  it("a failing key objective fails whatever the score", function()
    local s = simple({ { sli = "k", key_sli = true, pass = { crit("<1") } },
                       { sli = "o", weight = 99, pass = { crit("<1") } } }, { pass = "90%", warning = "50%" })
    local r = slo.score(s, { rec("k", 5), rec("o", 0) }, {})
    assert.are.equal(99, r.score)
    assert.are.equal("fail", r.result)
    assert.matches("Evaluation failed due to key_sli objective 'k': failed evaluation with score 0.000000", r.message, 1, true)
  end)

  it("below the warning target: fail with the score in the message", function()
    local s = simple({ { sli = "a", pass = { crit("<1") } }, { sli = "b", pass = { crit("<1") } } },
                     { pass = "90%", warning = "75%" })
    local r = slo.score(s, { rec("a", 0), rec("b", 9) }, {})
    assert.are.equal(50, r.score)
    assert.are.equal("fail", r.result)
  end)
end)

describe("quirks: default against compat = keptn", function()
  it("Q1: no slo.yaml errors by default, passes in compat", function()
    local r = slo.score(nil, {}, {})
    assert.are.equal("fail", r.result)
    assert.are.equal("errored", r.status)
    r = slo.score(nil, {}, {}, KEPTN)
    assert.are.equal("pass", r.result)
    assert.are.equal("no evaluation performed by lighthouse because no SLO file configured", r.message)
  end)

  it("Q4: empty objectives fail with score 0 in both modes", function()
    for _, opts in ipairs({ {}, KEPTN }) do
      local r = slo.score(simple({}), {}, {}, opts)
      assert.are.equal("fail", r.result)
      assert.are.equal(0, r.score)
      assert.are.equal("lighthouse failed because no SLO objective was provided", r.message)
    end
  end)

  it("Q5: only info objectives -> errored by default, pass 100 in compat", function()
    local s = simple({ { sli = "cpu" }, { sli = "mem", pass = {} } })
    local r = slo.score(s, { rec("cpu", 1), rec("mem", 2) }, {})
    assert.are.equal("errored", r.status)
    assert.are.equal("fail", r.result)
    assert.matches("no scored objectives", r.message)
    r = slo.score(s, { rec("cpu", 1), rec("mem", 2) }, {}, KEPTN)
    assert.are.equal("pass", r.result)
    assert.are.equal(100, r.score)
  end)

  it("Q5 + Q15: only weight-0 objectives: the key flags decide, score 100", function()
    local s = simple({ { sli = "k", weight = 0, key_sli = true, pass = { crit("<1") } } })
    local r = slo.score(s, { rec("k", 0) }, {})
    assert.are.equal("pass", r.result)
    assert.are.equal(100, r.score)
    r = slo.score(s, { rec("k", 3) }, {})
    assert.are.equal("fail", r.result)
    assert.are.equal(100, r.score)
    assert.matches("key_sli objective 'k'", r.message)
  end)

  it("Q6: missing total_score.pass is a load error by default, errored at evaluation in compat", function()
    local s = { objectives = { { sli = "x", pass = { crit("<1") } } }, total_score = { warning = "50%" } }
    local r = slo.score(s, { rec("x", 0) }, {})
    assert.are.equal("errored", r.status)
    assert.matches("total_score.pass: missing", r.message, 1, true)
    r = slo.score(s, { rec("x", 0) }, {}, KEPTN)
    assert.are.equal("errored", r.status)
    assert.are.equal("fail", r.result)
    assert.are.equal("no target score defined", r.message)
    assert.are.equal(1, #r.indicatorResults)   -- objectives were evaluated first
  end)

  it("Q11/Q25: no baseline: Keptn passes relative criteria; default leaves them unjudged (no_baseline)", function()
    local s = simple({ { sli = "rt", pass = { crit("<=+10%", "<600") } } })
    local r = slo.score(s, { rec("rt", 590) }, {})
    local e = entry(r, "rt")
    assert.are.equal("no_baseline", e.status)
    assert.are.equal(0, e.score)
    assert.is_nil(e.value.comparedValue)
    assert.are.same({ criteria = "<=+10%", violated = false, baselineMissing = true }, e.passTargets[1])
    assert.are.same({ criteria = "<600", targetValue = 600, violated = false }, e.passTargets[2])
    assert.are.same({ "rt" }, r.judgedWithoutBaseline)
    assert.matches("no baseline (no earlier evaluation qualified) for the relative criteria of: rt", r.message, 1, true)
    -- the only scored objective is unjudged: inconclusive, never a pass (review 11, 2.6)
    assert.are.equal("inconclusive", r.result)
    assert.matches("inconclusive: no scored objective has a baseline", r.message, 1, true)

    r = slo.score(s, { rec("rt", 590) }, {}, KEPTN)
    e = entry(r, "rt")
    assert.are.equal(0, e.value.comparedValue)
    assert.are.same({ criteria = "<=+10%", targetValue = 0, violated = false }, e.passTargets[1])
    assert.are.equal("pass", r.result)
  end)

  it("review 11, 2.6: p95 800 ms and 7.5 % errors on a fresh agent never pass by default", function()
    local s = simple({ { sli = "rt", pass = { crit("<=+10%") } },
                       { sli = "err", key_sli = true, pass = { crit("<=+5%") } } })
    local r = slo.score(s, { rec("rt", 800), rec("err", 7.5) }, {})
    assert.are.equal("inconclusive", r.result)
    assert.matches("key objective err has", r.message, 1, true)
    assert.are.equal("pass", slo.score(s, { rec("rt", 800), rec("err", 7.5) }, {}, KEPTN).result)
  end)

  it("review 11, 2.6: an unjudged objective next to judged ones is left out of the score", function()
    local s = simple({ { sli = "rt", pass = { crit("<=+10%") } },
                       { sli = "err", key_sli = true, pass = { crit("<=2") } },
                       { sli = "tp", pass = { crit(">=-20%") }, weight = 2 } })
    local r = slo.score(s, { rec("rt", 800), rec("err", 1), rec("tp", 10) }, {})
    assert.are.equal("pass", r.result)                       -- err judged and passing; 1 of 1
    assert.are.equal(100, r.score)
    assert.are.equal("no_baseline", entry(r, "rt").status)
    assert.are.equal("no_baseline", entry(r, "tp").status)
    r = slo.score(s, { rec("rt", 800), rec("err", 3), rec("tp", 10) }, {})
    assert.are.equal("fail", r.result)                       -- a known key failure still fails
    -- an OR with an absolute set that holds is judged without a baseline
    local t = simple({ { sli = "tp", pass = { crit(">=-20%"), crit(">1000") } } })
    assert.are.equal("pass", entry(slo.score(t, { rec("tp", 1500) }, {}), "tp").status)
    assert.are.equal("no_baseline", entry(slo.score(t, { rec("tp", 900) }, {}), "tp").status)
    -- a warning set that hangs on a missing baseline leaves the objective unjudged too
    local w = simple({ { sli = "rt", pass = { crit("<500") }, warning = { crit("<=+10%") } } })
    assert.are.equal("no_baseline", entry(slo.score(w, { rec("rt", 550) }, {}), "rt").status)
    assert.are.equal("pass", entry(slo.score(w, { rec("rt", 450) }, {}), "rt").status)
  end)

  it("Q11: absolute criteria in the same set still apply without baseline", function()
    local s = simple({ { sli = "rt", pass = { crit("<=+10%", "<600") } } })
    assert.are.equal("fail", slo.score(s, { rec("rt", 700) }, {}).result)
  end)

  it("Q12: a baseline of 0 makes '<=+10%' fail any positive value; default hints at it", function()
    local s = simple({ { sli = "err", pass = { crit("<=+10%") } } })
    local prev = { { ir("err", 0) } }
    for _, opts in ipairs({ {}, KEPTN }) do
      local r = slo.score(s, { rec("err", 0.5) }, prev, opts)
      assert.are.equal("fail", r.result)
      assert.are.same({ criteria = "<=+10%", targetValue = 0, violated = true }, entry(r, "err").passTargets[1])
    end
    assert.matches("baseline is 0, so relative targets are 0: err",
      slo.score(s, { rec("err", 0.5) }, prev).message, 1, true)
  end)

  it("Q14: unknown aggregate_function is a load error by default, baseline 0 in compat", function()
    local s = simple({ { sli = "rt", pass = { crit("<=+10%") } } })
    s.comparison = { aggregate_function = "p99" }
    local prev = { { ir("rt", 500) } }
    local r = slo.score(s, { rec("rt", 400) }, prev)
    assert.are.equal("errored", r.status)
    assert.matches("comparison.aggregate_function: 'p99' is not supported", r.message, 1, true)
    r = slo.score(s, { rec("rt", 400) }, prev, KEPTN)
    assert.are.equal("succeeded", r.status)
    assert.are.equal(0, entry(r, "rt").value.comparedValue)
    assert.are.same({ criteria = "<=+10%", targetValue = 0, violated = true }, entry(r, "rt").passTargets[1])
    assert.are.equal("fail", r.result)
  end)

  it("Q15: weight 0 is honoured by default (no score) and becomes 1 in compat", function()
    local s = simple({ { sli = "a", weight = 0, pass = { crit("<1") } },
                       { sli = "b", weight = 1, pass = { crit("<1") } } })
    local values = { rec("a", 5), rec("b", 0) }
    local r = slo.score(s, values, {})
    assert.are.equal(100, r.score)       -- a contributes 0 of 0
    assert.are.equal("pass", r.result)
    r = slo.score(s, values, {}, KEPTN)
    assert.are.equal(50, r.score)        -- a weighs 1 and fails
    assert.are.equal("fail", r.result)
  end)

  it("Q15: a weight-0 key objective can fail the gate without touching the score", function()
    local s = simple({ { sli = "a", weight = 0, key_sli = true, pass = { crit("<1") } },
                       { sli = "b", pass = { crit("<1") } } })
    local r = slo.score(s, { rec("a", 5), rec("b", 0) }, {})
    assert.are.equal(100, r.score)
    assert.are.equal("fail", r.result)
  end)

  it("Q15: negative and fractional weights are load errors", function()
    local r = slo.score(simple({ { sli = "a", weight = -1, pass = { crit("<1") } } }), {}, {})
    assert.are.equal("errored", r.status)
    assert.matches("objectives[1].weight: must be 0 or more, got -1", r.message, 1, true)
    r = slo.score(simple({ { sli = "a", weight = 1.5, pass = { crit("<1") } } }), {}, {}, KEPTN)
    assert.are.equal("errored", r.status)
    assert.matches("objectives[1].weight: must be a whole number, got 1.5", r.message, 1, true)
  end)

  it("Q16: a missing value costs its weight, fails a key objective, leaves info alone", function()
    local s = simple({ { sli = "a", pass = { crit("<1") } }, { sli = "b", weight = 3, pass = { crit("<1") } },
                       { sli = "info" } }, { pass = "70%" })
    local r = slo.score(s, { rec("b", 0), rec("a", 0, false, "query returned zero values") }, {})
    assert.are.equal(75, r.score)
    assert.are.equal("pass", r.result)
    local a = entry(r, "a")
    assert.are.equal("fail", a.status)
    assert.is_false(a.value.success)
    assert.are.equal("query returned zero values", a.value.message)
    assert.are.same({ { criteria = "<1", targetValue = 1, violated = true } }, a.passTargets)
    assert.are.same({ "a", "info" }, r.missingValues)
    assert.are.equal("info", entry(r, "info").status)
    assert.matches("no value for: a", r.message, 1, true)
  end)

  it("Q16: a key objective without value fails the evaluation with the provider's message", function()
    local s = simple({ { sli = "k", key_sli = true, pass = { crit("<1") } }, { sli = "o", weight = 9, pass = { crit("<1") } } })
    local r = slo.score(s, { rec("o", 0) }, {})
    assert.are.equal(90, r.score)
    assert.are.equal("fail", r.result)
    assert.matches("key_sli objective 'k': no value received from SLI provider", r.message, 1, true)
  end)

  it("Q18: duplicate sli names: the first objective takes the value", function()
    local s = simple({ { sli = "x", pass = { crit("<1") } }, { sli = "x", pass = { crit("<100") } } })
    local r = slo.score(s, { rec("x", 50) }, {})
    assert.are.equal("fail", r.indicatorResults[1].status)
    assert.are.equal(50, r.indicatorResults[1].value.value)
    assert.is_false(r.indicatorResults[2].value.success)
    r = slo.score(s, { rec("x", 50), rec("x", 60) }, {})
    assert.are.equal(60, r.indicatorResults[2].value.value)
    assert.are.equal("pass", r.indicatorResults[2].status)
  end)

  it("Q19: empty criteria list is a load error by default; compat counts weight but not score", function()
    local s = simple({ { sli = "a", pass = { { criteria = {} } } }, { sli = "b", pass = { crit("<1") } } },
                     { pass = "50%" })
    local r = slo.score(s, { rec("a", 0), rec("b", 0) }, {})
    assert.are.equal("errored", r.status)
    assert.matches("objectives[1].pass[1].criteria: empty criteria list", r.message, 1, true)
    r = slo.score(s, { rec("a", 0), rec("b", 0) }, {}, KEPTN)
    assert.are.equal("pass", entry(r, "a").status)
    assert.are.equal(1, entry(r, "a").score)
    assert.are.equal(50, r.score)     -- total 1 (b only) of maxScore 2
    assert.are.equal("pass", r.result)
  end)

  it("Q20: unparseable pass criterion: errored before any query by default, fail/succeeded in compat", function()
    local s = simple({ { sli = "a", displayName = "Alpha", pass = { crit("<>5") } } })
    local r = slo.score(s, { rec("a", 1) }, {})
    assert.are.equal("errored", r.status)
    assert.matches("objectives[1].pass[1].criteria[1]: could not parse criteria target value of '<>5'", r.message, 1, true)
    r = slo.score(s, { rec("a", 1) }, {}, KEPTN)
    assert.are.equal("fail", r.result)
    assert.are.equal("succeeded", r.status)
    assert.are.equal(0, r.score)
    assert.are.equal("error with Alpha: could not parse criteria target value of '<>5'", r.message)
  end)

  it("Q20: unparseable warning criterion: errored by default, silently ignored in compat", function()
    local s = simple({ { sli = "a", pass = { crit("<1") }, warning = { crit("10") } } })
    local r = slo.score(s, { rec("a", 5) }, {})
    assert.are.equal("errored", r.status)
    r = slo.score(s, { rec("a", 5) }, {}, KEPTN)
    assert.are.equal("succeeded", r.status)
    assert.are.equal("fail", entry(r, "a").status)
    assert.is_nil(entry(r, "a").warningTargets)
  end)

  it("Q21: a FAILED query fails everything by default; compat leaves evaluation.result as computed", function()
    local s = simple({ { sli = "a", pass = { crit("<1") } }, { sli = "b", weight = 9, pass = { crit("<1") } } })
    local values = { { metric = "a", value = 0, success = false, failed = true,
                       message = "error querying Metrics API v2: Dynatrace API error (503)" }, rec("b", 0) }
    local r = slo.score(s, values, {})
    assert.are.equal(90, r.score)
    assert.are.equal("fail", r.result)
    assert.are.equal("fail", r.evaluationResult)
    assert.are.same({ "a" }, r.failedIndicators)
    assert.matches("SLI queries failed: a: error querying Metrics API v2", r.message, 1, true)
    r = slo.score(s, values, {}, KEPTN)
    assert.are.equal(90, r.score)
    assert.are.equal("fail", r.result)
    assert.are.equal("pass", r.evaluationResult)
    assert.matches("^lighthouse failed because SLI failed with message a: error querying", r.message)
  end)

  it("Q21: a provider warning (no data) is not a failure of the provider", function()
    local s = simple({ { sli = "a", pass = { crit("<1") } }, { sli = "b", weight = 9, pass = { crit("<1") } } })
    local r = slo.score(s, { rec("a", 0, false, "returned zero values"), rec("b", 0) }, {}, KEPTN)
    assert.are.equal("pass", r.result)
    assert.are.equal("pass", r.evaluationResult)
  end)

  it("Q22: keySli shows the configured flag by default, false in compat when the value is missing", function()
    local s = simple({ { sli = "k", key_sli = true, pass = { crit("<1") } } })
    assert.is_true(slo.score(s, {}, {}).indicatorResults[1].keySli)
    assert.is_false(slo.score(s, {}, {}, KEPTN).indicatorResults[1].keySli)
    assert.is_true(slo.score(s, { rec("k", 0) }, {}, KEPTN).indicatorResults[1].keySli)
  end)

  it("provider error or abort: errored in both modes", function()
    local s = simple({ { sli = "a", pass = { crit("<1") } } })
    for _, compat in ipairs({ false, "keptn" }) do
      local r = slo.score(s, {}, {}, { sli_error = "tenant unreachable", compat = compat or nil })
      assert.are.equal("errored", r.status)
      assert.are.equal("fail", r.result)
      assert.are.equal("lighthouse received an unexpected error: tenant unreachable", r.message)
      r = slo.score(s, {}, {}, { sli_aborted = true, compat = compat or nil })
      assert.are.equal("errored", r.status)
      assert.are.equal("evaluation performed by lighthouse was aborted", r.message)
    end
  end)

  it("accepts a model from slo_load as well as the raw table, loaded with the same mode", function()
    local model = assert(require("unbreakable.slo.load").normalize(simple({ { sli = "a", pass = { crit("<1") } } })))
    assert.are.equal("pass", slo.score(model, { rec("a", 0) }, {}).result)
    local r = slo.score(model, { rec("a", 0) }, {}, KEPTN)
    assert.are.equal("errored", r.status)
    assert.matches("loaded with compat = default", r.message, 1, true)
  end)

  it("a success record without a numeric value counts as missing (fails closed)", function()
    local s = simple({ { sli = "a", pass = { crit("<1") } } })
    for _, bad in ipairs({ "0", 0 / 0 }) do
      local r = slo.score(s, { { metric = "a", value = bad, success = true } }, {})
      assert.are.equal("fail", r.result)
      assert.are.equal("the SLI value is not a number", r.indicatorResults[1].value.message)
    end
  end)
end)

describe("score called by a policy with odd arguments", function()
  local s = simple({ { sli = "rt", pass = { crit("<=+10%") } } })

  -- The error raised by f, which must name the caller's line and say msg.
  local function raises(msg, f)
    local ok, err = pcall(f)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("slo_score_spec.lua:%d+: "), tostring(err))
    assert.truthy(tostring(err):find(msg, 1, true), tostring(err))
  end

  it("rejects stored evaluations passed as previous (they go through select_baseline first)", function()
    -- previous is a list of indicatorResults lists; a stored evaluation
    -- { id, result, indicatorResults } read as one would give no baseline,
    -- and the relative criterion would pass whatever the value (Q11)
    local stored = { { id = "e1", result = "pass", indicatorResults = { ir("rt", 100) } } }
    raises("slo.score: previous[1] is a stored evaluation; pass the evaluations through " ..
           "slo.select_baseline(slo, evaluations) and give score the previous it returns",
           function() slo.score(s, { rec("rt", 5000) }, stored) end)
  end)

  it("names options that are not a table, and unknown options", function()
    raises("slo.score: options must be a table such as { compat = \"keptn\" } (got string)",
           function() slo.score(s, {}, {}, "keptn") end)
    raises("slo.score: unknown option 'compt' (known: compat, name, sli_aborted, sli_error)",
           function() slo.score(s, {}, {}, { compt = "keptn" }) end)
  end)

  it("names values that are not a list of SLI records", function()
    raises("slo.score: values must be a list of SLI records { metric, value, success }",
           function() slo.score(s, { rt = 5000 }, {}) end)
  end)
end)
