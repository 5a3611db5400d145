#!/usr/bin/env python3
"""demo_loop.py DIR: writes the two scenarios of ./demo.sh's whole loop into
DIR: dt.json, the Dynatrace demo tenant (demo.json) with an open problem
on the checkout service in Production (the one the demo's notification
names), and ado.json, an Azure DevOps organisation where releases 41 and 42
of the release definition 7 were both deployed to Production, 42 last (the
classic-release fixtures of tests/fixtures/azure-devops, as
tests/e2e/test_selfheal.py builds them)."""
import copy
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "..", "fixtures", "azure-devops")
PRODUCTION = "SERVICE-C4EC4A0E5A3B1001"
PID = "-5823370287731021622_1641224100000V2"
PAT = "ado-pat-DEMO-0123456789abcdef"


def dynatrace():
    with open(os.path.join(HERE, "demo.json")) as f:
        doc = json.load(f)
    problem = copy.deepcopy(doc["problems"][0])
    ref = [{"entityId": {"id": PRODUCTION, "type": "SERVICE"}, "name": "checkout"}]
    problem.update({"problemId": PID, "displayId": "P-2512001", "startTime": "now-1m", "status": "OPEN",
                    "affectedEntities": ref, "impactedEntities": ref, "rootCauseEntity": ref[0]})
    doc["problems"].append(problem)
    return doc


def azure_devops():
    with open(os.path.join(FIX, "release_GET_200_trimmed_constructed.json")) as f:
        r42 = json.load(f)
    r41 = json.loads(json.dumps(r42).replace("Release-42", "Release-41").replace("releases/42", "releases/41"))
    r41["id"] = 41
    for env, env_id in zip(r41["environments"], (97, 98)):
        env["id"], env["releaseId"], env["release"]["id"] = env_id, 41, 41
    with open(os.path.join(FIX, "deployments_list_200_succeeded_descending_constructed.json")) as f:
        deployments = json.load(f)["value"]
    return {"pats": [PAT], "releases": {"SampleProject": [r41, r42]}, "deployments": {"SampleProject": deployments}}


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: demo_loop.py DIR")
    for name, doc in (("dt.json", dynatrace()), ("ado.json", azure_devops())):
        with open(os.path.join(argv[1], name), "w") as f:
            json.dump(doc, f)


if __name__ == "__main__":
    main(sys.argv)
