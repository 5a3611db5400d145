-- expect: timeout
-- The same class with integer keys outside the array part: an integer hashes
-- to itself modulo the node array's size - 1, so multiples of 2^18 - 1
-- (offset to stay out of the array part) spread over 2^17 slots and share
-- one chain at 2^18.
local m2 = (1 << 18) - 1
local t = {}
for j = 1, 1 << 17 do t[-j * m2] = true end
for i = 1, 8 do t[0.5 + i] = true end -- one of these doubles the table
return "survived"
