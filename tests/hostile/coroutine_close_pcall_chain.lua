-- expect: error: stack overflow
-- The same nesting with protected calls and resumes between the levels:
-- each __close handler starts the next coroutine (resume through pcall)
-- and closes it (close through pcall). Every way of nesting C calls
-- across threads is bounded before the C stack is.
local function level()
  local co = coroutine.create(function()
    local x <close> = setmetatable({}, { __close = function()
      local next_co = level()
      local ok, closed, err = pcall(coroutine.close, next_co)
      if not ok then error(closed, 0) end
      if not closed then error(err, 0) end
    end })
    coroutine.yield()
  end)
  local ok, err = pcall(coroutine.resume, co)
  if not ok then error(err, 0) end
  return co
end
local closed, err = coroutine.close(level())
error(err or "survived", 0)
