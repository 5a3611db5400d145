-- stats_spec: the native unbreakable.stats module cross-checked against
-- plain-Lua references on random data (fixed seeds), plus the series API:
-- construction with holes, read access, pooling, slicing, errors.

local stats = require "unbreakable.stats"

-- ---- plain-Lua references (written from the definitions, no cleverness) --

local ref = {}

local function present(values, n)
  local out = {}
  for i = 1, n do
    local v = values[i]
    if v ~= nil and v == v then out[#out + 1] = v end
  end
  return out
end

local function sorted(xs)
  local copy = {}
  for i = 1, #xs do copy[i] = xs[i] end
  table.sort(copy)
  return copy
end

function ref.sum(xs)
  if #xs == 0 then return nil end
  local s = 0.0
  for i = 1, #xs do s = s + xs[i] end
  return s
end

function ref.mean(xs)
  if #xs == 0 then return nil end
  return ref.sum(xs) / #xs
end

function ref.min(xs)
  if #xs == 0 then return nil end
  return sorted(xs)[1]
end

function ref.max(xs)
  if #xs == 0 then return nil end
  local s = sorted(xs)
  return s[#s]
end

function ref.median(xs)
  local n = #xs
  if n == 0 then return nil end
  local s = sorted(xs)
  if n % 2 == 1 then return s[(n + 1) // 2] end
  return (s[n // 2] + s[n // 2 + 1]) / 2
end

local function between(s, k, frac) -- s sorted, k 1-based lower rank
  if frac == 0 or k >= #s then return s[k] end
  return s[k] + frac * (s[k + 1] - s[k])
end

ref.percentile = {
  nearest = function(xs, p)
    local s = sorted(xs)
    local rank = math.max(1, math.ceil(p * #s / 100))
    return s[math.min(rank, #s)]
  end,
  linear = function(xs, p)
    local s = sorted(xs)
    local h = p * (#s - 1) / 100
    local lo = math.floor(h)
    return between(s, lo + 1, h - lo)
  end,
  keptn = function(xs, p) -- docs/reference/keptn-slo.md §6.3, literally
    local vals = sorted(xs)
    local n = #vals
    local pos = p / 100 * (n + 1)
    if pos < 1 then return vals[1] end
    if pos >= n then return vals[n] end
    local lower, upper = vals[math.floor(pos)], vals[math.floor(pos) + 1]
    return lower + (pos - math.floor(pos)) * (upper - lower)
  end,
}

function ref.variance(xs, population)
  local n = #xs
  if n == 0 or (n == 1 and not population) then return nil end
  local m = ref.mean(xs)
  local ss = 0.0
  for i = 1, n do ss = ss + (xs[i] - m) ^ 2 end
  return ss / (population and n or n - 1)
end

-- Standard normal tail by Simpson's rule: 2 * (1 - Phi(z)) for z >= 0.
local function two_sided_normal_p(z)
  local steps, h, acc = 4000, z / 4000, 0.0
  if z == 0 then return 1.0 end
  local function phi(t) return math.exp(-t * t / 2) / math.sqrt(2 * math.pi) end
  for i = 0, steps do
    local w = (i == 0 or i == steps) and 1 or (i % 2 == 1 and 4 or 2)
    acc = acc + w * phi(i * h)
  end
  return 1 - 2 * (acc * h / 3)
end

-- U by counting pairs; p by the normal approximation with tie and
-- continuity correction, or by enumerating every rank assignment.
function ref.mannwhitney(a, b)
  local u = 0.0
  for i = 1, #a do
    for j = 1, #b do
      if a[i] > b[j] then u = u + 1 elseif a[i] == b[j] then u = u + 0.5 end
    end
  end
  local n1, n2 = #a, #b
  local n = n1 + n2
  local counts = {}
  for _, xs in ipairs({ a, b }) do
    for i = 1, #xs do counts[xs[i]] = (counts[xs[i]] or 0) + 1 end
  end
  local tie = 0
  for _, t in pairs(counts) do tie = tie + t ^ 3 - t end
  local var = n1 * n2 / 12 * ((n + 1) - tie / (n * (n - 1)))
  local p = 1.0
  if var > 0 then
    p = two_sided_normal_p(math.max(0, (math.abs(u - n1 * n2 / 2) - 0.5) / math.sqrt(var)))
  end
  return { u = u, p = p, effect = 2 * u / (n1 * n2) - 1, ties = tie > 0 }
end

-- Exact two-sided p for sizes n1, n2 without ties: enumerate the rank sets.
function ref.exact_p(n1, n2, u)
  local dist, total = {}, 0
  local function walk(next_rank, left, rank_sum)
    if left == 0 then
      local k = rank_sum - n1 * (n1 + 1) / 2
      dist[k] = (dist[k] or 0) + 1
      total = total + 1
      return
    end
    for r = next_rank, n1 + n2 - left + 1 do walk(r + 1, left - 1, rank_sum + r) end
  end
  walk(1, n1, 0)
  local umin, below = math.min(u, n1 * n2 - u), 0
  for k, c in pairs(dist) do if k <= umin then below = below + c end end
  return math.min(1, 2 * below / total)
end

-- ---- random data --------------------------------------------------------

local function random_values(n, kind, missing_rate)
  local v = {}
  for i = 1, n do
    if math.random() < missing_rate then
      v[i] = nil
    elseif kind == "ties" then
      v[i] = math.random(-3, 3) + 0.0
    elseif kind == "negative" then
      v[i] = -math.random() * 1e6
    else
      v[i] = (math.random() - 0.3) * 10 ^ math.random(-3, 6)
    end
  end
  return v
end

local function close(got, want, rel)
  if got == want then return true end
  return math.abs(got - want) <= rel * math.max(1, math.abs(want))
end

local SIZES = { 0, 1, 2, 3, 7, 10, 101, 1000, 4099 }
local KINDS = { "spread", "ties", "negative" }
local PS = { 0, 0.1, 1, 5, 25, 50, 90, 95, 99, 99.9, 100 }

local function each_case(fn)
  for seed = 1, 3 do
    for _, kind in ipairs(KINDS) do
      for _, n in ipairs(SIZES) do
        math.randomseed(seed * 1000 + n)
        local values = random_values(n, kind, seed == 1 and 0 or 0.15)
        fn(stats.series(values, { n = n }), present(values, n), string.format("seed %d %s n=%d", seed, kind, n))
      end
    end
  end
end

-- ---- cross-checks -------------------------------------------------------

describe("stats kernels against plain Lua", function()
  it("count, sum, mean are exact (strict left-to-right order)", function()
    each_case(function(s, xs, what)
      assert.are.equal(#xs, stats.count(s), what)
      assert.are.equal(ref.sum(xs), stats.sum(s), what)
      assert.are.equal(ref.mean(xs), stats.mean(s), what)
      assert.are.equal(ref.mean(xs), s:mean(), what)
    end)
  end)

  it("min, max, median, first, last, delta", function()
    each_case(function(s, xs, what)
      assert.are.equal(ref.min(xs), stats.min(s), what)
      assert.are.equal(ref.max(xs), stats.max(s), what)
      assert.are.equal(ref.median(xs), stats.median(s), what)
      assert.are.equal(xs[1], stats.first(s), what)
      assert.are.equal(xs[#xs], stats.last(s), what)
      if #xs >= 2 then assert.are.equal(xs[#xs] - xs[1], stats.delta(s), what) end
    end)
  end)

  it("percentile: nearest rank exactly, interpolations within 1e-12", function()
    each_case(function(s, xs, what)
      if #xs == 0 then return end
      for _, p in ipairs(PS) do
        assert.are.equal(ref.percentile.nearest(xs, p), stats.percentile(s, p, "nearest"), what .. " p" .. p)
        for _, m in ipairs({ "linear", "keptn" }) do
          local want, got = ref.percentile[m](xs, p), stats.percentile(s, p, m)
          assert.is_true(close(got, want, 1e-12), ("%s %s p%s: %.17g vs %.17g"):format(what, m, p, got, want))
        end
      end
    end)
  end)

  it("variance and stddev (sample and population) within 1e-9", function()
    each_case(function(s, xs, what)
      for _, pop in ipairs({ false, true }) do
        local want = ref.variance(xs, pop)
        local got = stats.variance(s, { population = pop })
        if want == nil then
          assert.is_nil(got, what)
        else
          assert.is_true(close(got, want, 1e-9), ("%s: %.17g vs %.17g"):format(what, got, want))
          assert.is_true(close(stats.stddev(s, { population = pop }), math.sqrt(want), 1e-9), what)
        end
      end
    end)
  end)

  it("mannwhitney: U by pair counting, p by the normal formula", function()
    for seed = 1, 6 do
      math.randomseed(seed)
      local kind = seed % 2 == 0 and "ties" or "spread"
      local a = present(random_values(30 + seed * 7, kind, 0.1), 30 + seed * 7)
      local b = present(random_values(25 + seed * 5, kind, 0.1), 25 + seed * 5)
      if seed > 3 then for i = 1, #b do b[i] = b[i] + 0.5 end end -- shift: small p
      local want, got = ref.mannwhitney(a, b), stats.mannwhitney(stats.series(a), stats.series(b))
      assert.are.equal(want.u, got.u)
      assert.are.equal(#a, got.n1)
      assert.are.equal(#b, got.n2)
      assert.are.equal(want.ties, got.ties)
      assert.is_true(close(got.effect, want.effect, 1e-12))
      if got.method == "normal" then
        assert.is_true(math.abs(got.p - want.p) < 1e-9, ("seed %d: p %.12g vs %.12g"):format(seed, got.p, want.p))
      end
    end
  end)

  it("mannwhitney: exact p on small samples without ties, by enumeration", function()
    for seed = 1, 20 do
      math.randomseed(seed)
      local n1, n2 = math.random(1, 7), math.random(1, 7)
      local a, b = {}, {}
      for i = 1, n1 do a[i] = math.random() end
      for i = 1, n2 do b[i] = math.random() + (seed % 3) * 0.3 end
      local got = stats.mannwhitney(a, b)
      assert.are.equal("exact", got.method)
      assert.is_true(math.abs(got.p - ref.exact_p(n1, n2, got.u)) < 1e-14, "seed " .. seed)
    end
  end)

  it("rate: delta per minute between the first and last present points", function()
    for seed = 1, 30 do
      math.randomseed(seed)
      local n = math.random(2, 60)
      local values = random_values(n, "spread", 0.3)
      local ts, t = {}, 1700000000000
      for i = 1, n do t = t + math.random(1, 600) * 1000; ts[i] = t end
      local s = stats.series(values, { n = n, timestamps = ts })
      local first, last
      for i = 1, n do
        if values[i] ~= nil then first = first or i; last = i end
      end
      if first and last ~= first then
        local want = (values[last] - values[first]) / ((ts[last] - ts[first]) / 60000)
        assert.is_true(close(s:rate(), want, 1e-12), "seed " .. seed)
      else
        assert.is_nil(s:rate())
      end
    end
  end)

  it("relative change and rate", function()
    math.randomseed(42)
    for _ = 1, 50 do
      local v, base = (math.random() - 0.5) * 1000, (math.random() - 0.5) * 1000
      assert.are.equal((v - base) / math.abs(base), stats.relchange(v, base))
    end
    local cur, old = stats.series({ 110, 130 }), stats.series({ 100, nil, 100, n = 3 })
    local rel, value, baseline = stats.relative_change(cur, old)
    assert.are.equal(0.2, rel)
    assert.are.equal(120, value)
    assert.are.equal(100, baseline)
    assert.are.equal(0.3, (stats.relative_change(cur, 100, "max")))
    assert.are.equal(-0.5, (stats.relative_change(stats.series({ 1, 2, 3, 4 }), 5, "p50")))
    local r = stats.series({ 10, nil, 40 }, { timestamps = { 0, 60000, 180000 } })
    assert.are.equal(10, r:rate()) -- 30 over 3 minutes
  end)
end)

-- ---- documented edge cases ----------------------------------------------

describe("stats on empty and tiny series", function()
  local empty = stats.series({}, { n = 0 })
  local holes = stats.series({ nil, nil, nil, n = 3 })

  it("returns nil plus 'empty series', never 0", function()
    for _, s in ipairs({ empty, holes }) do
      assert.are.equal(0, stats.count(s))
      for _, name in ipairs({ "sum", "mean", "min", "max", "median", "variance", "stddev", "first", "last", "delta" }) do
        local v, reason = stats[name](s)
        assert.is_nil(v, name)
        assert.are.equal("empty series", reason, name)
      end
      local v, reason = stats.percentile(s, 90, "keptn")
      assert.is_nil(v)
      assert.are.equal("empty series", reason)
      v, reason = stats.mannwhitney(s, { 1, 2 })
      assert.is_nil(v)
      assert.are.equal("empty series", reason)
    end
  end)

  it("needs two points for sample variance, delta and rate", function()
    local one = stats.series({ nil, 5 }, { timestamps = { 0, 60000 } })
    for _, name in ipairs({ "variance", "stddev", "delta", "rate" }) do
      local v, reason = stats[name](one)
      assert.is_nil(v)
      assert.are.equal("needs at least 2 points", reason)
    end
    assert.are.equal(0, stats.variance(one, { population = true }))
    assert.are.equal(5, stats.percentile(one, 0, "keptn"))
  end)

  it("matches the Keptn values of docs/reference/keptn-slo.md §6.3", function()
    local s = stats.series({ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 })
    assert.are.equal(5, s:percentile(50, "keptn"))
    assert.is_true(math.abs(s:percentile(90, "keptn") - 9.8) < 1e-12)
    assert.are.equal(10, s:percentile(95, "keptn"))
    assert.are.equal(500, stats.percentile({ 480, 500, 520 }, 50, "keptn"))
    assert.are.equal(520, stats.percentile({ 480, 500, 520 }, 90, "keptn"))
  end)

  it("rejects p outside [0, 100] and unknown methods", function()
    assert.has_error(function() stats.percentile({ 1 }, 101) end)
    assert.has_error(function() stats.percentile({ 1 }, -0.5) end)
    assert.has_error(function() stats.percentile({ 1 }, 0 / 0) end)
    assert.has_error(function() stats.percentile({ 1 }, 50, "Nearest") end)
    assert.are.equal(2, stats.percentile({ 1, 2, 3 }, 50)) -- linear by default
  end)
end)

describe("series", function()
  local s = stats.series({ 1.5, nil, 3, stats.missing, 5, n = 5 }, {
    timestamps = { 1000, 2000, 3000, 4000, 5000 },
    entity = "SERVICE-1", metric = "builtin:service.response.time", unit = "MicroSecond",
  })

  it("reads missing points as nil and keeps labels", function()
    assert.are.equal(5, #s)
    assert.are.equal(5, s:len())
    assert.are.equal(1.5, s[1])
    assert.is_nil(s[2])
    assert.is_nil(s[4])
    assert.is_nil(s[0])
    assert.is_nil(s[6])
    assert.are.equal(4000, s:timestamp(4))
    assert.are.equal("SERVICE-1", s.entity)
    assert.are.equal("MicroSecond", s.unit)
    assert.are.equal(3, s:count())
  end)

  it("iterates every point, missing ones included", function()
    local seen = {}
    for i, v, ts in s:points() do seen[#seen + 1] = { i, v, ts } end
    assert.are.same({ { 1, 1.5, 1000 }, { 2, nil, 2000 }, { 3, 3, 3000 }, { 4, nil, 4000 }, { 5, 5, 5000 } }, seen)
  end)

  it("returns values with stats.missing so # works", function()
    local v = s:values()
    assert.are.equal(5, #v)
    assert.are.equal(stats.missing, v[2])
    assert.are.equal(5, v[5])
  end)

  it("prints a short summary without addresses", function()
    assert.are.equal("series(n=5, missing=2, entity=SERVICE-1, metric=builtin:service.response.time, "
      .. "unit=MicroSecond, from=1000, to=5000)", tostring(s))
  end)

  it("slices by time, half-open [from, to)", function()
    local w = s:slice(2000, 5000)
    assert.are.equal(3, #w)
    assert.are.equal(2000, w:timestamp(1))
    assert.are.equal(4000, w:timestamp(3))
    assert.are.equal(3, w[2])
    assert.are.equal("SERVICE-1", w.entity)
    assert.has_error(function() stats.series({ 1 }):slice(0, 10) end)
  end)

  it("drops missing points and scales units", function()
    local d = s:drop_missing()
    assert.are.same({ 1.5, 3, 5 }, d:values())
    assert.are.equal(5000, d:timestamp(3))
    local ms = s:scale(0.001, "MilliSecond")
    assert.are.equal(0.003, ms[3])
    assert.is_nil(ms[2])
    assert.are.equal("MilliSecond", ms.unit)
    assert.are.equal("MicroSecond", s.unit)
  end)

  it("merges in order, keeping common labels only", function()
    local a = stats.series({ 1, 2 }, { entity = "A", metric = "m", unit = "u" })
    local b = stats.series({ nil, 4, n = 2 }, { entity = "B", metric = "m", unit = "u" })
    local m = stats.merge({ a, b })
    assert.are.same({ 1, 2, stats.missing, 4 }, m:values())
    assert.is_nil(m.entity)
    assert.are.equal("m", m.metric)
    assert.are.equal(7 / 3, m:mean())
    assert.has_error(function() stats.merge({ a, stats.series({ 1 }, { unit = "v" }) }) end)
    assert.has_error(function() stats.merge({ a, s }) end) -- with and without timestamps
    assert.has_error(function() stats.merge({ a, { 1 } }) end)
  end)

  it("is read-only and rejects non-numbers", function()
    assert.has_error(function() s[1] = 2 end)
    assert.has_error(function() stats.series({ 1, "2" }) end)
    assert.has_error(function() stats.series({ 1, 2 }, { timestamps = { 1, 2.5 } }) end)
    assert.has_error(function() stats.series({ 1, 2 }, { timestamps = { 1 } }) end)
    assert.has_error(function() stats.series({ 1, 2 }, { entity = 7 }) end)
    assert.are.equal("unbreakable.series", getmetatable(s))
  end)

  it("takes the length from n, then values.n, then the largest index", function()
    assert.are.equal(4, #stats.series({ 1, nil, 3, nil }, { n = 4 }))
    assert.are.equal(3, #stats.series({ 1, nil, 3, nil, n = 3 }))
    assert.are.equal(5, #stats.series({ [2] = 1, [5] = 2 }))
  end)

  it("treats JSON null as missing", function()
    local json = require("unbreakable.json")
    local decoded = json.decode("[1, null, 3]")
    local j = stats.series(decoded, { n = 3 })
    assert.are.equal(2, j:count())
    assert.is_nil(j[2])
    assert.are.equal(2, j:mean())
  end)

  it("pools a real Dynatrace payload like Python's sum(values) / len(values)", function()
    local json = require("unbreakable.json")
    local doc = json.decode(require("fixtures").read(
      "dynatrace/metrics-v2-query_200_three-series_splitby-service_resolution-10m.json"))
    local list = {}
    for _, item in ipairs(doc.result[1].data) do
      list[#list + 1] = stats.series(item.values, {
        n = #item.timestamps, timestamps = item.timestamps, entity = item.dimensions[1],
      })
    end
    -- expected values computed with CPython 3.11 on the same file
    assert.are.equal(1, list[1]:count())
    assert.are.equal(2038121.0, list[1]:mean())
    assert.are.equal(427013.9166666667, list[2]:mean())
    assert.are.equal(686.0195121951219, list[3]:mean())
    local pooled = stats.merge(list)
    assert.are.equal(432, #pooled)
    assert.are.equal(89, pooled:count())
    assert.are.equal(4656458.1, pooled:sum())
    assert.are.equal(52319.753932584266, pooled:mean())
    assert.are.equal(647, pooled:median())
  end)
end)
