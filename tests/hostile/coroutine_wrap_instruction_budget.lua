-- expect: instructions
-- args: --instructions 1e7
-- The same through coroutine.wrap, and through one coroutine resumed many
-- times (each resume restarted its hook counter).
local gen = coroutine.wrap(function()
  while true do
    local x = 0
    for j = 1, 200 do x = x + j end
    coroutine.yield(x)
  end
end)
for i = 1, 200000 do gen() end
for i = 1, 200000 do coroutine.wrap(function() for j = 1, 200 do end end)() end
return "survived"
