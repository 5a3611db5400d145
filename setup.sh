#!/usr/bin/env bash
# setup.sh: installs what unbreakable needs from Debian's packages (only what
# is missing, so running it again is cheap) and builds it into build/.
#   ./setup.sh            runtime and build dependencies, then build
#   ./setup.sh --test     also what the tests need (busted, cmocka, chromium, wrk, python3-yaml, podman
#                         and mmdebstrap for the container image, node and npm with the
#                         extension's pinned tfx-cli in extension/node_modules)
#   ./setup.sh --deps-only
set -euo pipefail
cd "$(dirname "$0")"

runtime_pkgs=(gcc make cmake pkg-config python3 lua5.4 liblua5.4-dev libcurl4-openssl-dev
              libyaml-dev libmicrohttpd-dev libsqlite3-dev libssl-dev ca-certificates
              libsodium-dev libarchive-dev libpq-dev)
test_pkgs=(lua-busted lua-cjson libcmocka-dev chromium sqlite3 procps clang libclang-rt-14-dev wrk
           lua-check python3-jsonschema python3-yaml postgresql podman runc mmdebstrap)
# podman: builds and runs the container image (tests/e2e/test_container.py) from a
# base made by mmdebstrap; runc: podman's fall-back runtime where crun cannot start
# a container (cgroups v1 with controllers left in the v2 hierarchy).

want=("${runtime_pkgs[@]}")
build=1
testing=0
for arg in "$@"; do
  case "$arg" in
    --test) want+=("${test_pkgs[@]}"); testing=1 ;;
    --deps-only) build=0 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done
# cmocka is needed to configure the project (the tests are part of it).
want+=(libcmocka-dev lua-busted)

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm package the Azure DevOps extension (extension/build.sh): Debian's,
# unless the machine has them already (from any source).
if [ "$testing" -eq 1 ]; then
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# tfx-cli, pinned in extension/package-lock.json, into extension/node_modules
if [ "$testing" -eq 1 ] && [ ! -f extension/node_modules/tfx-cli/package.json ]; then
  echo "setup.sh: installing the extension's tfx-cli (npm ci in extension/)"
  (cd extension && npm ci --no-audit --no-fund --loglevel=error)
fi

if [ "$build" -eq 1 ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j"$(nproc)"
fi
