-- expect: error: a function cannot be encoded
return { f = print }
