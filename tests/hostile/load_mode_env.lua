-- expect: error: load-mode-env-ok
-- load(text, name, "t") without an env must give the chunk the sandbox's
-- globals: the chunk was once its own _ENV (pushed at argument slot 4).
local f = assert(load("return type(_ENV)", "=chunk", "t"))
error("load-mode-env-" .. (f() == "table" and "ok" or "broken"))
