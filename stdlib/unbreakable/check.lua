-- unbreakable.check: what `unbreakable check FILE` reports for a monspec,
-- slo.yaml, sli.yaml or policy, without running a gate. Runs in the
-- sandbox. run(kind, text, name) returns a list of diagnostics
--   { severity = "error"|"warning", line = N, col = N, message = "..." }
-- located in the file (line and column from 1).
local M = {}

local function line_col(text, pos)
  local line, last = 1, 0
  for i in text:sub(1, pos - 1):gmatch("()\n") do
    line, last = line + 1, i
  end
  return line, pos - last
end

-- A small reader of the JSON text itself, to place a path at its key:
-- positions are byte offsets; values are skipped, never decoded.
local function skip_space(text, pos)
  return text:find("[^ \t\r\n]", pos) or #text + 1
end

local function skip_string(text, pos) -- pos at the opening quote
  local i = pos + 1
  while true do
    local at = text:find('["\\]', i)
    if not at then return #text + 1 end
    if text:sub(at, at) == '"' then return at + 1 end
    i = at + 2
  end
end

local function skip_value(text, pos)
  pos = skip_space(text, pos)
  local c = text:sub(pos, pos)
  if c == '"' then return skip_string(text, pos) end
  if c ~= "{" and c ~= "[" then return text:find("[,}%]]", pos) or #text + 1 end
  local depth, i = 0, pos
  while true do
    local at = text:find('[%[%]{}"]', i)
    if not at then return #text + 1 end
    local ch = text:sub(at, at)
    if ch == '"' then
      i = skip_string(text, at)
    else
      depth = depth + ((ch == "{" or ch == "[") and 1 or -1)
      i = at + 1
      if depth == 0 then return i end
    end
  end
end

-- In the object or array whose value starts at pos, where the member
-- (a key, or a 0-based index) is: the position to report (the quoted key,
-- or the element) and where its value starts; nil when it is not there.
local function member(text, pos, step)
  pos = skip_space(text, pos)
  local open, i = text:sub(pos, pos), pos + 1
  if open == "{" and type(step) == "string" then
    while true do
      i = skip_space(text, i)
      if text:sub(i, i) ~= '"' then return nil end
      local after = skip_string(text, i)
      local colon = skip_space(text, after)
      if text:sub(colon, colon) ~= ":" then return nil end
      if text:sub(i + 1, after - 2) == step then return i, colon + 1 end
      i = skip_space(text, skip_value(text, colon + 1))
      if text:sub(i, i) ~= "," then return nil end
      i = i + 1
    end
  elseif open == "[" and type(step) == "number" then
    for _ = 1, step do
      i = skip_space(text, skip_value(text, i))
      if text:sub(i, i) ~= "," then return nil end
      i = i + 1
    end
    i = skip_space(text, i)
    return i, i
  end
end

-- Where a JSON path ("$.svc.perfsignature[1].aggregate") points: its
-- deepest member found in the text, array positions included.
local function locate_json_path(text, path)
  local at, value = 1, 1
  for sep, part in path:gmatch("([%.%[])([^%.%[%]]+)%]?") do
    local step = sep == "[" and tonumber(part) or part
    local found, inner = member(text, value, step)
    if not found then break end
    at, value = found, inner
  end
  return line_col(text, at)
end

-- "name:L:C: message" (from the YAML loaders) into a diagnostic.
local function from_located(severity, s, name)
  local rest = s
  if s:sub(1, #name + 1) == name .. ":" then rest = s:sub(#name + 2) end
  local line, col, msg = rest:match("^(%d+):(%d+): (.*)$")
  if line then return {severity = severity, line = tonumber(line), col = tonumber(col), message = msg} end
  line, msg = rest:match("^(%d+): (.*)$")
  if line then return {severity = severity, line = tonumber(line), col = 1, message = msg} end
  return {severity = severity, line = 1, col = 1, message = rest:gsub("^%s+", "")}
end

local function lines_of(s)
  local out = {}
  for l in tostring(s):gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

function M.monspec(text, name)
  local monspec = require("unbreakable.monspec")
  local out = {}
  local spec, a, problems = monspec.load(text, name)
  local function add(severity, path, msg)
    local line, col = locate_json_path(text, path)
    out[#out + 1] = {severity = severity, line = line, col = col, message = path .. ": " .. msg}
  end
  if not spec then
    for _, p in ipairs(problems or {}) do
      local line, col = p.message:match("line (%d+), column (%d+)")
      local offset = p.message:match("offset (%d+)")
      if line then
        out[#out + 1] = {severity = "error", line = tonumber(line), col = tonumber(col), message = p.message}
      elseif offset then
        local line, col = line_col(text, tonumber(offset) + 1)
        out[#out + 1] = {severity = "error", line = line, col = col, message = p.message}
      else
        add("error", p.path, p.message .. (p.hint and " (" .. p.hint .. ")" or ""))
      end
    end
    if #out == 0 then out[1] = {severity = "error", line = 1, col = 1, message = tostring(a)} end
    return out
  end
  for _, w in ipairs(a or {}) do
    local path, msg = tostring(w):match("^.-: (%$[^:]*): (.*)$")
    if path then add("warning", path, msg)
    else out[#out + 1] = {severity = "warning", line = 1, col = 1, message = tostring(w)} end
  end
  return out
end

-- Appends each "name:L:C: message" of list as a diagnostic.
local function add_located(out, severity, list, name)
  for _, l in ipairs(list or {}) do out[#out + 1] = from_located(severity, l, name) end
end

function M.slo(text, name)
  local out = {}
  local model, errors, warnings = require("unbreakable.slo.load").load(text, name)
  if not model then
    add_located(out, "error", lines_of(errors), name)
  else
    warnings = errors
  end
  add_located(out, "warning", warnings, name)
  return out
end

function M.sli(text, name)
  local out = {}
  local indicators, err = require("unbreakable.slo.sli_query").load(text, name)
  if not indicators then
    add_located(out, "error", lines_of(err), name)
  elseif next(indicators) == nil then
    out[1] = {severity = "warning", line = 1, col = 1, message = "no indicators"}
  end
  return out
end

-- A policy or spec: Lua 5.4 syntax, text only, as the sandbox loads it.
function M.policy(text, name)
  local chunk, err = load(text, "@" .. name, "t")
  if chunk then return {} end
  return {from_located("error", err, name)}
end

-- selfheal.json of a specs folder (docs/selfheal.md): the settings serve
-- and `selfheal --specs` read. Serve ignores a key it does not know, so a
-- misspelt one ("dry-run") is a warning here: it would silently not apply.
local SELFHEAL_KEYS = { selfheal_policy = true, window_minutes = true, dry_run = true }

function M.selfheal(text, name)
  local json = require("unbreakable.json")
  local ok, doc = pcall(json.decode, text)
  if not ok then
    local msg = tostring(doc):gsub("^[^:]*:%d+: ", ""):gsub("^invalid JSON: ", "")
    local line, col = msg:match("line (%d+), column (%d+)")
    return {{severity = "error", line = tonumber(line) or 1, col = tonumber(col) or 1,
             message = "invalid JSON: " .. msg}}
  end
  if type(doc) ~= "table" or doc[1] ~= nil then
    return {{severity = "error", line = 1, col = 1, message = "not a JSON object (selfheal_policy, window_minutes, dry_run)"}}
  end
  local out = {}
  local function add(severity, key, msg)
    local line, col = locate_json_path(text, "$." .. key)
    out[#out + 1] = {severity = severity, line = line, col = col, message = "$." .. key .. ": " .. msg}
  end
  local keys = {}
  for key in pairs(doc) do keys[#keys + 1] = key end
  table.sort(keys)
  for _, key in ipairs(keys) do
    if not SELFHEAL_KEYS[key] and key:sub(1, 1) ~= "_" then
      add("warning", key, "unknown setting, ignored (known: selfheal_policy, window_minutes, dry_run)")
    end
  end
  local policy = doc.selfheal_policy
  if policy ~= nil and (type(policy) ~= "string" or policy == "" or policy:sub(1, 1) == "/"
                        or ("/" .. policy .. "/"):find("/../", 1, true)) then
    add("error", "selfheal_policy", "must be a file name inside the specs folder (relative, no '..')")
  end
  local window = doc.window_minutes
  if window ~= nil and (type(window) ~= "number" or window <= 0 or window > 10080) then
    add("error", "window_minutes", "must be a number of minutes from 1 to 10080")
  end
  if doc.dry_run ~= nil and type(doc.dry_run) ~= "boolean" then
    add("error", "dry_run", "must be true or false")
  end
  return out
end

function M.run(kind, text, name)
  local check = M[kind]
  if not check or kind == "run" then error("unknown kind " .. tostring(kind)) end
  return check(text, name)
end

return M
