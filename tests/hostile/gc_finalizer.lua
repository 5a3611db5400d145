-- expect: error: __gc metamethods are not allowed
-- Finalizers run with hooks disabled (fact 3): refused.
setmetatable({}, { __gc = function() while true do end end })
