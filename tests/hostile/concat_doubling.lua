-- expect: memory
-- String doubling by concatenation.
local s = "x"
while true do s = s .. s end
