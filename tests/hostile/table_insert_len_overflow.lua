-- expect: error: done
-- A __len of math.maxinteger made table.insert compute maxinteger + 1
-- (signed overflow, UBSan; review 11.1.7). Lengths, positions and counts
-- from a policy wrap like stock Lua's instead, or are refused.
local t = setmetatable({}, { __len = function() return math.maxinteger end })
table.insert(t, "x")
pcall(table.insert, t, 1, "y")
pcall(table.remove, t)
pcall(table.remove, setmetatable({}, { __len = function() return math.mininteger end }))
pcall(table.concat, t, ",", math.maxinteger - 1)
pcall(table.move, t, 1, math.maxinteger, 2)
pcall(table.move, t, -1, math.maxinteger - 1, 2)
pcall(table.move, t, math.mininteger, -1, 1)
pcall(table.unpack, t, math.mininteger, math.maxinteger)
pcall(string.rep, "x", math.maxinteger)
pcall(string.rep, "x", 3, string.rep(",", 1))
pcall(string.sub, "abc", math.mininteger, math.maxinteger)
pcall(string.find, "abc", "b", math.mininteger)
pcall(string.find, "abc", "b", math.maxinteger)
pcall(string.gsub, "abc", "b", "x", math.maxinteger)
pcall(string.gsub, "abc", "b", "x", math.mininteger)
pcall(string.gmatch("abc", ".", math.mininteger))
pcall(string.byte, "abc", math.mininteger, math.maxinteger)
pcall(utf8.codepoint, "abc", math.mininteger, math.maxinteger)
pcall(table.sort, setmetatable({}, { __len = function() return math.maxinteger end }))
local stats = require "unbreakable.stats"
pcall(stats.series, { n = math.maxinteger })
pcall(stats.series, { n = math.mininteger })
pcall(stats.series, { [math.maxinteger] = 1 })
local ok, s = pcall(stats.series, { 1, 2, 3 }, { timestamps = { 1, 2, math.maxinteger } })
if ok then
  pcall(s.timestamp, s, math.mininteger)
  pcall(s.timestamp, s, math.maxinteger)
  pcall(s.slice, s, math.mininteger, math.maxinteger)
  pcall(stats.percentile, s, 0/0)
  for _ in s:points() do end
end
error("done")
