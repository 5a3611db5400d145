-- expect: instructions
-- args: --instructions 1e7
-- 200,000 short coroutines ran about 1.8e8 instructions under a budget of
-- 1e7 (review 11.1.4): each new thread's hook counter started afresh and
-- the instructions it ran before its first hook were never counted. Every
-- resume is now charged to the evaluation's one instruction count.
local n = 0
for i = 1, 200000 do
  local co = coroutine.create(function()
    local x = 0
    for j = 1, 200 do x = x + j end
    return x
  end)
  coroutine.resume(co)
  n = n + 1
end
return n
