-- unbreakable.testing: the busted-style spec runner of `unbreakable test`
-- (docs/policies.md, "Testing policies"). It runs inside the sandbox: one
-- evaluation per spec file. run(source, chunkname, options) installs the
-- globals a spec uses (describe, it, pending, before_each, after_each,
-- setup, teardown, assert, fixture, gate, dynatrace), loads the spec,
-- runs its tests and returns one result per test:
--   { name = "block test", status = "pass"|"fail"|"error"|"pending",
--     message = "...", where = "file:line" }
local host = require("unbreakable.spechost")
local dynatrace = require("unbreakable.dynatrace")
local json = require("unbreakable.json")

local M = {}

-- ---- values in messages ----

local function repr(v, depth)
  depth = depth or 0
  local t = type(v)
  if t == "string" then return string.format("%q", #v > 200 and v:sub(1, 200) .. "..." or v) end
  if t ~= "table" then return tostring(v) end
  if depth >= 3 then return "{...}" end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if type(a) == type(b) and (type(a) == "number" or type(a) == "string") then return a < b end
    return type(a) < type(b)
  end)
  local parts = {}
  for i, k in ipairs(keys) do
    if i > 20 then parts[#parts + 1] = "..." break end
    local key = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or "[" .. repr(k, 3) .. "]"
    parts[#parts + 1] = key .. " = " .. repr(v[k], depth + 1)
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

-- ---- checks: each returns ok, message (message read when it fails) ----

local function deep_same(a, b, seen)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  seen = seen or {}
  if seen[a] == b then return true end
  seen[a] = b
  for k, v in pairs(a) do
    if not deep_same(v, b[k], seen) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

local function strip_where(msg)
  if type(msg) ~= "string" then return msg end
  return (msg:gsub("^[^\n]-:%d+: ", "", 1))
end

local function error_of(fn, ...)
  if type(fn) ~= "function" then return false, "expected a function, got " .. type(fn) end
  local ok, err = pcall(fn, ...)
  return not ok, err
end

local checks = {}
checks.same = function(expected, actual)
  return deep_same(expected, actual), "expected objects to be the same\nexpected: " ..
    repr(expected) .. "\npassed in: " .. repr(actual)
end
checks.equals = function(expected, actual)
  return expected == actual, "expected objects to be equal\nexpected: " .. repr(expected) ..
    "\npassed in: " .. repr(actual)
end
checks.equal = checks.equals
checks.truthy = function(v) return not not v, "expected a truthy value, got " .. repr(v) end
checks.falsy = function(v) return not v, "expected a falsy value, got " .. repr(v) end
checks["true"] = function(v) return v == true, "expected true, got " .. repr(v) end
checks["false"] = function(v) return v == false, "expected false, got " .. repr(v) end
checks["nil"] = function(v) return v == nil, "expected nil, got " .. repr(v) end
checks.near = function(expected, actual, tolerance)
  local ok = type(expected) == "number" and type(actual) == "number" and
    type(tolerance) == "number" and math.abs(expected - actual) <= tolerance
  return ok, "expected " .. repr(actual) .. " to be within " .. repr(tolerance) ..
    " of " .. repr(expected)
end
checks.matches = function(pattern, actual)
  return type(actual) == "string" and actual:find(pattern) ~= nil,
    "expected " .. repr(actual) .. " to match " .. repr(pattern)
end
checks.match = checks.matches
checks.error = function(fn, expected)
  local raised, err = error_of(fn)
  if not raised then return false, "expected an error" .. (expected and " " .. repr(expected) or "") end
  if expected == nil then return true end
  local got = strip_where(err)
  if type(expected) == "table" then return deep_same(expected, got), "expected error " .. repr(expected) .. ", got " .. repr(got) end
  return got == expected, "expected error " .. repr(expected) .. ", got " .. repr(got)
end
checks.errors = checks.error
checks.error_matches = function(fn, pattern)
  local raised, err = error_of(fn)
  if not raised then return false, "expected an error matching " .. repr(pattern) end
  local got = tostring(strip_where(err))
  return got:find(pattern) ~= nil, "expected error to match " .. repr(pattern) .. ", got " .. repr(got)
end
for _, name in ipairs({"number", "string", "table", "function", "boolean"}) do
  checks[name] = function(v) return type(v) == name, "expected a " .. name .. ", got " .. repr(v) end
end

-- The argument after a check's own values is the failure's message.
local arity = {same = 2, equals = 2, equal = 2, matches = 2, match = 2, near = 3,
               error = 2, errors = 2, error_matches = 2}

local modifiers = {is = true, are = true, has = true, was = true, ["not"] = "not", no = "not"}

-- assert.X, assert.is_X, assert.are.X, assert.is_not.X, assert.has_no.X ...
local function asserter(negated)
  return setmetatable({}, {
    __index = function(_, key)
      if type(key) ~= "string" then return nil end
      local neg, rest = negated, key
      while true do
        local word, tail = rest:match("^(%a+)_(.+)$")
        if word and modifiers[word] and checks[rest] == nil then
          if modifiers[word] == "not" then neg = not neg end
          rest = tail
        else
          break
        end
      end
      if modifiers[rest] then
        return asserter(modifiers[rest] == "not" and not neg or neg)
      end
      local check = checks[rest]
      if not check then error("assert." .. key .. ": no such assertion", 2) end
      return function(...)
        local n = select("#", ...)
        local ok, msg = check(...)
        if (not not ok) == neg then
          local values = arity[rest] or 1
          local extra = n > values and select(values + 1, ...)
          if neg then msg = "expected the opposite of: " .. msg end
          if type(extra) == "string" then msg = extra .. "\n" .. msg end
          error(msg, 2)
        end
      end
    end,
    __call = function(_, v, message, ...)
      if not v then error(message or "assertion failed!", 2) end
      return v, message, ...
    end,
  })
end

-- ---- the tree of blocks and tests ----

local function new_block(name, parent)
  return {name = name, parent = parent, items = {}, before = {}, after = {},
          setup = {}, teardown = {}}
end

local function full_name(block, name)
  local parts = {name}
  while block and block.parent do
    table.insert(parts, 1, block.name)
    block = block.parent
  end
  return table.concat(parts, " ")
end

local function where_of(msg)
  if type(msg) ~= "string" then return nil, msg end
  local file, line, rest = msg:match("^([^\n]-):(%d+): (.*)$")
  if file then return file .. ":" .. line, rest end
  return nil, msg
end

local function message_of(err)
  if type(err) == "string" then return err end
  if type(err) == "table" and type(rawget(err, "message")) == "string" then return err.message end
  return "error object of type " .. type(err)
end

local function run_hooks(block, field)
  local chain = {}
  while block do
    table.insert(chain, 1, block)
    block = block.parent
  end
  if field == "after" then
    local reversed = {}
    for i = #chain, 1, -1 do reversed[#reversed + 1] = chain[i] end
    chain = reversed
  end
  for _, b in ipairs(chain) do
    for _, fn in ipairs(b[field]) do
      local ok, err = pcall(fn)
      if not ok then return false, message_of(err) end
    end
  end
  return true
end

local function run_test(test, results)
  local name = full_name(test.block, test.name)
  if test.pending then
    results[#results + 1] = {name = name, status = "pending", message = test.pending}
    return
  end
  local ok, err = run_hooks(test.block, "before")
  local status = "pass"
  if ok then
    ok, err = pcall(test.fn)
    if not ok then err = message_of(err) end
  end
  local after_ok, after_err = run_hooks(test.block, "after")
  if not ok then
    status = "fail"
  elseif not after_ok then
    ok, err, status = false, after_err, "error"
  end
  local result = {name = name, status = status}
  if not ok then
    local where, msg = where_of(err)
    result.where, result.message = where, msg
  end
  results[#results + 1] = result
end

local function selected(test, pattern)
  if not pattern or pattern == "" then return true end
  return full_name(test.block, test.name):find(pattern, 1, true) ~= nil
end

local function run_block(block, results, pattern)
  local function any_selected(b)
    for _, item in ipairs(b.items) do
      if item.block_of then
        if any_selected(item.block_of) then return true end
      elseif selected(item, pattern) then
        return true
      end
    end
    return false
  end
  if not any_selected(block) then return end
  -- a setup or teardown that raises is an error of the block, never dropped
  local function run_once(field)
    for _, fn in ipairs(block[field]) do
      local ok, err = pcall(fn)
      if not ok then
        local where, msg = where_of(message_of(err))
        results[#results + 1] = {name = full_name(block, field), status = "error",
                                 where = where, message = msg}
        return false
      end
    end
    return true
  end
  if not run_once("setup") then return end
  for _, item in ipairs(block.items) do
    if item.block_of then run_block(item.block_of, results, pattern)
    elseif selected(item, pattern) then run_test(item, results) end
  end
  run_once("teardown")
end

-- ---- the spec's globals ----

local function install(env, root)
  local current = root
  local function add_hook(field)
    return function(fn) table.insert(current[field], fn) end
  end
  env.describe = function(name, fn)
    local block = new_block(tostring(name), current)
    table.insert(current.items, {block_of = block})
    local saved = current
    current = block
    local ok, err = pcall(fn)
    current = saved
    if not ok then error(err, 0) end
  end
  env.context = env.describe
  env.it = function(name, fn)
    table.insert(current.items, {name = tostring(name), fn = fn, block = current,
                                 pending = fn == nil and "no function given" or nil})
  end
  env.test = env.it
  env.pending = function(name)
    table.insert(current.items, {name = tostring(name), block = current, pending = "pending"})
  end
  env.before_each = add_hook("before")
  env.after_each = add_hook("after")
  env.setup = add_hook("setup")
  env.lazy_setup = env.setup
  env.teardown = add_hook("teardown")
  env.lazy_teardown = env.teardown
  env.assert = asserter(false)
  -- the host's refusals are reported at the spec's line (level 3: the
  -- spec's function, through the helper; never a tail call)
  local function host_call(fn, ...)
    local result = table.pack(pcall(fn, ...))
    if not result[1] then error(strip_where(message_of(result[2])), 3) end
    return table.unpack(result, 2, result.n)
  end
  local function read_json(name)
    local text, chunkname = host.read(name)
    local ok, value = pcall(json.decode, text)
    if not ok then error(chunkname:sub(2) .. ": " .. strip_where(message_of(value)), 0) end
    return value
  end
  env.fixture = {
    json = function(name)
      local value = host_call(read_json, name)
      return value
    end,
    -- evaluation(name): the context and verdict of a fixture written by
    -- gate --dump-ctx or replay --export; the stand-in answers from its
    -- recording (or from nothing when it has none)
    evaluation = function(name)
      local doc = host_call(read_json, name)
      if type(doc) ~= "table" or type(doc.context) ~= "table" then
        error(name .. ": not an evaluation fixture (no \"context\" object; write one with " ..
              "'unbreakable gate --dump-ctx FILE' or 'unbreakable replay ID --export FILE')", 2)
      end
      local recording = type(doc.recording) == "table" and host_call(json.encode, doc.recording) or nil
      host_call(host.set_recording, recording)
      return doc.context, doc.verdict
    end,
  }
  env.dynatrace = dynatrace
  -- gate(ctx, policy): runs the policy (a file next to the spec, or a
  -- function) as the host does: a copy of the context, the Dynatrace
  -- stand-in rewound to the start of its recording, the verdict checked
  -- and passed through the host's JSON encoding.
  local verdicts = {pass = true, warning = true, fail = true, inconclusive = true, error = true}
  -- what the host does with a returned verdict (gate/gate_run.c): a table
  -- with a known verdict, passed through its JSON encoding
  local function check_verdict(v)
    if type(v) ~= "table" then
      error("the policy returned a " .. type(v) .. ", not a verdict table", 0)
    end
    local name = rawget(v, "verdict")
    if not verdicts[name] then
      error("the policy returned verdict " .. tostring(name or "(none)") ..
            "; expected pass, warning, fail, inconclusive or error", 0)
    end
    local ok, text = pcall(json.encode, v)
    if not ok then error("verdict: " .. strip_where(message_of(text)), 0) end
    return json.decode(text)
  end
  local function copy(ctx)
    return json.decode(json.encode(ctx))
  end
  -- gate(ctx, policy): runs the policy (a file next to the spec, or a
  -- function) as the host does: a copy of the context as it comes out of
  -- JSON, the Dynatrace stand-in rewound to the start of its recording,
  -- the verdict checked and passed through the host's JSON encoding.
  env.gate = function(ctx, policy)
    local fn = policy
    if type(policy) == "string" then
      local source, chunkname = host_call(host.read, policy)
      local chunk, err = load(source, chunkname, "t")
      if not chunk then error(err, 0) end
      fn = chunk()
    end
    if type(fn) ~= "function" then
      error("gate: the policy must be a file name next to the spec or a function", 2)
    end
    host.rewind()
    local verdict = fn(host_call(copy, ctx))
    local checked = host_call(check_verdict, verdict)
    return checked -- not a tail call: the error level must reach the spec
  end
end

function M.run(source, chunkname, options)
  options = options or {}
  local root = new_block("", nil)
  install(_ENV, root)
  local chunk, err = load(source, chunkname, "t")
  if not chunk then
    local where, msg = where_of(err)
    return {{name = "(load)", status = "error", where = where, message = msg}}
  end
  local ok, lerr = pcall(chunk)
  if not ok then
    local where, msg = where_of(message_of(lerr))
    return {{name = "(spec file)", status = "error", where = where, message = msg}}
  end
  local results = {}
  run_block(root, results, options.run)
  return results
end

return M
