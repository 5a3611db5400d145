-- Timeframe rules of Keptn's evaluation.triggered (docs/reference/keptn-slo.md section 1).
local tf = require("unbreakable.slo.timeframe")

local NOW = 1574076576000          -- 2019-11-18T11:29:36.000Z

describe("timeframe", function()
  it("parses the three timestamp forms", function()
    assert.are.equal(1574076066000, tf.parse_time("2019-11-18T11:21:06.000Z"))
    assert.are.equal(1574076066000, tf.parse_time("2019-11-18T11:21:06Z"))
    assert.are.equal(1574076066000, tf.parse_time("2019-11-18T12:21:06+01:00"))
    assert.are.equal(1574076066000, tf.parse_time("2019-11-18T11:21:06"))
    assert.are.equal(1574076066250, tf.parse_time("2019-11-18T11:21:06.25Z"))
    assert.are.equal(951868799999, tf.parse_time("2000-02-29T23:59:59.999Z"))
    assert.is_nil((tf.parse_time("2019-11-18 11:21:06")))
    assert.is_nil((tf.parse_time("2019-11-18T11:21:06 CET")))
  end)

  it("rejects dates and times that do not exist, as Go's time.Parse does", function()
    -- read as they are, 2019-13-45 would be 2020-02-14: a window the user never asked for
    for _, bad in ipairs({ "2019-13-01T00:00:00Z", "2019-00-10T00:00:00Z", "2019-02-29T00:00:00Z",
                           "2019-04-31T00:00:00Z", "2019-11-00T00:00:00Z", "2019-11-18T24:00:00Z",
                           "2019-11-18T11:60:00Z", "2019-11-18T11:21:60Z", "2019-11-18T11:21:06+24:00" }) do
      local t, err = tf.parse_time(bad)
      assert.is_nil(t, bad)
      assert.truthy(err:find("out of range", 1, true), bad .. ": " .. tostring(err))
    end
    assert.are.equal(1582934400000, tf.parse_time("2020-02-29T00:00:00Z"))
  end)

  it("parses Go durations", function()
    assert.are.equal(900000, tf.parse_duration("15m"))
    assert.are.equal(5400000, tf.parse_duration("1h30m"))
    assert.are.equal(9000000, tf.parse_duration("2.5h"))
    assert.are.equal(90000, tf.parse_duration("90s"))
    assert.is_nil((tf.parse_duration("15")))
    assert.is_nil((tf.parse_duration("15 minutes")))
  end)

  it("start + end are used as given", function()
    local from, to = tf.resolve({ start = "2019-11-18T11:21:06.000Z", ["end"] = "2019-11-18T11:29:36.000Z" }, NOW)
    assert.are.equal(1574076066000, from)
    assert.are.equal(1574076576000, to)
  end)

  it("start + timeframe: end = start + timeframe", function()
    local from, to = tf.resolve({ start = "2019-11-18T11:21:06.000Z", timeframe = "10m" }, NOW)
    assert.are.equal(1574076066000, from)
    assert.are.equal(1574076666000, to)
  end)

  it("only a timeframe (default 5m): ends now", function()
    local from, to = tf.resolve({ timeframe = "15m" }, NOW)
    assert.are.equal(NOW - 900000, from)
    assert.are.equal(NOW, to)
    from, to = tf.resolve({}, NOW)
    assert.are.equal(NOW - 300000, from)
    assert.are.equal(NOW, to)
  end)

  it("rejects end with timeframe, end without start, and less than a minute", function()
    assert.are.equal("give either end or timeframe, not both",
      select(2, tf.resolve({ start = "2019-11-18T11:21:06Z", ["end"] = "2019-11-18T11:29:36Z", timeframe = "5m" }, NOW)))
    assert.are.equal("end needs a start", select(2, tf.resolve({ ["end"] = "2019-11-18T11:29:36Z" }, NOW)))
    assert.matches("at least 1 minute", select(2, tf.resolve({ start = "2019-11-18T11:21:06Z", ["end"] = "2019-11-18T11:22:05Z" }, NOW)))
    assert.is_number((tf.resolve({ start = "2019-11-18T11:21:06Z", ["end"] = "2019-11-18T11:22:06Z" }, NOW)))
  end)
end)
