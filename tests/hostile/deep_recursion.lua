-- expect: error: stack overflow
-- Unbounded recursion ends in Lua's own stack overflow error.
local function f(n) return 1 + f(n + 1) end
return f(1)
