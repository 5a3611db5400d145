"""Metrics endpoints: v2 GET /api/v2/metrics/query and the v2 descriptor
(docs/reference/dynatrace-api.md 3), v1 GET /api/v1/timeseries[/{id}] (section 4).

Simulator approximations (documented in tests/sim/README.md): per-entity values
come from the scenario variant of the requested aggregation; Inf/fold combine the
slots of the automatic resolution, merging combines entities per slot, both with
sum for sum/count, min, max, else the mean of the non-null values."""

import json

from dtsim_common import ApiError, Response, constraints, decode_page_key, encode_page_key, first
from dtsim_metricsel import parse_metric_selector
from dtsim_scenario import normalize_aggregation
from dtsim_selectors import EntitySelector, parse_tag, tag_matches, zone_filter
from dtsim_series import combine, convert, merge_series, slot_values, unit_factor
from dtsim_time import (HOUR, RELATIVE_TIME_MS, auto_resolution, format_resolution, parse_duration, parse_timestamp,
                        slot_grid, slot_starts)

KNOWN_ENTITY_TYPES = ("SERVICE", "APPLICATION", "HOST", "PROCESS_GROUP", "PROCESS_GROUP_INSTANCE",
                      "SERVICE_METHOD", "MOBILE_APPLICATION", "SYNTHETIC_TEST", "ENVIRONMENT", "CLOUD_APPLICATION")
V2_TRANSFORMATIONS = ["fold", "limit", "timeshift", "rate", "sort", "last", "splitBy", "default", "delta",
                      "lastReal", "smooth", "rollup", "partition", "toUnit", "setUnit"]


# ---- shared ----------------------------------------------------------------------

def metric_for(ctx, key, api):
    metric = ctx.scenario.metrics.get(key)
    if metric is None or metric["api"] not in (api, "both"):
        return None
    return metric


def variant(metric, agg, key):
    """{entityId: spec} for an aggregation; 400 when the metric does not have it."""
    data = metric["data"]
    if agg in data:
        return data[agg]
    if "*" in data:
        return data["*"]
    if not data:
        return {}
    raise ApiError(400, "Aggregation type %s is not supported for metric %s (scenario variants: %s)"
                   % (agg, key, ", ".join(sorted(data))))


def entity_series(spec, window, agg, inf, max_points, stamps):
    """(timestamps, values) of one entity; one value at `to` for Inf/fold."""
    frm, to, res, now = window
    end_closed = stamps == "end"
    if inf:
        base = auto_resolution(frm, to, max_points)
        slots, _ = slot_grid(frm, to, base, stamps)
        return [to], [combine(slot_values(spec, slots, base, now, agg, to, end_closed), agg)]
    slots, reported = slot_grid(frm, to, res, stamps)
    return reported, slot_values(spec, slots, res, now, agg, to, end_closed)


# ---- v2 query --------------------------------------------------------------------

def _v2_window(params, now):
    to = parse_timestamp(first(params, "to"), now) if first(params, "to") else now
    if to is None:
        raise constraints("to", "Invalid timestamp '%s'" % first(params, "to"))
    frm = parse_timestamp(first(params, "from"), now) if first(params, "from") else to - 2 * HOUR
    if frm is None:
        raise constraints("from", "Invalid timestamp '%s'" % first(params, "from"))
    if frm >= to:
        raise constraints("from", "The start of the timeframe must be before its end")
    return frm, to


def _v2_resolution(params, frm, to, max_points):
    """(resolution ms or None for Inf, text for the answer)."""
    text = first(params, "resolution")
    if text is None or text == "":
        res = auto_resolution(frm, to, max_points)
        return res, format_resolution(res)
    if text == "Inf":
        return None, "Inf"
    if text.isdigit() and int(text) > 0:
        res = auto_resolution(frm, to, int(text))
        return res, format_resolution(res)
    res = parse_duration(text)
    if res is None or res < 60000:
        raise constraints("resolution", "Invalid resolution '%s': use Inf, a number of points or a duration "
                          "such as 1m, 10m, 1h, 1d" % text)
    return res, format_resolution(res)


def _selected_ids(ctx, params):
    """Entity ids allowed by entitySelector and mzSelector (None = all)."""
    allowed = None
    if first(params, "entitySelector"):
        selector = EntitySelector(first(params, "entitySelector"), ctx.scenario.entities)
        allowed = {e["entityId"] for e in selector.select()}
    if first(params, "mzSelector"):
        in_zone = zone_filter(first(params, "mzSelector"))
        zone_ids = {eid for eid, entity in ctx.scenario.entities.items() if in_zone(entity)}
        allowed = zone_ids if allowed is None else allowed & zone_ids
    return allowed


def _dimension_warnings(query, metric):
    warnings = []
    for key in query.split_keys:
        if key == metric["dimensionKey"]:
            continue
        if key.startswith("dt.entity.") and key[len("dt.entity."):].upper() not in KNOWN_ENTITY_TYPES:
            warnings.append("The dimension key `%s` has been referenced, but `%s` is not a known entity type."
                            % (key, key[len("dt.entity."):]))
        warnings.append("The dimension key `%s` has been referenced, but the metric has no such key." % key)
    return warnings


def _finish_values(query, values):
    if query.default is not None:
        values = [query.default if v is None else v for v in values]
    if query.to_unit:
        factor = unit_factor(*query.to_unit)
        if factor is None:
            raise ApiError(400, "Cannot convert unit %s to %s" % query.to_unit)
        values = [convert(v, factor) for v in values]
    return values


def _series_for(ctx, query, metric, window, allowed):
    agg = query.aggregation or metric["defaultAggregation"]
    if agg == "auto":
        agg = metric["defaultAggregation"]
    specs = variant(metric, agg, query.key)
    inf = window[2] is None or query.fold is not None
    fold_agg = normalize_aggregation(query.fold) if query.fold else agg
    max_points = ctx.scenario.options["v2MaxPoints"]
    series = []
    for eid in ctx.scenario.entities:
        if eid in specs and (allowed is None or eid in allowed):
            stamps, values = entity_series(specs[eid], window, fold_agg if inf else agg, inf, max_points,
                                           ctx.scenario.options["v2Timestamps"])
            series.append((eid, stamps, values))
    if query.collapse and series:
        merged = merge_series([s[2] for s in series], agg)
        return [{"dimensions": [], "dimensionMap": {}, "timestamps": series[0][1],
                 "values": _finish_values(query, merged)}]
    key = metric["dimensionKey"]
    out = [{"dimensions": [eid], "dimensionMap": {key: eid}, "timestamps": stamps,
            "values": _finish_values(query, values)} for eid, stamps, values in series]
    return out[:query.limit] if query.limit is not None else out


def _result_for(ctx, query, window, allowed):
    metric = metric_for(ctx, query.key, "v2")
    if metric is None:
        raise ApiError(404, "Metric key '%s' not found" % query.key)
    warnings = _dimension_warnings(query, metric)
    data = [] if warnings else _series_for(ctx, query, metric, window, allowed)
    warnings += ["The transformation %s is not supported by the simulator and was ignored." % t
                 for t in query.ignored]
    points = sum(len(s["values"]) for s in data)
    result = {"metricId": query.text, "dataPointCountRatio": points / 20000000.0,
              "dimensionCountRatio": len(data) / 100000.0, "data": data}
    if warnings:
        result["warnings"] = warnings
    return result


def _large_series(size_mb, window):
    """Valid series adding up to at least size_mb megabytes (fault largeMB)."""
    frm, to, res, _now = window
    stamps = slot_starts(frm, to, res or 60000)
    values = [123456.789] * len(stamps)

    def series(i):
        eid = "SERVICE-%016X" % i
        return {"dimensions": [eid], "dimensionMap": {"dt.entity.service": eid}, "timestamps": stamps,
                "values": values}
    one = len(json.dumps(series(0))) + 2
    count = -(-int(size_mb * 1024 * 1024) // one)
    return [series(i) for i in range(count)]


def query_v2(ctx):
    params = ctx.params
    offset = 0
    if first(params, "nextPageKey"):
        if len(params) > 1:
            raise constraints("nextPageKey", "expected one of nextPageKey or metricSelector to be specified")
        params, offset = decode_page_key("metrics", first(params, "nextPageKey"))
    elif not first(params, "metricSelector"):
        raise constraints("nextPageKey", "expected one of nextPageKey or metricSelector to be specified")
    now = ctx.state.now()
    frm, to = _v2_window(params, now)
    res, res_text = _v2_resolution(params, frm, to, ctx.scenario.options["v2MaxPoints"])
    window = (frm, to, res, now)
    queries = parse_metric_selector(first(params, "metricSelector"),
                                    {k for k, m in ctx.scenario.metrics.items() if m["api"] != "v1"})
    allowed = _selected_ids(ctx, params)
    results = [_result_for(ctx, q, window, allowed) for q in queries]
    size = ctx.scenario.page_sizes["metrics"]
    total = sum(len(r["data"]) for r in results)
    more = any(len(r["data"]) > offset + size for r in results)
    for result in results:
        result["data"] = result["data"][offset:offset + size]
    if ctx.fault and "largeMB" in ctx.fault and results:
        results[0]["data"] = _large_series(ctx.fault["largeMB"], window)
        total, more = len(results[0]["data"]), False
    body = {"totalCount": total, "nextPageKey": encode_page_key("metrics", params, offset + size) if more else None,
            "resolution": res_text}
    warnings = [w for r in results for w in r.get("warnings", [])]
    if warnings:
        body["warnings"] = warnings
    body["result"] = results
    return Response(200, body)


def descriptor_v2(ctx):
    queries = parse_metric_selector(ctx.groups[0], {k for k, m in ctx.scenario.metrics.items() if m["api"] != "v1"})
    if len(queries) != 1:
        raise constraints("metricSelector", "exactly one metric selector expected", "PATH")
    metric = metric_for(ctx, queries[0].key, "v2")
    if metric is None:
        raise ApiError(404, "Metric key '%s' not found" % queries[0].key)
    aggs = sorted(a for a in metric["data"] if a != "*") or [metric["defaultAggregation"]]
    body = {"metricId": queries[0].text, "displayName": metric.get("displayName", queries[0].key),
            "description": "", "unit": metric.get("unit", "Unspecified"), "entityType": [metric["entityType"]],
            "aggregationTypes": ["auto"] + [a.split("(")[0] for a in aggs], "transformations": V2_TRANSFORMATIONS,
            "defaultAggregation": {"type": metric["defaultAggregation"].split("(")[0]},
            "dimensionDefinitions": [{"key": metric["dimensionKey"], "name": metric["entityType"].title(),
                                      "displayName": metric["entityType"].title(), "index": 0, "type": "ENTITY"}],
            "tags": [], "metricValueType": {"type": "unknown"}, "scalar": False, "resolutionInfSupported": True}
    body.update(metric.get("descriptor", {}))
    return Response(200, body)


# ---- v1 timeseries ---------------------------------------------------------------

def descriptor_v1(key, metric):
    aggs = sorted({a.split("(")[0].upper() for a in metric["data"] if a != "*"})
    body = {"timeseriesId": key, "displayName": metric.get("displayName", key),
            "dimensions": metric.get("dimensions", [metric["entityType"]]),
            "aggregationTypes": metric.get("aggregationTypes", aggs), "unit": metric.get("unit", "count"),
            "filter": "BUILTIN" if key.startswith("com.dynatrace.builtin:") else "CUSTOM",
            "detailedSource": metric.get("detailedSource", metric["entityType"].title() + "s"), "types": []}
    body.update(metric.get("descriptor", {}))
    return body


def _v1_window(params, now, mode):
    relative = first(params, "relativeTime")
    if relative is not None:
        if relative not in RELATIVE_TIME_MS:
            raise constraints("relativeTime", "must be one of %s" % ", ".join(RELATIVE_TIME_MS))
        return now - RELATIVE_TIME_MS[relative], now
    values = []
    for name in ("startTimestamp", "endTimestamp"):
        text = first(params, name)
        if text is None or not text.lstrip("-").isdigit():
            raise constraints(name, "must be a timestamp in ms (or use relativeTime)")
        values.append(int(text))
    start, end = values
    if start >= end:
        if mode == "error":
            raise constraints("startTimestamp", "startTimestamp must be before endTimestamp")
        if mode == "swap":
            start, end = end, start
    return start, end


def _v1_aggregation(params, metric):
    agg = (first(params, "aggregationType") or metric["defaultAggregation"]).lower()
    if agg != "percentile":
        return agg, agg.upper()
    text = first(params, "percentile")
    if text is None or not text.isdigit() or not 1 <= int(text) <= 99:
        raise constraints("percentile", "percentile between 1 and 99 is required with aggregationType=percentile")
    return "percentile(%d)" % int(text), "PERCENTILE"


def _v1_entities(ctx, params, specs):
    ids = params.get("entity")
    if ids is not None and any(x == "" for x in ids):
        if ctx.scenario.options["v1EmptyEntityParameter"] == "error":
            raise constraints("entity", "must not be empty")
        ids = [x for x in ids if x] or None
    try:
        tags = [parse_tag(t) for t in params.get("tag", [])]
    except ValueError as err:
        raise constraints("tag", str(err))
    chosen = []
    for eid, entity in ctx.scenario.entities.items():
        if eid in specs and (ids is None or eid in ids) and all(tag_matches(entity.get("tags"), t) for t in tags):
            chosen.append(eid)
    return chosen


def _v1_data(ctx, key, metric, params):
    now = ctx.state.now()
    mode = ctx.scenario.options["v1InvertedWindow"]
    start, end = _v1_window(params, now, mode)
    agg, agg_text = _v1_aggregation(params, metric)
    total = (first(params, "queryMode") or "SERIES").upper()
    if total not in ("SERIES", "TOTAL"):
        raise constraints("queryMode", "must be SERIES or TOTAL")
    specs = variant(metric, agg, key)
    max_points = ctx.scenario.options["v1MaxPoints"]
    res = max(end - start, 1) if total == "TOTAL" else auto_resolution(start, end, max_points)
    points, names = {}, {}
    for eid in _v1_entities(ctx, params, specs):
        if start >= end:
            stamps, values = [], []
        else:
            stamps, values = entity_series(specs[eid], (start, end, res, now), agg, total == "TOTAL", max_points,
                                           "start")
        points[eid] = [[t, v] for t, v in zip(stamps, values)]
        names[eid] = ctx.scenario.entities[eid].get("displayName")
    if ctx.fault and "largeMB" in ctx.fault:
        for series in _large_series(ctx.fault["largeMB"], (start, end, 60000, now)):
            points[series["dimensions"][0]] = [[t, v] for t, v in zip(series["timestamps"], series["values"])]
    return {"dataPoints": points, "unit": metric.get("unit", "count"), "resolutionInMillisUTC": res,
            "aggregationType": agg_text, "entities": names, "timeseriesId": key}


def _v1_answer(ctx, key, params, shape=None):
    metric = metric_for(ctx, key, "v1")
    if metric is None:
        raise ApiError(404, "Timeseries %s not found" % key)
    if shape is None and (first(params, "includeData") or "false").lower() != "true":
        return Response(200, descriptor_v1(key, metric))
    data = _v1_data(ctx, key, metric, params)
    shape = shape or metric.get("resultShape", ctx.scenario.options["v1ResultShape"])
    if shape == "result":
        return Response(200, {"result": data})
    body = descriptor_v1(key, metric)
    body["dataResult"] = data
    return Response(200, body)


def timeseries_v1(ctx):
    return _v1_answer(ctx, ctx.groups[0], ctx.params)


def timeseries_list_v1(ctx):
    """The descriptor list, or the older ?timeseriesId=... form in the `result` shape."""
    key = first(ctx.params, "timeseriesId")
    if key:
        return _v1_answer(ctx, key, ctx.params, shape="result")
    return Response(200, [descriptor_v1(k, m) for k, m in ctx.scenario.metrics.items() if m["api"] != "v2"])


ROUTES = [
    ("GET", r"^/api/v2/metrics/query$", "metrics.read", query_v2),
    ("GET", r"^/api/v2/metrics/(.+)$", "metrics.read", descriptor_v2),
    ("GET", r"^/api/v1/timeseries$", "DataExport", timeseries_list_v1),
    ("GET", r"^/api/v1/timeseries/(.+)$", "DataExport", timeseries_v1),
]
