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

-- Where a JSON path ("$.svc.perfsignature[0].aggregate") points: each key
-- is searched as a quoted string after the previous one.
local function locate_json_path(text, path)
  local pos = 1
  for part in path:gmatch("[^%.%[%]]+") do
    if part ~= "$" and not part:match("^%d+$") then
      local at = text:find('"' .. part .. '"', pos, true)
      if at then pos = at end
    end
  end
  return line_col(text, pos)
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

function M.slo(text, name)
  local out = {}
  local model, errors, warnings = require("unbreakable.slo.load").load(text, name)
  if not model then
    for _, l in ipairs(lines_of(errors)) do out[#out + 1] = from_located("error", l, name) end
  else
    warnings = errors
  end
  for _, w in ipairs(warnings or {}) do out[#out + 1] = from_located("warning", w, name) end
  return out
end

function M.sli(text, name)
  local out = {}
  local indicators, err = require("unbreakable.slo.sli_query").load(text, name)
  if not indicators then
    for _, l in ipairs(lines_of(err)) do out[#out + 1] = from_located("error", l, name) end
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

function M.run(kind, text, name)
  local check = M[kind]
  if not check or kind == "run" then error("unknown kind " .. tostring(kind)) end
  return check(text, name)
end

return M
