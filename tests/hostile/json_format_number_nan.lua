-- expect: error: NaN is not a JSON number
-- json.format_number(0/0) printed "n.an" (review 11.1.7): NaN and the
-- infinities are not JSON numbers, and say so.
local json = require "unbreakable.json"
return json.format_number(0/0)
