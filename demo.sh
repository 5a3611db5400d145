#!/usr/bin/env bash
# demo.sh: the main job, end to end. Installs what is missing, builds, and
# runs unbreakable on the shipped examples.
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh
bin=build/unbreakable
echo
echo "== unbreakable eval examples/policies/p90-gate.lua"
"$bin" eval examples/policies/p90-gate.lua --input examples/policies/p90-input.json
