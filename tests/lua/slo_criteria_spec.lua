-- Criteria grammar, criterion evaluation and baseline aggregation of
-- lighthouse (docs/reference/keptn-slo.md sections 4, 5, 6.3), with hand-worked numbers.
local criteria = require("unbreakable.slo.criteria")

describe("criteria grammar", function()
  it("removes spaces anywhere: '  <=+10   %' is a relative percent increase", function()
    local c = assert(criteria.parse("  <=+10   %"))
    assert.are.equal("<=", c.op)
    assert.are.equal(10, c.value)
    assert.is_true(c.relative)
    assert.is_true(c.percent)
    assert.is_true(c.increase)
    assert.are.equal("  <=+10   %", c.text)
  end)

  it("reads absolute criteria", function()
    for text, op in pairs({ ["<600"] = "<", ["<=0.4"] = "<=", ["=0"] = "=", [">=20000"] = ">=", [">5"] = ">" }) do
      local c = assert(criteria.parse(text))
      assert.are.equal(op, c.op)
      assert.is_false(c.relative)
    end
    assert.are.equal(0.4, criteria.parse("<=0.4").value)
  end)

  it("rejects '<>5' and '=<5' at the number (they pass lighthouse's loose check)", function()
    local c, err = criteria.parse("<>5")
    assert.is_nil(c)
    assert.are.equal("could not parse criteria target value of '<>5'", err)
    c, err = criteria.parse("=<5")
    assert.is_nil(c)
    assert.are.equal("could not parse criteria target value of '=<5'", err)
  end)

  it("rejects '10' (no operator) at the check", function()
    local c, err = criteria.parse("10")
    assert.is_nil(c)
    assert.matches("must start with one of", err)
  end)

  it("rejects a lone '=' (no number) and '|5'", function()
    assert.is_nil((criteria.parse("=")))
    assert.is_nil((criteria.parse("|5")))
    assert.is_nil((criteria.parse("<=+")))
  end)

  it("'<=1%' is a relative increase of 1 % above the baseline, not 'at most 1'", function()
    local c = assert(criteria.parse("<=1%"))
    assert.is_true(c.relative and c.percent and c.increase)
    assert.is_true(criteria.unsigned_percent(c))
    assert.is_false(criteria.unsigned_percent(criteria.parse("<=+1%")))
    -- baseline 200: target 200 * 101 / 100 = 202
    local base = { value = 200, skip = false }
    assert.is_true((criteria.evaluate(202, c, base)))
    assert.is_false((criteria.evaluate(202.5, c, base)))
    assert.are.equal(202, select(2, criteria.evaluate(202, c, base)))
  end)

  it("'>-5' is v > b - 5", function()
    local c = assert(criteria.parse(">-5"))
    assert.is_true(c.relative)
    assert.is_false(c.percent)
    assert.is_false(c.increase)
    local base = { value = 100, skip = false }
    local ok, target = criteria.evaluate(95.5, c, base)
    assert.is_true(ok)
    assert.are.equal(95, target)
    assert.is_false((criteria.evaluate(95, c, base)))
  end)

  it("'<=+50' is v <= b + 50 and '>=-80%' is v >= b * 20 / 100", function()
    local base = { value = 400, skip = false }
    assert.are.equal(450, select(2, criteria.evaluate(0, criteria.parse("<=+50"), base)))
    local ok, target = criteria.evaluate(80, criteria.parse(">=-80%"), base)
    assert.are.equal(80, target)
    assert.is_true(ok)
    assert.is_false((criteria.evaluate(79.9, criteria.parse(">=-80%"), base)))
  end)

  it("'=' is exact floating-point equality (Q23)", function()
    local eq = criteria.parse("=0.3")
    assert.is_true((criteria.evaluate(0.3, eq, { skip = true })))
    assert.is_false((criteria.evaluate(0.1 + 0.2, eq, { skip = true })))
    assert.is_true((criteria.evaluate(0, criteria.parse("=0"), { skip = true })))
  end)

  it("a relative criterion without baseline passes and has no target (Q11)", function()
    local ok, target = criteria.evaluate(1e9, criteria.parse("<=+10%"), { value = 0, skip = true })
    assert.is_true(ok)
    assert.is_nil(target)
  end)

  it("a baseline of 0 makes relative targets 0 (Q12)", function()
    local base = { value = 0, skip = false }
    assert.is_false((criteria.evaluate(5, criteria.parse("<=+10%"), base)))
    assert.is_false((criteria.evaluate(1, criteria.parse("<+101%"), base)))
    assert.is_true((criteria.evaluate(0, criteria.parse("<=+10%"), base)))
  end)
end)

describe("baseline aggregation", function()
  local zero_to_ten = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }

  it("reproduces the upstream percentiles of 0..10", function()
    assert.are.equal(5, criteria.aggregate(zero_to_ten, "p50").value)        -- pos 6.0
    assert.near(9.8, criteria.aggregate(zero_to_ten, "p90").value, 1e-12)     -- pos 10.8
    assert.are.equal(10, criteria.aggregate(zero_to_ten, "p95").value)       -- pos 11.4 >= 11
  end)

  it("sorts before taking percentiles (order of the input does not matter)", function()
    assert.are.equal(5, criteria.percentile({ 10, 0, 9, 1, 8, 2, 7, 3, 6, 4, 5 }, 0.5))
  end)

  it("480, 500, 520: p50 500, p90 520, avg 500", function()
    local v = { 480, 500, 520 }
    assert.are.equal(500, criteria.aggregate(v, "p50").value)   -- pos 2.0
    assert.are.equal(520, criteria.aggregate(v, "p90").value)   -- pos 3.6 >= 3
    assert.are.equal(500, criteria.aggregate(v, "avg").value)
    assert.is_false(criteria.aggregate(v, "avg").skip)
  end)

  it("interpolates between neighbours: p50 of 1, 2, 3, 4 is 2.5 (pos 2.5)", function()
    assert.are.equal(2.5, criteria.percentile({ 1, 2, 3, 4 }, 0.5))
  end)

  it("no earlier value: skip", function()
    local b = criteria.aggregate({}, "avg")
    assert.is_true(b.skip)
    assert.are.equal(0, b.value)
  end)

  it("an unknown function gives a baseline of 0 without skip (Q14, compat only)", function()
    local b = criteria.aggregate({ 480, 500 }, "p99")
    assert.are.equal(0, b.value)
    assert.is_false(b.skip)
  end)
end)
