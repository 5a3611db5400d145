-- expect: timeout
-- The same class as load_and_chain.lua with another shape: every elseif
-- joins the jump list of the branches before it (quadratic in the parser).
return load("if a then" .. string.rep(" elseif a then", 74000) .. " end")
