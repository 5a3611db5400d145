-- expect: timeout
-- The same class again: each label is checked against every pending goto
-- and label of its function (quadratic in the parser). One parse of this
-- chunk (just under load's 1 MiB limit) takes about 1.5 s, which the ASan
-- build's scaled deadline outlasted once: the chunk is parsed until the
-- deadline stops the parser, so nearly all the time is spent inside it.
local parts = {}
for i = 1, 46000 do parts[i] = "goto l" .. i .. " ::l" .. i .. "::" end
local chunk = table.concat(parts, " ")
for _ = 1, 100 do load(chunk) end
