-- expect: error: indent
-- json.encode's indent is the policy's to choose: a huge one made the
-- encoder write depth * indent blanks per line (int overflow past 2^31, and
-- gigabytes of blanks in C outside the memory limit below it).
local json = require "unbreakable.json"
return json.encode({{1}}, {indent = 1000000000})
