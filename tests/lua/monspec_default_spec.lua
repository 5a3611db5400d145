-- Default mode of the monspec gate (docs/reference/monspec.md §5, "default"
-- column): verdicts on a constructed scenario whose numbers are worked out
-- by hand in the comments.

local S = require "monspec_support"
local verdict = require "unbreakable.verdict"

local NULL_NAME = setmetatable({}, { __name = "null-display-name" })

-- Staging: two services (pooled) plus one without displayName (ignored);
-- Production: one service given by id; Missing: a tag nothing carries.
local function scenario()
  local sc = {
    objects = {
      ["SERVICE-A1"] = { entityId = "SERVICE-A1", displayName = "shop",
        toRelationships = { calls = { "SERVICE-X", "SERVICE-Y" } }, fromRelationships = { runsOn = { "PROCESS_GROUP-1" } } },
      ["SERVICE-A2"] = { entityId = "SERVICE-A2", displayName = "shop",
        toRelationships = { calls = { "SERVICE-Z" } }, fromRelationships = { runsOn = { "PROCESS_GROUP-1" } } },
      ["SERVICE-GHOST"] = { entityId = "SERVICE-GHOST", displayName = S.cjson.null,
        toRelationships = { calls = { "SERVICE-X" } } },
      ["SERVICE-P1"] = { entityId = "SERVICE-P1", displayName = "shop",
        toRelationships = { calls = { "SERVICE-X" } }, fromRelationships = { runsOn = { "PROCESS_GROUP-2" } } },
    },
    routing = {
      ["tag=[Environment]DEPLOYMENT_GROUP_NAME:Staging"] = { "SERVICE-A1", "SERVICE-A2", "SERVICE-GHOST" },
      ["tag=NOPE"] = {},
    },
    units = { ["com.dynatrace.builtin:service.responsetime"] = "MicroSecond (µs)" },
    timeseries = {
      ["com.dynatrace.builtin:service.responsetime|aggregationType=avg"] = {
        ["SERVICE-A1"] = { 100000, 200000, nil, n = 3 }, ["SERVICE-A2"] = { 300000, n = 1 },
        ["SERVICE-GHOST"] = { 9e9, n = 1 }, ["SERVICE-P1"] = { 100000, 140000, n = 2 } },
      ["com.dynatrace.builtin:service.responsetime|aggregationType=percentile&percentile=90"] = {
        ["SERVICE-A1"] = { 400000, n = 1 }, ["SERVICE-A2"] = { 420000, n = 1 }, ["SERVICE-P1"] = { 400000, n = 1 } },
      ["com.dynatrace.builtin:service.failurerate|aggregationType=avg"] = {
        ["SERVICE-A1"] = { nil, nil, n = 2 }, ["SERVICE-P1"] = { 0.5, n = 1 } },
      ["com.dynatrace.builtin:service.requestspermin|aggregationType=count"] = {
        ["SERVICE-A1"] = { 10, 14, n = 2 }, ["SERVICE-A2"] = { 12, n = 1 }, ["SERVICE-P1"] = { 100, 110, n = 2 } },
      ["com.dynatrace.builtin:servicemethod.responsetime|aggregationType=avg"] = {
        ["SERVICE_METHOD-M1"] = { 50000, 70000, n = 2 }, ["SERVICE_METHOD-M9"] = { 999999, n = 1 },
        ["SERVICE_METHOD-M2"] = { 60000, n = 1 } },
    },
    entities_v2 = {
      ['type(SERVICE_METHOD),entityName.equals("/api/checkout"),fromRelationships.isServiceMethodOfService(' ..
       'type(SERVICE),tag("[Environment]DEPLOYMENT_GROUP_NAME:Staging"))'] = {
        { entityId = "SERVICE_METHOD-M1", type = "SERVICE_METHOD", displayName = "/api/checkout" },
        { entityId = "SERVICE_METHOD-M9", type = "SERVICE_METHOD", displayName = "/api/checkout/v2" } },
      ['type(SERVICE_METHOD),entityName.equals("/api/checkout"),fromRelationships.isServiceMethodOfService(' ..
       'type(SERVICE),entityId("SERVICE-P1"))'] = {
        { entityId = "SERVICE_METHOD-M2", type = "SERVICE_METHOD", displayName = "/api/checkout" } },
    },
    metrics = {
      ["builtin:service.response.time:splitBy():avg"] = {
        ['type(SERVICE),tag("[Environment]DEPLOYMENT_GROUP_NAME:Staging")'] = { { 215000.5 } },
        ['type(SERVICE),entityId("SERVICE-P1")'] = { { 200000 } } },
      ["builtin:service.response.time:avg"] = {
        ['type(SERVICE),tag("[Environment]DEPLOYMENT_GROUP_NAME:Staging")'] = { { 1 }, { 2 } } },
      ["builtin:service.errors.total.rate:splitBy():avg"] = {},
    },
  }
  return sc
end
assert(NULL_NAME)

local ENVS = [[
  "Staging": { "tags": [ { "context": "Environment", "key": "DEPLOYMENT_GROUP_NAME", "value": "Staging" } ] },
  "Production": { "entities": [ "SERVICE-P1" ] },
  "Missing": { "tags": [ { "context": "CONTEXTLESS", "key": "NOPE" } ] }]]

local COMPARISONS = [[
  { "name": "StagingToProduction", "source": "Staging", "compare": "Production",
    "scalefactorperc": { "default": 10, "service.responsetime": 5, "com.dynatrace.builtin:service.requestspermin": 90 },
    "shiftsourcetimeframe": 0, "shiftcomparetimeframe": 0 },
  { "name": "Yesterday", "source": "Staging", "compare": "Production",
    "scalefactorperc": { "default": 10 }, "shiftsourcetimeframe": 600, "shiftcomparetimeframe": 86400 },
  { "name": "StagingToMissing", "source": "Staging", "compare": "Missing", "shiftsourcetimeframe": 0, "shiftcomparetimeframe": 0 },
  { "name": "StagingToMissingAllowed", "source": "Staging", "compare": "Missing", "allow_missing_baseline": true,
    "shiftsourcetimeframe": 0, "shiftcomparetimeframe": 0 }]]

local function monspec_text(perfsignature, methods)
  return string.format([[{ "Shop": { "etype": "SERVICE", "environments": { %s }, "comparisons": [ %s ],
    "perfsignature": [ %s ] %s } }]], ENVS, COMPARISONS, perfsignature,
    methods and (', "servicemethods": ' .. methods) or "")
end

local FULL = [[
  { "timeseries": "com.dynatrace.builtin:service.responsetime", "aggregate": "avg" },
  { "timeseries": "service.responsetime", "aggregate": "P90" },
  { "timeseries": "com.dynatrace.builtin:service.failurerate", "aggregate": "avg", "upperlimit": 2 },
  { "timeseries": "service.requestspermin", "aggregate": "count", "validate": "lower" },
  { "timeseries": "com.dynatrace.builtin:service.responsetime", "aggregate": "avg", "upperlimit": "250000", "lowerlimit": 205000 },
  { "smartscape": "toRelationships:calls", "validate": "lower" },
  { "smartscape": "fromRelationships:runsOn", "lowerlimit": 2 }]]

local function run(perfsignature, target, mode, fields, options, sc, methods)
  local f = { target = target, mode = mode }
  for k, v in pairs(fields or {}) do f[k] = v end
  return S.run(monspec_text(perfsignature, methods), "shop.json", f, sc or scenario(), options)
end

describe("default mode, pullcompare Staging (2 pooled services) against Production", function()
  local v, fake
  setup(function()
    v, fake = run(FULL, "Shop/StagingToProduction", "pullcompare")
  end)

  it("pools the entities' points into one flat mean and judges against the scaled baseline", function()
    -- source: (100000 + 200000 + 300000) / 3 = 200000.0 (the null and SERVICE-GHOST, which has no
    -- displayName, are left out); baseline (100000 + 140000) / 2 = 120000.0; the per-metric factor
    -- "service.responsetime" (5 %) applies to the prefixed id in default mode:
    -- 120000 + 120000 * 5 / 100 = 126000.0 < 200000 -> fail
    local o = S.by_index(v, 1)
    assert.equal(200000.0, o.value)
    assert.equal(120000.0, o.baseline)
    assert.equal(126000.0, o.threshold)
    assert.equal(5, o.scalefactor)
    assert.equal("fail", o.status)
    assert.equal("MicroSecond (µs)", o.unit)
    assert.same({ "SERVICE-A1", "SERVICE-A2" }, o.entities.source)
    assert.same({ "SERVICE-P1" }, o.entities.compare)
    assert.equal("200000 MicroSecond (µs) is above the threshold 126000 MicroSecond (µs) " ..
                 "(baseline 120000 MicroSecond (µs) + 5%, validate upper)", o.message)
    assert.equal("Timeseries v1 com.dynatrace.builtin:service.responsetime (avg)", o.query)
    assert.is_true(o.violation)
  end)

  it("reads aggregate case-insensitively (P90) and passes a value under the threshold", function()
    -- (400000 + 420000) / 2 = 410000.0; 400000 + 400000 * 5 / 100 = 420000.0; 410000 <= 420000
    local o = S.by_index(v, 2)
    assert.equal("p90", o.aggregate)
    assert.equal(410000.0, o.value)
    assert.equal(420000.0, o.threshold)
    assert.equal("pass", o.status)
  end)

  it("makes no data null and no_data, even under a static limit (M4)", function()
    local o = S.by_index(v, 3)
    assert.equal(verdict.null, o.value)
    assert.equal("no_data", o.status)
    assert.equal("inconclusive", o.outcome)
    assert.equal(2, o.threshold)
    assert.equal("no data points in the Staging window; the static limit cannot be checked", o.message)
  end)

  it("applies a per-metric scale factor written with the prefix to a short id (validate lower)", function()
    -- source (10 + 14 + 12) / 3 = 12.0; baseline (100 + 110) / 2 = 105.0;
    -- 105 - 105 * 90 / 100 = 10.5; 12 >= 10.5 -> pass (compat would use default 10 % -> 94.5 -> fail)
    local o = S.by_index(v, 4)
    assert.equal(12.0, o.value)
    assert.equal(10.5, o.threshold)
    assert.equal(90, o.scalefactor)
    assert.equal("pass", o.status)
  end)

  it("applies both static limits as a band (M10)", function()
    -- 200000 is below the lower limit 205000 (the original ignored it because upperlimit is set)
    local o = S.by_index(v, 5)
    assert.equal(250000.0, o.upper_threshold)
    assert.equal(205000, o.lower_threshold)
    assert.equal("fail", o.status)
    assert.equal("200000 MicroSecond (µs) is below the lower limit 205000 MicroSecond (µs)", o.message)
  end)

  it("counts smartscape relations over the matched entities", function()
    -- source: 2 + 1 = 3 calls (GHOST ignored); baseline 1; 1 - 1 * 10 / 100 = 0.9; 3 >= 0.9
    local o = S.by_index(v, 6)
    assert.equal(3, o.value)
    assert.equal(1, o.baseline)
    assert.equal(0.9, o.threshold)
    assert.equal("pass", o.status)
    -- runsOn: 1 + 1 = 2, not below the lower limit 2 (strict comparison)
    local r = S.by_index(v, 7)
    assert.equal(2, r.value)
    assert.equal("pass", r.status)
    assert.equal("2 count is not below the lower limit 2 count", r.message)
  end)

  it("combines: fail beats inconclusive; totalViolations counts crossed limits", function()
    assert.equal("fail", v.verdict)
    assert.equal(2, v.totalViolations)
    assert.equal("fail: 7 objectives (2 fail, 1 inconclusive, 4 pass); fail: " ..
                 "com.dynatrace.builtin:service.responsetime avg, com.dynatrace.builtin:service.responsetime avg", v.summary)
  end)

  it("asks Dynatrace in two concurrent batches: resolutions, then every timeseries of both sides", function()
    assert.equal(2, v.batches)
    assert.same({ "GET /api/v1/entity/services?tag=[Environment]DEPLOYMENT_GROUP_NAME:Staging",
                  "GET /api/v1/entity/services?entity=SERVICE-P1",
                  "GET /api/v1/timeseries/com.dynatrace.builtin:service.responsetime?startTimestamp=1795657565000" ..
                  "&endTimestamp=1795657865000&aggregationType=avg&includeData=true&entity=SERVICE-P1",
                  "GET /api/v1/timeseries/com.dynatrace.builtin:service.responsetime?startTimestamp=1795657565000" ..
                  "&endTimestamp=1795657865000&aggregationType=percentile&percentile=90&includeData=true&entity=SERVICE-P1",
                  "GET /api/v1/timeseries/com.dynatrace.builtin:service.failurerate?startTimestamp=1795657565000" ..
                  "&endTimestamp=1795657865000&aggregationType=avg&includeData=true&entity=SERVICE-P1",
                  "GET /api/v1/timeseries/com.dynatrace.builtin:service.requestspermin?startTimestamp=1795657565000" ..
                  "&endTimestamp=1795657865000&aggregationType=count&includeData=true&entity=SERVICE-P1" },
                fake.batches[1])
    -- batch 2: the 4 distinct Staging queries (entry 5 repeats entry 1 and is sent once)
    assert.equal(4, #fake.batches[2])
  end)
end)

describe("default mode windows", function()
  it("shifts each window back by the file's shift in seconds (M1, M2)", function()
    local v, fake = run('{ "timeseries": "service.responsetime", "aggregate": "avg" }', "Shop/Yesterday", "pullcompare")
    -- now = 1795657865 s; source shift 600 s: [now - 900, now - 600]; compare 86400 s: [now - 86700, now - 86400]
    assert.same({ from = 1795656965000, to = 1795657265000 }, v.windows.source)
    assert.same({ from = 1795571165000, to = 1795571465000 }, v.windows.compare)
    assert.equal("GET /api/v1/timeseries/com.dynatrace.builtin:service.responsetime?startTimestamp=1795571165000" ..
                 "&endTimestamp=1795571465000&aggregationType=avg&includeData=true&entity=SERVICE-P1", fake.batches[1][2])
    for _, w in ipairs(v.warnings) do assert.falsy(w:find("window", 1, true)) end
  end)

  it("lets the CLI override the shifts (--shift-source/--shift-compare, seconds, M3)", function()
    local v = run('{ "timeseries": "service.responsetime", "aggregate": "avg" }', "Shop/Yesterday", "pullcompare",
                  { shift_source_seconds = 0, shift_compare_seconds = 3600 })
    assert.same({ from = 1795657565000, to = 1795657865000 }, v.windows.source)
    assert.same({ from = 1795653965000, to = 1795654265000 }, v.windows.compare)
  end)

  it("pull moves the window back by --shift minutes", function()
    local v = run('{ "smartscape": "fromRelationships:runsOn", "lowerlimit": 2 }', "Shop/Staging", "pull",
                  { shift_minutes = 10, now = S.NOW + 999 })
    assert.same({ from = S.NOW - 900000, to = S.NOW - 600000 }, v.windows.source)
    assert.equal("pass", v.verdict)
  end)
end)

describe("default mode pull", function()
  it("checks static limits only; entries without limit are measured and pass", function()
    local v = run([[{ "timeseries": "com.dynatrace.builtin:service.responsetime", "aggregate": "avg" },
                    { "smartscape": "toRelationships:calls", "upperlimit": 2 }]], "Shop/Staging", "pull")
    local rt, calls = S.by_index(v, 1), S.by_index(v, 2)
    assert.equal("pass", rt.status)
    assert.equal(verdict.null, rt.baseline)
    assert.equal("200000 MicroSecond (µs) measured; no static limit, and pull has no baseline", rt.message)
    assert.equal("fail", calls.status)                 -- 3 > 2
    assert.equal("3 count is above the upper limit 2 count", calls.message)
    assert.equal("fail", v.verdict)
    assert.equal(1, v.totalViolations)
    assert.is_nil(v.windows.compare)
  end)
end)

describe("default mode pull without any static limit", function()
  it("is inconclusive: values were measured but nothing was judged", function()
    local v = run([[{ "timeseries": "com.dynatrace.builtin:service.responsetime", "aggregate": "avg" },
                    { "smartscape": "toRelationships:calls" }]], "Shop/Staging", "pull")
    assert.equal("pass", S.by_index(v, 1).status)
    assert.is_false(S.by_index(v, 1).judged)
    assert.equal("inconclusive", v.verdict)
    assert.truthy(v.summary:find("no objective was judged", 1, true))
  end)
end)

describe("default mode: missing compare environment (M5, M8)", function()
  local PS = [[{ "timeseries": "com.dynatrace.builtin:service.responsetime", "aggregate": "avg" },
               { "smartscape": "toRelationships:calls", "validate": "lower" },
               { "timeseries": "com.dynatrace.builtin:service.responsetime", "aggregate": "p90", "upperlimit": 500000 }]]

  it("is inconclusive when the baseline matches no entity, and sends no timeseries request for it", function()
    local v, fake = run(PS, "Shop/StagingToMissing", "pullcompare")
    local o = S.by_index(v, 1)
    assert.equal("inconclusive", o.status)
    assert.equal("compare", o.side)
    assert.equal("baseline missing: no entities matched environment Missing " ..
                 "(set allow_missing_baseline: true on the comparison to accept this)", o.message)
    assert.equal("inconclusive", S.by_index(v, 2).status)
    assert.equal("pass", S.by_index(v, 3).status)    -- a static limit needs no baseline: 410000 <= 500000
    assert.equal("inconclusive", v.verdict)
    for _, r in ipairs(fake.log) do assert.falsy(r:find("entity=$")) end
  end)

  it("passes such objectives when the comparison allows a missing baseline", function()
    local v = run(PS, "Shop/StagingToMissingAllowed", "pullcompare")
    assert.equal("pass", S.by_index(v, 1).status)
    assert.equal("pass", v.verdict)
  end)
end)

describe("default mode: no data", function()
  local PS = '{ "timeseries": "com.dynatrace.builtin:service.failurerate", "aggregate": "avg" }'

  it("is inconclusive by default", function()
    local v = run(PS, "Shop/StagingToProduction", "pullcompare")
    assert.equal("no_data", v.objectives[1].status)
    assert.equal(verdict.null, v.objectives[1].value)
    assert.equal(0.5, v.objectives[1].baseline)
    assert.equal("inconclusive", v.verdict)
  end)

  it("follows the policy's on_no_data", function()
    assert.equal("fail", run(PS, "Shop/StagingToProduction", "pullcompare", nil, { on_no_data = "fail" }).verdict)
    assert.equal("pass", run(PS, "Shop/StagingToProduction", "pullcompare", nil, { on_no_data = "pass" }).verdict)
    assert.has_error(function() run(PS, "Shop/StagingToProduction", "pullcompare", nil, { on_no_data = "maybe" }) end)
  end)
end)

describe("default mode: API errors fail closed", function()
  local PS = [[{ "timeseries": "com.dynatrace.builtin:service.responsetime", "aggregate": "avg" },
               { "smartscape": "toRelationships:calls", "validate": "lower" }]]

  it("an error on the compare side is an error, not a pass (M5)", function()
    local sc = scenario()
    sc.fail = function(call, _, o)
      if call == "timeseries" and o.entities[1] == "SERVICE-P1" then return { status = 503, message = "Service unavailable" } end
    end
    local v = run(PS, "Shop/StagingToProduction", "pullcompare", nil, nil, sc)
    local o = S.by_index(v, 1)
    assert.equal("error", o.status)
    assert.equal("compare", o.side)
    assert.truthy(o.message:find("^compare %(Production%): Dynatrace API error %(503%): Service unavailable"))
    assert.equal("pass", S.by_index(v, 2).status)   -- 3 calls against 1 * 0.9
    assert.equal("error", v.verdict)
    assert.equal("evaluation", v.error_kind)
  end)

  it("a failed entity resolution makes every objective of that side an error", function()
    local sc = scenario()
    sc.fail = function(call) if call == "entities_v1" then return { status = 429, message = "Too many requests" } end end
    local v = run(PS, "Shop/StagingToProduction", "pullcompare", nil, nil, sc)
    assert.equal("error", v.verdict)
    for _, o in ipairs(v.objectives) do assert.equal("error", o.status) end
  end)

  it("an error beats a critical failure and a non-critical objective cannot hide it", function()
    local sc = scenario()
    sc.fail = function(call, _, o)
      if call == "timeseries" and o.aggregation == "avg" then return { status = 500, message = "boom" } end
    end
    local v = run(PS, "Shop/StagingToProduction", "pullcompare", nil, { critical = function() return false end }, sc)
    assert.equal("error", v.verdict)
  end)
end)

describe("default mode: service methods (M15)", function()
  local METHODS = [[[ { "name": "/api/checkout", "perfsignature": [
      { "timeseries": "com.dynatrace.builtin:servicemethod.responsetime", "aggregate": "avg" } ] } ] ]]

  it("finds the methods by exact name under the environment's services and judges them", function()
    local v, fake = run('{ "smartscape": "toRelationships:calls" }', "Shop/StagingToProduction", "pullcompare",
                        nil, nil, nil, METHODS)
    local o = S.objective(v, "/api/checkout: com.dynatrace.builtin:servicemethod.responsetime avg")
    -- source: M1 (50000 + 70000) / 2 = 60000.0 (M9 "/api/checkout/v2" is another method);
    -- baseline M2 60000.0; 60000 + 60000 * 10 / 100 = 66000.0 -> pass
    assert.equal("/api/checkout", o.method)
    assert.equal(60000.0, o.value)
    assert.equal(60000.0, o.baseline)
    assert.equal(66000.0, o.threshold)
    assert.same({ "SERVICE_METHOD-M1" }, o.entities.source)
    assert.equal("pass", o.status)
    assert.equal(2, v.batches)
    local seen
    for _, r in ipairs(fake.batches[2]) do
      if r:find("servicemethod.responsetime", 1, true) and r:find("entity=SERVICE_METHOD-M1", 1, true) then seen = r end
    end
    assert.equal("GET /api/v1/timeseries/com.dynatrace.builtin:servicemethod.responsetime?startTimestamp=1795657565000" ..
                 "&endTimestamp=1795657865000&aggregationType=avg&includeData=true&entity=SERVICE_METHOD-M1", seen)
  end)

  it("reports a method that is not found as no data", function()
    local m = METHODS:gsub("/api/checkout", "/api/nothing")
    local v = run('{ "smartscape": "toRelationships:calls" }', "Shop/Staging", "pull", nil, nil, nil, m)
    local o = S.objective(v, "/api/nothing: com.dynatrace.builtin:servicemethod.responsetime avg")
    assert.equal("no_data", o.status)
    assert.equal("no service method named \"/api/nothing\" under the services of environment Staging; nothing to judge",
                 o.message)
    assert.equal("inconclusive", v.verdict)
  end)
end)

describe("default mode: Metrics v2 entries", function()
  it("asks for one value per window with an entity selector built from the environment", function()
    local v, fake = run('{ "metric": "builtin:service.response.time:splitBy():avg", "upperlimit": 250000, "unit": "MicroSecond" }',
                        "Shop/StagingToProduction", "pullcompare")
    local o = v.objectives[1]
    assert.equal(215000.5, o.value)
    assert.equal(200000.0, o.baseline)
    assert.equal("MicroSecond", o.unit)
    assert.equal("pass", o.status)
    assert.equal(1, v.batches)         -- no resolution needed: selectors go out in the first batch
    assert.equal("GET /api/v2/metrics/query?metricSelector=builtin:service.response.time:splitBy():avg" ..
                 '&entitySelector=type(SERVICE),tag("[Environment]DEPLOYMENT_GROUP_NAME:Staging")' ..
                 "&from=1795657565000&to=1795657865000&resolution=Inf", fake.batches[1][1])
  end)

  it("is an error when the selector returns several series, and no data when it returns none", function()
    local v = run([[{ "metric": "builtin:service.response.time:avg", "upperlimit": 1 },
                    { "metric": "builtin:service.errors.total.rate:splitBy():avg", "upperlimit": 1 }]], "Shop/Staging", "pull")
    assert.equal("error", v.objectives[1].status)
    assert.equal("source (Staging): the selector returned 2 series; add :splitBy() (or :merge(...)) so that it " ..
                 "returns one value per window", v.objectives[1].message)
    assert.equal("no_data", v.objectives[2].status)
    assert.equal("error", v.verdict)
  end)
end)

describe("default mode: critical objectives", function()
  it("turns a failing non-critical objective (critical: false in the file) into a warning", function()
    local v = run('{ "timeseries": "com.dynatrace.builtin:service.responsetime", "aggregate": "avg", "critical": false }',
                  "Shop/StagingToProduction", "pullcompare")
    assert.equal("warning", v.objectives[1].status)
    assert.is_false(v.objectives[1].critical)
    assert.is_true(v.objectives[1].violation)
    assert.equal("warning", v.verdict)
    assert.equal(1, v.totalViolations)
  end)
end)

describe("default mode: input errors", function()
  it("names the unknown environment of a pull, with a suggestion", function()
    local v = run(FULL, "Shop/Stagin", "pull")
    assert.equal("input", v.error_kind)
    assert.equal('shop.json: Shop: unknown environment "Stagin"; did you mean "Staging"? (known: Staging, Production, Missing)',
                 v.errors[1])
    assert.equal("error", v.verdict)
  end)

  it("lists each problem of the file as its own error, and the summary stays one line", function()
    local v = run('{ "timeseriers": "a", "aggregate": "avg" }, { "aggregat": "avg", "timeseries": "b" }',
                  "Shop/StagingToProduction", "pullcompare")
    assert.equal("input", v.error_kind)
    assert.equal(3, #v.errors) -- the typo, the misspelt aggregate and the missing one
    assert.truthy(v.errors[1]:find("perfsignature[0].timeseriers", 1, true))
    assert.truthy(v.errors[2]:find("perfsignature[1].aggregat", 1, true))
    for _, e in ipairs(v.errors) do assert.is_nil(e:find("\n", 1, true)) end
    assert.is_nil(v.summary:find("\n", 1, true))
    assert.truthy(v.summary:find("(and 2 more errors)", 1, true))
  end)

  it("names the unknown entity definition", function()
    local v = run(FULL, "Shopp/StagingToProduction", "pullcompare")
    assert.equal('shop.json: unknown entity definition "Shopp"; did you mean "Shop"? (known: Shop)', v.errors[1])
  end)
end)

describe("default mode: a large monspec", function()
  it("sends 50 metrics over 2 environments as 2 look-ups and then 100 queries, in 2 batches", function()
    local sc, entries = scenario(), {}
    for p = 1, 50 do
      entries[#entries + 1] = string.format('{ "timeseries": "service.responsetime", "aggregate": "p%d" }', p)
      sc.timeseries["com.dynatrace.builtin:service.responsetime|aggregationType=percentile&percentile=" .. p] = {
        ["SERVICE-A1"] = { 1000 * p, n = 1 }, ["SERVICE-P1"] = { 1000 * p, n = 1 } }
    end
    local text = monspec_text(table.concat(entries, ",\n")):gsub('"Production": { "entities": %[ "SERVICE%-P1" %] }',
      '"Production": { "tags": [ { "key": "prod" } ] }')
    sc.routing["tag=prod"] = { "SERVICE-P1" }
    local v, fake = S.run(text, "big.json", { target = "Shop/StagingToProduction", mode = "pullcompare" }, sc)
    assert.same({ 2, 100 }, { #fake.batches[1], #fake.batches[2] })
    assert.equal(2, v.batches)
    -- every p: value 1000p against 1000p * 1.05 (the "service.responsetime" factor): pass
    assert.equal("pass", v.verdict)
    assert.equal(50, #v.objectives)
    assert.equal(52500.0, v.objectives[50].threshold)
  end)
end)

describe("verdict.combine precedence", function()
  local function objs(...)
    local list = {}
    for _, s in ipairs({ ... }) do list[#list + 1] = { name = s, status = s, critical = true } end
    return list
  end
  it("orders error > fail > inconclusive > warning > pass", function()
    assert.equal("error", verdict.combine(objs("pass", "fail", "error", "no_data", "warning")))
    assert.equal("fail", verdict.combine(objs("pass", "fail", "no_data", "warning")))
    assert.equal("inconclusive", verdict.combine(objs("pass", "no_data", "warning")))
    assert.equal("inconclusive", verdict.combine(objs("pass", "inconclusive", "warning")))
    assert.equal("warning", verdict.combine(objs("pass", "warning")))
    assert.equal("pass", verdict.combine(objs("pass", "pass")))
    assert.equal("inconclusive", verdict.combine({}))
    assert.equal("error", verdict.combine(objs("pass"), { "the policy raised" }))
  end)
end)
