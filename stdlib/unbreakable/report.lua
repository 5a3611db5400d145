-- unbreakable.report: turns a gate verdict table into what people and CI
-- read: a text table for terminals (units made human, colour optional) and
-- JUnit XML with one test case per objective. Pure functions of the verdict.

local M = {}

local json_ok, json = pcall(require, "unbreakable.json")
local NULL = json_ok and json.null or nil
-- every string of the policy's shown on a terminal goes through the
-- host's one sanitiser: no control character, no line break, no CI command
local line = require("unbreakable.text").line

local function present(v)
  return v ~= nil and v ~= NULL
end

-- Human units: Dynatrace reports response times in microseconds; people
-- read milliseconds. Returns the scaled value and its unit label.
local UNIT_SCALES = {
  ["MicroSecond"] = { 1 / 1000, "ms" }, ["µs"] = { 1 / 1000, "ms" },
  ["MicroSecond (µs)"] = { 1 / 1000, "ms" }, ["us"] = { 1 / 1000, "ms" }, ["NanoSecond"] = { 1 / 1e6, "ms" },
  ["MilliSecond"] = { 1, "ms" }, ["Second"] = { 1, "s" }, ["Percent"] = { 1, "%" }, ["Percent (%)"] = { 1, "%" },
  ["PerMinute (count/min)"] = { 1, "/min" }, ["count/min"] = { 1, "/min" },
  ["Byte"] = { 1 / 1024, "KiB" }, ["KibiByte"] = { 1, "KiB" }, ["Count"] = { 1, "" },
}

function M.human(value, unit)
  if not present(value) then return "-" end
  if type(value) ~= "number" then return tostring(value) end
  local scale = UNIT_SCALES[unit or ""]
  local v, label = value, (present(unit) and unit or "")
  if scale then v, label = value * scale[1], scale[2] end
  local text
  if math.type(v) == "integer" or (v == math.floor(v) and math.abs(v) < 1e15) then
    text = string.format("%d", math.floor(v))
  elseif math.abs(v) >= 100 then
    text = string.format("%.1f", v)
  else
    text = string.format("%.3g", v)
  end
  if label == "" then return text end
  if label == "%" then return text .. "%" end
  return text .. " " .. label
end

local COLORS = { pass = "32", warning = "33", fail = "31", error = "31;1",
                 inconclusive = "35", no_data = "35", no_baseline = "35" }

local function paint(text, status, color)
  if not color or not COLORS[status] then return text end
  return "\27[" .. COLORS[status] .. "m" .. text .. "\27[0m"
end

local function pad(s, n)
  local len = utf8.len(s) or #s
  if len >= n then return s end
  return s .. string.rep(" ", n - len)
end

local function threshold_text(o)
  local parts = {}
  if present(o.lower_threshold) then parts[#parts + 1] = ">= " .. M.human(o.lower_threshold, o.unit) end
  if present(o.upper_threshold) then parts[#parts + 1] = "<= " .. M.human(o.upper_threshold, o.unit) end
  if #parts == 0 and present(o.threshold) then
    local op = o.validate == "lower" and ">=" or "<="
    if type(o.threshold_op) == "string" then op = o.threshold_op end  -- SLO: the criterion's own
    parts[1] = op .. " " .. M.human(o.threshold, o.unit)
  end
  return #parts > 0 and table.concat(parts, ", ") or "-"
end

-- critical = false caps a monspec objective at warning; an SLO objective
-- that is not key_sli still costs its weight, so it gets no mark.
local function capped(v, o)
  return o.critical == false and v.mode ~= "slo"
end

-- An SLO objective's criteria as written in slo.yaml; a relative one
-- gets the absolute threshold it came to, in the value's unit:
-- "<=+10% AND <600 (<= 550 ms)".
local function slo_criteria_text(o, which)
  local text = which == "pass" and o.criteria or o.warning_criteria
  if type(text) ~= "string" or text == "" then
    return which == "pass" and threshold_text(o) or "-"
  end
  if which == "pass" and present(o.threshold) and text:find("%%") then
    text = text .. " (" .. threshold_text(o) .. ")"
  end
  return text
end

-- SLO objectives: the pass and warning criteria are the threshold; an
-- objective without criteria is informational; key objectives are marked.
local function slo_rows(v)
  local rows = { { "STATUS", "OBJECTIVE", "VALUE", "BASELINE", "PASS IF", "WARNING IF" } }
  for _, o in ipairs(v.objectives or {}) do
    local status = o.keptn_status == "info" and "info" or (o.status or "error")
    rows[#rows + 1] = { line(status), line(o.name or "?") .. (o.critical == true and " (key)" or ""),
                        line(M.human(o.value, o.unit)), line(M.human(o.baseline, o.unit)),
                        line(slo_criteria_text(o, "pass")), line(slo_criteria_text(o, "warning")) }
  end
  return rows
end

-- "score 66.7 of 100: pass needs 90, warning needs 75" (Keptn's total_score).
local function slo_score_line(v)
  if type(v.score) ~= "number" then return nil end
  local text = "score " .. M.human(v.score) .. " of 100"
  local t = type(v.total_score) == "table" and v.total_score or {}
  local targets = {}
  if present(t.pass) then targets[#targets + 1] = "pass needs " .. M.human(t.pass) end
  if present(t.warning) then targets[#targets + 1] = "warning needs " .. M.human(t.warning) end
  if #targets > 0 then text = text .. ": " .. table.concat(targets, ", ") end
  return line(text)
end

local function objective_rows(v)
  if v.mode == "slo" then return slo_rows(v) end
  local rows = { { "STATUS", "OBJECTIVE", "VALUE", "BASELINE", "THRESHOLD" } }
  for _, o in ipairs(v.objectives or {}) do
    local status = o.status or "error"
    if capped(v, o) and status ~= "pass" then status = status .. "*" end
    rows[#rows + 1] = { line(status), line(o.name or "?"), line(M.human(o.value, o.unit)),
                        line(M.human(o.baseline, o.unit)), line(threshold_text(o)) }
  end
  return rows
end

local function widths(rows)
  local w = {}
  for _, row in ipairs(rows) do
    for i, cell in ipairs(row) do
      local len = utf8.len(cell) or #cell
      if not w[i] or len > w[i] then w[i] = len end
    end
  end
  return w
end

local function add_list(out, title, list)
  if type(list) ~= "table" or #list == 0 then return end
  out[#out + 1] = title .. ":"
  for _, item in ipairs(list) do out[#out + 1] = "  - " .. line(item) end
end

-- text(verdict, {color = bool}) -> string
function M.text(v, opts)
  local color = opts and opts.color
  local out = {}
  local verdict = line(v.verdict or "error")
  out[#out + 1] = paint(string.upper(verdict), verdict, color) .. "  " ..
                  line(present(v.target) and v.target or "") ..
                  (present(v.compat) and ("  (compat " .. line(v.compat) .. ")") or "")
  if present(v.summary) and v.summary ~= "" then out[#out + 1] = line(v.summary) end
  if v.mode == "slo" then out[#out + 1] = slo_score_line(v) end
  out[#out + 1] = ""
  local rows = objective_rows(v)
  local w = widths(rows)
  for r, row in ipairs(rows) do
    local cells = {}
    for i, cell in ipairs(row) do
      local text = pad(cell, w[i])
      if i == #row then text = cell end    -- no trailing blanks
      if i == 1 and r > 1 then text = paint(text, (row[1]:gsub("%*$", "")), color) end
      cells[i] = text
    end
    out[#out + 1] = table.concat(cells, "  ")
  end
  local notes = {}
  for _, o in ipairs(v.objectives or {}) do
    if present(o.message) and o.message ~= "" and o.status ~= "pass" then
      notes[#notes + 1] = line(o.name) .. ": " .. line(o.message)
    end
  end
  out[#out + 1] = ""
  add_list(out, "why", notes)
  add_list(out, "errors", v.errors)
  add_list(out, "warnings", v.warnings)
  if present(v.totalViolations) then
    out[#out + 1] = "violations: " .. line(v.totalViolations)
  end
  for _, o in ipairs(v.objectives or {}) do
    if capped(v, o) then
      out[#out + 1] = "* not critical: counts as a warning at most"
      break
    end
  end
  return table.concat(out, "\n") .. "\n"
end

-- JUnit: the cases and their outcomes; the host writes the XML (one
-- writer, runtime/report/report_junit.c, with its one escaper). A warning
-- or an inconclusive objective is a skipped case with the reason, so that
-- CI test tabs do not show it green.
local function junit_case(o)
  local status = o.status or "error"
  local detail = string.format("value %s, baseline %s, threshold %s; query: %s; %s",
    M.human(o.value, o.unit), M.human(o.baseline, o.unit), threshold_text(o),
    present(o.query) and tostring(o.query) or "-", present(o.message) and tostring(o.message) or "")
  local name = tostring(present(o.name) and o.name or "?")
  local message = present(o.message) and tostring(o.message) or nil
  if status == "fail" then
    return { name = name, outcome = "failed", message = message or "failed", detail = detail }
  elseif status == "error" then
    return { name = name, outcome = "error", message = message or "error", detail = detail }
  elseif status == "no_data" or status == "inconclusive" or status == "no_baseline" then
    return { name = name, outcome = "skipped", message = "inconclusive: " .. (message or "no data"), detail = detail }
  elseif status == "warning" then
    return { name = name, outcome = "skipped", message = "warning: " .. (message or "warning"), detail = detail }
  end
  return { name = name, outcome = "passed", detail = tostring(status) .. ": " .. detail }
end

-- The case of the verdict itself, so that an error with no objectives
-- still fails the build (and a warning with fail_on_warning).
local function verdict_case(v, opts)
  local verdict = tostring(v.verdict or "error")
  local message = present(v.summary) and tostring(v.summary) or verdict
  local extra = {}
  add_list(extra, "errors", v.errors)
  add_list(extra, "warnings", v.warnings)
  if #extra > 0 then message = message .. "; " .. table.concat(extra, " ") end
  local outcome = "error"
  if verdict == "pass" then outcome = "passed"
  elseif verdict == "fail" then outcome = "failed"
  elseif verdict == "warning" then
    if opts and opts.fail_on_warning then outcome = "failed"
    else outcome, message = "skipped", "warning: " .. message end
  end
  return { name = "verdict", outcome = outcome, message = message,
           detail = outcome == "passed" and (verdict .. ": " .. message) or nil }
end

-- junit_cases(verdict [, {fail_on_warning = bool}]) -> {suite = name,
-- cases = {{name, outcome = "passed"|"failed"|"error"|"skipped", message,
-- detail}, ...}}: one case per objective, then the verdict's.
function M.junit_cases(v, opts)
  local suite = "unbreakable." .. tostring(present(v.target) and v.target or "gate")
  local cases = {}
  for _, o in ipairs(v.objectives or {}) do cases[#cases + 1] = junit_case(o) end
  cases[#cases + 1] = verdict_case(v, opts)
  return { suite = suite, cases = cases }
end

return M
