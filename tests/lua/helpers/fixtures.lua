-- fixtures: reads the payloads of tests/fixtures (ctest sets UB_FIXTURES;
-- the specs run from the source folder, so the default works by hand too).
-- Provenance of every file: tests/fixtures/README.md.

local M = {}

M.dir = os.getenv("UB_FIXTURES") or "tests/fixtures"

-- The text of tests/fixtures/<rel>, e.g. read("keptn/x.yaml"); an error
-- naming the path when it cannot be read.
function M.read(rel)
  local path = M.dir .. "/" .. rel
  local f, err = io.open(path, "rb")
  if not f then error("fixture " .. path .. ": " .. tostring(err), 2) end
  local text = f:read("a")
  f:close()
  return text
end

return M
