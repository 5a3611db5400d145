-- expect: error: invalid module name
-- require cannot walk out of its roots.
return require("../../../../etc/passwd")
