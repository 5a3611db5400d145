-- unbreakable.report: turns a gate verdict table into what people and CI
-- read: a text table for terminals (units made human, colour optional) and
-- JUnit XML with one test case per objective. Pure functions of the verdict.

local M = {}

local json_ok, json = pcall(require, "unbreakable.json")
local NULL = json_ok and json.null or nil

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
  ["Byte"] = { 1 / 1024, "KiB" },
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
                 inconclusive = "35", no_data = "35" }

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

local function objective_rows(v)
  local rows = { { "STATUS", "OBJECTIVE", "VALUE", "BASELINE", "THRESHOLD" } }
  for _, o in ipairs(v.objectives or {}) do
    local status = o.status or "error"
    if capped(v, o) and status ~= "pass" then status = status .. "*" end
    rows[#rows + 1] = { status, tostring(o.name or "?"), M.human(o.value, o.unit),
                        M.human(o.baseline, o.unit), threshold_text(o) }
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
  for _, item in ipairs(list) do out[#out + 1] = "  - " .. tostring(item) end
end

-- text(verdict, {color = bool}) -> string
function M.text(v, opts)
  local color = opts and opts.color
  local out = {}
  local verdict = tostring(v.verdict or "error")
  out[#out + 1] = paint(string.upper(verdict), verdict, color) .. "  " ..
                  tostring(present(v.target) and v.target or "") ..
                  (present(v.compat) and ("  (compat " .. tostring(v.compat) .. ")") or "")
  if present(v.summary) then out[#out + 1] = tostring(v.summary) end
  out[#out + 1] = ""
  local rows = objective_rows(v)
  local w = widths(rows)
  for r, row in ipairs(rows) do
    local cells = {}
    for i, cell in ipairs(row) do
      local text = pad(cell, w[i])
      if i == 1 and r > 1 then text = paint(text, (row[1]:gsub("%*$", "")), color) end
      cells[i] = text
    end
    out[#out + 1] = table.concat(cells, "  ")
  end
  local notes = {}
  for _, o in ipairs(v.objectives or {}) do
    if present(o.message) and o.message ~= "" and o.status ~= "pass" then
      notes[#notes + 1] = tostring(o.name) .. ": " .. tostring(o.message)
    end
  end
  out[#out + 1] = ""
  add_list(out, "why", notes)
  add_list(out, "errors", v.errors)
  add_list(out, "warnings", v.warnings)
  if present(v.totalViolations) then
    out[#out + 1] = "violations: " .. tostring(v.totalViolations)
  end
  for _, o in ipairs(v.objectives or {}) do
    if capped(v, o) then
      out[#out + 1] = "* not critical: counts as a warning at most"
      break
    end
  end
  return table.concat(out, "\n") .. "\n"
end

-- XML escaping for attribute and text content.
local function xml(s)
  s = tostring(s)
  s = s:gsub("[%z\1-\8\11\12\14-\31]", "")
  return (s:gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
                                ['"'] = "&quot;", ["'"] = "&apos;" }))
end

local function junit_case(o, suite)
  local status = o.status or "error"
  local detail = string.format("value %s, baseline %s, threshold %s; query: %s; %s",
    M.human(o.value, o.unit), M.human(o.baseline, o.unit), threshold_text(o),
    present(o.query) and tostring(o.query) or "-", present(o.message) and tostring(o.message) or "")
  local head = string.format('    <testcase classname="%s" name="%s" time="0">', xml(suite), xml(o.name or "?"))
  local body
  if status == "fail" then
    body = string.format('      <failure message="%s" type="fail">%s</failure>', xml(o.message or "failed"), xml(detail))
  elseif status == "error" then
    body = string.format('      <error message="%s" type="error">%s</error>', xml(o.message or "error"), xml(detail))
  elseif status == "no_data" or status == "inconclusive" then
    body = string.format('      <skipped message="%s"/>', xml("inconclusive: " .. tostring(o.message or "no data")))
  else
    body = string.format("      <system-out>%s</system-out>", xml(status .. ": " .. detail))
  end
  return head .. "\n" .. body .. "\n    </testcase>"
end

-- junit(verdict [, {fail_on_warning = bool}]) -> JUnit XML: one test case
-- per objective, plus one for the verdict itself so an error with no
-- objectives still fails the build (and a warning with fail_on_warning).
function M.junit(v, opts)
  local suite = "unbreakable." .. tostring(present(v.target) and v.target or "gate")
  local cases, failures, errors, skipped = {}, 0, 0, 0
  for _, o in ipairs(v.objectives or {}) do
    cases[#cases + 1] = junit_case(o, suite)
    if o.status == "fail" then failures = failures + 1
    elseif o.status == "error" then errors = errors + 1
    elseif o.status == "no_data" or o.status == "inconclusive" then skipped = skipped + 1 end
  end
  local verdict = tostring(v.verdict or "error")
  local warning_fails = opts and opts.fail_on_warning
  local overall = { name = "verdict", status = verdict == "warning" and (warning_fails and "fail" or "pass") or verdict,
                    message = present(v.summary) and v.summary or verdict, value = NULL }
  if verdict == "inconclusive" then overall.status = "error" end
  local extra = {}
  add_list(extra, "errors", v.errors)
  if #extra > 0 then overall.message = tostring(overall.message) .. "; " .. table.concat(extra, " ") end
  cases[#cases + 1] = junit_case(overall, suite)
  if overall.status == "fail" then failures = failures + 1
  elseif overall.status == "error" then errors = errors + 1 end
  return table.concat({
    '<?xml version="1.0" encoding="UTF-8"?>',
    string.format('<testsuites name="unbreakable" tests="%d" failures="%d" errors="%d" skipped="%d">',
                  #cases, failures, errors, skipped),
    string.format('  <testsuite name="%s" tests="%d" failures="%d" errors="%d" skipped="%d">',
                  xml(suite), #cases, failures, errors, skipped),
    table.concat(cases, "\n"),
    "  </testsuite>",
    "</testsuites>",
  }, "\n") .. "\n"
end

return M
