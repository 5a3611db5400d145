-- expect: memory
-- args: --memory 8
-- One 1 MiB string shared by 512 leaves of a table DAG: about 1 MiB in the
-- Lua heap, 512 MiB once encoded as the JSON result. The text is built in C
-- outside the Lua allocator, so it must count against the memory limit (and
-- the deadline) itself; it grew the host's heap past the cap and passed.
local s = string.rep("x", 1 << 20)
local t = {s}
for _ = 1, 9 do t = {t, t} end
return t
