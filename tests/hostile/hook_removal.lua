-- expect: timeout
-- Tries every way it can think of to stop the collector or the hook, then loops.
pcall(collectgarbage, "stop")
pcall(function() debug.sethook() end)
pcall(function() coroutine.running().sethook() end)
while true do end
