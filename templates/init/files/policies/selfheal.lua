-- policies/selfheal.lua: what happens when Dynatrace opens a problem on
-- {{service}} (docs/selfheal.md). selfheal.json names it, so `serve` runs it
-- for every problem notification (POST /v1/problems).
--
-- As written it is the shipped default (the project's policies/selfheal.lua):
-- an OPEN problem rolls the stage that was deployed last back to the previous
-- release that deployed successfully, and comments on the problem; a RESOLVED
-- problem gets a closing comment. The intents it returns (rollback, comment,
-- event, freeze) are executed by the host exactly once.
--
-- What to change, typically (below, in `decide`):
--   * comment only, never roll back: drop the rollback intents;
--   * also hold the gates of the stage while the problem is open: add
--     { kind = "freeze", stage = ..., reason = ... };
--   * act only on some problems: look at ctx.problem.title, .severity, .tags.
-- Try a change with `serve --dry-run` or `unbreakable selfheal --payload
-- FILE --dry-run`, and run the specs: unbreakable test
local default = require "default_selfheal"

local function decide(ctx)
  local result = default(ctx)
  -- Example: never roll back, only comment (uncomment to use):
  -- local kept = {}
  -- for _, intent in ipairs(result.intents) do
  --   if intent.kind ~= "rollback" then kept[#kept + 1] = intent end
  -- end
  -- result.intents = kept
  return result
end

return decide
