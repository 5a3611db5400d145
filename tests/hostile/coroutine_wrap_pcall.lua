-- expect: timeout
-- coroutine.wrap propagates the error; pcall around it must not stop the kill.
while true do
  pcall(coroutine.wrap(function() while true do end end))
end
