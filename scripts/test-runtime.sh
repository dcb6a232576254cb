#!/usr/bin/env bash
# Runs the identity runtime's end-to-end suites (every tests/runtime/*.test.js, node:test with
# openid-client and Playwright on Chromium) against the real runtime binary, first on SQLite,
# then on a throwaway PostgreSQL server, where the Rust storage tests (src/runtime/store and
# tests/runtime_store.rs; `cargo test` runs them on SQLite) run too. replicas.test.js (two
# runtime replicas on one database behind a round-robin front) needs PostgreSQL: the SQLite
# pass skips it and says why. Installs missing dependencies first; stops what it started.
#
# Environment:
#   CIAM_TEST_DATABASES   which databases to run (default "sqlite postgres")
#   CIAM_PYTHON_VENV      MSAL Python's virtual environment (default ~/.cache/ciam-operator/python-venv);
#                         its python is passed to the suites as CIAM_PYTHON
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

"$ROOT/scripts/install-deps.sh"
cargo build --locked --bin ciam-operator
export CIAM_PYTHON="${CIAM_PYTHON_VENV:-$HOME/.cache/ciam-operator/python-venv}/bin/python"

export CIAM_POSTGRES_DIR="${CIAM_POSTGRES_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/ciam-test-postgres.XXXXXX")}"
postgres_started=false
cleanup() {
  if [[ "$postgres_started" == true ]]; then
    "$ROOT/scripts/postgres.sh" stop || true
  fi
}
trap cleanup EXIT INT TERM

# Every suite file, in a stable order, one file at a time (each starts its own runtime).
run_suite() {
  local suites=()
  mapfile -t suites < <(cd "$ROOT/tests/runtime" && find . -maxdepth 1 -name '*.test.js' -printf '%f\n' | LC_ALL=C sort)
  if ((${#suites[@]} == 0)); then
    echo "test-runtime: no *.test.js in tests/runtime" >&2
    exit 1
  fi
  echo "== suites: ${suites[*]}" >&2
  (cd "$ROOT/tests/runtime" && node --test --test-concurrency=1 --test-timeout=600000 "${suites[@]}")
}

for database in ${CIAM_TEST_DATABASES:-sqlite postgres}; do
  case "$database" in
    sqlite)
      echo "== identity runtime suite on SQLite" >&2
      CIAM_TEST_DATABASE_URL= run_suite
      ;;
    postgres)
      echo "== identity runtime suite on PostgreSQL" >&2
      postgres_started=true
      url="$("$ROOT/scripts/postgres.sh" start)"
      echo "== identity runtime storage tests (src/runtime/store, tests/runtime_store.rs) on PostgreSQL" >&2
      CIAM_TEST_DATABASE_URL="$url" cargo test --locked --lib runtime::store
      CIAM_TEST_DATABASE_URL="$url" cargo test --locked --test runtime_store
      CIAM_TEST_DATABASE_URL="$url" run_suite
      ;;
    *)
      echo "test-runtime: unknown database $database (sqlite or postgres)" >&2
      exit 1
      ;;
  esac
done
