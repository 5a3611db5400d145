-- policies/selfheal.lua on recorded contexts: what `unbreakable selfheal
-- --dry-run` read from the simulators (tests/fixtures/selfheal/, releases 41
-- then 42 deployed to Production), and variations of it for the cases the
-- policy must refuse: a deployment in progress, a newer deployment since,
-- nothing earlier to roll back to, outside the window, Azure DevOps
-- unreadable. It never guesses: no rollback without all of its checks.

local json = require("unbreakable").json()

local function read(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  return text
end

local SOURCE = os.getenv("UB_SOURCE") or "."
local policy = dofile(SOURCE .. "/policies/selfheal.lua")

local function context(name)
  return json.decode(read(SOURCE .. "/tests/fixtures/selfheal/context_" .. name .. ".json"))
end

local function kinds(result)
  local out = {}
  for _, intent in ipairs(result.intents) do out[#out + 1] = intent.kind end
  return table.concat(out, ",")
end

-- The deployment of release 42 (the newest) in the recorded context.
local function newest_deployment(ctx)
  local best
  for _, d in ipairs(ctx.entities[1].deployments) do
    if not best or d.start_ms > best.start_ms then best = d end
  end
  return best
end

describe("policies/selfheal.lua", function()
  it("rolls Production back from Release-42 to Release-41 and says so with both names", function()
    local ctx = context("open_deployed")
    local r = policy(ctx)
    assert.are.equal("rollback,comment", kinds(r))
    local rb = r.intents[1]
    assert.are.same({ "SampleProject", 41, "Production" }, { rb.project, rb.release, rb.stage })
    assert.is_truthy(rb.reason:find("Release-42", 1, true))
    local text = r.intents[2].text
    assert.is_truthy(text:find("Release-41", 1, true))
    assert.is_truthy(text:find("Release-42", 1, true))
    assert.is_truthy(text:find(ctx.links.evaluation, 1, true))
    for _, intent in ipairs(r.intents) do assert.is_string(intent.reason) end
  end)

  it("comments and does not roll back when no pipeline deployed the entity", function()
    local r = policy(context("open_no_deployment"))
    assert.are.equal("comment", kinds(r))
    assert.is_truthy(r.intents[1].text:find("no deployment", 1, true))
  end)

  it("does nothing but comment while a deployment of the stage is in progress", function()
    local ctx = context("open_deployed")
    local d = newest_deployment(ctx)
    table.insert(d.ado.deployments, 1, { id = 231, deploymentStatus = "inProgress", operationStatus = "Queued",
                                         release = { id = 43, name = "Release-43" } })
    local r = policy(ctx)
    assert.are.equal("comment", kinds(r))
    assert.is_truthy(r.intents[1].text:find("in progress", 1, true))
  end)

  it("treats a queued deployment (operationStatus) as in progress", function()
    local ctx = context("open_deployed")
    local d = newest_deployment(ctx)
    table.insert(d.ado.deployments, 1, { id = 231, deploymentStatus = "notDeployed", operationStatus = "QueuedForAgent",
                                         release = { id = 43, name = "Release-43" } })
    assert.are.equal("comment", kinds(policy(ctx)))
  end)

  it("treats a deployment waiting on gates, an intervention, a schedule or a cancel as in progress", function()
    for _, op in ipairs({ "EvaluatingGates", "ManualInterventionPending", "Deferred", "Cancelling" }) do
      local ctx = context("open_deployed")
      table.insert(newest_deployment(ctx).ado.deployments, 1,
                   { id = 231, deploymentStatus = "notDeployed", operationStatus = op,
                     release = { id = 43, name = "Release-43" } })
      assert.are.equal("comment", kinds(policy(ctx)), op)
    end
  end)

  it("does not roll back when a newer deployment succeeded since (the problem is stale)", function()
    local ctx = context("open_deployed")
    local d = newest_deployment(ctx)
    table.insert(d.ado.deployments, 1, { id = 231, deploymentStatus = "succeeded", operationStatus = "Approved",
                                         release = { id = 43, name = "Release-43" } })
    local r = policy(ctx)
    assert.are.equal("comment", kinds(r))
    assert.is_truthy(r.intents[1].text:find("no longer the latest", 1, true))
  end)

  it("does not roll back when no earlier release succeeded on the stage", function()
    local ctx = context("open_deployed")
    local d = newest_deployment(ctx)
    local kept = {}
    for _, item in ipairs(d.ado.deployments) do
      if item.release.id == 42 then kept[#kept + 1] = item end
    end
    d.ado.deployments = kept
    local r = policy(ctx)
    assert.are.equal("comment", kinds(r))
    assert.is_truthy(r.intents[1].text:find("no earlier release", 1, true))
  end)

  it("skips failed deployments of earlier releases", function()
    local ctx = context("open_deployed")
    local d = newest_deployment(ctx)
    table.insert(d.ado.deployments, 2, { id = 225, deploymentStatus = "failed", release = { id = 41, name = "Release-41b" },
                                         releaseEnvironment = { id = 99 } })
    local r = policy(ctx)
    assert.are.equal("rollback,comment", kinds(r))
    assert.are.equal(41, r.intents[1].release)
    assert.is_falsy(r.intents[2].text:find("Release-41b", 1, true))
  end)

  it("ignores deployments outside the window before the problem started", function()
    local ctx = context("open_deployed")
    local d = newest_deployment(ctx)
    ctx.problem.start_ms = d.start_ms + 61 * 60000
    assert.are.equal("comment", kinds(policy(ctx)))
    ctx.settings.window_minutes = 120
    assert.are.equal("rollback,comment", kinds(policy(ctx)))
  end)

  it("ignores a deployment made after the problem started", function()
    local ctx = context("open_deployed")
    for _, d in ipairs(ctx.entities[1].deployments) do d.start_ms = ctx.problem.start_ms + 1000 end
    assert.are.equal("comment", kinds(policy(ctx)))
  end)

  it("says why when Azure DevOps could not be read, and does not guess", function()
    local ctx = context("open_deployed")
    local d = newest_deployment(ctx)
    d.ado = { error = "GET /_apis/release/releases/42: HTTP 401" }
    local r = policy(ctx)
    assert.are.equal("comment", kinds(r))
    assert.is_truthy(r.intents[1].text:find("HTTP 401", 1, true))
  end)

  it("does not roll back when Dynatrace could not confirm the problem is still open", function()
    local ctx = context("open_deployed")
    ctx.problem.status_now = nil -- GET /api/v2/problems/{PID} failed
    local r = policy(ctx)
    assert.are.equal("comment", kinds(r))
    assert.is_truthy(r.intents[1].text:find("did not confirm", 1, true))
    assert.is_truthy(r.intents[1].text:find("nothing was rolled back", 1, true))
  end)

  it("says the events could not be read rather than that nothing was deployed", function()
    local ctx = context("open_no_deployment")
    local e = ctx.entities[1]
    e.events_api, e.events_error = nil, "GET /api/v1/events: HTTP 503"
    local r = policy(ctx)
    assert.are.equal("comment", kinds(r))
    assert.is_truthy(r.intents[1].text:find("could not be read", 1, true))
    assert.is_truthy(r.intents[1].text:find("HTTP 503", 1, true))
    assert.is_falsy(r.intents[1].text:find("no deployment", 1, true))
  end)

  it("comments once that a RESOLVED problem closed, and rolls nothing back", function()
    local ctx = context("open_deployed")
    ctx.problem.state = "RESOLVED"
    local r = policy(ctx)
    assert.are.equal("comment", kinds(r))
    assert.is_truthy(r.intents[1].text:find("closed", 1, true))
  end)

  it("does not roll back a problem Dynatrace already shows closed", function()
    local ctx = context("open_deployed")
    ctx.problem.status_now = "CLOSED"
    local r = policy(ctx)
    assert.are.equal("comment", kinds(r))
    assert.is_truthy(r.intents[1].text:find("already closed", 1, true))
    ctx.problem.status_now = "OPEN"
    assert.are.equal("rollback,comment", kinds(policy(ctx)))
  end)

  local function yaml(ctx, runs)
    local d = newest_deployment(ctx)
    d.release = { kind = "yaml", project = "SampleProject", build_id = "101", build_number = "20261202.1",
                  stage_name = "Production", pipeline_id = "12" }
    d.ado = { kind = "yaml", builds = runs }
    return ctx
  end

  it("re-runs the stage of the last good YAML run", function()
    local r = policy(yaml(context("open_deployed"), {
      { id = 101, buildNumber = "20261202.1", status = "completed", result = "succeeded" },
      { id = 100, buildNumber = "20261201.1", status = "completed", result = "succeeded" } }))
    assert.are.equal("rollback,comment", kinds(r))
    assert.are.same({ "SampleProject", 100, "Production" }, { r.intents[1].project, r.intents[1].build, r.intents[1].stage })
    assert.is_nil(r.intents[1].release)
  end)

  it("does not re-run a YAML stage while another run is in progress, nor after a newer success", function()
    local r = policy(yaml(context("open_deployed"), {
      { id = 102, status = "inProgress" }, { id = 101, status = "completed", result = "succeeded" },
      { id = 100, status = "completed", result = "succeeded" } }))
    assert.are.equal("comment", kinds(r))
    r = policy(yaml(context("open_deployed"), {
      { id = 102, status = "completed", result = "succeeded" }, { id = 101, status = "completed", result = "succeeded" },
      { id = 100, status = "completed", result = "succeeded" } }))
    assert.are.equal("comment", kinds(r))
    assert.is_truthy(r.intents[1].text:find("stale", 1, true))
    r = policy(yaml(context("open_deployed"), {
      { id = 101, status = "completed", result = "succeeded" }, { id = 100, status = "completed", result = "failed" } }))
    assert.are.equal("comment", kinds(r))
  end)

  it("does not re-run a YAML stage while another run is still cancelling or of unknown status", function()
    for _, other in ipairs({ { id = 102, status = "cancelling" }, { id = 102, status = "postponed" }, { id = 102 } }) do
      local r = policy(yaml(context("open_deployed"), {
        other, { id = 101, status = "completed", result = "succeeded" },
        { id = 100, status = "completed", result = "succeeded" } }))
      assert.are.equal("comment", kinds(r))
    end
  end)

  -- the environment's deployment records (Environments API): owner = the run
  local function record(id, run, result, pipeline)
    return { id = id, environmentId = 5, stageName = "Production", result = result,
             finishTime = result and "2026-12-01T10:00:50Z" or nil,
             owner = { id = run, name = tostring(run) }, definition = { id = 12, name = pipeline or "checkout-yaml" } }
  end
  local RUNS = { { id = 101, buildNumber = "20261202.1", status = "completed", result = "succeeded" },
                 { id = 100, buildNumber = "20261201.1", status = "completed", result = "succeeded" } }
  local function with_records(records)
    local ctx = yaml(context("open_deployed"), RUNS)
    local d = newest_deployment(ctx)
    d.ado.environment = { id = 5, name = "production" }
    d.ado.environment_records = records
    return ctx
  end

  it("re-runs the last good YAML run that deployed to the environment", function()
    local r = policy(with_records({ record(2, 101, "succeeded"), record(1, 100, "succeeded") }))
    assert.are.equal("rollback,comment", kinds(r))
    assert.are.equal(100, r.intents[1].build)
  end)

  it("does not re-run a YAML stage while any deployment to the environment is in progress", function()
    local r = policy(with_records({ record(3, 500, nil, "checkout-hotfix"), record(2, 101, "succeeded"),
                                    record(1, 100, "succeeded") }))
    assert.are.equal("comment", kinds(r))
    assert.is_truthy(r.intents[1].text:find("environment production (run 500 of checkout-hotfix) is in progress", 1, true))
  end)

  it("does not re-run a YAML stage when another pipeline deployed to the environment since", function()
    local r = policy(with_records({ record(3, 500, "succeeded", "checkout-hotfix"), record(2, 101, "succeeded"),
                                    record(1, 100, "succeeded") }))
    assert.are.equal("comment", kinds(r))
    assert.is_truthy(r.intents[1].text:find("stale", 1, true))
  end)

  it("needs a run whose deployment to the environment succeeded", function()
    local r = policy(with_records({ record(2, 101, "succeeded"), record(1, 100, "failed") }))
    assert.are.equal("comment", kinds(r))
    assert.is_truthy(r.intents[1].text:find("deployed successfully to the environment", 1, true))
  end)

  it("never acts on the test notification nor on MERGED", function()
    local ctx = context("open_deployed")
    ctx.problem.test = true
    assert.are.equal("", kinds(policy(ctx)))
    ctx = context("open_deployed")
    ctx.problem.state = "MERGED"
    assert.are.equal("", kinds(policy(ctx)))
  end)
end)
