-- unbreakable.report: the text report of a verdict.
local report = require("unbreakable.report")

describe("report.text", function()
  it("marks non-critical monspec objectives: they count as a warning at most", function()
    local v = { verdict = "warning", target = "S/C", mode = "pullcompare",
                objectives = { { name = "calls", status = "warning", critical = false, value = 3 } } }
    local text = report.text(v)
    assert.truthy(text:find("warning*", 1, true))
    assert.truthy(text:find("* not critical: counts as a warning at most", 1, true))
  end)

  it("does not say so of SLO objectives that are not key: a failing one costs its weight and can fail the gate", function()
    local v = { verdict = "fail", target = "carts/staging", mode = "slo", summary = "score 50",
                objectives = { { name = "rt", status = "fail", critical = false, value = 900 },
                               { name = "err", status = "pass", critical = true, value = 1 } } }
    local text = report.text(v)
    assert.is_nil(text:find("not critical", 1, true))
    assert.is_nil(text:find("fail*", 1, true))
  end)
end)

describe("report.text threshold of an SLO objective", function()
  it("shows the operator of the criterion it comes from (>= -20 % is a lower bound)", function()
    local v = { verdict = "fail", target = "carts/staging", mode = "slo",
                objectives = { { name = "throughput", status = "fail", value = 1100, baseline = 1450,
                                 threshold = 1160, threshold_op = ">=" } } }
    local text = report.text(v)
    assert.truthy(text:find(">= 1160", 1, true), text)
    assert.is_nil(text:find("<= 1160", 1, true))
  end)
end)

describe("report.text of an SLO gate", function()
  local v = { verdict = "warning", target = "sockshop/carts/staging", mode = "slo", summary = "",
              score = 75, total_score = { pass = 90.0, warning = 75.0 },
              objectives = {
                { name = "Response time P95", status = "pass", critical = false, value = 500, baseline = 480,
                  unit = "MilliSecond", threshold = 528, threshold_op = "<=",
                  criteria = "<=+10% AND <600", warning_criteria = "<=800" },
                { name = "error_rate", status = "fail", critical = true, value = 2.5, unit = "Percent",
                  threshold = 2, threshold_op = "<=", criteria = "<=2", warning_criteria = "" },
                { name = "cpu", status = "pass", keptn_status = "info", value = 20000, unit = "MicroSecond",
                  criteria = "", warning_criteria = "" } } }
  local text = report.text(v)

  it("shows the total score and the pass and warning targets", function()
    assert.truthy(text:find("score 75 of 100: pass needs 90, warning needs 75", 1, true), text)
  end)

  it("shows values with their units", function()
    assert.truthy(text:find("500 ms", 1, true), text)
    assert.truthy(text:find("480 ms", 1, true), text)
    assert.truthy(text:find("2.5%", 1, true), text)
    assert.truthy(text:find("20 ms", 1, true), text)
  end)

  it("shows each objective's criteria as its threshold, relative ones resolved", function()
    assert.truthy(text:find("<=+10% AND <600 (<= 528 ms)", 1, true), text)
    assert.truthy(text:find("<=800", 1, true), text)
    assert.truthy(text:find("error_rate (key)", 1, true), text)
    assert.truthy(text:find("\ninfo +cpu"), text)
  end)
end)

describe("report.junit_cases", function()
  local v = { verdict = "warning", target = "S/C", summary = "one warning",
              objectives = { { name = "calls", status = "warning", critical = false, value = 3,
                               message = "3 calls, expected at most 2" },
                             { name = "rt", status = "pass", value = 1 } } }

  local function outcomes(r)
    local out = {}
    for _, c in ipairs(r.cases) do out[#out + 1] = c.name .. "=" .. c.outcome end
    return table.concat(out, " ")
  end

  it("skips a warning objective and a warning verdict by default, with the reason (a CI test tab is not all green)", function()
    local r = report.junit_cases(v)
    assert.equal("unbreakable.S/C", r.suite)
    assert.equal("calls=skipped rt=passed verdict=skipped", outcomes(r))
    assert.equal("warning: 3 calls, expected at most 2", r.cases[1].message)
    assert.equal("warning: one warning", r.cases[3].message)
  end)

  it("fails the verdict case with fail_on_warning, as the exit status does", function()
    local r = report.junit_cases(v, { fail_on_warning = true })
    assert.equal("calls=skipped rt=passed verdict=failed", outcomes(r))
    assert.equal("one warning", r.cases[3].message)
  end)

  it("names the verdict's warnings and errors in the verdict case", function()
    local r = report.junit_cases({ verdict = "error", summary = "broken", errors = { "e1" }, warnings = { "w1" } })
    assert.equal("verdict=error", outcomes(r))
    assert.truthy(r.cases[1].message:find("e1", 1, true))
    assert.truthy(r.cases[1].message:find("w1", 1, true))
  end)
end)

describe("report.text of hostile strings", function()
  local hostile = "ok\r::warning::forged\27]0;t\7\n##vso[task.complete result=Succeeded]\194\155x\155"
  local v = { verdict = "fail", target = hostile, summary = hostile, warnings = { hostile }, errors = { hostile },
              objectives = { { name = hostile, status = hostile, message = hostile, value = hostile, unit = hostile } } }

  for _, color in ipairs({ false, true }) do
    it("keeps every policy string on its line, without controls or CI commands (color " .. tostring(color) .. ")", function()
      local text = report.text(v, { color = color })
      local plain = text:gsub("\27%[[%d;]*m", "")  -- the report's own colours
      assert.is_nil(plain:find("[%z\1-\8\11-\31\127]"), plain)
      assert.is_nil(plain:find("\194[\128-\159]"), plain)
      assert.is_nil(plain:find("##vso[", 1, true), plain)
      for l in plain:gmatch("[^\n]*") do
        assert.is_nil(l:find("^%s*::"), l)
      end
    end)
  end
end)
