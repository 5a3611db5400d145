-- expect: timeout
-- The ephemeron chain of ephemeron_chain.lua, with the quadratic collection
-- left to the collector's own pace: json.decode, json.encode and
-- yaml.decode allocate, so the collection runs inside them while they
-- hold C buffers and parser state. The hard stop releases those (their
-- ub_budget_hold brackets) and abandons the state; before, it could not
-- leave them and the host waited for the collection to end.
local json = require "unbreakable.json"
local yaml = require "unbreakable.yaml"
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
local doc = "[" .. string.rep("1,", 50000) .. "1]"
local ydoc = string.rep("- 1\n", 20000)
while true do
  local list = json.decode(doc)
  json.encode(list)
  yaml.decode(ydoc)
end
