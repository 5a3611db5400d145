-- unbreakable.verdict_diff: the lines that explain why a replayed verdict
-- differs from the recorded one.
local diff = require("unbreakable.verdict_diff").diff

local function v(verdict, objectives)
  return { verdict = verdict, totalViolations = 0, objectives = objectives }
end

describe("verdict_diff", function()
  it("reports a changed field of an objective", function()
    local lines = diff(v("pass", { { name = "rt", status = "pass", value = 1 } }),
                       v("fail", { { name = "rt", status = "fail", value = 2 } }))
    assert.same({ 'verdict: "pass" -> "fail"', 'objective "rt": status "pass" -> "fail"; value 1 -> 2' }, lines)
  end)

  it("compares objectives of the same name in order (a monspec may list one measure twice)", function()
    -- the first of two "rt avg" entries changed; matching by name alone
    -- compared only the second and explained nothing
    local old = v("pass", { { name = "rt avg", status = "pass" }, { name = "rt avg", status = "pass" } })
    local new = v("fail", { { name = "rt avg", status = "fail" }, { name = "rt avg", status = "pass" } })
    assert.same({ 'verdict: "pass" -> "fail"', 'objective "rt avg": status "pass" -> "fail"' }, diff(old, new))
    new.objectives[3] = { name = "rt avg", status = "pass" }
    assert.same({ 'verdict: "pass" -> "fail"', 'objective "rt avg": status "pass" -> "fail"',
                  'objective "rt avg" (3rd): added (status "pass")' }, diff(old, new))
  end)
end)
