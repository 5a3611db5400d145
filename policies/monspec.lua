-- policies/monspec.lua: the default monspec gate policy. It evaluates the
-- monspec exactly as docs/reference/monspec.md describes: default mode (real
-- time shifts, no data is inconclusive, errors fail closed) or, with
-- compat "dtcli", the original tool's document and numbers.
--
-- Every objective is critical unless its perfsignature entry says
-- "critical": false. To change any of this, copy examples/monspec/
-- critical-only.lua next to your monspec and pass it with --policy (or a
-- "policy" key in the monspec); docs/gate.md lists the options.
local monspec = require "unbreakable.monspec"

return function(ctx)
  return monspec.evaluate(ctx)
end
