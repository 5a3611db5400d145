-- sli.yaml: query forms, merge of project < stage < service, the built-in
-- indicators (Q3) and placeholder replacement (Q27), on the Keptn fixtures.
local q = require("unbreakable.slo.sli_query")

local fixtures = require("fixtures")

local function fixture(name) return fixtures.read("keptn/" .. name) end

local function load_fixture(name)
  return q.load(fixture(name), name)
end

describe("query forms", function()
  it("reads the metrics form with its four parameters, values raw", function()
    local spec = assert(q.parse("rt", "metricSelector=builtin:service.response.time:merge(\"dt.entity.service\"):percentile(95)" ..
      "&entitySelector=type(SERVICE),tag(keptn_service:carts)&resolution=Inf&mzSelector=mzId(4711)"))
    assert.are.same({ kind = "metrics", metric_selector = "builtin:service.response.time:merge(\"dt.entity.service\"):percentile(95)",
                      entity_selector = "type(SERVICE),tag(keptn_service:carts)", resolution = "Inf",
                      mz_selector = "mzId(4711)" }, spec)
  end)

  it("splits key=value at the first '='", function()
    local spec = assert(q.parse("x", "metricSelector=a:filter(eq(k,v=1))"))
    assert.are.equal("a:filter(eq(k,v=1))", spec.metric_selector)
  end)

  it("rejects duplicate, unknown, empty and missing parameters", function()
    assert.are.equal("indicator 'x': parameter 'metricSelector' is given twice",
      select(2, q.parse("x", "metricSelector=a&metricSelector=b")))
    assert.are.equal("indicator 'x': unknown parameter 'from'", select(2, q.parse("x", "metricSelector=a&from=1")))
    assert.are.equal("indicator 'x': 'entitySelector=' is not key=value",
      select(2, q.parse("x", "metricSelector=a&entitySelector=")))
    assert.are.equal("indicator 'x': metricSelector is missing", select(2, q.parse("x", "entitySelector=type(SERVICE)")))
  end)

  it("reads MV2 with MicroSecond and Byte, rejects other units", function()
    local spec = assert(q.parse("rt", "MV2;MicroSecond;metricSelector=builtin:service.response.time"))
    assert.are.equal("MicroSecond", spec.unit)
    assert.are.equal("builtin:service.response.time", spec.metric_selector)
    assert.are.equal("Byte", assert(q.parse("m", "MV2;Byte;metricSelector=x")).unit)
    assert.matches("MV2 needs a unit MicroSecond or Byte", select(2, q.parse("m", "MV2;Percent;metricSelector=x")))
  end)

  it("reads SLO; and PV2;", function()
    assert.are.same({ kind = "slo", id = "524ca177-849b-3e8c-8175-42b93fbc33c5" },
      q.parse("a", "SLO;524ca177-849b-3e8c-8175-42b93fbc33c5"))
    assert.are.same({ kind = "problems", problem_selector = "status(open)", entity_selector = "type(SERVICE)" },
      q.parse("p", "PV2;problemSelector=status(open)&entitySelector=type(SERVICE)"))
  end)

  it("rejects SECPV2;, USQL; and the legacy ?scope= form, naming the indicator", function()
    assert.matches("^indicator 'sec': SECPV2 %(security problems%) is not supported",
      select(2, q.parse("sec", "SECPV2;securityProblemSelector=status(OPEN)")))
    assert.matches("^indicator 'u': USQL %(user session query%) is not supported",
      select(2, q.parse("u", "USQL;COLUMN_CHART;iOS;SELECT osVersion FROM usersession")))
    assert.matches("^indicator 'l': the legacy '<metricSelector>%?scope=<entitySelector>' form",
      select(2, q.parse("l", "builtin:service.response.time:percentile(95)?scope=tag(keptn_service:carts)")))
  end)

  it("the legacy dynatrace-sli-service file: USQL lines and ';entitySelector=' are named", function()
    local indicators = assert(load_fixture("dynatrace-sli-service_sli_mixed-metrics-usql-legacy.yaml"))
    for _, name in ipairs({ "camp_adoption", "camp_bounces", "camp_conv" }) do
      local spec, err = q.parse(name, indicators[name])
      assert.is_nil(spec)
      assert.matches("^indicator '" .. name .. "': USQL %(user session query%) is not supported", err)
    end
    assert.are.equal("indicator 'bounce_rate': the metricSelector contains ';entitySelector=': separate the " ..
      "parameters with '&' (metricSelector=...&entitySelector=...)", select(2, q.parse("bounce_rate", indicators.bounce_rate)))
    local ok = assert(q.parse("vis_complete", indicators.vis_complete))
    assert.are.equal("builtin:apps.web.visuallyComplete.load.browser:merge(1):avg:names", ok.metric_selector)
    assert.are.equal("type(APPLICATION),mzId(3454183460044244211)", ok.entity_selector)
  end)
end)

describe("sli.yaml files", function()
  it("merges project < stage < service key by key", function()
    local project = assert(load_fixture("dynatrace-service_testdata_get_slis_sli_project.yaml"))
    local stage = assert(load_fixture("dynatrace-service_testdata_get_slis_sli_stage.yaml"))
    local service = assert(load_fixture("dynatrace-service_testdata_get_slis_sli_service.yaml"))
    local merged, builtin = q.merge({ project, stage, service })
    assert.is_false(builtin)
    local expect = {
      sli_a = "percentile(95)&entitySelector=tag(keptn_project:my-project),tag(keptn_stage:my-stage),tag(kept_service:my-service)",
      sli_b = "percentile(90)&entitySelector=tag(keptn_project:my-project),tag(keptn_stage:my-stage),tag(kept_service:my-service)",
      sli_c = "percentile(80)&entitySelector=tag(keptn_project:my-project),tag(keptn_stage:my-stage),tag(kept_service:my-service)",
      sli_d = "percentile(75)&entitySelector=tag(keptn_project:my-project),tag(keptn_stage:my-stage),tag(kept_service:my-service)",
      sli_e = "percentile(70)&entitySelector=tag(keptn_project:my-project),tag(keptn_stage:my-stage)",
      sli_f = "percentile(55)&entitySelector=tag(keptn_project:my-project)",
    }
    local count = 0
    for name, tail in pairs(expect) do
      assert.are.equal("metricSelector=builtin:service.response.time:splitBy():" .. tail, merged[name])
      count = count + 1
    end
    for _ in pairs(merged) do count = count - 1 end
    assert.are.equal(0, count)
  end)

  it("a file without indicators means the five built-in ones (Q3)", function()
    local none = assert(load_fixture("dynatrace-service_testdata_get_slis_sli_no_indicators.yaml"))
    assert.are.same({}, none)
    local merged, builtin = q.merge({ none, nil, {} })
    assert.is_true(builtin)
    local names = {}
    for k in pairs(merged) do names[#names + 1] = k end
    table.sort(names)
    assert.are.same({ "error_rate", "response_time_p50", "response_time_p90", "response_time_p95", "throughput" }, names)
    assert.matches("&entitySelector=type%(SERVICE%),tag%(keptn_project:%$PROJECT%),tag%(keptn_stage:%$STAGE%)," ..
      "tag%(keptn_service:%$SERVICE%),tag%(keptn_deployment:%$DEPLOYMENT%)$", merged.throughput)
  end)

  it("every Keptn sli fixture loads and parses (USQL lines aside)", function()
    for _, name in ipairs({ "dynatrace-service_docs_sli.yaml", "keptn-examples_onboarding-carts_sli-config-dynatrace.yaml",
                            "keptn-examples_simplenodeservice_keptn_dynatrace_sli_perftest.yaml" }) do
      local indicators = assert(load_fixture(name))
      local n = 0
      for k, v in pairs(indicators) do
        local text = assert(q.substitute(k, v, { project = "p", stage = "s", service = "c", deployment = "d" }, {}))
        assert(q.parse(k, text))
        n = n + 1
      end
      assert.is_true(n >= 5)
    end
  end)

  it("type errors name the file and the indicator", function()
    assert.are.equal("sli.yaml:2:6: indicators.x: the query must be a string", select(2, q.load("indicators:\n  x: [1]\n", "sli.yaml")))
    assert.matches("^sli.yaml:3:3: duplicate key 'x'", select(2, q.load("indicators:\n  x: a\n  x: b\n", "sli.yaml")))
  end)
end)

describe("placeholders (Q27)", function()
  local ctx = { project = "sockshop", stage = "staging", service = "carts", labels = { version = "1.2" },
                env = { TEAM = "blue" } }

  it("replaces whole names by default", function()
    local text = assert(q.substitute("x", "tag(keptn_project:$PROJECT),tag(keptn_stage:$STAGE),tag(keptn_service:$SERVICE)," ..
      "tag(v:$LABEL.version),tag(team:$ENV.TEAM)", ctx, {}))
    assert.are.equal("tag(keptn_project:sockshop),tag(keptn_stage:staging),tag(keptn_service:carts),tag(v:1.2),tag(team:blue)", text)
  end)

  it("a placeholder without a value is an error for that indicator (default)", function()
    local text, err = q.substitute("throughput", "tag(keptn_deployment:$DEPLOYMENT)", ctx, {})
    assert.is_nil(text)
    assert.matches("^indicator 'throughput': placeholder %$DEPLOYMENT has no value", err)
    text, err = q.substitute("x", "tag(n:$SERVICE_NAME)", ctx, {})
    assert.is_nil(text)
    assert.matches("placeholder %$SERVICE_NAME has no value", err)
  end)

  it("compat = keptn: plain replacement, unknown becomes empty, $SERVICE rewrites $SERVICE_NAME", function()
    local K = { compat = "keptn" }
    assert.are.equal("tag(keptn_deployment:)", q.substitute("x", "tag(keptn_deployment:$DEPLOYMENT)", ctx, {}, K))
    assert.are.equal("tag(n:carts_NAME)", q.substitute("x", "tag(n:$SERVICE_NAME)", ctx, {}, K))
    assert.are.equal("tag(v:1.2),tag(t:blue),tag(u:)", q.substitute("x", "tag(v:$LABEL.version),tag(t:$ENV.TEAM),tag(u:$ENV.NOPE)", ctx, {}, K))
  end)

  it("filter entries give $key and $KEY, quotes removed, and win over the context", function()
    local filter = { mz_id = "'4711'", PROJECT = "\"other\"" }
    for _, opts in ipairs({ {}, { compat = "keptn" } }) do
      assert.are.equal("mzId(4711),mzId(4711),tag(p:other)",
        q.substitute("x", "mzId($mz_id),mzId($MZ_ID),tag(p:$PROJECT)", ctx, filter, opts))
    end
  end)

  it("a filter name shares its prefix with a longer one: whole names decide", function()
    local filter = { svc = "a", svc_id = "b" }
    assert.are.equal("a/b", q.substitute("x", "$svc/$svc_id", ctx, filter))
    assert.are.equal("a/a_id", q.substitute("x", "$svc/$svc_id", ctx, filter, { compat = "keptn" }))
  end)
end)
