"""A re-statement of the original dtcli 4954a85 `monspec pull` / `pullcompare`
client logic as docs/reference/monspec.md section 4 describes it, written for this
project (not the original code). The simulator tests use it to prove that
scenarios/dtcli-synthetic.json answers the way the fake the fixtures were
generated against did: the output must equal fixtures/monspec/dtcli-output_*.

Deviation from the original: "now" is read once per run (the original re-read it
per query; the fixtures do not depend on it)."""

import json
import time
import urllib.error
import urllib.request
from collections import OrderedDict

ENDPOINTS = {"APPLICATION": "applications", "SERVICE": "services", "PROCESS_GROUP": "infrastructure/process-groups",
             "HOST": "infrastructure/hosts", "PROCESS_GROUP_INSTANCE": "infrastructure/processes"}


class DtcliError(Exception):
    """Ends the command with the Python-repr error output (exit status 1)."""


class Client:
    def __init__(self, base_url, token, now_s=None):
        self.base = base_url
        self.token = token
        self.now_s = int(now_s if now_s is not None else time.time())

    def get(self, path_and_query):
        """GET without percent-encoding, like the original; returns parsed JSON or raises."""
        request = urllib.request.Request(self.base + path_and_query,
                                         headers={"Authorization": "Api-Token " + self.token})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.loads(answer.read().decode("utf-8"))
        except urllib.error.HTTPError as err:
            body = json.loads(err.read().decode("utf-8"))
            raise DtcliError("Dynatrace API returned an error: %s" % body["error"]["message"])

    def stamp(self, minutes):
        return 1000 * int(self.now_s - minutes * 60)


def full_id(timeseries):
    return timeseries if ":" in timeseries[1:] else "com.dynatrace.builtin:" + timeseries


def tag_param(tag):
    text = "" if tag.get("context") in (None, "CONTEXTLESS") else "[%s]" % tag["context"]
    text += tag["key"]
    return text + (":" + tag["value"] if tag.get("value") is not None else "")


def resolve(client, entity_def, env_name, full):
    env = entity_def["environments"][env_name]
    endpoint = "/api/v1/entity/" + ENDPOINTS[entity_def["etype"]]
    if "entities" in env:
        if not full:
            return list(env["entities"])
        answer = client.get(endpoint + "?" + "&".join("entity=" + e for e in env["entities"]))
    elif env.get("tags"):
        answer = client.get(endpoint + "?" + "&".join("tag=" + tag_param(t) for t in env["tags"]))
    else:
        answer = client.get(endpoint)
    objects = [o for o in answer if o.get("displayName") is not None]
    return objects if full else [o["entityId"] for o in objects]


def timeseries_value(client, sig, ids, start, end):
    ts_id = full_id(sig["timeseries"])
    aggregate = sig["aggregate"]
    agg = "aggregationType=percentile&percentile=%s" % aggregate[1:] if aggregate.startswith("p") \
        else "aggregationType=" + aggregate.lower()
    entities = "&".join("entity=" + e for e in ids) if ids else "entity="
    answer = client.get("/api/v1/timeseries/%s?startTimestamp=%d&endTimestamp=%d&%s&includeData=true&%s"
                        % (ts_id, start, end, agg, entities))
    result = answer.get("dataResult") or answer.get("result")
    if not result or result.get("timeseriesId") != ts_id:
        raise DtcliError("TypeError: the answer carries no timeseries %s" % ts_id)
    values = []
    for key, points in result["dataPoints"].items():
        if key not in ids:
            continue
        required = ("unit", "aggregationType", "resolutionInMillisUTC", "timeseriesId")
        if any(field not in result for field in required) or key not in result.get("entities", {}):
            raise DtcliError("KeyError: the answer lacks a field the original requires for %s" % key)
        values.extend(v for _, v in points if v is not None)
    return sum(values) / len(values) if values else 0


def smartscape_value(objects, smartscape):
    rel_list, rel_type = smartscape.split(":", 1)
    total = 0
    for obj in objects:
        related = (obj.get(rel_list) or {}).get(rel_type)
        if isinstance(related, list):
            total += len(related)
    return total


def pull_side(client, entity_def, env_name, start_min, end_min, field, hard):
    """Fills sig[field] for every perfsignature entry; errors abort only when hard."""
    ids = resolve(client, entity_def, env_name, full=False)
    start, end = client.stamp(start_min), client.stamp(end_min)
    for sig in entity_def["perfsignature"]:
        try:
            if "timeseries" in sig:
                sig[field] = timeseries_value(client, sig, ids, start, end)
            elif "smartscape" in sig:
                sig[field] = smartscape_value(resolve(client, entity_def, env_name, full=True), sig["smartscape"])
        except (DtcliError, KeyError, TypeError) as err:
            if hard:
                raise DtcliError(str(err))
            sig[field] = None


def apply_thresholds(sigs, scalefactors):
    total = 0
    for sig in sigs:
        src, cmp = sig.get("result"), sig.get("result_compare")
        if src is None:
            continue
        for limit, violated in (("upperlimit", lambda s, t: s > t), ("lowerlimit", lambda s, t: s < t)):
            if sig.get(limit) is not None:
                value = float(sig[limit]) if isinstance(sig[limit], str) else sig[limit]
                sig["threshold"] = value
                if violated(src, value):
                    sig["violation"] = 1
                    total += 1
                break
        else:
            if cmp is None:
                sig["threshold"] = None
                sig["violation"] = 0
                continue
            factor = scalefactors.get(sig.get("timeseries") or sig.get("smartscape"), scalefactors.get("default", 0))
            mult = -1 if sig.get("validate") == "lower" else 1
            sig["threshold"] = cmp + (mult * cmp * factor) / 100
            bad = src < sig["threshold"] if sig.get("validate") == "lower" else src > sig["threshold"]
            sig["violation"] = 1 if bad else 0
            total += sig["violation"]
    return total


def metadata_requests(client, entity_def):
    for sig in entity_def["perfsignature"]:
        if "timeseries" in sig:
            listed = [d["timeseriesId"] for d in client.get("/api/v1/timeseries")]
            if full_id(sig["timeseries"]) not in listed:
                raise DtcliError("timeseries %s not found" % sig["timeseries"])


def clean(sigs):
    return [OrderedDict((k, v) for k, v in sig.items() if not k.startswith("_")) for sig in sigs]


def run(client, monspec, command, target, timespan, shift=0):
    """Returns (stdout text, exit status) like the original command."""
    name, sub = target.split("/", 1)
    entity_def = monspec[name]
    entity_def["perfsignature"] = clean(entity_def["perfsignature"])
    try:
        metadata_requests(client, entity_def)
        if command == "pull":
            pull_side(client, entity_def, sub, timespan, shift, "result", True)
            total = apply_thresholds(entity_def["perfsignature"], {})
            out = OrderedDict([("performanceSignature", entity_def["perfsignature"]), ("totalViolations", total),
                               ("comment", "Pulled metrics for %s" % target)])
            return json.dumps(out), 0
        comparison = next((c for c in entity_def.get("comparisons", []) if c["name"] == sub), None)
        if comparison is None:
            return repr({"error": "Cant find comparision definition for %s" % target}), 0
        pull_side(client, entity_def, comparison["source"], timespan, comparison["shiftsourcetimeframe"],
                  "result", True)
        pull_side(client, entity_def, comparison["compare"], timespan, comparison["shiftcomparetimeframe"],
                  "result_compare", False)
        total = apply_thresholds(entity_def["perfsignature"], comparison.get("scalefactorperc", {}))
        out = OrderedDict([("performanceSignature", entity_def["perfsignature"]),
                           ("comment", "Pulled compare for %s" % timespan), ("totalViolations", total)])
        return json.dumps(out), 0
    except DtcliError as err:
        return repr({"Error": str(err)}), 1
