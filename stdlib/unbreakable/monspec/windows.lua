-- unbreakable.monspec.windows: the time windows of a gate run, from the one
-- clock of the run (ctx.now, Unix ms). Default mode moves a window of W
-- minutes back by a shift in seconds: [now - S - W*60 s, now - S], in whole
-- seconds. compat dtcli reproduces the original's timestamps exactly
-- (docs/reference/monspec.md §4.4, defects M1/M2): the window length is the
-- *start* offset and the shift, read as minutes, the *end* offset.

local M = {}

local ABSOLUTE_FROM = 946684800   -- the original treats larger numbers as timestamps

local function whole_seconds(ms)
  return ms // 1000
end

-- Default mode: shift_s seconds back, window_min minutes long.
function M.shifted(now_ms, window_min, shift_s)
  local to_s = whole_seconds(now_ms) - shift_s
  local from_s = to_s - window_min * 60
  return { from = math.floor(from_s) * 1000, to = math.floor(to_s) * 1000,
           shift_seconds = shift_s, minutes = window_min }
end

-- One part of the original's "TIMESPAN:TIMESHIFT": n minutes before now,
-- truncated to whole seconds (Python int() truncates toward zero), or an
-- absolute timestamp used unchanged.
function M.dtcli_part(now_ms, n)
  if n >= ABSOLUTE_FROM then return n end
  local v = now_ms / 1000 - n * 60
  local t = v >= 0 and math.floor(v) or math.ceil(v)
  return math.tointeger(t) * 1000
end

local function dtcli_window(now_ms, start_min, end_min)
  local w = { from = M.dtcli_part(now_ms, start_min), to = M.dtcli_part(now_ms, end_min),
              minutes = start_min, shift_minutes = end_min }
  w.inverted = w.from > w.to
  return w
end

local function check_number(v, what, integral)
  if type(v) ~= "number" or v ~= v or v < 0 or v == math.huge then
    return string.format("%s must be a number >= 0 (got %s)", what, tostring(v))
  end
  if integral and math.type(v) ~= "integer" and v ~= math.floor(v) then
    return string.format("%s must be a whole number of minutes with compat dtcli (got %s)", what, tostring(v))
  end
  return nil
end

-- windows(ctx, target) -> { source = {from=, to=}, compare = {...}|nil }, warnings
--                      | nil, error message
-- target.mode, target.comparison (pullcompare) as normalized by the loader.
function M.windows(ctx, target)
  local warnings = {}
  if math.type(ctx.now) ~= "integer" then return nil, "ctx.now must be an integer of Unix milliseconds" end
  local compat = ctx.compat == "dtcli"
  local err = check_number(ctx.window_minutes, "the window (minutes)", compat)
  if err then return nil, err end
  if ctx.window_minutes == 0 then return nil, "the window must be longer than 0 minutes" end
  local W, now = ctx.window_minutes, ctx.now
  if target.mode == "pull" then
    local shift_min = ctx.shift_minutes or 0
    err = check_number(shift_min, "--shift (minutes)", compat)
    if err then return nil, err end
    if compat then
      local w = dtcli_window(now, W, shift_min)
      if w.inverted then
        warnings[#warnings + 1] = string.format("compat dtcli: the window is inverted (from %d > to %d): " ..
          "the original tool read --shift %s as the end of the window", w.from, w.to, tostring(shift_min))
      end
      return { source = w }, warnings
    end
    return { source = M.shifted(now, W, shift_min * 60) }, warnings
  end
  local cmp = target.comparison
  if compat then
    if ctx.shift_source_seconds or ctx.shift_compare_seconds then
      return nil, "--shift-source/--shift-compare are not available with compat dtcli " ..
                  "(the original tool crashed on them); set the shifts in the monspec"
    end
    local out = {}
    for _, side in ipairs({ "source", "compare" }) do
      local shift = side == "source" and cmp.shift_source or cmp.shift_compare
      local where = string.format("%s: %s.shift%stimeframe:", ctx.monspec_path or "monspec", cmp.path, side)
      err = check_number(shift, where, true)
      if err then return nil, err end
      out[side] = dtcli_window(now, W, shift)
    end
    for _, side in ipairs({ "source", "compare" }) do
      local w = out[side]
      if w.inverted then
        warnings[#warnings + 1] = string.format("compat dtcli: the %s window is inverted (from %d > to %d): " ..
          "the original tool read shift%stimeframe %s as minutes and as the end of the window",
          side, w.from, w.to, side, tostring(w.shift_minutes))
      end
    end
    return out, warnings
  end
  local ss = ctx.shift_source_seconds or cmp.shift_source
  local sc = ctx.shift_compare_seconds or cmp.shift_compare
  err = check_number(ss, "the source shift (seconds)") or check_number(sc, "the compare shift (seconds)")
  if err then return nil, err end
  return { source = M.shifted(now, W, ss), compare = M.shifted(now, W, sc) }, warnings
end

return M
