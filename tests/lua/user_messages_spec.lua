-- user_messages_spec.lua: no message a user reads carries an internal code.
-- The review's question and defect numbers ("(Q28)", "M12") belong to
-- notes that are not in the repository; in a message they explain
-- nothing. Every string literal of stdlib/ and policies/ is checked
-- (comments may still cite them).
local ROOT = os.getenv("UB_SOURCE") or "."

local function lua_files(dir)
  local files = {}
  local p = io.popen('find "' .. ROOT .. "/" .. dir .. '" -name "*.lua" | sort')
  for line in p:lines() do files[#files + 1] = line end
  p:close()
  return files
end

-- String literals of one line of code ('--' comments removed).
local function literals(line)
  local out, i = {}, 1
  while i <= #line do
    local c = line:sub(i, i)
    if c == "-" and line:sub(i, i + 1) == "--" then break end
    if c == '"' or c == "'" then
      local j = i + 1
      while j <= #line and line:sub(j, j) ~= c do
        if line:sub(j, j) == "\\" then j = j + 1 end
        j = j + 1
      end
      out[#out + 1] = line:sub(i + 1, j - 1)
      i = j + 1
    else
      i = i + 1
    end
  end
  return out
end

local function internal_code(text)
  return text:match("%f[%w][QM]%d+%f[%W]")
end

describe("user-facing messages", function()
  it("carry no internal question or defect codes", function()
    local found = {}
    for _, dir in ipairs({ "stdlib", "policies" }) do
      for _, path in ipairs(lua_files(dir)) do
        local n = 0
        for line in io.lines(path) do
          n = n + 1
          for _, lit in ipairs(literals(line)) do
            local code = internal_code(lit)
            if code then found[#found + 1] = string.format("%s:%d: %s in %q", path, n, code, lit) end
          end
        end
      end
    end
    assert.same({}, found)
  end)
end)
