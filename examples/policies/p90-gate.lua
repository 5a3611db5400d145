-- p90-gate.lua: a small example policy. Given response-time samples of a
-- release and of its baseline (microseconds), it passes the release when its
-- 90th percentile is at most 10 % above the baseline's, and explains why.
-- Try it:  unbreakable eval examples/policies/p90-gate.lua --input examples/policies/p90-input.json
local json = require "unbreakable.json"

local function p90(values)
  local sorted = {}
  for _, v in ipairs(values) do
    if v ~= json.null then sorted[#sorted + 1] = v end
  end
  if #sorted == 0 then return nil end
  table.sort(sorted)
  return sorted[math.max(1, math.ceil(0.9 * #sorted))] -- nearest rank
end

return function(input)
  local release, baseline = p90(input.release), p90(input.baseline)
  if not release or not baseline then
    return { verdict = "inconclusive", summary = "no data points on one side" }
  end
  local threshold = baseline * 1.10
  local passed = release <= threshold
  return {
    verdict = passed and "pass" or "fail",
    summary = string.format("p90 %.1f ms %s threshold %.1f ms (baseline %.1f ms + 10 %%)",
      release / 1000, passed and "<=" or ">", threshold / 1000, baseline / 1000),
    value = release, baseline = baseline, threshold = threshold, unit = "MicroSecond",
  }
end
