-- unbreakable.slo.event: builds Keptn's evaluation.finished data
-- (docs/reference/keptn-slo.md section 8) from a result of unbreakable.slo.score, with
-- ISO 8601 times and the slo.yaml text in base64 (RFC 4648, padded).

local M = {}

local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function sextet(n)
  return ALPHABET:sub(n + 1, n + 1)
end

-- Standard base64 with '=' padding.
function M.base64(text)
  local out = {}
  for i = 1, #text, 3 do
    local a, b, c = text:byte(i, i + 2)
    local n = (a << 16) | ((b or 0) << 8) | (c or 0)
    out[#out + 1] = sextet((n >> 18) & 63) .. sextet((n >> 12) & 63)
      .. (b and sextet((n >> 6) & 63) or "=") .. (c and sextet(n & 63) or "=")
  end
  return table.concat(out)
end

-- Civil date (proleptic Gregorian) of a day count since 1970-01-01.
local function civil_from_days(days)
  local z = days + 719468
  local era = (z >= 0 and z or z - 146096) // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local day = doy - (153 * mp + 2) // 5 + 1
  local month = mp < 10 and mp + 3 or mp - 9
  local year = yoe + era * 400 + (month <= 2 and 1 or 0)
  return year, month, day
end

-- "2019-11-18T11:21:06.000Z" from Unix milliseconds; strings pass as given.
function M.iso_time(t)
  if type(t) == "string" then return t end
  if math.type(t) ~= "integer" then
    error("time must be Unix milliseconds (integer) or an ISO 8601 string, got " .. tostring(t), 2)
  end
  local ms = t % 1000
  local seconds = t // 1000
  local days, rest = seconds // 86400, seconds % 86400
  local year, month, day = civil_from_days(days)
  return string.format("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", year, month, day,
    rest // 3600, rest % 3600 // 60, rest % 60, ms)
end

local function copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end

local function same(t) return t end

-- Copies an indicatorResults entry, writing null where a value is absent
-- (comparedValue without baseline, targetValue of a relative criterion)
-- and marking the target lists with array (so that an empty one is []).
local function entry_with_nulls(entry, null, array)
  local e = copy(entry)
  e.value = copy(entry.value or {})
  if e.value.comparedValue == nil then e.value.comparedValue = null end
  for _, key in ipairs({ "passTargets", "warningTargets" }) do
    if entry[key] then
      e[key] = array({})
      for i, t in ipairs(entry[key]) do
        e[key][i] = copy(t)
        if t.targetValue == nil then e[key][i].targetValue = null end
      end
    else
      e[key] = null
    end
  end
  return e
end

-- result: the table slo.score returned. meta: { project, stage, service,
-- timeStart, timeEnd (Unix ms or ISO strings), sloFileContent (raw
-- slo.yaml text), comparedEvents (ids), null (JSON null sentinel, e.g.
-- require("unbreakable.json").null; without it absent values stay absent),
-- array (e.g. require("unbreakable.json").array: marks every list so that
-- an empty one encodes as [], as Keptn reads it) }.
function M.finished(result, meta)
  meta = meta or {}
  local array = meta.array or same
  local indicators = array({})
  for i, entry in ipairs(result.indicatorResults or {}) do
    indicators[i] = meta.null ~= nil and entry_with_nulls(entry, meta.null, array) or entry
  end
  return {
    project = meta.project, stage = meta.stage, service = meta.service,
    status = result.status, result = result.result, message = result.message,
    evaluation = {
      timeStart = meta.timeStart and M.iso_time(meta.timeStart) or nil,
      timeEnd = meta.timeEnd and M.iso_time(meta.timeEnd) or nil,
      result = result.evaluationResult or result.result,
      score = result.score,
      sloFileContent = meta.sloFileContent and M.base64(meta.sloFileContent) or "",
      comparedEvents = array(meta.comparedEvents or {}),
      indicatorResults = indicators,
    },
  }
end

return M
