-- expect: timeout
-- Catastrophic backtracking inside string.find: a C function, where count
-- hooks never fire (fact 4); the bounded matcher checks the deadline.
local s = ("a"):rep(5000)
while true do
  string.find(s, "a-a-a-a-a-a-b")
end
