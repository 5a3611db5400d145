"""Time handling for the simulator: timestamps (ms, now-2h, ISO-8601), durations
and resolutions, and the slot grids series are reported on (v1 by slot start; v2 by slot end, as
the real answers in fixtures/dynatrace show, or by start when a scenario asks)."""

import datetime
import re

MINUTE = 60000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
UNIT_MS = {"s": 1000, "m": MINUTE, "h": HOUR, "d": DAY, "w": 7 * DAY}

# v1 relativeTime values (docs/reference/dynatrace-api.md 4.2).
RELATIVE_TIME_MS = {
    "min": MINUTE, "5mins": 5 * MINUTE, "10mins": 10 * MINUTE, "15mins": 15 * MINUTE,
    "30mins": 30 * MINUTE, "hour": HOUR, "2hours": 2 * HOUR, "6hours": 6 * HOUR,
    "day": DAY, "3days": 3 * DAY, "week": 7 * DAY, "month": 30 * DAY,
}

# Resolutions the simulator chooses from when it picks one itself.
AUTO_RESOLUTIONS = [MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE,
                    HOUR, 2 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 7 * DAY]

_RELATIVE = re.compile(r"^now(?:-(\d+)([smhdw]))?$")
_DURATION = re.compile(r"^(\d+)([smhdw])$")


def parse_duration(text):
    """'10m' -> 600000; None when the text is not a positive duration."""
    match = _DURATION.match(text.strip())
    if not match:
        return None
    amount = int(match.group(1))
    return amount * UNIT_MS[match.group(2)] if amount > 0 else None


def parse_timestamp(text, now):
    """ms epoch digits, 'now', 'now-2h' or ISO-8601; None when unparseable."""
    text = text.strip()
    if re.match(r"^-?\d+$", text):
        return int(text)
    match = _RELATIVE.match(text)
    if match:
        if match.group(1) is None:
            return now
        return now - int(match.group(1)) * UNIT_MS[match.group(2)]
    try:
        stamp = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return int(stamp.timestamp() * 1000)


def resolve_scenario_time(value, now):
    """Scenario timestamps: ints stay, 'now-30m' strings are resolved; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return parse_timestamp(value, now)
    return None


def format_resolution(ms):
    """600000 -> '10m', 3600000 -> '1h' (largest whole unit)."""
    for unit in ("w", "d", "h", "m", "s"):
        if ms % UNIT_MS[unit] == 0:
            return "%d%s" % (ms // UNIT_MS[unit], unit)
    return "%dms" % ms


def auto_resolution(start, end, max_points):
    """Smallest candidate resolution giving at most max_points slots."""
    span = max(end - start, 1)
    for res in AUTO_RESOLUTIONS:
        if (span + res - 1) // res <= max_points:
            return res
    return AUTO_RESOLUTIONS[-1]


def slot_starts(start, end, res):
    """Starts of the slots [s, s+res) that overlap [start, end), aligned to res."""
    slots = []
    slot = (start // res) * res
    while slot < end:
        slots.append(slot)
        slot += res
    return slots


def slot_grid(start, end, res, stamps):
    """(slot starts, reported timestamps) for a window.
    stamps "start": slots [s, s+res) overlapping [start, end), reported by s (v1).
    stamps "end": slots (s, s+res] from the one holding `start` to the one holding
    `end`, reported by s+res, as the real v2 answers in fixtures/dynatrace show."""
    if stamps == "start":
        starts = slot_starts(start, end, res)
        return starts, list(starts)
    first_end = -(-start // res) * res
    last_end = -(-end // res) * res
    ends = list(range(first_end, last_end + 1, res))
    return [e - res for e in ends], ends


def current_slot(now, res):
    """Start of the slot that holds the last millisecond before now."""
    return ((now - 1) // res) * res
