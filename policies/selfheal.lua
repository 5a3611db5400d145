-- selfheal.lua: the default self-healing policy (docs/selfheal.md).
-- Called with the context the host read (problem, impacted entities, their
-- deployment events with the release context, the Azure DevOps state of
-- each deployed stage); returns intents, each with its reason. It never
-- guesses: when it cannot act it says why in a comment on the problem.
--
--  * OPEN: the newest pipeline deployment to an impacted entity within
--    settings.window_minutes before the problem started is rolled back to
--    the newest earlier release whose deployment to that stage succeeded
--    (azure-devops-api.md 4.6), unless a deployment of that stage is in
--    progress or a newer one has happened since; then a comment with both
--    release names and the evaluation link.
--    Nothing is rolled back unless Dynatrace confirmed the problem is still
--    OPEN (problem.status_now) and the deployment events could be read.
--  * RESOLVED: a comment that the problem closed.
--  * anything else (MERGED, the test notification): nothing.

-- operationStatus values of a deployment that has not ended (Release API).
local IN_PROGRESS = {
  inprogress = true, queued = true, queuedforagent = true, queuedforpipeline = true,
  scheduled = true, pending = true, phaseinprogress = true, cancelling = true, deferred = true,
  evaluatinggates = true, manualinterventionpending = true,
}

local function lower(s) return type(s) == "string" and string.lower(s) or "" end

local function problem_name(p)
  if p.problem_id and p.problem_id ~= "" then return p.problem_id end
  return p.pid
end

local function evaluation_text(ctx)
  if ctx.links and ctx.links.evaluation then return "Evaluation: " .. ctx.links.evaluation end
  return "Evaluation: unbreakable history --kind selfheal"
end

local function entity_names(ctx)
  local names = {}
  for _, e in ipairs(ctx.entities or {}) do names[#names + 1] = e.name or e.id end
  if #names == 0 then return "no impacted entity" end
  return table.concat(names, ", ")
end

-- The newest deployment by a pipeline (it carries a release context) to any
-- impacted entity within the window before the problem started.
local function recent_deployment(ctx, start, window_ms)
  local best
  for _, e in ipairs(ctx.entities or {}) do
    for _, d in ipairs(e.deployments or {}) do
      if d.release and d.start_ms <= start and d.start_ms >= start - window_ms
          and (not best or d.start_ms > best.start_ms) then
        best = d
      end
    end
  end
  return best
end

-- Why the deployment events of the impacted entities could not be read
-- (neither Events API answered), or nil.
local function unread_events(ctx)
  for _, e in ipairs(ctx.entities or {}) do
    if e.events_error and not e.events_api then
      return ("the deployment events of %s could not be read (%s)"):format(e.name or e.id, e.events_error)
    end
  end
end

local function release_label(d)
  local r = d.release or {}
  return (r.name or ("release " .. tostring(r.id)))
end

-- What Azure DevOps listed for d's stage (field: deployments, or builds for
-- a YAML run) and the id of d's own release or run (id_field); or nil and
-- why it could not be read.
local function stage_list(d, field, id_field)
  local ado = d.ado or {}
  if ado.error then return nil, ado.error end
  return ado[field] or {}, math.tointeger(tonumber(d.release[id_field]))
end

-- What to do about deployment d: the rollback target (a deployment item of
-- Azure DevOps) or nil and why not.
local function choose_target(d)
  local items, current = stage_list(d, "deployments", "release_id")
  if not items then return nil, current end
  for _, item in ipairs(items) do
    if lower(item.deploymentStatus) == "inprogress" or IN_PROGRESS[lower(item.operationStatus)] then
      return nil, ("a deployment of %s to %s is in progress"):format(release_label(item), d.release.stage)
    end
  end
  local newest_ok
  for _, item in ipairs(items) do
    if lower(item.deploymentStatus) == "succeeded" then newest_ok = item break end
  end
  if not newest_ok or not newest_ok.release or newest_ok.release.id ~= current then
    return nil, ("release %s is no longer the latest successful deployment to %s (%s has happened since)")
        :format(tostring(d.release.release_name or current), d.release.stage,
                newest_ok and release_label(newest_ok) or "none succeeded")
  end
  for _, item in ipairs(items) do
    if lower(item.deploymentStatus) == "succeeded" and item.release and item.release.id < current then
      return item, nil, newest_ok
    end
  end
  return nil, ("no earlier release was deployed successfully to %s"):format(d.release.stage)
end

local function run_label(b)
  return "run " .. tostring(b.buildNumber or b.id)
end

-- The environment's deployment records (Environments API), when the event
-- named an environment: nil and why when one is in progress there or a
-- later deployment succeeded there (by any pipeline); else the set of
-- runs that deployed to it successfully (owner = the run).
local function environment_check(d, current)
  local records = (d.ado or {}).environment_records
  if not records then return {} end
  local env = ((d.ado.environment or {}).name) or tostring((d.ado.environment or {}).id)
  local good, newest_ok = {}, nil
  for _, r in ipairs(records) do
    local owner = r.owner or {}
    local result = lower(r.result)
    if result == "" or not r.finishTime then
      return nil, ("a deployment to environment %s (run %s of %s) is in progress"):format(
        env, tostring(owner.name or owner.id), tostring((r.definition or {}).name or "a pipeline"))
    end
    if result == "succeeded" then
      newest_ok = newest_ok or r
      good[owner.id] = true
    end
  end
  if newest_ok and (newest_ok.owner or {}).id ~= current then
    local o = newest_ok.owner or {}
    return nil, ("run %s of %s deployed to environment %s after run %s: the problem is stale"):format(
      tostring(o.name or o.id), tostring((newest_ok.definition or {}).name or "a pipeline"), env, tostring(current))
  end
  return good
end

-- YAML runs: the newest earlier run whose result is succeeded (and, when
-- the environment's records were read, that deployed to it successfully),
-- unless another run is not completed (in progress, queued, cancelling, or
-- of unknown status) or a newer one succeeded since, in the pipeline or in
-- the environment.
local function choose_run(d)
  local runs, current = stage_list(d, "builds", "build_id")
  if not runs then return nil, current end
  local deployed, why = environment_check(d, current)
  if not deployed then return nil, why end
  local records = (d.ado or {}).environment_records
  for _, b in ipairs(runs) do
    if b.id ~= current and lower(b.status) ~= "completed" then -- also cancelling, postponed, unknown
      return nil, ("%s of the pipeline is in progress"):format(run_label(b))
    end
    if b.id > current and lower(b.result) == "succeeded" then
      return nil, ("%s succeeded after run %s: the problem is stale"):format(run_label(b), tostring(current))
    end
  end
  local this
  for _, b in ipairs(runs) do if b.id == current then this = b end end
  for _, b in ipairs(runs) do
    if b.id < current and lower(b.result) == "succeeded" and (not records or deployed[b.id]) then
      return b, nil, this or { id = current }
    end
  end
  return nil, records and "no earlier run of the pipeline deployed successfully to the environment"
                     or "no earlier run of the pipeline succeeded"
end

local function on_open_yaml(ctx, intents, d, name, start, comment)
  local target, why, current = choose_run(d)
  local stage = d.release.stage_name or d.release.stage
  if not target then
    comment(("unbreakable selfheal: run %s was deployed to %s before problem %s, but nothing was rolled back: %s. %s")
              :format(tostring(d.release.build_number or d.release.build_id), tostring(stage), name, why,
                      evaluation_text(ctx)), why)
    return why
  end
  local reason = ("%s deployed to %s %d min before problem %s started"):format(
    run_label(current), stage, (start - d.start_ms) // 60000, name)
  intents[#intents + 1] = { kind = "rollback", project = d.release.project, build = target.id, stage = stage,
                            reason = reason }
  comment(("unbreakable selfheal: re-ran stage %s of %s (the last good run) instead of %s because of problem %s "
           .. "(%s). %s"):format(stage, run_label(target), run_label(current), name, reason, evaluation_text(ctx)),
          reason)
  return ("re-run %s of %s"):format(stage, run_label(target))
end

local function on_open(ctx, intents)
  local p = ctx.problem
  local name = problem_name(p)
  local minutes = ctx.settings.window_minutes
  local start = (p.start_ms and p.start_ms > 0) and p.start_ms or ctx.now_ms
  local d = recent_deployment(ctx, start, minutes * 60000)
  local function comment(text, reason)
    intents[#intents + 1] = { kind = "comment", text = text, reason = reason }
  end
  local unread = not d and unread_events(ctx)
  if unread then
    comment(("unbreakable selfheal: %s, so nothing was rolled back for problem %s. %s")
              :format(unread, name, evaluation_text(ctx)), unread)
    return unread
  end
  if not d then
    comment(("unbreakable selfheal: no deployment by a pipeline to %s within %g minutes before problem %s "
             .. "started; nothing was rolled back. %s"):format(entity_names(ctx), minutes, name,
                                                              evaluation_text(ctx)),
            "no recent deployment")
    return "no recent deployment"
  end
  if d.release.kind == "yaml" then return on_open_yaml(ctx, intents, d, name, start, comment) end
  local target, why, current = choose_target(d)
  if not target then
    comment(("unbreakable selfheal: %s was deployed to %s before problem %s, but nothing was rolled back: %s. %s")
              :format(tostring(d.release.release_name or d.release.release_id), tostring(d.release.stage), name,
                      why, evaluation_text(ctx)), why)
    return why
  end
  local reason = ("%s deployed to %s %d min before problem %s started"):format(
    release_label(current), d.release.stage, (start - d.start_ms) // 60000, name)
  intents[#intents + 1] = { kind = "rollback", project = d.release.project, release = target.release.id,
                            stage = d.release.stage, reason = reason }
  comment(("unbreakable selfheal: rolled %s back from %s to %s because of problem %s (%s). %s")
            :format(d.release.stage, release_label(current), release_label(target), name, reason,
                    evaluation_text(ctx)), reason)
  return ("roll %s back from %s to %s"):format(d.release.stage, release_label(current), release_label(target))
end

return function(ctx)
  local p = ctx.problem
  local intents = {}
  if p.test then return { summary = "the test notification", intents = intents } end
  if p.state == "RESOLVED" then
    intents[1] = { kind = "comment", reason = "the problem closed",
                   text = ("unbreakable selfheal: problem %s closed (RESOLVED). %s")
                            :format(problem_name(p), evaluation_text(ctx)) }
    return { summary = "the problem closed", intents = intents }
  end
  if p.state ~= "OPEN" then
    return { summary = "state " .. tostring(p.state) .. ": nothing to do", intents = intents }
  end
  if p.status_now == "CLOSED" then
    intents[1] = { kind = "comment", reason = "the problem closed meanwhile",
                   text = ("unbreakable selfheal: problem %s was already closed when its notification was "
                           .. "handled; nothing was rolled back. %s"):format(problem_name(p), evaluation_text(ctx)) }
    return { summary = "the problem closed meanwhile", intents = intents }
  end
  if p.status_now ~= "OPEN" then -- the confirmation failed: unknown is not open
    local why = "Dynatrace did not confirm that the problem is still open"
    intents[1] = { kind = "comment", reason = why,
                   text = ("unbreakable selfheal: Dynatrace did not confirm that problem %s is still open "
                           .. "(status %s); nothing was rolled back. %s")
                            :format(problem_name(p), tostring(p.status_now or "unknown"), evaluation_text(ctx)) }
    return { summary = why, intents = intents }
  end
  local summary = on_open(ctx, intents)
  return { summary = summary, intents = intents }
end
