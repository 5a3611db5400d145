-- expect: ok-without-secret
-- args: --timeout 20
-- json.ordered on 150,000 keys: the encoder checked each key against all
-- the ordered keys before it (O(n^2), 53 s, review 11.1.2; 100,000 here). Now a Lua set
-- (linear), so this finishes well inside its deadline.
local json = require "unbreakable.json"
local t, order = {}, {}
for i = 1, 100000 do local k = "k" .. i; t[k] = i; order[i] = k end
for i = 1, 100000 do order[100000 + i] = "k" .. i end -- duplicates are skipped
return { length = #json.encode(json.ordered(t, order)) }
