#!/usr/bin/env bash
# Installs what the tests and benchmarks need, idempotently:
#   - Debian packages chromium (the browser Playwright drives), postgresql (storage tests),
#     wrk (load generator), lua5.1 (runs the documented Argo CD health check, at the
#     language level of Argo CD's gopher-lua) and openssl (the MSAL suites' throwaway
#     certificate authority), only those missing;
#   - the Node test harness's packages (`npm ci` in tests/runtime), only when node_modules is
#     missing or older than package-lock.json;
#   - MSAL Python and its pinned dependencies (tests/runtime/python/requirements.txt, from
#     PyPI) in a virtual environment at ~/.cache/ciam-operator/python-venv (override with
#     CIAM_PYTHON_VENV), only when it is missing or was made from another requirements file.
# Rust, Node and Python 3 (with its venv module) themselves are expected on the machine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PACKAGES=(chromium postgresql wrk lua5.1 openssl)

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

command -v python3 >/dev/null || { echo "install-deps: python3 (with venv) is required" >&2; exit 1; }
VENV="${CIAM_PYTHON_VENV:-$HOME/.cache/ciam-operator/python-venv}"
REQUIREMENTS="$HARNESS/python/requirements.txt"
VENV_STAMP="$VENV/.requirements.sha256"
wanted="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" || ! -f "$VENV_STAMP" || "$(cat "$VENV_STAMP")" != "$wanted" ]]; then
  echo "install-deps: MSAL Python into $VENV" >&2
  if [[ -e "$VENV" && ! -f "$VENV/pyvenv.cfg" ]]; then
    echo "install-deps: $VENV exists and is not a virtual environment; not replacing it" >&2
    exit 1
  fi
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv --clear "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$REQUIREMENTS"
  echo "$wanted" >"$VENV_STAMP"
fi
