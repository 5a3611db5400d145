-- expect: error: global 'os'
-- A chunk given to load gets the sandbox environment, not the host's.
local f = assert(load("return os.getenv('HOME')"))
return f()
