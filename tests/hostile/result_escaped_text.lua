-- expect: memory
-- The JSON text of a result is built in C: 10 MiB of control bytes become
-- 60 MB of \u0001 escapes, which ran past the deadline and the memory cap
-- and exited 0 (review 11.1.3). The encoder charges its buffer, inside
-- long strings too, and stops at the limit.
return string.rep("\1", 10 << 20)
