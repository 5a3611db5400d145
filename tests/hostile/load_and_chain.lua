-- expect: timeout
-- Compiling runs in C, where no hook runs: a chunk under load's 1 MiB
-- limit whose 'and' chain makes the parser walk a growing jump list for
-- every operator spent about a minute in lua_load (review 11.1.1). The
-- sandbox feeds the parser through a reader that checks the deadline.
return load("local x = a" .. string.rep(" and a", 170000))
