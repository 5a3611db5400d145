-- expect: error: stack overflow
-- args: --memory 128
-- Unbounded recursion ends in Lua's own stack overflow error. Its million
-- call frames need more than the default 64 MiB now that the memory limit
-- counts the sandbox's 16 bytes of bookkeeping per allocation.
local function f(n) return 1 + f(n + 1) end
return f(1)
