-- expect: memory
-- A huge string.rep, retried under pcall: the memory kill is sticky.
while true do
  pcall(string.rep, "x", 1 << 30)
end
