-- expect: timeout
-- Same through gsub and gmatch.
local s = ("a"):rep(3000)
while true do
  s:gsub("a-a-a-a-a-b", "x")
  for _ in s:gmatch("a-a-a-a-a-c") do end
end
