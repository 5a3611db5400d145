-- expect: memory
-- The same through json.encode inside the policy, with ASCII-only escapes
-- (encode_py): each 4-byte character becomes 12 bytes of text.
local json = require "unbreakable.json"
local s = string.rep("\u{1F600}", 3 << 20)
return json.encode_py({ s, s })
