-- expect: timeout
-- args: --memory 200
-- Each comparison of two equal 30 MiB strings is one VM instruction but
-- milliseconds of C work: a count hook every 1000 instructions let this run
-- seconds past the deadline (the host backstop ended it).
local a = string.rep("x", 30 << 20)
local b = string.rep("x", 30 << 20)
local n = 0
while true do
  if a < b then n = n + 1 end
end
