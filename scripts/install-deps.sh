#!/usr/bin/env bash
# Installs what the runtime's tests and benchmark need, idempotently:
#   - Debian packages chromium (the browser Playwright drives), postgresql (storage tests)
#     and wrk (load generator), only those missing;
#   - the Node test harness's packages (`npm ci` in tests/runtime), only when node_modules is
#     missing or older than package-lock.json.
# Rust and Node themselves are expected on the machine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PACKAGES=(chromium postgresql wrk)

missing=()
for package in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]} > 0)); then
  echo "install-deps: installing ${missing[*]}" >&2
  if [[ "$(id -u)" == 0 ]]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  elif command -v sudo >/dev/null; then
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "install-deps: missing Debian packages ${missing[*]} and not root (no sudo)" >&2
    exit 1
  fi
fi

command -v node >/dev/null || { echo "install-deps: node (>= 20) is required" >&2; exit 1; }
command -v npm >/dev/null || { echo "install-deps: npm is required" >&2; exit 1; }

HARNESS="$ROOT/tests/runtime"
STAMP="$HARNESS/node_modules/.package-lock.sha256"
wanted="$(sha256sum "$HARNESS/package-lock.json" | cut -d' ' -f1)"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$wanted" ]]; then
  echo "install-deps: npm ci in tests/runtime" >&2
  (cd "$HARNESS" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$wanted" >"$STAMP"
fi
