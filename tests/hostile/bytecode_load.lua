-- expect: error: binary chunk
-- Binary chunks can crash the VM (fact 8): load is text only, and
-- string.dump does not exist.
assert(string.dump == nil, "string.dump must be absent")
local f, err = load("\27LuaT\0\25\147\13\10\26\10\4\8\8xV", "evil", "bt")
assert(f, err)
