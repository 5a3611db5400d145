"""Series values for the simulator: turns a scenario series spec (explicit points
or a generator relative to "now") into one value per slot, and combines values
(time folding, merging entities, unit conversion).

Generators (all values per answered slot, see tests/sim/README.md):
  {"points": [[ts, v|null], ...]}         absolute ms or "now-5m"; averaged (or summed
                                          for sum/count) into the slot holding ts (a v2
                                          slot reported as T holds points in (T-res, T])
  {"constant": v}                         every slot
  {"linear": {"atNow": a, "perMinute": b}} a + b * (slot start - now) / 1 min
  {"values": [v0, ..., vn], "repeat": true} vn in the slot holding now-1ms, vn-1 in the
                                          one before, ...; cyclic when repeat is true,
                                          null outside the list when false; with
                                          "anchor": "windowEnd" vn goes into the last slot
                                          of the requested window instead (independent of
                                          the client's and the simulator's clocks)
Options on every spec: "from", "until" (ms or "now-30m"): slots outside are null."""

from dtsim_time import current_slot, parse_timestamp

SPEC_KINDS = ("points", "constant", "linear", "values")
SUMMING = ("sum", "count")


def combine(values, agg):
    """One value from many: sum for sum/count, min, max, else the mean. None if empty."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    if agg in SUMMING:
        total = 0
        for v in present:
            total += v
        return total
    if agg == "min":
        return min(present)
    if agg == "max":
        return max(present)
    total = 0
    for v in present:
        total += v
    return total / len(present)


def _time(value, now):
    if isinstance(value, str):
        return parse_timestamp(value, now)
    return value


def _in_range(spec, slot, now):
    lower = _time(spec.get("from"), now)
    upper = _time(spec.get("until"), now)
    if lower is not None and slot < lower:
        return False
    if upper is not None and slot >= upper:
        return False
    return True


def _points_values(spec, slots, res, now, agg, end_closed):
    buckets = {slot: [] for slot in slots}
    for stamp, value in spec["points"]:
        stamp = _time(stamp, now)
        if stamp is None:
            continue
        slot = ((stamp - 1) // res) * res if end_closed else (stamp // res) * res
        if slot in buckets:
            buckets[slot].append(value)
    return [combine(buckets[slot], agg) for slot in slots]


def _values_values(spec, slots, res, now, window_end):
    values = spec["values"]
    last = current_slot(window_end if spec.get("anchor") == "windowEnd" else now, res)
    count = len(values)
    out = []
    for slot in slots:
        index = count - 1 + (slot - last) // res
        if spec.get("repeat", True):
            out.append(values[index % count])
        else:
            out.append(values[index] if 0 <= index < count else None)
    return out


def slot_values(spec, slots, res, now, agg, window_end, end_closed=False):
    """One value (or None) per slot start in `slots` at resolution `res` ms;
    window_end is the end of the requested window (for anchor windowEnd);
    end_closed: slots are (s, s+res] (v2, reported by their end), else [s, s+res)."""
    if "points" in spec:
        raw = _points_values(spec, slots, res, now, agg, end_closed)
    elif "constant" in spec:
        raw = [spec["constant"]] * len(slots)
    elif "linear" in spec:
        lin = spec["linear"]
        raw = [lin.get("atNow", 0) + lin.get("perMinute", 0) * (slot - now) / 60000 for slot in slots]
    else:
        raw = _values_values(spec, slots, res, now, window_end)
    return [value if _in_range(spec, slot, now) else None for slot, value in zip(slots, raw)]


def merge_series(series_list, agg):
    """Per-slot combination of several equally long series (splitBy()/merge)."""
    if not series_list:
        return []
    return [combine([s[i] for s in series_list], agg) for i in range(len(series_list[0]))]


# Units in a common base per family, as integers so conversions stay exact.
_UNIT_FACTORS = {
    "NanoSecond": ("time", 1), "MicroSecond": ("time", 1000), "MilliSecond": ("time", 10 ** 6),
    "Second": ("time", 10 ** 9), "Minute": ("time", 60 * 10 ** 9), "Hour": ("time", 3600 * 10 ** 9),
    "Day": ("time", 86400 * 10 ** 9),
    "Bit": ("bytes", 1), "Byte": ("bytes", 8), "KiloByte": ("bytes", 8000), "MegaByte": ("bytes", 8 * 10 ** 6),
    "KibiByte": ("bytes", 8 * 1024), "MebiByte": ("bytes", 8 * 1024 * 1024),
    "Ratio": ("ratio", 100), "Percent": ("ratio", 1),
}


def unit_factor(source, target):
    """(multiply, divide) integers converting source -> target; None if incompatible."""
    a = _UNIT_FACTORS.get(source)
    b = _UNIT_FACTORS.get(target)
    if a is None or b is None or a[0] != b[0]:
        return None
    return a[1], b[1]


def convert(value, factor):
    if value is None:
        return None
    mul, div = factor
    if mul % div == 0:
        return value * (mul // div)
    if div % mul == 0:
        return value / (div // mul)
    return value * mul / div
