-- unbreakable.monspec.pyjson: JSON text as the original Python tool saw and
-- wrote it. decode() keeps the key order of every object (the dtcli document
-- echoes perfsignature entries in file order) and the integer/float
-- distinction of numbers; dumps() writes one line exactly like Python's
-- json.dumps with default settings (", " and ": ", floats in shortest
-- round-trip form with ".0", non-ASCII as \uXXXX).
--
-- Objects carry their key order in their metatable as __jsonorder (the same
-- convention unbreakable.json's encoders follow); arrays carry
-- __jsontype = "array" so that an empty array stays an array.

local M = {}

local ok_json, ujson = pcall(require, "unbreakable.json")
local NULL = ok_json and type(ujson) == "table" and ujson.null or nil
if NULL == nil then
  NULL = setmetatable({}, { __name = "json.null", __tostring = function() return "null" end })
end
M.null = NULL

local ARRAY_MT = { __jsontype = "array" }

-- True for the JSON null of any decoder: this module's marker, the marker of
-- unbreakable.json, or another decoder's light userdata null (lua-cjson).
function M.is_null(v)
  return v == NULL or type(v) == "userdata"
end

function M.array(t)
  return setmetatable(t or {}, ARRAY_MT)
end

function M.ordered(t, keys)
  return setmetatable(t, { __jsonorder = keys })
end

function M.is_array(t)
  local mt = getmetatable(t)
  if mt and mt.__jsontype == "array" then return true end
  if mt and mt.__jsonorder then return false end
  local n = 0
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 then return false end
    n = n + 1
  end
  return n > 0 and n == #t
end

-- Keys of an object: declared order first, then any other key sorted.
function M.keys(t)
  local mt = getmetatable(t)
  local order = mt and mt.__jsonorder
  local out, seen = {}, {}
  if order then
    for _, k in ipairs(order) do
      if t[k] ~= nil and not seen[k] then out[#out + 1] = k; seen[k] = true end
    end
  end
  local rest = {}
  for k in pairs(t) do
    if not seen[k] then rest[#rest + 1] = k end
  end
  table.sort(rest, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(rest) do out[#out + 1] = k end
  return out
end

---------------------------------------------------------------------------
-- decode

local function fail(pos, msg)
  error({ json_error = msg, pos = pos }, 0)
end

-- Line and column (from 1, in characters) of byte position pos of s.
local function line_col(s, pos)
  local line, start = 1, 1
  for nl in s:sub(1, pos - 1):gmatch("()\n") do
    line, start = line + 1, nl + 1
  end
  local col = 1
  for _ in s:sub(start, pos - 1):gmatch("[^\128-\191]") do col = col + 1 end
  return line, col
end

-- "line L, column C (offset N)" of the 1-based position pos of text.
local function position(text, pos)
  local line, col = line_col(text, pos)
  return string.format("line %d, column %d (offset %d)", line, col, pos - 1)
end

local function skip_ws(s, i)
  return s:find("[^ \t\r\n]", i) or #s + 1
end

local function utf8_of(cp)
  return utf8.char(cp)
end

local ESCAPES = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f",
                  n = "\n", r = "\r", t = "\t" }

local function read_hex4(s, i)
  local hex = s:sub(i, i + 3)
  if not hex:match("^%x%x%x%x$") then fail(i, "bad \\u escape") end
  return tonumber(hex, 16)
end

local function decode_string(s, i)
  -- s:sub(i, i) == '"'
  local parts, j = {}, i + 1
  while true do
    local k = s:find('["\\%c]', j)
    if not k then fail(i, "unterminated string") end
    parts[#parts + 1] = s:sub(j, k - 1)
    local c = s:sub(k, k)
    if c == '"' then return table.concat(parts), k + 1 end
    if c ~= "\\" then fail(k, "control character in string") end
    local e = s:sub(k + 1, k + 1)
    if e == "u" then
      local cp = read_hex4(s, k + 2)
      j = k + 6
      if cp >= 0xD800 and cp <= 0xDBFF and s:sub(j, j + 1) == "\\u" then
        local lo = read_hex4(s, j + 2)
        if lo >= 0xDC00 and lo <= 0xDFFF then
          cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00)
          j = j + 6
        end
      end
      parts[#parts + 1] = utf8_of(cp)
    elseif ESCAPES[e] then
      parts[#parts + 1] = ESCAPES[e]
      j = k + 2
    else
      fail(k, "bad escape")
    end
  end
end

local function decode_number(s, i)
  local int = s:match("^-?%d+", i)
  if not int or int:match("^-?0%d") then fail(i, "bad number") end
  local j = i + #int
  local frac = s:match("^%.%d+", j) or ""
  if frac == "" and s:sub(j, j) == "." then fail(j, "bad number") end
  j = j + #frac
  local exp = s:match("^[eE][-+]?%d+", j) or ""
  if exp == "" and s:sub(j, j):match("[eE]") then fail(j, "bad number") end
  j = j + #exp
  local text = int .. frac .. exp
  local v
  if frac == "" and exp == "" then
    v = math.tointeger(tonumber(text)) or tonumber(text .. ".0")
  else
    v = tonumber(text) + 0.0
  end
  return v, j
end

local decode_value

local function decode_array(s, i, depth)
  local arr = setmetatable({}, ARRAY_MT)
  i = skip_ws(s, i + 1)
  if s:sub(i, i) == "]" then return arr, i + 1 end
  while true do
    local v
    v, i = decode_value(s, i, depth + 1)
    arr[#arr + 1] = v
    i = skip_ws(s, i)
    local c = s:sub(i, i)
    if c == "]" then return arr, i + 1 end
    if c ~= "," then fail(i, "expected ',' or ']'") end
    i = skip_ws(s, i + 1)
  end
end

-- A key an object already has is an error, not "the last one wins" (as
-- Python does): "upperlimit": 2.5, "upperlimit": 100 silently turned a
-- failing objective into a pass.
local function duplicate(s, pos, key)
  local shown = key:gsub("[%c\"]", "?")
  if #shown > 60 then shown = shown:sub(1, 60) .. "..." end
  fail(pos, string.format('duplicate key "%s"', shown))   -- fail() adds line and column
end

local function decode_object(s, i, depth)
  local obj, order = {}, {}
  i = skip_ws(s, i + 1)
  if s:sub(i, i) == "}" then return setmetatable(obj, { __jsonorder = order }), i + 1 end
  while true do
    if s:sub(i, i) ~= '"' then fail(i, "expected a key") end
    local key, at = nil, i
    key, i = decode_string(s, i)
    if obj[key] ~= nil then duplicate(s, at, key) end
    i = skip_ws(s, i)
    if s:sub(i, i) ~= ":" then fail(i, "expected ':'") end
    local v
    v, i = decode_value(s, skip_ws(s, i + 1), depth + 1)
    order[#order + 1] = key
    obj[key] = v
    i = skip_ws(s, i)
    local c = s:sub(i, i)
    if c == "}" then return setmetatable(obj, { __jsonorder = order }), i + 1 end
    if c ~= "," then fail(i, "expected ',' or '}'") end
    i = skip_ws(s, i + 1)
  end
end

local LITERALS = { ["true"] = true, ["false"] = false }

function decode_value(s, i, depth)
  if depth > 200 then fail(i, "nesting too deep") end
  i = skip_ws(s, i)
  local c = s:sub(i, i)
  if c == "{" then return decode_object(s, i, depth) end
  if c == "[" then return decode_array(s, i, depth) end
  if c == '"' then return decode_string(s, i) end
  if c == "-" or c:match("%d") then return decode_number(s, i) end
  for word, v in pairs(LITERALS) do
    if s:sub(i, i + #word - 1) == word then return v, i + #word end
  end
  if s:sub(i, i + 3) == "null" then return NULL, i + 4 end
  if c == "" then fail(i, "unexpected end of input") end
  fail(i, "unexpected character '" .. c .. "'")
end

-- decode(text) -> value | nil, "line L, column C (offset N): reason"
function M.decode(text)
  if type(text) ~= "string" then return nil, "line 1, column 1 (offset 0): not a string" end
  if text:sub(1, 3) == "\239\187\191" then text = text:sub(4) end
  local ok, v, i = pcall(decode_value, text, 1, 0)
  if not ok then
    if type(v) == "table" and v.json_error then
      return nil, position(text, v.pos) .. ": " .. v.json_error
    end
    error(v, 0)
  end
  i = skip_ws(text, i)
  if i <= #text then return nil, position(text, i) .. ": trailing data" end
  return v
end

---------------------------------------------------------------------------
-- dumps (Python json.dumps defaults)

-- Shortest decimal digits that read back as x, with the decimal exponent.
local function shortest_digits(x)
  for prec = 0, 16 do
    local s = string.format("%." .. prec .. "e", x)
    if tonumber(s) == x then
      local mant, exp = s:match("^(%d[.%d]*)e([-+]%d+)$")
      return (mant:gsub("%.", ""):gsub("0+$", "")), tonumber(exp)
    end
  end
  local s = string.format("%.16e", x)
  local mant, exp = s:match("^(%d[.%d]*)e([-+]%d+)$")
  return (mant:gsub("%.", ""):gsub("0+$", "")), tonumber(exp)
end

-- Python repr(float): fixed notation when -4 <= exponent < 16, else
-- d.ddde+XX; integral values in fixed notation end in ".0".
function M.format_float(x)
  if x ~= x then return "NaN" end
  if x == math.huge then return "Infinity" end
  if x == -math.huge then return "-Infinity" end
  local sign = (x < 0 or (x == 0 and 1 / x < 0)) and "-" or ""
  x = math.abs(x)
  if x == 0 then return sign .. "0.0" end
  local digits, exp = shortest_digits(x)
  if digits == "" then digits = "0" end
  local decpt = exp + 1
  if exp >= -4 and exp < 16 then
    if decpt <= 0 then
      return sign .. "0." .. string.rep("0", -decpt) .. digits
    elseif decpt >= #digits then
      return sign .. digits .. string.rep("0", decpt - #digits) .. ".0"
    else
      return sign .. digits:sub(1, decpt) .. "." .. digits:sub(decpt + 1)
    end
  end
  local mant = digits:sub(1, 1)
  if #digits > 1 then mant = mant .. "." .. digits:sub(2) end
  return string.format("%s%se%s%02d", sign, mant, exp < 0 and "-" or "+", math.abs(exp))
end

local SHORT_ESC = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r",
                    ["\t"] = "\\t", ["\b"] = "\\b", ["\f"] = "\\f" }

local function escape_cp(cp)
  if cp < 0x10000 then return string.format("\\u%04x", cp) end
  cp = cp - 0x10000
  return string.format("\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF))
end

function M.quote(s)
  local out = {}
  for _, cp in utf8.codes(s, true) do
    local c = cp < 0x80 and string.char(cp) or nil
    if c and SHORT_ESC[c] then
      out[#out + 1] = SHORT_ESC[c]
    elseif c and cp >= 0x20 then
      out[#out + 1] = c
    else
      out[#out + 1] = escape_cp(cp)
    end
  end
  return '"' .. table.concat(out) .. '"'
end

local function dump(v, out, depth)
  if depth > 100 then error("dumps: nesting too deep", 0) end
  local t = type(v)
  if v == nil or M.is_null(v) then
    out[#out + 1] = "null"
  elseif t == "boolean" then
    out[#out + 1] = v and "true" or "false"
  elseif t == "number" then
    out[#out + 1] = math.type(v) == "integer" and string.format("%d", v) or M.format_float(v)
  elseif t == "string" then
    if not utf8.len(v, 1, -1, true) then error("dumps: string is not UTF-8", 0) end
    out[#out + 1] = M.quote(v)
  elseif t == "table" then
    if M.is_array(v) then
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = ", " end
        dump(v[i], out, depth + 1)
      end
      out[#out + 1] = "]"
    else
      out[#out + 1] = "{"
      for i, k in ipairs(M.keys(v)) do
        if i > 1 then out[#out + 1] = ", " end
        out[#out + 1] = M.quote(tostring(k))
        out[#out + 1] = ": "
        dump(v[k], out, depth + 1)
      end
      out[#out + 1] = "}"
    end
  else
    error("dumps: cannot encode a " .. t, 0)
  end
end

-- dumps(value) -> the one-line string Python's json.dumps(value) prints.
function M.dumps(v)
  local out = {}
  dump(v, out, 0)
  return table.concat(out)
end

return M
