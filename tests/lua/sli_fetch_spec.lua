-- Fetching SLIs through a fake unbreakable.dynatrace (one dt.batch) and
-- reducing each Metrics v2 fixture to one value exactly as docs/reference/keptn-slo.md
-- 3.4 says: every warning/failure message, the descriptor retry with
-- resolution=Inf or :fold, MV2 units, SLO; and PV2;, readiness (Q28).
local sli = require("unbreakable.slo.sli")
local cjson = require("cjson")
local stats = require("fake_stats")

local fixtures = require("fixtures")

local function json_fixture(name) return cjson.decode(fixtures.read("dynatrace/" .. name)) end

-- A Metrics v2 fixture in the binding's shape (series with nil = null).
local function metrics_answer(name, request)
  local j = json_fixture(name)
  local result = {}
  for i, r in ipairs(j.result) do
    local data = {}
    for k, d in ipairs(r.data) do
      local values = {}
      for x, v in ipairs(d.values) do values[x] = v ~= cjson.null and v or nil end
      data[k] = { dimensions = d.dimensions, dimension_map = d.dimensionMap,
                  series = stats.series(values, { n = #d.values }) }
    end
    result[i] = { metric_id = r.metricId, warnings = r.warnings, data = data }
  end
  return { ok = true, status = 200, request = request, resolution = j.resolution,
           total_count = j.totalCount, warnings = j.warnings, result = result }
end

-- A fake binding: answer(call) gives the response for one batch entry.
local function fake_dt(answer)
  local fake = { batches = {} }
  function fake.batch(calls)
    fake.batches[#fake.batches + 1] = calls
    local out = {}
    for i, call in ipairs(calls) do out[i] = answer(call) end
    return out
  end
  return fake
end

local SEL = "builtin:service.response.time:merge(\"dt.entity.service\"):percentile(95)"
local CTX = { project = "sockshop", stage = "staging", service = "carts", deployment = "primary",
              from = 1664323200500, to = 1664409600999 }

local function fetch_one(query_text, answer, options)
  local dt = fake_dt(answer)
  local records, summary = sli.fetch(dt, { "rt" }, { rt = query_text }, CTX, options)
  return records and records[1], summary, dt
end

local function only(file)
  return function(call)
    if call[1] == "metrics" then return metrics_answer(file, "GET /api/v2/metrics/query") end
    error("unexpected call " .. call[1])
  end
end

describe("Metrics v2 reduction", function()
  it("several values: descriptor says resolutionInfSupported -> re-query with resolution=Inf", function()
    local record, summary, dt = fetch_one("metricSelector=" .. SEL .. "&entitySelector=type(SERVICE)", function(call)
      if call[1] == "metric_descriptor" then
        return { ok = true, status = 200, request = "GET /api/v2/metrics/" .. call[2],
                 descriptor = json_fixture("metrics-v2-descriptor_builtin-service-response-time.json") }
      end
      if call[3].resolution == "Inf" then
        return metrics_answer("metrics-v2-query_200_single-series_resolution-Inf_single-value.json", "query Inf")
      end
      return metrics_answer("metrics-v2-query_200_single-series_resolution-1h_24values.json", "query 1h")
    end)
    assert.are.same({ metric = "rt", value = 31846.08512740705, success = true, failed = false,
                      message = "", query = "query Inf" }, record)
    assert.are.equal("pass", summary.result)
    assert.are.equal(3, #dt.batches)
    assert.are.same({ "metric_descriptor", SEL }, dt.batches[2][1])
    assert.are.same({ "metrics", SEL, { entity_selector = "type(SERVICE)", from = 1664323200000,
                      to = 1664409600000, resolution = "Inf" } }, dt.batches[3][1])
  end)

  it("MV2;MicroSecond; divides by 1000 (31846.085 us -> 31.846 ms)", function()
    local record = fetch_one("MV2;MicroSecond;metricSelector=" .. SEL,
      only("metrics-v2-query_200_single-series_resolution-Inf_single-value.json"))
    assert.are.equal(31846.08512740705 / 1000, record.value)
    assert.is_true(record.success)
  end)

  it("MV2;Byte; divides by 1024", function()
    local record = fetch_one("MV2;Byte;metricSelector=" .. SEL,
      only("metrics-v2-query_200_single-series_resolution-Inf_single-value.json"))
    assert.are.equal(31846.08512740705 / 1024, record.value)
  end)

  it("several values with a resolution in the query and default aggregation 'value': FAILED, no fold", function()
    local record, summary, dt = fetch_one("metricSelector=" .. SEL .. "&resolution=1h", function(call)
      if call[1] == "metric_descriptor" then
        return { ok = true, descriptor = json_fixture("metrics-v2-descriptor_builtin-service-response-time.json") }
      end
      return metrics_answer("metrics-v2-query_200_single-series_resolution-1h_24values.json", "q")
    end)
    assert.is_false(record.success)
    assert.is_true(record.failed)
    assert.matches("^unable to apply ':fold' to the metric selector", record.message)
    assert.are.equal("fail", summary.result)
    assert.are.equal(2, #dt.batches)
  end)

  it("several values, no Inf support, default aggregation avg: re-query '(selector):fold'", function()
    local record, _, dt = fetch_one("metricSelector=" .. SEL, function(call)
      if call[1] == "metric_descriptor" then
        return { ok = true, descriptor = { resolutionInfSupported = false, defaultAggregation = { type = "avg" } } }
      end
      if call[2] == "(" .. SEL .. "):fold" then
        return metrics_answer("metrics-v2-query_200_single-series_resolution-Inf_single-value.json", "fold")
      end
      return metrics_answer("metrics-v2-query_200_single-series_resolution-1h_24values.json", "q")
    end)
    assert.are.equal(31846.08512740705, record.value)
    assert.are.equal("(" .. SEL .. "):fold", dt.batches[3][1][2])
    assert.is_nil(dt.batches[3][1][3].resolution)
  end)

  it("still several values after the retry: WARNING, only one retry", function()
    local record, summary, dt = fetch_one("metricSelector=" .. SEL, function(call)
      if call[1] == "metric_descriptor" then
        return { ok = true, descriptor = { resolutionInfSupported = true } }
      end
      return metrics_answer("metrics-v2-query_200_single-series_resolution-1h_24values.json", "q")
    end)
    assert.are.equal("Metrics API v2 returned 24 values but only one is supported", record.message)
    assert.is_false(record.success)
    assert.is_false(record.failed)
    assert.are.equal("warning", summary.result)
    assert.are.equal(3, #dt.batches)
  end)

  it("the descriptor request fails: FAILED with the API error", function()
    local record = fetch_one("metricSelector=" .. SEL, function(call)
      if call[1] == "metric_descriptor" then
        return { ok = false, status = 404, error = "Dynatrace API error (404): Metric not found" }
      end
      return metrics_answer("metrics-v2-query_200_single-series_resolution-1h_24values.json", "q")
    end)
    assert.are.equal("error querying Metrics API v2: Dynatrace API error (404): Metric not found", record.message)
    assert.is_true(record.failed)
  end)

  local warnings = {
    ["metrics-v2-query_200_three-series_splitby-service_resolution-10m.json"] =
      "Metrics API v2 returned 3 metric series but only one is supported",
    ["metrics-v2-query_200_zero-series_wrong-tag.json"] = "Metrics API v2 returned zero metric series",
    ["metrics-v2-query_200_zero-series_with-warnings.json"] = "Metrics API v2 returned zero metric series. Warnings: " ..
      "The dimension key `dt.entity.services` has been referenced, but `services` is not a known entity type., " ..
      "The dimension key `dt.entity.services` has been referenced, but the metric has no such key.",
    ["metrics-v2-query_200_single-series_null-value.json"] = "Metrics API v2 returned 'null' as value",
    ["metrics-v2-query_200_zero-series-collections.json"] = "Metrics API v2 returned 0 metric series collections",
  }
  for file, message in pairs(warnings) do
    it("WARNING for " .. file, function()
      local record, summary, dt = fetch_one("metricSelector=" .. SEL, only(file))
      assert.are.same({ metric = "rt", value = 0, success = false, failed = false, message = message,
                        query = "GET /api/v2/metrics/query" }, record)
      assert.are.equal("warning", summary.result)
      assert.are.equal(1, #dt.batches)
    end)
  end

  it("zero values in the single series: WARNING", function()
    local record = fetch_one("metricSelector=" .. SEL, function()
      return { ok = true, result = { { data = { { series = stats.series({}, { n = 0 }) } } } } }
    end)
    assert.are.equal("Metrics API v2 returned zero values", record.message)
  end)

  it("an API error is FAILED with the binding's message", function()
    local err = json_fixture("api-error_400_metric-selector-parse-error.json").error
    local record, summary = fetch_one("metricSelector=" .. SEL, function()
      return { ok = false, status = 400, request = "GET /api/v2/metrics/query?...",
               error = "Dynatrace API error (400): " .. err.message }
    end)
    assert.are.equal("error querying Metrics API v2: Dynatrace API error (400): " .. err.message, record.message)
    assert.is_true(record.failed)
    assert.are.equal("fail", summary.result)
  end)
end)

describe("fetch", function()
  local indicators = {
    rt = "MV2;MicroSecond;metricSelector=" .. SEL .. "&entitySelector=type(SERVICE),tag(keptn_service:$SERVICE)",
    availability = "SLO;7d07efde-b714-3e6e-ad95-08490e2540c4",
    problems = "PV2;problemSelector=status(open)&entitySelector=type(SERVICE),tag(keptn_service:$SERVICE)",
    usql = "USQL;COLUMN_CHART;iOS;SELECT osVersion FROM usersession",
    unnamed = "metricSelector=x&entitySelector=tag(d:$DEPLOYMENT_ID)",
  }
  local function answer(call)
    if call[1] == "metrics" then
      return metrics_answer("metrics-v2-query_200_single-series_resolution-Inf_single-value.json", "GET metrics")
    elseif call[1] == "slo" then
      return { ok = true, request = "GET slo", slo = json_fixture("slo-v2-get-by-id_200.json") }
    elseif call[1] == "problems" then
      local p = json_fixture("problems-v2-list_200_status-open.json")
      return { ok = true, request = "GET problems", total_count = p.totalCount, problems = {} }
    end
    error("unexpected " .. call[1])
  end

  it("fetches every indicator in one batch, in objective order", function()
    local dt = fake_dt(answer)
    local names = { "rt", "availability", "problems", "missing", "usql", "unnamed" }
    local records, summary = sli.fetch(dt, names, indicators, CTX)
    assert.are.equal(1, #dt.batches)
    assert.are.equal(3, #dt.batches[1])
    assert.are.same({ "metrics", SEL, { entity_selector = "type(SERVICE),tag(keptn_service:carts)",
                      from = 1664323200000, to = 1664409600000 } }, dt.batches[1][1])
    -- as dynatrace-service asks: /api/v2/slo/{id}?from=..&timeFrame=GTF&to=.. (without GTF the
    -- classic SLO API may evaluate the SLO over its own timeframe, not the evaluation's)
    assert.are.same({ "slo", "7d07efde-b714-3e6e-ad95-08490e2540c4",
                      { from = 1664323200000, to = 1664409600000, time_frame = "GTF" } }, dt.batches[1][2])
    assert.are.same({ "problems", { problem_selector = "status(open)", entity_selector = "type(SERVICE),tag(keptn_service:carts)",
                      from = 1664323200000, to = 1664409600000 } }, dt.batches[1][3])
    assert.are.equal(31846.08512740705 / 1000, records[1].value)
    assert.are.equal(95, records[2].value)
    assert.are.equal(30, records[3].value)
    assert.are.equal("SLI definition for 'missing' was not found", records[4].message)
    assert.is_true(records[4].failed)
    assert.matches("^indicator 'usql': USQL %(user session query%) is not supported", records[5].message)
    assert.matches("^indicator 'unnamed': placeholder %$DEPLOYMENT_ID has no value", records[6].message)
    assert.are.equal("fail", summary.result)
    for i, name in ipairs(names) do assert.are.equal(name, records[i].metric) end
  end)

  it("compat = keptn replaces placeholders as plain text", function()
    local dt = fake_dt(answer)
    local records = sli.fetch(dt, { "unnamed" }, indicators, CTX, { compat = "keptn" })
    assert.are.equal("tag(d:primary_ID)", dt.batches[1][1][3].entity_selector)
    assert.is_true(records[1].success)
  end)

  it("a warning on an informational indicator leaves the provider result pass", function()
    local dt = fake_dt(only("metrics-v2-query_200_zero-series_wrong-tag.json"))
    local _, summary = sli.fetch(dt, { "rt" }, { rt = "metricSelector=x" }, CTX, { info = { rt = true } })
    assert.are.equal("pass", summary.result)
  end)

  it("names_of lists one indicator per objective in objective order, with the info ones", function()
    -- lighthouse asks once per objective, duplicates kept (Q18)
    local names, info = sli.names_of({ objectives = { { sli = "b", info = false }, { sli = "a", info = true },
                                                      { sli = "b", info = false } } })
    assert.are.same({ "b", "a", "b" }, names)
    assert.are.same({ a = true }, info)
  end)
end)

describe("data readiness (Q28)", function()
  it("waits 2 min after the end: 30 s after it, 90 s remain and nothing is queried", function()
    local dt = fake_dt(only("metrics-v2-query_200_single-series_resolution-Inf_single-value.json"))
    local records, state = sli.fetch(dt, { "rt" }, { rt = "metricSelector=x" }, CTX, { now = CTX.to + 30000 })
    assert.is_nil(records)
    assert.are.same({ not_ready = true, wait_ms = 90000 }, state)
    assert.are.equal(0, #dt.batches)
  end)

  it("more than 4 min of wait (end 150 s in the future): every indicator FAILS", function()
    local dt = fake_dt(only("metrics-v2-query_200_single-series_resolution-Inf_single-value.json"))
    local records, summary = sli.fetch(dt, { "rt" }, { rt = "metricSelector=x" }, CTX, { now = CTX.to - 150000 })
    assert.are.equal("required delay of 270.00 seconds exceeds maximum of 240.00 seconds", records[1].message)
    assert.is_true(records[1].failed)
    assert.are.equal("fail", summary.result)
    assert.are.equal(0, #dt.batches)
  end)

  it("2 min or more after the end: queries at once", function()
    local dt = fake_dt(only("metrics-v2-query_200_single-series_resolution-Inf_single-value.json"))
    local records = sli.fetch(dt, { "rt" }, { rt = "metricSelector=x" }, CTX, { now = CTX.to + 120000 })
    assert.is_true(records[1].success)
  end)
end)

describe("fetch called with odd arguments", function()
  local function raises(msg, f)
    local ok, err = pcall(f)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("sli_fetch_spec.lua:%d+: "), tostring(err))
    assert.truthy(tostring(err):find(msg, 1, true), tostring(err))
  end

  it("names the argument that is not what it should be", function()
    local dt = fake_dt(only("metrics-v2-query_200_single-series_resolution-Inf_single-value.json"))
    raises("sli.fetch: names must be a list of indicator names", function() sli.fetch(dt, nil, {}, CTX) end)
    raises("sli.fetch: indicators must be a table of name -> query", function() sli.fetch(dt, { "rt" }, nil, CTX) end)
    raises("sli.fetch: ctx must be a table with from and to", function() sli.fetch(dt, { "rt" }, {}, nil) end)
    raises("sli.fetch: dt must be the unbreakable.dynatrace binding", function() sli.fetch(nil, { "rt" }, {}, CTX) end)
  end)

  it("a binding that answers a retry batch with nothing fails the indicator instead of crashing", function()
    local n = 0
    local dt = { batches = {} }
    function dt.batch(calls)
      n = n + 1
      if n > 1 then return nil end
      return { metrics_answer("metrics-v2-query_200_single-series_resolution-1h_24values.json", "GET metrics") }
    end
    local records, summary = sli.fetch(dt, { "rt" }, { rt = "metricSelector=x" }, CTX)
    assert.is_true(records[1].failed)
    assert.are.equal("fail", summary.result)
  end)
end)
