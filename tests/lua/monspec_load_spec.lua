-- Loading and validating monspec files (docs/reference/monspec.md §2, §2.8):
-- every fixture monspec, and invalid files whose messages must name the
-- file, the JSON path and the fix.

local S = require "monspec_support"
local monspec = require "unbreakable.monspec"

local function load_text(text, opts)
  return monspec.load(text, "m.json", opts)
end

-- A small valid file; cases replace one part of it.
local function doc(parts)
  parts = parts or {}
  local env = parts.envs or [[
      "Staging": { "tags": [ { "context": "Environment", "key": "DEPLOYMENT_GROUP_NAME", "value": "Staging" } ] },
      "Production": { "entities": [ "SERVICE-PRD" ] }]]
  local cmp = parts.comparisons or [[
      { "name": "StagingToProduction", "source": "Staging", "compare": "Production",
        "scalefactorperc": { "default": 20 }, "shiftsourcetimeframe": 0, "shiftcomparetimeframe": 0 }]]
  local ps = parts.perfsignature or [[
      { "timeseries": "com.dynatrace.builtin:service.responsetime", "aggregate": "avg" }]]
  return string.format([[{ "S": { "etype": %s, %s "environments": { %s },
    "comparisons": [ %s ], "perfsignature": [ %s ] %s } }]],
    parts.etype or '"SERVICE"', parts.extra or "", env, cmp, ps,
    parts.methods and (', "servicemethods": ' .. parts.methods) or "")
end

local function expect_error(text, expected, opts)
  local spec, msg = load_text(text, opts)
  assert.is_nil(spec)
  assert.is_string(msg)
  if not msg:find(expected, 1, true) then
    error(string.format("expected message to contain\n  %s\ngot\n  %s", expected, msg), 2)
  end
  return msg
end

describe("monspec.load on the fixture files", function()
  it("accepts unbreakable-pipeline_monspec.json and normalizes it", function()
    local spec, warnings = load_text(S.fixture("unbreakable-pipeline_monspec.json"))
    assert.is_table(spec)
    assert.same({}, warnings)
    local e = spec.entities.SampleJSonService
    assert.equal("SERVICE", e.etype)
    assert.equal("services", e.kind)
    assert.same({ "[Environment]DEPLOYMENT_GROUP_NAME:Staging" }, e.environments.Staging.tags)
    assert.equal(4, #e.comparisons)
    assert.equal(86400, e.comparison_by_name.StagingToProductionYesterday.shift_compare)
    assert.equal(7, #e.perfsignature)
    assert.equal("percentile", e.perfsignature[2].aggregate.type)
    assert.equal(90, e.perfsignature[2].aggregate.percentile)
    assert.equal(2.0, e.perfsignature[5].upperlimit)
    assert.equal("lower", e.perfsignature[4].validate)
    assert.equal("upper", e.perfsignature[2].validate)
    assert.is_nil(e.perfsignature[1].upperlimit) -- "_upperlimit" is a disabled key
    assert.equal(1, #e.servicemethods)
    assert.equal("/api/invoke", e.servicemethods[1].name)
    assert.equal(3, #e.servicemethods[1].perfsignature)
  end)

  it("accepts dtcli_smplmonspec.json with CONTEXTLESS tags rendered without context", function()
    local spec = assert(load_text(S.fixture("dtcli_smplmonspec.json")))
    assert.same({ "DeploymentGroup:Staging" }, spec.entities.SampleJSonService.environments.Staging.tags)
  end)

  local function form_monspec(name)
    local text = S.fixture(name):match("monspecFile=(.-)&pipelineInfoFile=")
    assert.is_string(text)
    return text
  end

  it("accepts the monspec embedded in the dtcli-webproxy pullcompare form body", function()
    local spec, msg = load_text(form_monspec("dtcli-webproxy_pullcompare-form-body.txt"))
    assert.is_table(spec, msg)
    assert.equal(4, #spec.entities.SampleJSonService.comparisons)
  end)

  it("rejects the pull form body's monspec: its trailing comma is invalid JSON", function()
    local text = form_monspec("dtcli-webproxy_pull-form-body.txt")
    local msg = expect_error(text, "m.json: invalid JSON: line 72, column 5 (offset ")
    local offset = tonumber(msg:match("offset (%d+)"))
    -- the reader stops at the "}" or "]" that follows the trailing comma
    assert.truthy(text:sub(offset + 1, offset + 1):match("[}%]]"))
    assert.truthy(text:sub(1, offset):match(",%s*$"))
  end)

  it("rejects dtcli_monspec_multi-entity.json: the typo timeseriers, with its path and the fix", function()
    local msg = expect_error(S.fixture("dtcli_monspec_multi-entity.json"),
      'm.json: $.FrontendApp.perfsignature[0].timeseriers: unknown key "timeseriers"; did you mean "timeseries"? ' ..
      '(rename it to "timeseries", or prefix it with "_" to disable it)')
    -- one problem only: no second "has no measure" complaint for the same typo
    assert.equal(1, select(2, msg:gsub("\n", "")) + 1)
  end)

  it("accepts the multi-entity file's other definitions: [context]key tags without value, no perfsignature", function()
    local text = S.fixture("dtcli_monspec_multi-entity.json"):gsub('"timeseriers"', '"timeseries"')
    local spec = assert(load_text(text))
    assert.same({ "[Environment]DTMaaSHost" }, spec.entities.MaaSHost.environments.Lab2.tags)
    assert.equal("hosts", spec.entities.MaaSHost.kind)
    assert.is_nil(spec.entities.FrontendAppBuild1.perfsignature)
    assert.same({ "SERVICE_TYPE:FRONTEND", "BUILD_NUMBER:1" }, spec.entities.FrontendAppBuild1.environments.Dev.tags)
  end)

  it("rejects edge-cases_monspec.json in default mode (a band no value can pass) and accepts it in compat", function()
    expect_error(S.fixture("edge-cases_monspec.json"),
      "m.json: $.EdgeService.perfsignature[4]: lowerlimit 1000000 is above upperlimit 150000.0")
    local spec, warnings = load_text(S.fixture("edge-cases_monspec.json"), { compat = "dtcli" })
    assert.is_table(spec)
    assert.same({ "m.json: $.EdgeService.perfsignature[4]: compat dtcli: lowerlimit is ignored because upperlimit is set (as the original tool did)" },
                warnings)
  end)

  it("rejects duplicate keys in compat dtcli too (the original kept the last one)", function()
    expect_error('{"S": {"etype": "SERVICE", "etype": "HOST"}}',
                 'm.json: invalid JSON: line 1, column 28 (offset 27): duplicate key "etype"', { compat = "dtcli" })
  end)

  it("accepts the base document of these specs", function()
    assert.is_table(load_text(doc()))
  end)
end)

describe("monspec.load rejects", function()
  local cases = {
    { "invalid JSON", '{"S": {"etype": "SERVICE",}}', "m.json: invalid JSON: line 1, column 27 (offset 26): expected a key" },
    -- review 11, 2.4: Python kept the last of two keys, which turned a failing objective into a pass
    { "a duplicate key, with the key, line and column",
      '{"S": {"etype": "SERVICE",\n  "perfsignature": [{"timeseries": "t", "upperlimit": 2.5, "upperlimit": 100}]}}',
      'm.json: invalid JSON: line 2, column 60 (offset 86): duplicate key "upperlimit"' },
    { "a duplicate entity", '{"S": {"etype": "SERVICE"}, "S": {"etype": "HOST"}}',
      'm.json: invalid JSON: line 1, column 29 (offset 28): duplicate key "S"' },
    { "a top level that is not an object", "[1, 2]", "m.json: $: the monspec must be a JSON object of entity definitions" },
    { "a file with only comments", '{"_comment": "x"}', "m.json: $: defines no entity" },
    { "an unknown etype, with a suggestion", doc({ etype = '"SERVISE"' }),
      'm.json: $.S.etype: "SERVISE" is not an entity type; did you mean "SERVICE"? (use SERVICE, APPLICATION, HOST, PROCESS_GROUP or PROCESS_GROUP_INSTANCE)' },
    { "a missing etype", '{"S": {"environments": {"A": {"entities": ["SERVICE-A"]}}, "perfsignature": [{"smartscape": "toRelationships:calls"}]}}',
      "m.json: $.S.etype: missing" },
    { "an unknown key on the entity definition", doc({ extra = '"perfsignatures": [],' }),
      'm.json: $.S.perfsignatures: unknown key "perfsignatures"; did you mean "perfsignature"?' },
    { "an unknown key far from every known key", doc({ extra = '"colour": "red",' }),
      'm.json: $.S.colour: unknown key "colour" (known keys here: etype, name, owner, environments, comparisons, perfsignature, servicemethods; prefix a key with "_" to mark it as a comment)' },
    { "an environment without entities or tags", doc({ envs = '"Staging": {}, "Production": {"entities": ["SERVICE-P"]}' }),
      'm.json: $.S.environments.Staging: has neither "entities" nor "tags" (without a filter the original queried every entity of the type; name the entities or tags)' },
    { "empty tags", doc({ envs = '"Staging": {"tags": []}, "Production": {"entities": ["SERVICE-P"]}' }),
      'm.json: $.S.environments.Staging: "tags" must be a non-empty array' },
    { "a tag without key", doc({ envs = '"Staging": {"tags": [{"context": "Environment", "value": "x"}]}, "Production": {"entities": ["SERVICE-P"]}' }),
      "m.json: $.S.environments.Staging.tags[0].key: missing (every tag needs at least a key)" },
    { "a misspelt tag key", doc({ envs = '"Staging": {"tags": [{"contxt": "Environment", "key": "x"}]}, "Production": {"entities": ["SERVICE-P"]}' }),
      'm.json: $.S.environments.Staging.tags[0].contxt: unknown key "contxt"; did you mean "context"?' },
    { "an entity id that is not one", doc({ envs = '"Staging": {"entities": ["staging"]}, "Production": {"entities": ["SERVICE-P"]}' }),
      'm.json: $.S.environments.Staging.entities[0]: not an entity id (entity ids look like "SERVICE-8AC3A0761537D748")' },
    { "a comparison naming an unknown environment", doc({ comparisons = '{"name": "C", "source": "Stagin", "compare": "Production", "shiftsourcetimeframe": 0, "shiftcomparetimeframe": 0}' }),
      'm.json: $.S.comparisons[0].source: unknown environment "Stagin"; did you mean "Staging"? (environments: Production, Staging)' },
    { "duplicate comparison names", doc({ comparisons = '{"name": "C", "source": "Staging", "compare": "Production", "shiftsourcetimeframe": 0, "shiftcomparetimeframe": 0}, {"name": "C", "source": "Production", "compare": "Staging", "shiftsourcetimeframe": 0, "shiftcomparetimeframe": 0}' }),
      'm.json: $.S.comparisons[1].name: duplicate comparison "C" (also at $.S.comparisons[0]) (the original silently used the first one; rename or remove one)' },
    { "a scale factor that is a string", doc({ comparisons = '{"name": "C", "source": "Staging", "compare": "Production", "scalefactorperc": {"default": "20"}, "shiftsourcetimeframe": 0, "shiftcomparetimeframe": 0}' }),
      "m.json: $.S.comparisons[0].scalefactorperc.default: must be a number (percent)" },
    { "one metric with two scale factors", doc({ comparisons = '{"name": "C", "source": "Staging", "compare": "Production", "scalefactorperc": {"service.responsetime": 5, "com.dynatrace.builtin:service.responsetime": 9}, "shiftsourcetimeframe": 0, "shiftcomparetimeframe": 0}' }),
      'm.json: $.S.comparisons[0].scalefactorperc["service.responsetime"]: the same metric as "com.dynatrace.builtin:service.responsetime" (keep one of the two keys)' },
    { "a negative shift", doc({ comparisons = '{"name": "C", "source": "Staging", "compare": "Production", "shiftsourcetimeframe": -60, "shiftcomparetimeframe": 0}' }),
      "m.json: $.S.comparisons[0].shiftsourcetimeframe: must be a number of seconds >= 0" },
    { "allow_missing_baseline that is not a boolean", doc({ comparisons = '{"name": "C", "source": "Staging", "compare": "Production", "allow_missing_baseline": "yes", "shiftsourcetimeframe": 0, "shiftcomparetimeframe": 0}' }),
      "m.json: $.S.comparisons[0].allow_missing_baseline: must be true or false" },
    { "an entry with no measure", doc({ perfsignature = '{"aggregate": "avg"}' }),
      'm.json: $.S.perfsignature[0]: has none of "timeseries", "smartscape", "metric" (the original skipped such entries silently' },
    { "an entry with two measures", doc({ perfsignature = '{"timeseries": "service.responsetime", "smartscape": "toRelationships:calls", "aggregate": "avg"}' }),
      "m.json: $.S.perfsignature[0]: has timeseries and smartscape; an entry measures exactly one thing" },
    { "a timeseries entry without aggregate", doc({ perfsignature = '{"timeseries": "service.responsetime"}' }),
      "m.json: $.S.perfsignature[0].aggregate: missing (use avg, sum, min, max, median, count or pNN (e.g. p90))" },
    { "an unknown aggregate", doc({ perfsignature = '{"timeseries": "service.responsetime", "aggregate": "average"}' }),
      'm.json: $.S.perfsignature[0].aggregate: "average" is not an aggregate (use avg, sum, min, max, median, count or pNN with NN in 1..99 (e.g. p90))' },
    { "percentile 100", doc({ perfsignature = '{"timeseries": "service.responsetime", "aggregate": "p100"}' }),
      'm.json: $.S.perfsignature[0].aggregate: "p100" is not an aggregate' },
    { "a non-numeric upperlimit string", doc({ perfsignature = '{"timeseries": "service.responsetime", "aggregate": "avg", "upperlimit": "2 s"}' }),
      'm.json: $.S.perfsignature[0].upperlimit: "2 s" is not a number (write a number, e.g. upperlimit: 500000)' },
    { "a boolean lowerlimit", doc({ perfsignature = '{"timeseries": "service.responsetime", "aggregate": "avg", "lowerlimit": true}' }),
      "m.json: $.S.perfsignature[0].lowerlimit: must be a number or a numeric string" },
    { "a misspelt validate value", doc({ perfsignature = '{"timeseries": "service.responsetime", "aggregate": "avg", "validate": "lowr"}' }),
      'm.json: $.S.perfsignature[0].validate: "lowr" is not "upper" or "lower"; did you mean "lower"?' },
    { "a misspelt upperlimit key", doc({ perfsignature = '{"timeseries": "service.responsetime", "aggregate": "avg", "uperlimit": 5}' }),
      'm.json: $.S.perfsignature[0].uperlimit: unknown key "uperlimit"; did you mean "upperlimit"?' },
    { "a smartscape value without relation type", doc({ perfsignature = '{"smartscape": "toRelationships"}' }),
      'm.json: $.S.perfsignature[0].smartscape: must be "<relationList>:<relationType>" (e.g. "toRelationships:calls", "fromRelationships:runsOn")' },
    { "a misspelt relation list", doc({ perfsignature = '{"smartscape": "toRelationship:calls"}' }),
      'm.json: $.S.perfsignature[0].smartscape: unknown relation list "toRelationship"; did you mean "toRelationships"?' },
    { "an aggregate on a metric entry", doc({ perfsignature = '{"metric": "builtin:service.response.time:splitBy():avg", "aggregate": "avg"}' }),
      "m.json: $.S.perfsignature[0].aggregate: not used with \"metric\" (put the aggregation in the selector" },
    { "a critical flag that is not a boolean", doc({ perfsignature = '{"timeseries": "service.responsetime", "aggregate": "avg", "critical": "no"}' }),
      "m.json: $.S.perfsignature[0].critical: must be true or false" },
    { "an empty perfsignature", doc({ perfsignature = "" }),
      "m.json: $.S.perfsignature: must be a non-empty array of entries" },
    { "service methods on a HOST", doc({ etype = '"HOST"', methods = '[{"name": "/x", "perfsignature": [{"timeseries": "com.dynatrace.builtin:servicemethod.responsetime", "aggregate": "avg"}]}]' }),
      "m.json: $.S.servicemethods: service methods only exist on SERVICE entity definitions" },
    { "a service method without name", doc({ methods = '[{"perfsignature": [{"timeseries": "com.dynatrace.builtin:servicemethod.responsetime", "aggregate": "avg"}]}]' }),
      'm.json: $.S.servicemethods[0].name: must be the method name, e.g. "/api/invoke"' },
    { "a smartscape count on a service method", doc({ methods = '[{"name": "/x", "perfsignature": [{"smartscape": "toRelationships:calls"}]}]' }),
      "m.json: $.S.servicemethods[0].perfsignature[0]: smartscape counts are not available for service methods" },
    { "a key with spaces in the path", '{"My Service": {"etype": "SERVICE", "environments": {"A B": {"entities": ["SERVICE-1"], "tagz": []}}, "perfsignature": [{"smartscape": "toRelationships:calls"}]}}',
      'm.json: $["My Service"].environments["A B"].tagz: unknown key "tagz"; did you mean "tags"?' },
  }
  for _, c in ipairs(cases) do
    it(c[1], function() expect_error(c[2], c[3]) end)
  end

  it("reports every problem of a file at once", function()
    local _, msg, problems = load_text(doc({ etype = '"SERVIC"', perfsignature = '{"timeseries": "x", "aggregate": "pp"}' }))
    assert.equal(2, #problems)
    assert.equal("$.S.etype", problems[1].path)
    assert.equal("$.S.perfsignature[0].aggregate", problems[2].path)
    assert.equal(2, #msg:gsub("[^\n]", "") + 1)
  end)
end)

describe("monspec.load accepts", function()
  it("keys starting with _ at every level", function()
    local spec = assert(load_text([[{"_c": 1, "S": {"_x": {}, "etype": "SERVICE",
      "environments": {"_old": 5, "A": {"_note": "", "entities": ["SERVICE-A"]}},
      "perfsignature": [{"_timeseries": "x", "smartscape": "toRelationships:calls", "_upperlimit": "oops"}]}}]]))
    assert.same({ "A" }, spec.entities.S.environment_names)
    assert.is_nil(spec.entities.S.perfsignature[1].upperlimit)
  end)

  it("aggregate case-insensitively (M19) and numeric strings as the original's float()", function()
    local spec = assert(load_text(doc({ perfsignature =
      '{"timeseries": "service.responsetime", "aggregate": "P95", "upperlimit": " 1_500.5 ", "lowerlimit": "1e2"}' })))
    local e = spec.entities.S.perfsignature[1]
    assert.same({ text = "p95", type = "percentile", percentile = 95 }, e.aggregate)
    assert.equal(1500.5, e.upperlimit)
    assert.equal(100.0, e.lowerlimit)
    assert.equal("com.dynatrace.builtin:service.responsetime", e.api_id)
  end)

  it("duplicate comparison names in compat dtcli, first one wins (M19)", function()
    local text = doc({ comparisons = '{"name": "C", "source": "Staging", "compare": "Production", "shiftsourcetimeframe": 0, "shiftcomparetimeframe": 0}, {"name": "C", "source": "Production", "compare": "Staging", "shiftsourcetimeframe": 0, "shiftcomparetimeframe": 0}' })
    local spec, warnings = load_text(text, { compat = "dtcli" })
    assert.equal("Staging", spec.entities.S.comparison_by_name.C.source)
    assert.equal(1, #warnings)
  end)

  it("missing shifts as 0 with a warning, negative scale factors with a warning", function()
    local spec, warnings = load_text(doc({ comparisons =
      '{"name": "C", "source": "Staging", "compare": "Production", "scalefactorperc": {"default": -10}}' }))
    assert.equal(0, spec.entities.S.comparisons[1].shift_source)
    assert.same({
      "m.json: $.S.comparisons[0].scalefactorperc.default: negative scale factor: the threshold is tighter than the baseline",
      "m.json: $.S.comparisons[0].shiftsourcetimeframe: missing; using 0 (the original tool required it)",
      "m.json: $.S.comparisons[0].shiftcomparetimeframe: missing; using 0 (the original tool required it)",
    }, warnings)
  end)

  it("warns about a per-metric scale factor that names no measure", function()
    local _, warnings = load_text(doc({ comparisons =
      '{"name": "C", "source": "Staging", "compare": "Production", "scalefactorperc": {"default": 5, "com.dynatrace.builtin:service.responsetim": 9}, "shiftsourcetimeframe": 0, "shiftcomparetimeframe": 0}' }))
    assert.same({ 'm.json: $.S.comparisons[0].scalefactorperc["com.dynatrace.builtin:service.responsetim"]: names no perfsignature measure; did you mean "com.dynatrace.builtin:service.responsetime"?' },
                warnings)
  end)

  it("a top-level policy key naming the policy file", function()
    local text = doc():gsub("^{", '{"policy": "gate.lua", ')
    local spec = assert(load_text(text))
    assert.equal("gate.lua", spec.policy)
  end)
end)

describe("monspec.suggest", function()
  it("suggests by edit distance and refuses far candidates", function()
    assert.equal("timeseries", monspec.suggest("timeseriers", { "timeseries", "smartscape", "metric" }))
    assert.equal("smartscape", monspec.suggest("smartscap", { "timeseries", "smartscape", "metric" }))
    assert.is_nil(monspec.suggest("colour", { "timeseries", "smartscape", "metric" }))
  end)
end)
