-- policies/gate.lua: the release gate of {{service}}. monspec.json names it
-- ("policy" key), so `unbreakable gate` and `serve` run it for every gate.
--
-- As written it is the shipped default (the project's policies/monspec.lua):
-- every objective of the monspec is critical, no data is inconclusive, and
-- errors fail closed (docs/gate.md). What to change, typically:
--
--   * which objectives may fail the release: return true/false from
--     `critical` below (nil keeps the monspec entry's "critical" key);
--   * what no data means: on_no_data = "fail" (default "inconclusive");
--   * extra checks of your own: extra_checks = { function(ctx, verdict) ... end }.
--
-- After a change, run the specs next to this file (they replay the recorded
-- evaluations in policies/recordings/): unbreakable test
local monspec = require "unbreakable.monspec"

return function(ctx)
  return monspec.evaluate(ctx, {
    -- Uncomment to let only the p90 response time and the failure rate fail
    -- the release; every other objective then only warns:
    -- critical = function(obj)
    --   return obj.aggregate == "p90" or (obj.timeseries or ""):find("failurerate", 1, true) ~= nil
    -- end,
    on_no_data = "inconclusive",
  })
end
