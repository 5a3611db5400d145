-- A replay must give the same verdict byte for byte. Lua's hash order
-- (pairs) changes from one process to the next, so nothing that reaches a
-- verdict (warnings, errors, a query text) may follow it. Each case uses
-- enough keys that following the hash order fails in practice.

local monspec = require "unbreakable.monspec"
local slo_load = require "unbreakable.slo.load"
local sli_query = require "unbreakable.slo.sli_query"

local LETTERS = { "q", "w", "e", "r", "t", "y", "u", "i", "o", "p", "a", "s", "d", "f", "g", "h" }

describe("the order of what reaches a verdict", function()
  it("monspec: warnings about per-metric scale factors follow the file", function()
    local keys, parts, expected = {}, {}, {}
    for i, l in ipairs(LETTERS) do
      keys[i] = "custom:" .. l .. "metric"
      parts[i] = string.format('"%s": 10', keys[i])
    end
    local text = string.format([[{ "S": { "etype": "SERVICE",
      "environments": { "A": { "entities": [ "SERVICE-A" ] }, "B": { "entities": [ "SERVICE-B" ] } },
      "comparisons": [ { "name": "AB", "source": "A", "compare": "B", "scalefactorperc": { %s },
                         "shiftsourcetimeframe": 0, "shiftcomparetimeframe": 0 } ],
      "perfsignature": [ { "timeseries": "com.dynatrace.builtin:service.responsetime", "aggregate": "avg" } ] } }]],
      table.concat(parts, ", "))
    local spec, warnings = monspec.load(text, "m.json")
    assert.is_table(spec)
    for i, k in ipairs(keys) do
      expected[i] = string.format('m.json: $.S.comparisons[0].scalefactorperc["%s"]: names no perfsignature measure', k)
    end
    local got = {}
    for _, w in ipairs(warnings) do
      if w:find("names no perfsignature measure", 1, true) then got[#got + 1] = w:gsub(";.*$", "") end
    end
    assert.same(expected, got)
  end)

  it("slo.yaml: errors in filter come sorted by name", function()
    local lines, expected = { "filter:" }, {}
    for i, l in ipairs(LETTERS) do lines[#lines + 1] = "  " .. l .. ": [1]" end
    local sorted = {}
    for i, l in ipairs(LETTERS) do sorted[i] = l end
    table.sort(sorted)
    for i, l in ipairs(sorted) do expected[i] = "filter." .. l .. ": must be a text value" end
    lines[#lines + 1] = "objectives:\n  - sli: a\n    pass:\n      - criteria: [\"<1\"]\ntotal_score:\n  pass: \"90%\""
    local model, errors = slo_load.load(table.concat(lines, "\n") .. "\n", "slo.yaml")
    assert.is_nil(model)
    local got = {}
    for line in errors:gmatch("[^\n]+") do got[#got + 1] = line:match("(filter%..*)$") end
    assert.same(expected, got)
  end)

  it("sli.yaml: of several queries that are not strings, the first by name is reported", function()
    for round = 1, 8 do
      local doc = { indicators = {} }
      for _, l in ipairs(LETTERS) do doc.indicators[l .. round] = { 1 } end
      local _, err = sli_query.indicators_of(doc, "sli.yaml")
      assert.equal("sli.yaml: indicators.a" .. round .. ": the query must be a string", err)
    end
  end)

  it("sli.yaml: a filter entry written in capitals wins over the capitalised alias of another", function()
    -- filter {x = "lower", X = "upper"}: $x is "lower" and $X is "upper", whatever the hash order
    for _, l in ipairs(LETTERS) do
      local filter = { [l] = "lower", [l:upper()] = "upper" }
      local text = assert(sli_query.substitute("i", "$" .. l .. " $" .. l:upper(), {}, filter))
      assert.equal("lower upper", text, l)
    end
  end)
end)
