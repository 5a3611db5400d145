-- critical-only.lua: a user policy that changes the default monspec gate.
-- Only the 90th percentile of the response time and the failure rate are
-- critical: they can fail the gate. Every other objective can only warn
-- (a warning passes the gate unless --fail-on-warning). Errors still fail
-- closed, and missing data on a critical objective is still inconclusive.
--
-- Use it next to your monspec:
--   unbreakable gate --monspec checkout.monspec.json \
--     --compare CheckoutService/StagingToProduction --policy critical-only.lua
local monspec = require "unbreakable.monspec"

local RESPONSE_TIME = "com.dynatrace.builtin:service.responsetime"
local FAILURE_RATE = "com.dynatrace.builtin:service.failurerate"

local function is_p90_response_time(obj)
  if obj.kind == "timeseries" then
    return monspec.timeseries_id(obj.timeseries) == RESPONSE_TIME and obj.aggregate == "p90"
  end
  return obj.kind == "metric" and obj.metric:find("^builtin:service%.response%.time:") ~= nil
         and obj.metric:find(":percentile(90)", 1, true) ~= nil
end

local function is_failure_rate(obj)
  if obj.kind == "timeseries" then
    return monspec.timeseries_id(obj.timeseries) == FAILURE_RATE
  end
  return obj.kind == "metric" and obj.metric:find("^builtin:service%.errors%.total%.rate") ~= nil
end

return function(ctx)
  return monspec.evaluate(ctx, {
    critical = function(obj)
      return obj.method == nil and (is_p90_response_time(obj) or is_failure_rate(obj))
    end,
  })
end
