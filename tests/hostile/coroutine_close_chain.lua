-- expect: error: stack overflow
-- coroutine.close runs the closed coroutine's __close handlers counting
-- only that coroutine's own C levels (Lua 5.4.4): 20,000 coroutines
-- suspended from the main thread, each closing the next from its __close
-- handler, nested C calls until the C stack overflowed (SIGSEGV, review
-- 11.1.4). The sandbox's wrappers stop the nesting well before.
local cos = {}
for i = 1, 20000 do
  cos[i] = coroutine.create(function()
    local x <close> = setmetatable({}, { __close = function()
      if cos[i + 1] then
        local closed, err = coroutine.close(cos[i + 1])
        if not closed then error(err, 0) end
      end
    end })
    coroutine.yield()
  end)
  coroutine.resume(cos[i])
end
local closed, err = coroutine.close(cos[1])
error(err or "survived", 0)
