-- expect: error: attempt to index a string value
-- The string metatable is protected: getmetatable returns a marker.
local mt = getmetatable("")
assert(mt == "protected", "string metatable must be protected")
mt.__index = { upper = function() return "pwned" end }
