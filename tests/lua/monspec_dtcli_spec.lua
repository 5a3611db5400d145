-- compat dtcli: the original tool's document, byte for byte, for every G
-- fixture (docs/reference/monspec.md §4.10), its request set, and the compat
-- verdict rule of §5 (error > fail > inconclusive > pass).

local S = require "monspec_support"
local pyjson = require "unbreakable.monspec.pyjson"

local SAMPLE = "unbreakable-pipeline_monspec.json"
local EDGE = "edge-cases_monspec.json"

local function run(file, target, mode, extra, scenario)
  local fields = { target = target, mode = mode, compat = "dtcli" }
  for k, v in pairs(extra or {}) do fields[k] = v end
  return S.run(S.fixture(file), file, fields, scenario)
end

-- The request lines the original sent in one recorded run, with NOW
-- replaced by the specs' clock; the descriptor-list requests are left out
-- (M14: not reproduced).
local function recorded_requests(header)
  local text = S.fixture("dtcli-requests_recorded.txt")
  local section = text:match("## " .. header:gsub("%p", "%%%0") .. "[^\n]*\n(.-)\n##") or
                  text:match("## " .. header:gsub("%p", "%%%0") .. "[^\n]*\n(.*)$")
  assert.is_string(section, header)
  local set = {}
  for line in section:gmatch("[^\n]+") do
    local req = line:match("^%s*%d+%. (GET .+)$")
    if req and req ~= "GET /api/v1/timeseries" then
      req = req:gsub("NOW%-(%d+)min", function(m) return tostring(S.NOW - tonumber(m) * 60000) end)
               :gsub("NOW", tostring(S.NOW))
      set[req] = true
    end
  end
  return set
end

local function set_of(list)
  local set = {}
  for _, r in ipairs(list) do set[r] = true end
  return set
end

describe("the series kernels", function()
  it("are the native unbreakable.stats of the build (never a stand-in)", function()
    assert.is_truthy(package.searchpath("unbreakable", package.cpath))
    assert.equal("native", S.stats_kind)
  end)
end)

describe("compat dtcli reproduces the original document byte for byte", function()
  local cases = {
    { SAMPLE, "SampleJSonService/StagingToProduction", "pullcompare", "dtcli-output_pullcompare_sample_StagingToProduction_5.json", 2 },
    { SAMPLE, "SampleJSonService/Staging", "pull", "dtcli-output_pull_sample_Staging_5_0.json", 1 },
    { EDGE, "EdgeService/StagingToProduction", "pullcompare", "dtcli-output_pullcompare_edge_StagingToProduction_5.json", 3 },
    { EDGE, "EdgeService/StagingToMissing", "pullcompare", "dtcli-output_pullcompare_edge_StagingToMissing_5.json", 2 },
    { EDGE, "EdgeService/Staging", "pull", "dtcli-output_pull_edge_Staging_5_0.json", 2 },
  }
  for _, c in ipairs(cases) do
    it(c[4], function()
      local v = run(c[1], c[2], c[3])
      assert.same({}, v.errors)
      assert.equal(S.fixture(c[4]), v.dtcli.json .. "\n")
      assert.equal(c[5], v.totalViolations)
      assert.equal("fail", v.verdict)       -- every G fixture has violations
    end)
  end

  it("sends each distinct request of the original once, in two concurrent batches", function()
    local _, fake = run(SAMPLE, "SampleJSonService/StagingToProduction", "pullcompare")
    assert.same(recorded_requests("pullcompare unbreakable-pipeline_monspec.json SampleJSonService/StagingToProduction 5"),
                set_of(fake.log))
    assert.equal(2, #fake.batches)
    assert.equal(2, #fake.batches[1])       -- the two entity resolutions
    assert.equal(8, #fake.batches[2])       -- 4 timeseries x 2 sides; smartscape reuses the resolutions
  end)

  it("reproduces the original's inverted windows for file shifts in minutes (M1, M2) and warns", function()
    local v, fake = run(SAMPLE, "SampleJSonService/StagingToProductionYesterday", "pullcompare")
    assert.same(recorded_requests("pullcompare unbreakable-pipeline_monspec.json SampleJSonService/StagingToProductionYesterday 5"),
                set_of(fake.log))
    assert.same({ from = S.NOW - 300000, to = S.NOW - 60 * 60000 }, v.windows.source)
    assert.same({ from = S.NOW - 300000, to = S.NOW - 86400 * 60000 }, v.windows.compare)
    assert.truthy(v.warnings[1]:find("the source window is inverted", 1, true))
    assert.truthy(v.warnings[2]:find("the compare window is inverted", 1, true))
  end)

  it("sends no request for an environment without entities (M8), the rest as recorded", function()
    local _, fake = run(EDGE, "EdgeService/StagingToMissing", "pullcompare")
    local expected = recorded_requests("pullcompare edge-cases_monspec.json EdgeService/StagingToMissing 5")
    for r in pairs(expected) do
      if r:find("entity=$") then expected[r] = nil end
    end
    assert.same(expected, set_of(fake.log))
  end)

  it("pull sends the recorded requests", function()
    local _, fake = run(SAMPLE, "SampleJSonService/Staging", "pull")
    assert.same(recorded_requests("pull unbreakable-pipeline_monspec.json SampleJSonService/Staging 5 0"), set_of(fake.log))
  end)

  it("truncates now to whole seconds like the original", function()
    local v = run(SAMPLE, "SampleJSonService/Staging", "pull", { now = S.NOW + 999 })
    assert.same({ from = S.NOW - 300000, to = S.NOW }, v.windows.source)
  end)
end)

describe("compat dtcli verdicts (global rule, §5)", function()
  it("explains each objective with the original's numbers", function()
    local v = run(SAMPLE, "SampleJSonService/StagingToProduction", "pullcompare")
    local rt = S.by_index(v, 1)
    assert.equal("fail", rt.status)
    assert.equal(160000.0, rt.value)
    assert.equal(110000.0, rt.baseline)
    assert.equal(143000.0, rt.threshold)
    assert.equal("160000 us > threshold 143000 us (baseline 110000 us, 30%)", rt.message)
    local fr = S.by_index(v, 3)                 -- failure rate: no source data, shown as 0 (M4)
    assert.equal("no_data", fr.status)
    assert.equal(0, fr.value)
    assert.equal("inconclusive", fr.outcome)
    local calls = S.by_index(v, 5)
    assert.equal("3 count > threshold 2 count (static limit)", calls.message)
    assert.equal("fail: 7 objectives (2 fail, 1 inconclusive, 4 pass); fail: " ..
                 "com.dynatrace.builtin:service.responsetime avg, toRelationships:calls", v.summary)
  end)

  it("is inconclusive where the original would have passed on a missing measurement", function()
    -- Only the failure-rate entry: no source data, the original showed 0 and passed.
    local text = [[{"S": {"etype": "SERVICE",
      "environments": {"Staging": {"entities": ["SERVICE-STG"]}, "Production": {"entities": ["SERVICE-PRD"]}},
      "comparisons": [{"name": "C", "source": "Staging", "compare": "Production",
                       "shiftsourcetimeframe": 0, "shiftcomparetimeframe": 0}],
      "perfsignature": [{"timeseries": "com.dynatrace.builtin:service.failurerate", "aggregate": "avg"}]}}]]
    local v = S.run(text, "m.json", { target = "S/C", mode = "pullcompare", compat = "dtcli" })
    assert.equal('{"performanceSignature": [{"timeseries": "com.dynatrace.builtin:service.failurerate", "aggregate": "avg", ' ..
                 '"result": 0, "result_compare": 0.5, "threshold": 0.5, "violation": 0}], ' ..
                 '"comment": "Pulled compare for 5", "totalViolations": 0}', v.dtcli.json)
    assert.equal("inconclusive", v.verdict)
  end)

  it("passes when the original saw complete data and no violation", function()
    local text = [[{"S": {"etype": "SERVICE",
      "environments": {"Staging": {"entities": ["SERVICE-STG"]}, "Production": {"entities": ["SERVICE-PRD"]}},
      "comparisons": [{"name": "C", "source": "Production", "compare": "Staging", "scalefactorperc": {"default": 10},
                       "shiftsourcetimeframe": 0, "shiftcomparetimeframe": 0}],
      "perfsignature": [{"timeseries": "com.dynatrace.builtin:service.responsetime", "aggregate": "avg"}]}}]]
    local v = S.run(text, "m.json", { target = "S/C", mode = "pullcompare", compat = "dtcli" })
    -- source Production (100000+120000)/2 = 110000.0; baseline Staging 160000.0 * 1.1 = 176000.0
    assert.equal('{"performanceSignature": [{"timeseries": "com.dynatrace.builtin:service.responsetime", "aggregate": "avg", ' ..
                 '"result": 110000.0, "result_compare": 160000.0, "threshold": 176000.0, "violation": 0}], ' ..
                 '"comment": "Pulled compare for 5", "totalViolations": 0}', v.dtcli.json)
    assert.equal("pass", v.verdict)
  end)

  it("is error when the compare side fails, while the document shows null as the original (M5)", function()
    local sc = S.scenario()
    sc.fail = function(call, _, o)
      if call == "timeseries" and o.entities[1] == "SERVICE-PRD" and o.aggregation == "percentile" then
        return { status = 503, message = "Service unavailable" }
      end
    end
    local v = run(SAMPLE, "SampleJSonService/StagingToProduction", "pullcompare", nil, sc)
    assert.equal("error", v.verdict)
    assert.equal("evaluation", v.error_kind)
    local p90 = S.by_index(v, 2)
    assert.equal("error", p90.status)
    assert.equal("compare", p90.side)
    assert.truthy(p90.message:find("Dynatrace API error (503): Service unavailable", 1, true))
    assert.truthy(v.dtcli.json:find('"aggregate": "p90", "result": 300000.0, "result_compare": null, ' ..
                                    '"threshold": null, "violation": 0}', 1, true))
    assert.equal(2, v.totalViolations)
  end)

  it("is error when the source side fails (the original aborted)", function()
    local sc = S.scenario()
    sc.fail = function(call, _, o)
      if call == "entities_v1" and o.tags and o.tags[1]:find("Staging") then return { status = 401, message = "Token missing" } end
    end
    local v = run(SAMPLE, "SampleJSonService/StagingToProduction", "pullcompare", nil, sc)
    assert.equal("error", v.verdict)
    for _, o in ipairs(v.objectives) do
      assert.equal("error", o.status)
      assert.truthy(o.message:find("^source %(Staging%): Dynatrace API error %(401%)"))
    end
  end)

  it("is error when an answer lacks a field the original required (unit)", function()
    local sc = S.scenario()
    sc.units["com.dynatrace.builtin:service.requestspermin"] = nil
    local v = run(SAMPLE, "SampleJSonService/StagingToProduction", "pullcompare", nil, sc)
    assert.equal("error", v.verdict)
    assert.equal("source (Staging): the answer has data points but no unit (the original command failed here)",
                 S.by_index(v, 4).message)
  end)

  it("treats an unknown comparison as an input error, never exit 0 (M6)", function()
    local v = run(SAMPLE, "SampleJSonService/Nope", "pullcompare")
    assert.equal("error", v.verdict)
    assert.equal("input", v.error_kind)
    assert.is_nil(v.dtcli)
    assert.equal('unbreakable-pipeline_monspec.json: SampleJSonService: unknown comparison "Nope" (known: ' ..
                 "StagingToProduction, StagingToProductionYesterday, StagingToStagingLastHour, ProductionToProductionLastHour)",
                 v.errors[1])
  end)

  it("rejects the typo file in compat too (M9)", function()
    local v = run("dtcli_monspec_multi-entity.json", "FrontendApp/Dev", "pull")
    assert.equal("input", v.error_kind)
    assert.truthy(v.errors[1]:find('did you mean "timeseries"?', 1, true))
  end)

  it("refuses CLI shift overrides, which crashed the original (M3)", function()
    local v = run(SAMPLE, "SampleJSonService/StagingToProduction", "pullcompare", { shift_source_seconds = 60 })
    assert.equal("input", v.error_kind)
    assert.truthy(v.errors[1]:find("the original tool crashed on them", 1, true))
  end)

  it("warns that service methods were not evaluated (M15)", function()
    local v = run(SAMPLE, "SampleJSonService/StagingToProduction", "pullcompare")
    assert.equal("compat dtcli: servicemethods were not evaluated (the original tool ignored them)", v.warnings[1])
  end)

  it("keeps the document's key order from the file; without the text it says so", function()
    local file = S.fixture(SAMPLE)
    local fake = S.fake_dynatrace.new(S.scenario()).install()
    local monspec = require "unbreakable.monspec"
    local ctx = S.ctx(nil, SAMPLE, { target = "SampleJSonService/StagingToProduction", mode = "pullcompare",
                                     compat = "dtcli", monspec = S.cjson.decode(file) })
    local v = monspec.evaluate(ctx)
    assert.truthy(v.warnings[2]:find("ctx.monspec_text missing", 1, true))
    -- cjson reads integers as floats; the values still decide the verdict
    assert.equal("fail", v.verdict)
    assert.equal(2, v.totalViolations)
    assert.equal(2, #fake.batches)
  end)
end)

describe("pyjson.dumps writes what Python's json.dumps writes", function()
  it("formats floats in shortest round-trip form", function()
    local cases = { { 160000.0, "160000.0" }, { 0.65, "0.65" }, { 2.0, "2.0" }, { 0.1 + 0.2, "0.30000000000000004" },
                    { 1e16, "1e+16" }, { 1e15, "1000000000000000.0" }, { 0.0001, "0.0001" }, { 1e-05, "1e-05" },
                    { 1 / 3, "0.3333333333333333" }, { -0.0, "-0.0" }, { 5e-324, "5e-324" },
                    { 1.7976931348623157e308, "1.7976931348623157e+308" }, { 123456789.125, "123456789.125" } }
    for _, c in ipairs(cases) do assert.equal(c[2], pyjson.format_float(c[1])) end
  end)

  it("formats 300+ doubles exactly like CPython's repr (random bit patterns included)", function()
    local cases = require "pyfloat_cases"
    assert.truthy(#cases > 300)
    for _, c in ipairs(cases) do
      local x = string.unpack("<d", string.pack("<i8", c[1]))
      assert.equal(c[2], pyjson.format_float(x))
    end
  end)

  it("escapes like ensure_ascii and keeps integers without a point", function()
    local doc = pyjson.decode('{"b": 1, "a": [1.0, 2, null, "x\\u00e9\\ud83d\\ude00\\n\\"\\u001f"], "c": {}, "d": []}')
    assert.equal('{"b": 1, "a": [1.0, 2, null, "x\\u00e9\\ud83d\\ude00\\n\\"\\u001f"], "c": {}, "d": []}', pyjson.dumps(doc))
  end)

  it("decodes strictly", function()
    for _, bad in ipairs({ "[01]", "[1.]", "[.5]", '{"a" 1}', "[1,]", "[1] x", '"\\x"', "[-]", "nul" }) do
      local v, err = pyjson.decode(bad)
      assert.is_nil(v, bad)
      assert.truthy(err:match("^line %d+, column %d+ %(offset %d+%): "), bad)
    end
  end)
end)

describe("compat dtcli input errors", function()
  it("a shift from the file that is not whole minutes is named by file and JSON path", function()
    local text = S.fixture(SAMPLE):gsub('"shiftsourcetimeframe"%s*:%s*0', '"shiftsourcetimeframe": 1.5', 1)
    local v = S.run(text, SAMPLE, { target = "SampleJSonService/StagingToProduction", mode = "pullcompare",
                                    compat = "dtcli" })
    assert.equal("error", v.verdict)
    assert.equal("input", v.error_kind)
    assert.equal(SAMPLE .. ": $.SampleJSonService.comparisons[0].shiftsourcetimeframe: must be a whole number " ..
                 "of minutes with compat dtcli (got 1.5)", v.errors[1])
  end)
end)
