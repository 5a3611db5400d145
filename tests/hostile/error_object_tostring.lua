-- expect: error: error object of type table
-- An error object whose __tostring loops: the host never calls it.
error(setmetatable({}, { __tostring = function() while true do end end }))
