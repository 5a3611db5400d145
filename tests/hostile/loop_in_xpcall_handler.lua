-- expect: timeout
-- The message handler runs with hooks disabled after a kill (fact 2): a
-- looping handler must not run at all once the evaluation is stopped.
while true do
  xpcall(function() while true do end end, function() while true do end end)
end
