-- expect: timeout
-- A timeout raised inside pcall must not be swallowed (docs/reference/sandbox.md fact 1).
while true do
  pcall(function() while true do end end)
end
