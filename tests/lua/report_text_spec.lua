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

describe("report.junit", function()
  local v = { verdict = "warning", target = "S/C", summary = "one warning",
              objectives = { { name = "calls", status = "warning", critical = false, value = 3 } } }

  it("passes the verdict case of a warning by default", function()
    local xml = report.junit(v)
    assert.truthy(xml:find('failures="0"', 1, true), xml)
  end)

  it("fails it with fail_on_warning, as the exit status does", function()
    local xml = report.junit(v, { fail_on_warning = true })
    assert.truthy(xml:find('failures="1"', 1, true), xml)
    assert.truthy(xml:find('<failure message="one warning"', 1, true), xml)
  end)
end)
