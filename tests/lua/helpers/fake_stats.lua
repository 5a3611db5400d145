-- fake_stats: a plain-Lua stand-in for the native unbreakable.stats module,
-- with the subset of its contract the monspec gate uses (series, #s, s[i]
-- with nil for a missing point, merge keeping order, count, sum, mean with
-- strict left-to-right summation). support.lua installs it only when
-- build/lua/unbreakable.so does not export unbreakable.stats.

local M = { fake = true }

local Series = {}
Series.__name = "fake_stats.series"
Series.__len = function(s) return s._n end
Series.__index = function(s, i)
  if type(i) == "number" then
    local v = rawget(s, "_v")[i]
    if v == nil or v ~= v then return nil end
    return v
  end
  return nil
end

-- series(values, {n=, timestamps=}): values may have nil holes (n says
-- how many points there are).
function M.series(values, opts)
  opts = opts or {}
  local n = opts.n or #values
  local v = {}
  for i = 1, n do
    local x = values[i]
    if x ~= nil and type(x) ~= "number" then error("series: value " .. i .. " is not a number", 2) end
    v[i] = x == nil and (0 / 0) or x + 0.0
  end
  return setmetatable({ _n = n, _v = v, _ts = opts.timestamps }, Series)
end

function M.merge(list)
  local v, ts, n = {}, {}, 0
  for _, s in ipairs(list) do
    for i = 1, s._n do
      n = n + 1
      v[n] = s._v[i]
      ts[n] = s._ts and s._ts[i] or nil
    end
  end
  return setmetatable({ _n = n, _v = v, _ts = ts }, Series)
end

function M.count(s)
  local c = 0
  for i = 1, s._n do if s._v[i] == s._v[i] then c = c + 1 end end
  return c
end

function M.sum(s)
  local total, c = 0.0, 0
  for i = 1, s._n do
    local x = s._v[i]
    if x == x then total = total + x; c = c + 1 end
  end
  if c == 0 then return nil, "empty series" end
  return total
end

function M.mean(s)
  local total = M.sum(s)
  if total == nil then return nil, "empty series" end
  return total / M.count(s)
end

return M
