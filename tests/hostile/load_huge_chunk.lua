-- expect: error: larger than the sandbox's limit
-- Compiling runs in C without hooks: a huge chunk would run past the
-- deadline, so load refuses chunks over 1 MiB.
local parts = {}
for i = 1, 200000 do parts[i] = "local x" .. i .. " = " .. i end
return load(table.concat(parts, "\n"))
