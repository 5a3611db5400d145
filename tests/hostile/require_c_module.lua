-- expect: error: module 'cjson' not found
-- require never loads C modules.
return require("cjson")
