-- expect: timeout
-- One SETTABLE that ran 37 s (review 11.1.2): Lua 5.4.4 hashes a float by
-- its exponent plus the top 31 bits of its mantissa, modulo the node
-- array's size - 1. These keys spread over 2^17 slots but all fall in one
-- chain at 2^18, so the rehash that doubles the table walks that chain for
-- every key it reinserts, inside one instruction. The hard stop abandons
-- the state shortly after the deadline.
local m2 = (1 << 18) - 1
local t = {}
for d = 0, 31 do
  for j = 0, (1 << 12) - 1 do t[1 + (j * m2) / 2^30 + d / 2^52] = true end
end
for i = 1, 8 do t[-i - 0.5] = true end -- one of these doubles the table
return "survived"
