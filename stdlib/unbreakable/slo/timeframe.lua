-- unbreakable.slo.timeframe: the evaluation timeframe rules of Keptn's
-- evaluation.triggered (docs/reference/keptn-slo.md section 1): start/end
-- timestamps, Go durations ("15m", "1h30m"), the 5 minute default and the
-- errors. Times are Unix milliseconds (integers).

local M = {}

M.DEFAULT_TIMEFRAME = "5m"
M.MIN_LENGTH_MS = 60000

local UNIT_MS = { ns = 1e-6, us = 1e-3, ["µs"] = 1e-3, ms = 1, s = 1000, m = 60000, h = 3600000 }

-- Go duration ("15m", "1h30m", "2.5h") -> milliseconds (integer).
function M.parse_duration(text)
  if type(text) ~= "string" or text == "" then return nil, "empty duration" end
  local total, pos = 0, 1
  while pos <= #text do
    local number, unit, stop = text:match("^(%d*%.?%d+)([^%d%.]+)()", pos)
    if not number or not UNIT_MS[unit] then
      return nil, "'" .. text .. "' is not a duration like 15m, 1h30m or 90s"
    end
    total = total + tonumber(number) * UNIT_MS[unit]
    pos = stop
  end
  return math.floor(total)
end

-- Days since 1970-01-01 of a proleptic Gregorian date.
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = (153 * mp + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

local DAYS_IN_MONTH = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

local function days_in_month(y, m)
  if m == 2 and y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0) then return 29 end
  return DAYS_IN_MONTH[m]
end

-- The first field that is out of range, or nil (Go's time.Parse rejects it).
local function out_of_range(y, mo, d, h, mi, s, zh, zm)
  if mo < 1 or mo > 12 then return "month" end
  if d < 1 or d > days_in_month(y, mo) then return "day" end
  if h > 23 then return "hour" end
  if mi > 59 then return "minute" end
  if s > 59 then return "second" end
  if zh > 23 or zm > 59 then return "time zone offset" end
  return nil
end

-- "2006-01-02T15:04:05.000Z", RFC 3339 with an offset, or
-- "2006-01-02T15:04:05" (UTC) -> Unix ms.
function M.parse_time(text)
  if type(text) ~= "string" then return nil, "time must be a string" end
  local y, mo, d, h, mi, s, frac, zone =
    text:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)(%.?%d*)(.*)$")
  if not y then
    return nil, "'" .. text .. "' is not a time like 2006-01-02T15:04:05.000Z"
  end
  local offset_min, zh, zm = 0, 0, 0
  if zone ~= "" and zone ~= "Z" then
    local sign
    sign, zh, zm = zone:match("^([+-])(%d%d):(%d%d)$")
    if not sign then return nil, "'" .. text .. "' has an unknown time zone '" .. zone .. "'" end
    zh, zm = tonumber(zh), tonumber(zm)
    offset_min = (zh * 60 + zm) * (sign == "-" and -1 or 1)
  end
  local bad = out_of_range(tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(s), zh, zm)
  if bad then return nil, "'" .. text .. "': " .. bad .. " out of range" end
  if frac == "." then return nil, "'" .. text .. "' has an empty fraction of a second" end
  local ms = frac ~= "" and math.floor(tonumber("0" .. frac) * 1000 + 0.5) or 0
  local days = days_from_civil(tonumber(y), tonumber(mo), tonumber(d))
  local seconds = days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s) - offset_min * 60
  return seconds * 1000 + ms
end

-- Resolves { start =, ["end"] =, timeframe = } (strings as Keptn takes
-- them) at now (Unix ms). Returns from, to (ms) or nil and the error.
function M.resolve(spec, now)
  local start, finish, timeframe = spec.start, spec["end"], spec.timeframe
  if finish and timeframe then return nil, "give either end or timeframe, not both" end
  if finish and not start then return nil, "end needs a start" end
  local from, to, err
  if start then
    from, err = M.parse_time(start)
    if not from then return nil, "start: " .. err end
  end
  if finish then
    to, err = M.parse_time(finish)
    if not to then return nil, "end: " .. err end
  else
    local length
    length, err = M.parse_duration(timeframe or M.DEFAULT_TIMEFRAME)
    if not length then return nil, "timeframe: " .. err end
    if from then to = from + length else to, from = now, now - length end
  end
  if to - from < M.MIN_LENGTH_MS then
    return nil, "the timeframe must be at least 1 minute long (end - start >= 1m)"
  end
  return from, to
end

return M
