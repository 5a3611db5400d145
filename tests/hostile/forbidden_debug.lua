-- expect: error: global 'debug'
-- No debug library: hooks cannot be removed, upvalues cannot be read.
debug.sethook()
while true do end
