-- expect: memory
-- Grows a table until the allocator refuses.
local t = {}
local i = 0
while true do i = i + 1; t[i] = { i, i, i, i } end
