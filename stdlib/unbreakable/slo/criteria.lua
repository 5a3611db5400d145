-- unbreakable.slo.criteria: the Keptn criteria grammar ("<=+10%", "<600"),
-- the evaluation of one criterion against a baseline, and the baseline
-- aggregation (avg, p50, p90, p95) of lighthouse (docs/reference/keptn-slo.md
-- sections 4, 5 and 6.3). Pure functions, no I/O.

local M = {}

-- Operators in the order lighthouse tries them as a prefix.
local OPERATORS = { "<=", "<", "=", ">=", ">" }

local COMPARE = {
  ["<="] = function(v, t) return v <= t end,
  ["<"] = function(v, t) return v < t end,
  ["="] = function(v, t) return v == t end,
  [">="] = function(v, t) return v >= t end,
  [">"] = function(v, t) return v > t end,
}

-- Decimal float as Go's ParseFloat reads the forms users write:
-- optional sign, digits with an optional fraction, optional exponent.
local function parse_float(text)
  local sign, body = text:match("^([+-]?)(.*)$")
  local mantissa, exponent = body:match("^([%d%.]+)([eE][+-]?%d+)$")
  if not mantissa then mantissa, exponent = body, "" end
  if not (mantissa:match("^%d+%.?%d*$") or mantissa:match("^%.%d+$")) then
    return nil
  end
  return tonumber(sign .. mantissa .. exponent) + 0.0
end

-- Parses one criterion. Returns a table
--   { text, op, value, relative, percent, increase }
-- or nil and the error message of lighthouse.
function M.parse(text)
  if type(text) ~= "string" then
    return nil, "criteria must be strings, got " .. type(text)
  end
  local s = text:gsub(" ", "")
  -- lighthouse's check ^([<|<=|=|>|>=]{1,2})... only requires the first
  -- character to be one of < | = > (every later part is optional)
  if not s:match("^[<|=>]") then
    return nil, "invalid criteria string '" .. text .. "': it must start with one of <, <=, =, >=, >"
  end
  local c = { text = text, relative = false, percent = false, increase = false }
  for _, op in ipairs(OPERATORS) do
    if s:sub(1, #op) == op then
      c.op = op
      s = s:sub(#op + 1)
      break
    end
  end
  if s:sub(-1) == "%" then
    c.relative, c.percent, c.increase = true, true, true
    s = s:sub(1, -2)
  end
  if s:sub(1, 1) == "-" then
    c.relative, c.increase = true, false
    s = s:sub(2)
  elseif s:sub(1, 1) == "+" then
    c.relative, c.increase = true, true
    s = s:sub(2)
  end
  local value = parse_float(s)
  if not c.op or not value then
    return nil, "could not parse criteria target value of '" .. text .. "'"
  end
  c.value = value
  return c
end

-- True when the criterion has a '%' without a sign ("<=1%"): a relative
-- increase that readers often take for an absolute percentage (Q13).
function M.unsigned_percent(c)
  if not c.percent then return false end
  local s = c.text:gsub(" ", "")
  local rest = s:sub(#c.op + 1)
  return not rest:match("^[+-]")
end

-- Target of a criterion for baseline b (only meaningful when b is known).
function M.target(c, b)
  if not c.relative then return c.value end
  if c.percent then
    if c.increase then return b * (100 + c.value) / 100 end
    return b * (100 - c.value) / 100
  end
  if c.increase then return b + c.value end
  return b - c.value
end

-- Evaluates v against c. baseline = { value = b, skip = bool }.
-- Returns satisfied, target (nil when relative and no baseline).
function M.evaluate(v, c, baseline)
  if not c.relative then return COMPARE[c.op](v, c.value), c.value end
  if baseline.skip then return true, nil end
  local target = M.target(c, baseline.value)
  return COMPARE[c.op](v, target), target
end

-- Percentile of lighthouse (sorted ascending copy, 1-based positions).
function M.percentile(values, p)
  local sorted = {}
  for i, v in ipairs(values) do sorted[i] = v end
  table.sort(sorted)
  local n = #sorted
  local pos = p * (n + 1)
  if pos < 1 then return sorted[1] end
  if pos >= n then return sorted[n] end
  local whole = math.floor(pos)
  local lower, upper = sorted[whole], sorted[whole + 1]
  return lower + (pos - whole) * (upper - lower)
end

local PERCENTILES = { p50 = 0.5, p90 = 0.9, p95 = 0.95 }

M.AGGREGATE_FUNCTIONS = { "avg", "p50", "p90", "p95" }

function M.is_aggregate_function(fn)
  return fn == "avg" or PERCENTILES[fn] ~= nil
end

-- Aggregates earlier values. Returns { value = b, skip = bool }: skip when
-- there is no earlier value; an unknown function gives 0 (quirk Q14, only
-- reachable with compat = "keptn": the loader rejects it otherwise).
function M.aggregate(values, fn)
  if #values == 0 then return { value = 0, skip = true } end
  if fn == "avg" then
    local sum = 0
    for _, v in ipairs(values) do sum = sum + v end
    return { value = sum / #values, skip = false }
  end
  if PERCENTILES[fn] then
    return { value = M.percentile(values, PERCENTILES[fn]), skip = false }
  end
  return { value = 0, skip = false, unknown_function = true }
end

return M
