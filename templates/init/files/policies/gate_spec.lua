-- gate_spec.lua: specs of policies/gate.lua, run by `unbreakable test` in the
-- sandbox. They replay evaluations recorded from Dynatrace (no network):
--   recordings/gate-good.json  a release close to production: passes
--   recordings/gate-bad.json   a slow, failing release: fails
-- Record your own with
--   unbreakable gate --monspec monspec.json --compare {{service}}/StagingToProduction \
--     --dump-ctx policies/recordings/NAME.json
-- or, for an evaluation already in the ledger, unbreakable replay ID --export FILE.
describe("the release gate of {{service}}", function()
  it("passes the good release recorded in staging", function()
    local ctx, recorded = fixture.evaluation("recordings/gate-good.json")
    assert.equals("pass", recorded.verdict)
    assert.equals("pass", gate(ctx, "gate.lua").verdict)
  end)

  it("fails the slow, failing release", function()
    local ctx = fixture.evaluation("recordings/gate-bad.json")
    local v = gate(ctx, "gate.lua")
    assert.equals("fail", v.verdict)
    local failed = {}
    for _, o in ipairs(v.objectives) do
      if o.status == "fail" then failed[#failed + 1] = o.name end
    end
    assert.is_true(#failed >= 2, "at least the response time and the failure rate fail")
  end)

end)
