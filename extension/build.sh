#!/usr/bin/env bash
# build.sh: packages the Azure DevOps extension (vss-extension.json and the
# three tasks under tasks/) into a .vsix with tfx-cli, the version pinned in
# package.json and package-lock.json, installed into extension/node_modules
# by `npm ci` when it is missing (no global install).
#   extension/build.sh [--publisher ID] [--output DIR]
# Prints the path of the .vsix on its last line. --publisher replaces the
# manifest's placeholder publisher with yours (needed to publish).
set -euo pipefail
cd "$(dirname "$0")"

publisher=""
output="dist"
while [ $# -gt 0 ]; do
  case "$1" in
    --publisher) publisher=${2:?--publisher needs an id}; shift 2 ;;
    --output) output=${2:?--output needs a folder}; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

command -v node >/dev/null && command -v npm >/dev/null || {
  echo "build.sh: node and npm are needed (./setup.sh --test installs them)" >&2
  exit 3
}
tfx=node_modules/tfx-cli/_build/tfx-cli.js
if [ ! -f "$tfx" ]; then
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

mkdir -p "$output"
args=(extension create --manifest-globs vss-extension.json --output-path "$output" --no-prompt)
[ -n "$publisher" ] && args+=(--publisher "$publisher")
# tfx prints its progress with colours; the last line here is the .vsix path.
log=$(node "$tfx" "${args[@]}" 2>&1) || { echo "$log" >&2; echo "build.sh: tfx failed" >&2; exit 1; }
echo "$log" | sed 's/\x1b\[[0-9;]*m//g' >&2
vsix=$(echo "$log" | sed 's/\x1b\[[0-9;]*m//g' | sed -n 's/^ *- VSIX: //p' | tail -1)
[ -n "$vsix" ] && [ -f "$vsix" ] || { echo "build.sh: tfx did not say where the .vsix went" >&2; exit 1; }
echo "$vsix"
