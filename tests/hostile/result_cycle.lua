-- expect: error: cycle
-- A result that contains itself, with metamethods that would loop if run.
local t = {}
t.self = t
return setmetatable(t, { __index = function() while true do end end,
                         __pairs = function() while true do end end })
