-- expect: timeout
-- A looping __index on the globals table.
setmetatable(_G, { __index = function() while true do end end })
return undefined_global
