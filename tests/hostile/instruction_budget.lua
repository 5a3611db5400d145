-- expect: instructions
-- args: --instructions 1000000
-- A long but finite loop stopped by the instruction budget.
local x = 0
for i = 1, 1e12 do x = x + i end
return x
