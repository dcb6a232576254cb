#!/usr/bin/env bash
# Runs the identity runtime's end-to-end suite (tests/runtime, node:test with openid-client and
# Playwright on Chromium) against the real runtime binary, first on SQLite, then on a
# throwaway PostgreSQL server. Installs missing dependencies first; stops what it started.
#
# Environment:
#   CIAM_TEST_DATABASES   which databases to run (default "sqlite postgres")
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

"$ROOT/scripts/install-deps.sh"
cargo build --locked --bin ciam-operator

export CIAM_POSTGRES_DIR="${CIAM_POSTGRES_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/ciam-test-postgres.XXXXXX")}"
postgres_started=false
cleanup() {
  if [[ "$postgres_started" == true ]]; then
    "$ROOT/scripts/postgres.sh" stop || true
  fi
}
trap cleanup EXIT INT TERM

run_suite() {
  (cd "$ROOT/tests/runtime" && node --test --test-concurrency=1 --test-timeout=600000 runtime.test.js)
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
      CIAM_TEST_DATABASE_URL="$url" run_suite
      ;;
    *)
      echo "test-runtime: unknown database $database (sqlite or postgres)" >&2
      exit 1
      ;;
  esac
done
