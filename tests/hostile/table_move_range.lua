-- expect: timeout
-- table.move over a huge range loops in C.
while true do table.move({}, 1, 1e12, 2) end
