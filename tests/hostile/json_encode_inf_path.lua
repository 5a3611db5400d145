-- expect: error: value.a.b[2]: infinity cannot be encoded
-- json.encode of an infinity deep inside a value names where it is.
local json = require "unbreakable.json"
return json.encode({ a = { b = { 1, -1/0 } } })
