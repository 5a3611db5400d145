-- expect: timeout
-- args: --memory 200
-- The same inside coroutines (wrap, then resume): each thread has its own
-- hook, so the deadline must reach whichever thread is running.
local s = string.rep("x", 40 << 20)
local spin = coroutine.wrap(function()
  for _ = 1, 40 do local n = utf8.len(s) end
end)
spin()
local co = coroutine.create(function()
  while true do local n = utf8.len(s) end
end)
coroutine.resume(co)
