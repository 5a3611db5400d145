-- expect: error: cannot change a protected metatable
-- json.ordered and json.array set metatables from C: they must respect a
-- protected metatable like setmetatable does.
local json = require "unbreakable.json"
local t = json.array({})
assert(json.array(t) == t) -- marking twice is fine
json.ordered(t, { "a" })
