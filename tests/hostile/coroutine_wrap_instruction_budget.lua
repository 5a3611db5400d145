-- expect: instructions
-- args: --instructions 1e7
-- The same through coroutine.wrap: 200,000 wrapped functions of about 300
-- instructions each, none reaching its thread's first hook, ran 6e7
-- uncounted instructions under a budget of 1e7.
for i = 1, 200000 do
  coroutine.wrap(function() for j = 1, 100 do end end)()
end
return "survived"
