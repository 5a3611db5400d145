-- expect: timeout
-- args: --memory 200
-- Full collections of a large heap in a loop: each call is a few VM
-- instructions but a long stretch of C work, so the instruction hook alone
-- checked the deadline only every few seconds (the host backstop ended it).
local t = {}
for i = 1, 1000000 do t[i] = {} end
while true do collectgarbage() end
