-- expect: error: NaN cannot be encoded
-- NaN is not JSON.
return function() return { value = 0/0 } end
