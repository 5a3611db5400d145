-- expect: timeout
-- A to-be-closed variable whose __close loops while an error unwinds.
do
  local x <close> = setmetatable({}, { __close = function() while true do end end })
  error("unwind")
end
