-- unbreakable.monspec.schema: validates a decoded monspec document and
-- normalizes it (docs/reference/monspec.md §2, rules of §2.8). Every problem is
-- reported with the JSON path inside the file and a hint; an unknown key
-- close to a known one gets "did you mean ...". Keys starting with "_" are
-- comments at every level. Nothing here makes a request.

local pyjson = require "unbreakable.monspec.pyjson"

local M = {}

M.ETYPE_KIND = {
  SERVICE = "services", APPLICATION = "applications", HOST = "hosts",
  PROCESS_GROUP = "process-groups", PROCESS_GROUP_INSTANCE = "processes",
}
local ETYPES_TEXT = "SERVICE, APPLICATION, HOST, PROCESS_GROUP or PROCESS_GROUP_INSTANCE"

local KNOWN = {
  entity = { "etype", "name", "owner", "environments", "comparisons", "perfsignature", "servicemethods" },
  environment = { "entities", "tags" },
  tag = { "context", "key", "value" },
  comparison = { "name", "source", "compare", "scalefactorperc", "shiftsourcetimeframe",
                 "shiftcomparetimeframe", "allow_missing_baseline" },
  entry = { "timeseries", "smartscape", "metric", "aggregate", "validate", "upperlimit",
            "lowerlimit", "threshold", "unit", "critical" },
  method = { "name", "perfsignature" },
}
local MEASURE_KEYS = { timeseries = true, smartscape = true, metric = true }
local RELATION_LISTS = { "toRelationships", "fromRelationships" }
local SIMPLE_AGGREGATES = { avg = true, sum = true, min = true, max = true, median = true, count = true }
local BUILTIN_PREFIX = "com.dynatrace.builtin:"

---------------------------------------------------------------------------
-- paths, problems, suggestions

local function child(path, key)
  if math.type(key) == "integer" then return string.format("%s[%d]", path, key - 1) end
  if key:match("^[%a_][%w_]*$") then return path .. "." .. key end
  return path .. "[" .. pyjson.quote(key) .. "]"
end
M.child_path = child

-- Levenshtein distance, two rows.
function M.distance(a, b)
  local prev, cur = {}, {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    cur[0] = i
    for j = 1, #b do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev, cur = cur, prev
  end
  return prev[#b]
end

-- The closest candidate within a distance that scales with the length.
function M.suggest(word, candidates)
  local best, best_d
  local lw = word:lower()
  for _, c in ipairs(candidates) do
    local d = M.distance(lw, c:lower())
    if (not best_d or d < best_d) then best, best_d = c, d end
  end
  if best_d and best_d <= math.max(1, math.min(3, #word // 3)) then return best end
  return nil
end

local Checker = {}
Checker.__index = Checker

local function new_checker(file, opts)
  return setmetatable({ file = file or "monspec", errors = {}, warnings = {},
                        compat = opts and opts.compat }, Checker)
end

function Checker:error(path, msg, hint)
  self.errors[#self.errors + 1] = { path = path, message = msg, hint = hint }
end

function Checker:warn(path, msg)
  self.warnings[#self.warnings + 1] = string.format("%s: %s: %s", self.file, path, msg)
end

local function is_object(v)
  return type(v) == "table" and not pyjson.is_array(v)
end

local function is_nonempty_array(v)
  return type(v) == "table" and pyjson.is_array(v) and #v > 0
end

-- Visits the keys of an object that are not comments; reports unknown ones.
-- Returns the set of unknown keys (so callers can skip follow-up errors).
function Checker:keys(obj, path, known)
  local set, unknown = {}, {}
  for _, k in ipairs(known) do set[k] = true end
  for _, k in ipairs(pyjson.keys(obj)) do
    if type(k) ~= "string" then
      self:error(path, "keys must be strings")
    elseif k:sub(1, 1) ~= "_" and not set[k] then
      local guess = M.suggest(k, known)
      unknown[k] = guess or true
      if guess then
        self:error(child(path, k), string.format("unknown key %q; did you mean %q?", k, guess),
                   string.format("rename it to %q, or prefix it with \"_\" to disable it", guess))
      else
        self:error(child(path, k), string.format("unknown key %q", k),
                   "known keys here: " .. table.concat(known, ", ") ..
                   "; prefix a key with \"_\" to mark it as a comment")
      end
    end
  end
  return unknown
end

---------------------------------------------------------------------------
-- numbers as the original read them

-- Python float() of a string: optional blanks, sign, digits with single
-- underscores between them, fraction, exponent. inf/nan are rejected.
function M.parse_numeric_string(s)
  local t = s:match("^%s*(.-)%s*$")
  if t:find("__") or t:find("^_") or t:find("_$") or t:find("[^%d]_") or t:find("_[^%d]") then
    return nil
  end
  t = t:gsub("_", "")
  if not (t:match("^[-+]?%d+%.?%d*$") or t:match("^[-+]?%.%d+$")
          or t:match("^[-+]?%d+%.?%d*[eE][-+]?%d+$") or t:match("^[-+]?%.%d+[eE][-+]?%d+$")) then
    return nil
  end
  local v = tonumber(t)
  if not v or v ~= v or v == math.huge or v == -math.huge then return nil end
  return v + 0.0
end

-- A static limit: number, numeric string or absent/null.
-- Returns value (float for strings, unchanged number otherwise) or nil.
function Checker:limit(entry, key, path)
  local v = entry[key]
  if v == nil or pyjson.is_null(v) then return nil end
  if type(v) == "number" then
    if v ~= v or v == math.huge or v == -math.huge then
      self:error(child(path, key), "must be a finite number")
      return nil
    end
    return v
  end
  if type(v) == "string" then
    local n = M.parse_numeric_string(v)
    if n then return n end
    self:error(child(path, key), string.format("%q is not a number", v),
               "write a number, e.g. " .. key .. ": 500000")
    return nil
  end
  self:error(child(path, key), "must be a number or a numeric string")
  return nil
end

---------------------------------------------------------------------------
-- environments

local function tag_string(tag)
  local s = ""
  if tag.context and tag.context ~= "CONTEXTLESS" then s = "[" .. tag.context .. "]" end
  s = s .. tag.key
  if tag.value ~= nil then s = s .. ":" .. tag.value end
  return s
end
M.tag_string = tag_string

function Checker:tag(tag, path)
  if not is_object(tag) then
    self:error(path, "a tag must be an object", '{"context": "CONTEXTLESS", "key": "k", "value": "v"}')
    return nil
  end
  self:keys(tag, path, KNOWN.tag)
  local out = {}
  for _, k in ipairs(KNOWN.tag) do
    local v = tag[k]
    if v ~= nil and not pyjson.is_null(v) then
      if type(v) ~= "string" or v == "" then
        self:error(child(path, k), "must be a non-empty string")
      else
        out[k] = v
      end
    end
  end
  if not out.key then
    if tag.key == nil then self:error(child(path, "key"), "missing", "every tag needs at least a key") end
    return nil
  end
  return tag_string(out)
end

function Checker:environment(name, env, path)
  if not is_object(env) then
    self:error(path, "an environment must be an object with \"entities\" or \"tags\"")
    return nil
  end
  self:keys(env, path, KNOWN.environment)
  local out = { name = name, path = path }
  local ents, tags = env.entities, env.tags
  if ents ~= nil and not pyjson.is_null(ents) then
    if not is_nonempty_array(ents) then
      self:error(child(path, "entities"), "must be a non-empty array of entity ids",
                 '"entities": ["SERVICE-8AC3A0761537D748"]')
    else
      out.entities = {}
      for i, id in ipairs(ents) do
        if type(id) ~= "string" or not id:match("^[%w_]+%-[%w]+$") then
          self:error(child(child(path, "entities"), i), "not an entity id",
                     'entity ids look like "SERVICE-8AC3A0761537D748"')
        else
          out.entities[#out.entities + 1] = id
        end
      end
    end
    if tags ~= nil then self:warn(child(path, "tags"), "ignored because \"entities\" is given") end
    return out
  end
  if tags == nil or pyjson.is_null(tags) or not is_nonempty_array(tags) then
    self:error(path, tags == nil and "has neither \"entities\" nor \"tags\"" or "\"tags\" must be a non-empty array",
               "without a filter the original queried every entity of the type; name the entities or tags")
    return out
  end
  out.tags = {}
  for i, tag in ipairs(tags) do
    out.tags[#out.tags + 1] = self:tag(tag, child(child(path, "tags"), i))
  end
  return out
end

---------------------------------------------------------------------------
-- comparisons

-- The factors by key, keeping the file's key order (for warnings).
function Checker:scalefactors(sf, path)
  local out = pyjson.ordered({}, {})
  if sf == nil or pyjson.is_null(sf) then return out end
  if not is_object(sf) then
    self:error(path, "must be an object", '{"default": 20, "com.dynatrace.builtin:service.requestspermin": 90}')
    return out
  end
  for _, k in ipairs(pyjson.keys(sf)) do
    local v = sf[k]
    if type(k) == "string" and k:sub(1, 1) ~= "_" then
      if type(v) ~= "number" or v ~= v or v == math.huge or v == -math.huge then
        self:error(child(path, k), "must be a number (percent)", "e.g. 20 allows 20 % deviation")
      else
        if v < 0 then self:warn(child(path, k), "negative scale factor: the threshold is tighter than the baseline") end
        out[k] = v
        table.insert(getmetatable(out).__jsonorder, k)
      end
    end
  end
  return out
end

function Checker:shift(cmp, key, path)
  local v = cmp[key]
  if v == nil or pyjson.is_null(v) then
    self:warn(child(path, key), "missing; using 0 (the original tool required it)")
    return 0
  end
  if type(v) ~= "number" or v ~= v or v < 0 or v == math.huge then
    self:error(child(path, key), "must be a number of seconds >= 0", "e.g. 86400 compares with the same time one day ago")
    return 0
  end
  return v
end

function Checker:comparison(cmp, path, envs)
  if not is_object(cmp) then
    self:error(path, "a comparison must be an object")
    return nil
  end
  self:keys(cmp, path, KNOWN.comparison)
  local out = { path = path }
  if type(cmp.name) ~= "string" or cmp.name == "" then
    self:error(child(path, "name"), "must be a non-empty string")
  end
  out.name = cmp.name
  for _, side in ipairs({ "source", "compare" }) do
    local v = cmp[side]
    if type(v) ~= "string" then
      self:error(child(path, side), "must name an environment")
    elseif envs and not envs[v] then
      local names = {}
      for n in pairs(envs) do names[#names + 1] = n end
      table.sort(names)
      local guess = M.suggest(v, names)
      self:error(child(path, side), string.format("unknown environment %q%s", v,
                 guess and string.format("; did you mean %q?", guess) or ""),
                 "environments: " .. table.concat(names, ", "))
    end
    out[side] = v
  end
  out.scalefactorperc = self:scalefactors(cmp.scalefactorperc, child(path, "scalefactorperc"))
  out.shift_source = self:shift(cmp, "shiftsourcetimeframe", path)
  out.shift_compare = self:shift(cmp, "shiftcomparetimeframe", path)
  local amb = cmp.allow_missing_baseline
  if amb ~= nil and type(amb) ~= "boolean" then
    self:error(child(path, "allow_missing_baseline"), "must be true or false")
  end
  out.allow_missing_baseline = amb == true
  return out
end

---------------------------------------------------------------------------
-- perfsignature entries

function M.parse_aggregate(a)
  if type(a) ~= "string" then return nil end
  local low = a:lower()
  if SIMPLE_AGGREGATES[low] then return { text = low, type = low } end
  local n = low:match("^p(%d%d?)$")
  if n and tonumber(n) >= 1 then
    return { text = low, type = "percentile", percentile = tonumber(n) }
  end
  return nil
end

function M.api_timeseries_id(id)
  if not id:find(":", 2, true) then return BUILTIN_PREFIX .. id end
  return id
end

function Checker:measure_kind(entry, path, unknown)
  local kinds = {}
  for _, k in ipairs({ "timeseries", "smartscape", "metric" }) do
    if entry[k] ~= nil then kinds[#kinds + 1] = k end
  end
  if #kinds == 1 then return kinds[1] end
  if #kinds > 1 then
    self:error(path, "has " .. table.concat(kinds, " and ") .. "; an entry measures exactly one thing",
               "split it into one entry per measure")
    return nil
  end
  for _, guess in pairs(unknown) do
    if MEASURE_KEYS[guess] then return nil end  -- the typo was already reported
  end
  self:error(path, "has none of \"timeseries\", \"smartscape\", \"metric\"",
             "the original skipped such entries silently; add the measure or prefix the entry's keys with \"_\"")
  return nil
end

function Checker:smartscape(entry, path, out)
  local list, rel = tostring(entry.smartscape):match("^([%w_]+):([%w_]+)$")
  if type(entry.smartscape) ~= "string" or not list then
    self:error(child(path, "smartscape"), "must be \"<relationList>:<relationType>\"",
               'e.g. "toRelationships:calls", "fromRelationships:runsOn"')
    return
  end
  local known = false
  for _, l in ipairs(RELATION_LISTS) do known = known or l == list end
  if not known then
    local guess = M.suggest(list, RELATION_LISTS)
    if guess then
      self:error(child(path, "smartscape"), string.format("unknown relation list %q; did you mean %q?", list, guess))
      return
    end
  end
  out.id, out.relation_list, out.relation_type = entry.smartscape, list, rel
  out.name = entry.smartscape
  out.unit = "count"
end

function Checker:timeseries(entry, path, out)
  local id = entry.timeseries
  if type(id) ~= "string" or not id:match("^[%w_.:%-]+$") then
    self:error(child(path, "timeseries"), "must be a Timeseries v1 id",
               'e.g. "com.dynatrace.builtin:service.responsetime"')
    return
  end
  out.id, out.api_id = id, M.api_timeseries_id(id)
  local agg = M.parse_aggregate(entry.aggregate)
  if entry.aggregate == nil then
    self:error(child(path, "aggregate"), "missing", "use avg, sum, min, max, median, count or pNN (e.g. p90)")
  elseif not agg then
    self:error(child(path, "aggregate"), string.format("%s is not an aggregate", pyjson.dumps(entry.aggregate)),
               "use avg, sum, min, max, median, count or pNN with NN in 1..99 (e.g. p90)")
  else
    out.aggregate = agg
    out.name = id .. " " .. agg.text
  end
end

function Checker:metric(entry, path, out)
  local sel = entry.metric
  if type(sel) ~= "string" or sel == "" or sel:find("[%c]") then
    self:error(child(path, "metric"), "must be a Metrics v2 selector",
               'e.g. "builtin:service.response.time:splitBy():percentile(90)"')
    return
  end
  if entry.aggregate ~= nil then
    self:error(child(path, "aggregate"), "not used with \"metric\"",
               "put the aggregation in the selector, e.g. :splitBy():avg or :percentile(90)")
  end
  out.id, out.name = sel, sel
  if entry.unit ~= nil then
    if type(entry.unit) ~= "string" then self:error(child(path, "unit"), "must be a string")
    else out.unit = entry.unit end
  end
end

function Checker:entry(entry, path, index)
  if not is_object(entry) then
    self:error(path, "a perfsignature entry must be an object")
    return nil
  end
  local unknown = self:keys(entry, path, KNOWN.entry)
  local out = { index = index, path = path, raw = entry }
  out.kind = self:measure_kind(entry, path, unknown)
  if out.kind == "timeseries" then self:timeseries(entry, path, out)
  elseif out.kind == "smartscape" then
    self:smartscape(entry, path, out)
    if entry.aggregate ~= nil and type(entry.aggregate) ~= "string" then
      self:error(child(path, "aggregate"), "must be a string (unused on smartscape entries)")
    end
  elseif out.kind == "metric" then self:metric(entry, path, out) end
  if out.kind ~= "metric" and entry.unit ~= nil then
    self:error(child(path, "unit"), "only \"metric\" entries take a unit", "the unit comes from the data")
  end
  local v = entry.validate
  if v ~= nil and v ~= "upper" and v ~= "lower" then
    local guess = type(v) == "string" and M.suggest(v, { "upper", "lower" })
    self:error(child(path, "validate"), string.format("%s is not \"upper\" or \"lower\"%s", pyjson.dumps(v),
               guess and string.format("; did you mean %q?", guess) or ""))
  end
  out.validate = v == "lower" and "lower" or "upper"
  out.upperlimit = self:limit(entry, "upperlimit", path)
  out.lowerlimit = self:limit(entry, "lowerlimit", path)
  if out.upperlimit and out.lowerlimit and self.compat then
    self:warn(path, "compat dtcli: lowerlimit is ignored because upperlimit is set (as the original tool did)")
  elseif out.upperlimit and out.lowerlimit and out.lowerlimit > out.upperlimit then
    self:error(path, string.format("lowerlimit %s is above upperlimit %s", out.lowerlimit, out.upperlimit),
               "no value can pass this band; swap the limits")
  end
  if entry.critical ~= nil and type(entry.critical) ~= "boolean" then
    self:error(child(path, "critical"), "must be true or false")
  end
  out.critical = entry.critical ~= false
  return out
end

function Checker:perfsignature(list, path)
  local out = {}
  if not is_nonempty_array(list) then
    self:error(path, "must be a non-empty array of entries")
    return out
  end
  for i, e in ipairs(list) do
    out[#out + 1] = self:entry(e, child(path, i), i)
  end
  return out
end

function Checker:servicemethods(list, path, etype)
  local out = {}
  if list == nil then return out end
  if not is_nonempty_array(list) then
    self:error(path, "must be a non-empty array of methods")
    return out
  end
  if etype ~= "SERVICE" then
    self:error(path, "service methods only exist on SERVICE entity definitions")
  end
  local seen = {}
  for i, m in ipairs(list) do
    local mp = child(path, i)
    if not is_object(m) then
      self:error(mp, "a service method must be an object with \"name\" and \"perfsignature\"")
    else
      self:keys(m, mp, KNOWN.method)
      if type(m.name) ~= "string" or m.name == "" then
        self:error(child(mp, "name"), "must be the method name, e.g. \"/api/invoke\"")
      elseif seen[m.name] then
        self:error(child(mp, "name"), string.format("duplicate method %q", m.name))
      end
      seen[m.name or i] = true
      local ps = self:perfsignature(m.perfsignature, child(mp, "perfsignature"))
      for _, e in ipairs(ps) do
        if e.kind == "smartscape" then
          self:error(e.path, "smartscape counts are not available for service methods")
        end
        e.method = m.name
        if e.name and type(m.name) == "string" then e.name = m.name .. ": " .. e.name end
      end
      out[#out + 1] = { name = m.name, perfsignature = ps, path = mp }
    end
  end
  return out
end

-- The comparisons of an entity definition, and the first one by name.
function Checker:comparisons(list, cpath, envs)
  local all, by_name = {}, {}
  if list == nil then return all, by_name end
  if type(list) ~= "table" or (next(list) ~= nil and not pyjson.is_array(list)) then
    self:error(cpath, "must be an array of comparisons")
    return all, by_name
  end
  for i, c in ipairs(list) do
    local cmp = self:comparison(c, child(cpath, i), envs)
    if cmp and type(cmp.name) == "string" then
      local first = by_name[cmp.name]
      if first and not self.compat then
        self:error(child(child(cpath, i), "name"), string.format("duplicate comparison %q (also at %s)", cmp.name, first.path),
                   "the original silently used the first one; rename or remove one")
      elseif first then
        self:warn(child(child(cpath, i), "name"), "duplicate comparison; the first one is used (compat dtcli)")
      else
        by_name[cmp.name] = cmp
      end
      all[#all + 1] = cmp
    end
  end
  return all, by_name
end

---------------------------------------------------------------------------
-- entity definitions

function Checker:entity(name, def, path)
  if not is_object(def) then
    self:error(path, "an entity definition must be an object", "or prefix the key with \"_\" to mark a comment")
    return nil
  end
  self:keys(def, path, KNOWN.entity)
  local out = { name = name, path = path, display_name = def.name }
  if type(def.etype) ~= "string" or not M.ETYPE_KIND[def.etype] then
    local guess = type(def.etype) == "string" and M.suggest(def.etype:upper(), {
      "SERVICE", "APPLICATION", "HOST", "PROCESS_GROUP", "PROCESS_GROUP_INSTANCE" })
    self:error(child(path, "etype"), def.etype == nil and "missing" or
               string.format("%s is not an entity type%s", pyjson.dumps(def.etype),
                             guess and string.format("; did you mean %q?", guess) or ""),
               "use " .. ETYPES_TEXT)
  else
    out.etype, out.kind = def.etype, M.ETYPE_KIND[def.etype]
  end
  for _, k in ipairs({ "name", "owner" }) do
    if def[k] ~= nil and type(def[k]) ~= "string" then self:error(child(path, k), "must be a string") end
  end
  out.environments, out.environment_names = {}, {}
  local envs = def.environments
  if not is_object(envs) or next(envs) == nil then
    self:error(child(path, "environments"), "must be a non-empty object",
               '"environments": {"Staging": {"tags": [...]}}')
  else
    for _, en in ipairs(pyjson.keys(envs)) do
      if en:sub(1, 1) ~= "_" then
        out.environments[en] = self:environment(en, envs[en], child(child(path, "environments"), en))
        out.environment_names[#out.environment_names + 1] = en
      end
    end
  end
  out.comparisons, out.comparison_by_name = self:comparisons(def.comparisons, child(path, "comparisons"),
                                                            out.environments)
  if def.perfsignature ~= nil then
    out.perfsignature = self:perfsignature(def.perfsignature, child(path, "perfsignature"))
    out.raw_perfsignature = def.perfsignature
  end
  out.servicemethods = self:servicemethods(def.servicemethods, child(path, "servicemethods"), def.etype)
  self:scalefactor_keys(out)
  return out
end

-- Default mode matches "service.x" and "com.dynatrace.builtin:service.x"
-- alike, so one metric must not be given two factors.
function Checker:duplicate_scalefactors(cmp)
  if self.compat then return end
  local seen = {}
  local keys = {}
  for k in pairs(cmp.scalefactorperc) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local id = k ~= "default" and M.api_timeseries_id(k)
    if id and seen[id] then
      self:error(child(child(cmp.path, "scalefactorperc"), k),
                 string.format("the same metric as %q", seen[id]), "keep one of the two keys")
    elseif id then
      seen[id] = k
    end
  end
end

-- A per-metric scale factor that names no measure is probably a typo.
function Checker:scalefactor_keys(ent)
  local ids = {}
  for _, e in ipairs(ent.perfsignature or {}) do
    if e.id then ids[#ids + 1] = e.id end
  end
  for _, cmp in ipairs(ent.comparisons) do
    self:duplicate_scalefactors(cmp)
    for _, k in ipairs(pyjson.keys(cmp.scalefactorperc)) do
      local found = k == "default"
      for _, id in ipairs(ids) do
        found = found or id == k or M.api_timeseries_id(id) == M.api_timeseries_id(k)
      end
      if not found then
        local guess = M.suggest(k, ids)
        self:warn(child(child(cmp.path, "scalefactorperc"), k), "names no perfsignature measure" ..
                  (guess and string.format("; did you mean %q?", guess) or ""))
      end
    end
  end
end

---------------------------------------------------------------------------
-- entry point

local function format_errors(file, errors)
  local lines = {}
  for _, e in ipairs(errors) do
    lines[#lines + 1] = string.format("%s: %s: %s%s", file, e.path, e.message,
                                      e.hint and (" (" .. e.hint .. ")") or "")
  end
  return table.concat(lines, "\n")
end

-- load(doc, path, opts) -> spec, warnings | nil, message, problems
-- doc: decoded JSON (tables); path: file name for messages;
-- opts.compat = "dtcli": duplicate comparison names allowed (first wins).
function M.load(doc, path, opts)
  local c = new_checker(path, opts)
  local spec = { path = path, entities = {}, entity_names = {} }
  if not is_object(doc) then
    c:error("$", "the monspec must be a JSON object of entity definitions")
  else
    for _, name in ipairs(pyjson.keys(doc)) do
      local v = doc[name]
      if type(name) ~= "string" then
        c:error("$", "keys must be strings")
      elseif name:sub(1, 1) == "_" then
        -- comment
      elseif name == "policy" and type(v) == "string" then
        spec.policy = v
      else
        spec.entities[name] = c:entity(name, v, child("$", name))
        spec.entity_names[#spec.entity_names + 1] = name
      end
    end
    if #spec.entity_names == 0 then
      c:error("$", "defines no entity", '{"MyService": {"etype": "SERVICE", ...}}')
    end
  end
  spec.warnings = c.warnings
  if #c.errors > 0 then
    return nil, format_errors(c.file, c.errors), c.errors
  end
  return spec, c.warnings
end

return M
