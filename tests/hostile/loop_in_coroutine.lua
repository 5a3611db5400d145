-- expect: timeout
-- A coroutine resumed in a loop, its error caught by resume.
while true do
  local co = coroutine.create(function() while true do end end)
  local ok = coroutine.resume(co)
  coroutine.close(co)
end
