-- expect: timeout
-- An ephemeron chain (review 11.1.2): in a weak-keyed table the value of
-- key k1 is k2, the value of k2 is k3, ..., and only k1 is reachable. The
-- collector's atomic phase marks such chains by traversing the table again
-- and again; the keys are picked by their addresses (tostring shows them)
-- so that the table's slots hold them in zig-zag order, each traversal
-- then reaches one or two more links, and one collection is quadratic
-- (seconds inside collectgarbage, where no hook runs). The hard stop
-- abandons the state; the host no longer collects after a run either.
local size = 1 << 15
local n = 30000
local by_slot, keep = {}, {}
local found = 0
while found < n do
  local key = {}
  keep[#keep + 1] = key
  local addr = tonumber(tostring(key):match("0x(%x+)"), 16) & 0xffffffff
  local slot = addr % (size - 1)
  if not by_slot[slot] then by_slot[slot] = key; found = found + 1 end
end
local sorted = {}
for slot = 0, size - 2 do if by_slot[slot] then sorted[#sorted + 1] = by_slot[slot] end end
local chain, lo, hi = {}, 1, #sorted
while lo <= hi do
  chain[#chain + 1] = sorted[lo]; lo = lo + 1
  if lo <= hi then chain[#chain + 1] = sorted[hi]; hi = hi - 1 end
end
local weak = setmetatable({}, { __mode = "k" })
for i = 1, #chain do weak[chain[i]] = chain[i + 1] or true end
local root = chain[1]
keep, by_slot, sorted, chain = nil, nil, nil, nil
collectgarbage()
return root ~= nil
