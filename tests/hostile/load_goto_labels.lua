-- expect: timeout
-- The same class again: each label is checked against every pending goto
-- and label of its function (quadratic in the parser).
local parts = {}
for i = 1, 46000 do parts[i] = "goto l" .. i .. " ::l" .. i .. "::" end
return load(table.concat(parts, " "))
