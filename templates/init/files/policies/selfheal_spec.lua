-- selfheal_spec.lua: specs of policies/selfheal.lua, run by `unbreakable
-- test`. The contexts in recordings/ are what the self-healing worker read
-- for a problem on production after releases 41 and 42 were deployed there
-- (`history --kind selfheal --format json` shows the context of a real one).
local selfheal = require "selfheal"

local function kinds(result)
  local out = {}
  for _, intent in ipairs(result.intents) do out[#out + 1] = intent.kind end
  return table.concat(out, ",")
end

describe("self-healing of {{service}}", function()
  it("rolls production back from release 42 to 41 and says so on the problem", function()
    local ctx = fixture.json("recordings/selfheal-open.json")
    local r = selfheal(ctx)
    assert.equals("rollback,comment", kinds(r))
    assert.equals(41, r.intents[1].release)
    assert.equals("Production", r.intents[1].stage)
    assert.matches("Release%-41", r.intents[2].text)
    assert.matches("Release%-42", r.intents[2].text)
  end)

  it("only comments when no pipeline deployed before the problem", function()
    local r = selfheal(fixture.json("recordings/selfheal-no-deployment.json"))
    assert.equals("comment", kinds(r))
  end)

  it("comments when the problem closes, never rolls back", function()
    local ctx = fixture.json("recordings/selfheal-open.json")
    ctx.problem.state = "RESOLVED"
    assert.equals("comment", kinds(selfheal(ctx)))
  end)
end)
