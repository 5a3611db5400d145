-- expect: timeout
-- string.rep("", huge) loops n times in stock Lua's C code.
while true do string.rep("", 1e15) end
