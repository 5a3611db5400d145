#!/usr/bin/env python3
"""make-recordings.py: writes the recordings `unbreakable init` ships with
a scaffold (templates/init/files/policies/recordings/), so that the
scaffold's specs pass on a fresh project. Run from the top of a built clone
when the fixture format or the default policies change:

    python3 templates/init/make-recordings.py

The gate recordings are real `gate --dump-ctx` runs of the scaffold's
monspec (rendered for the service "checkout") against the bundled Dynatrace
simulator (tests/sim/scenarios/demo.json: Staging close to Production; for
the bad release, Staging given the Canary's slow and failing numbers). The
self-healing contexts are tests/fixtures/selfheal/ (recorded by
tests/fixtures/selfheal/capture.py). "checkout" then becomes {{service}}."""
import copy
import json
import os
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "tests", "sim"))
import dynatrace_sim  # noqa: E402

BIN = os.environ.get("UB_BIN", os.path.join(TOP, "build", "unbreakable"))
FILES = os.path.join(TOP, "templates", "init", "files")
OUT = os.path.join(FILES, "policies", "recordings")
TOKEN = "dt0c01.DEMO.READONLY"
STAGING, CANARY = "SERVICE-C4EC4A0E5A3B1002", "SERVICE-C4EC4A0E5A3B1003"


def templated(text):
    assert "{{service}}" not in text
    return text.replace("checkout", "{{service}}")


def bad_scenario(doc):
    """Staging answers with the Canary's numbers: a slow, failing release."""
    doc = copy.deepcopy(doc)
    for metric in doc["metrics"].values():
        for series in metric.get("data", {}).values():
            if CANARY in series:
                series[STAGING] = series[CANARY]
    return doc


def record(scenario, monspec, name):
    sim = dynatrace_sim.start(scenario, tokens=[TOKEN])
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "out.json")
            env = dict(os.environ, DT_TENANT_URL=sim.url, DT_API_TOKEN=TOKEN)
            env.pop("DT_API_TOKEN_FILE", None)
            p = subprocess.run([BIN, "gate", "--monspec", "monspec.json", "--compare", "checkout/StagingToProduction",
                                "--no-ledger", "--dump-ctx", out], capture_output=True, text=True, env=env,
                               cwd=os.path.dirname(monspec))
            print(name, "exit", p.returncode, p.stdout.splitlines()[:1])
            with open(out) as f:
                text = f.read()
    finally:
        sim.stop()
    with open(os.path.join(OUT, name), "w") as f:
        f.write(templated(text))


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(TOP, "tests", "sim", "scenarios", "demo.json")) as f:
        demo = json.load(f)
    with tempfile.TemporaryDirectory() as tmp:
        os.mkdir(os.path.join(tmp, "policies"))
        monspec = os.path.join(tmp, "monspec.json")
        with open(os.path.join(FILES, "monspec.json")) as f:
            text = f.read().replace("{{service}}", "checkout")
        with open(monspec, "w") as f:
            f.write(text)
        with open(os.path.join(FILES, "policies", "gate.lua")) as f:
            policy = f.read().replace("{{service}}", "checkout")
        with open(os.path.join(tmp, "policies", "gate.lua"), "w") as f:
            f.write(policy)
        record(demo, monspec, "gate-good.json")
        record(bad_scenario(demo), monspec, "gate-bad.json")
    for src, dst in (("context_open_deployed.json", "selfheal-open.json"),
                     ("context_open_no_deployment.json", "selfheal-no-deployment.json")):
        with open(os.path.join(TOP, "tests", "fixtures", "selfheal", src)) as f:
            text = f.read()
        with open(os.path.join(OUT, dst), "w") as f:
            f.write(templated(text))


if __name__ == "__main__":
    main()
