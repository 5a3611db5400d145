-- expect: timeout
-- A plain infinite loop.
while true do end
