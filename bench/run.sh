#!/usr/bin/env bash
# Benchmarks the identity runtime (release build) on loopback:
#   - client-credentials token throughput and p50/p99 latency at 1 and 64 connections (wrk);
#   - runtime RSS idle, and peak RSS under load;
#   - Argon2id hash and verify time at the runtime's parameters;
#   - runtime CPU per unauthenticated token request: normal, at the body limit, hostile 1 MiB;
#   - refresh-token and authorization-code grants at 16 connections (bench/load, the generator
#     of `make bench-compare`): operations/s, p50/p99, CPU ms per grant.
# Storage is a temporary SQLite file. Every load run is bounded in time; everything started
# here is stopped on exit.
#
# Environment:
#   CIAM_BENCH_DURATION   seconds per load run (default 10)
#   CIAM_BENCH_ARGON2     0 skips the Argon2id timing (a release build of the test harness)
#   CIAM_BENCH_USER_GRANTS 0 skips the refresh-token and authorization-code grants (bench/load)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DURATION="${CIAM_BENCH_DURATION:-10}"

"$ROOT/scripts/install-deps.sh"
cargo build --release --locked --bin ciam-operator >&2
BIN="$ROOT/target/release/ciam-operator"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ciam-bench.XXXXXX")"
RUNTIME_PID=""
cleanup() {
  if [[ -n "$RUNTIME_PID" ]] && kill -0 "$RUNTIME_PID" 2>/dev/null; then
    kill "$RUNTIME_PID"
    wait "$RUNTIME_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

PUBLIC_PORT="$(free_port)"
ADMIN_PORT="$(free_port)"
PUBLIC="http://127.0.0.1:$PUBLIC_PORT"
ADMIN="http://127.0.0.1:$ADMIN_PORT"
ADMIN_TOKEN="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s' "$ADMIN_TOKEN" >"$WORK/admin-token"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/kek"

RUST_LOG=warn "$BIN" runtime \
  --public-addr "127.0.0.1:$PUBLIC_PORT" --admin-addr "127.0.0.1:$ADMIN_PORT" \
  --public-url "$PUBLIC" --admin-token-file "$WORK/admin-token" \
  --key-encryption-key-file "$WORK/kek" --database "sqlite://$WORK/runtime.db" \
  >"$WORK/runtime.log" 2>&1 &
RUNTIME_PID=$!

for _ in $(seq 1 300); do
  if curl -fsS "$ADMIN/readyz" >/dev/null 2>&1; then break; fi
  kill -0 "$RUNTIME_PID" 2>/dev/null || { cat "$WORK/runtime.log" >&2; exit 1; }
  sleep 0.1
done
curl -fsS "$ADMIN/readyz" >/dev/null

admin_put() {
  curl -fsS -X PUT -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \
    "$ADMIN$1" -d "$2" >/dev/null
}
API_ID="$(python3 -c 'import uuid; print(uuid.uuid4())')"
DAEMON_ID="$(python3 -c 'import uuid; print(uuid.uuid4())')"
DAEMON_SECRET="$(head -c 32 /dev/urandom | base64 | tr -d '=+/\n' | head -c 43)"
SECRET_HASH="sha256:$(printf '%s' "$DAEMON_SECRET" | sha256sum | cut -d' ' -f1)"
admin_put /admin/v1/tenants/bench '{"displayName":"Bench","countryCode":"US"}'
admin_put "/admin/v1/tenants/bench/clients/$API_ID" \
  "{\"displayName\":\"API\",\"type\":\"web\",\"exposedApi\":{\"identifierUri\":\"api://bench\",\"scopes\":[{\"value\":\"read\"}]},\"clientSecrets\":[{\"hash\":\"sha256:$(printf x | sha256sum | cut -d' ' -f1)\"}]}"
admin_put "/admin/v1/tenants/bench/clients/$DAEMON_ID" \
  "{\"displayName\":\"Daemon\",\"type\":\"daemon\",\"apiPermissions\":[{\"resourceAppId\":\"$API_ID\",\"scopes\":[\"read\"]}],\"clientSecrets\":[{\"hash\":\"$SECRET_HASH\"}]}"

TOKEN_URL="$PUBLIC/bench/oauth2/v2.0/token"
BASIC="$(printf '%s:%s' "$DAEMON_ID" "$DAEMON_SECRET" | base64 -w0)"
curl -fsS -H "Authorization: Basic $BASIC" "$TOKEN_URL" \
  -d grant_type=client_credentials -d scope=api://bench/.default | grep -q access_token

cat >"$WORK/token.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=api%3A%2F%2Fbench%2F.default"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $BASIC"
-- Each wrk thread runs its own Lua state: response() counts in the thread's global
-- "failures", and done() (in the main state) adds them up through the thread handles.
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  failures = 0
end
function response(status, headers, body)
  if status ~= 200 then failures = failures + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("failures")
  end
  io.write(string.format("NON200 %d\n", total))
end
LUA

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$RUNTIME_PID/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$RUNTIME_PID/status"; }

# Warm up (connections, page cache, key cache).
wrk -t1 -c4 -d2s -s "$WORK/token.lua" "$TOKEN_URL" >/dev/null
IDLE_RSS="$(rss_kib)"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$RUNTIME_PID/stat"; }
CLK_TCK="$(getconf CLK_TCK)"
declare -A RPS P50 P99 NON200 GRANT_CPU
for connections in 1 16 64; do
  threads=$((connections < 2 ? connections : 2))
  before="$(cpu_ticks)"
  wrk -t"$threads" -c"$connections" -d"${DURATION}s" --latency -s "$WORK/token.lua" "$TOKEN_URL" \
    >"$WORK/wrk-$connections.txt"
  after="$(cpu_ticks)"
  RPS[$connections]="$(awk '/^Requests\/sec:/ {print $2}' "$WORK/wrk-$connections.txt")"
  P50[$connections]="$(awk '$1 == "50%" {print $2}' "$WORK/wrk-$connections.txt")"
  P99[$connections]="$(awk '$1 == "99%" {print $2}' "$WORK/wrk-$connections.txt")"
  NON200[$connections]="$(awk '/^NON200/ {print $2}' "$WORK/wrk-$connections.txt")"
  requests="$(awk '/requests in/ {print $1}' "$WORK/wrk-$connections.txt")"
  GRANT_CPU[$connections]="$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$requests" \
    'BEGIN {printf "%.3f", t * 1000 / hz / n}')"
done
LOAD_RSS="$(hwm_kib)"

# Unauthenticated bodies before client authentication: CPU per request of the runtime
# (utime+stime from /proc), for a normal token request, a body at the limit (64 KiB, 2,048
# parameters) and a hostile 1 MiB body with 32,768 parameters.
python3 - "$WORK" <<'PY'
import sys
work = sys.argv[1]
def body(size, count):
    pairs = [f"p{i}=" for i in range(count)]
    text = "&".join(pairs)
    return (text + "&pad=" + "x" * max(0, size - len(text) - 5))[:size] if size else text
open(f"{work}/limit.form", "w").write(body(64 * 1024, 2048))
open(f"{work}/hostile.form", "w").write(body(1024 * 1024, 32768))
open(f"{work}/normal.form", "w").write("grant_type=client_credentials&scope=api%3A%2F%2Fbench%2F.default")
PY
declare -A FORM_CPU FORM_STATUS
for form in normal limit hostile; do
  requests=200
  before="$(cpu_ticks)"
  for _ in $(seq 1 "$requests"); do
    FORM_STATUS[$form]="$(curl -s -o /dev/null -w '%{http_code}' -H 'Expect:' \
      -H "Authorization: Basic $BASIC" -H 'Content-Type: application/x-www-form-urlencoded' \
      --data-binary "@$WORK/$form.form" "$TOKEN_URL" || true)"
    # (curl exits 55 when the runtime answers 413 and closes before the whole hostile body is
    # sent; the status it printed is what counts.)
  done
  after="$(cpu_ticks)"
  FORM_CPU[$form]="$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$requests" \
    'BEGIN {printf "%.3f", t * 1000 / hz / n}')"
done

# Refresh-token and authorization-code grants, driven by the load generator of bench/compare
# (one user signed up through the hosted pages in a second tenant): CPU ms per grant at 16
# connections. The generator's own JSON line is kept for the figures.
declare -A USER_GRANT USER_CPU
if [[ "${CIAM_BENCH_USER_GRANTS:-1}" == 1 ]]; then
  LOAD="${CIAM_CACHE_DIR:-$HOME/.cache/ciam-operator}/bench/load"
  mkdir -p "$(dirname "$LOAD")"
  (cd "$ROOT/bench/load" && go build -trimpath -o "$LOAD.tmp" . && mv "$LOAD.tmp" "$LOAD")
  (
    # shellcheck source=compare/lib.sh
    source "$ROOT/bench/compare/lib.sh"
    # shellcheck source=compare/runtime.sh
    source "$ROOT/bench/compare/runtime.sh"
    trap 'stop_pid "$RT_SINK_PID"' EXIT
    RT_PUBLIC="$PUBLIC" RT_ADMIN="$ADMIN" RT_ADMIN_TOKEN="$ADMIN_TOKEN" RT_TENANT=users
    runtime_setup "$WORK" "$LOAD" http://127.0.0.1:9/callback dana "Corr3ct-Horse-Battery"
  )
  for workload in refresh_token authorization_code; do
    # The generator reads the runtime's CPU time around the measured phase (not the sign-ins).
    if ! USER_GRANT[$workload]="$("$LOAD" run -profile "$WORK/runtime.json" -workload "$workload" \
      -c 16 -d "${DURATION}s" -cpu-pid "$RUNTIME_PID" -clk-tck "$CLK_TCK")"; then
      echo "bench: $workload failed: ${USER_GRANT[$workload]}" >&2
      exit 1
    fi
    USER_CPU[$workload]="$(jq -r '.cpu_ms_per_op * 1000 | round / 1000' <<<"${USER_GRANT[$workload]}")"
  done
fi

ARGON2=""
if [[ "${CIAM_BENCH_ARGON2:-1}" == 1 ]]; then
  ARGON2="$(cargo test --release --locked --test runtime_argon2_timing -- --ignored --nocapture 2>/dev/null | grep '^ARGON2ID' || true)"
fi

echo
echo "identity runtime benchmark ($(nproc) cores, SQLite, ES256, ${DURATION}s per run, wrk on the same machine)"
printf '%-34s %14s %10s %10s %8s %14s\n' "client_credentials token" "requests/s" "p50" "p99" "non-200" "CPU ms/grant"
for connections in 1 16 64; do
  printf '%-34s %14s %10s %10s %8s %14s\n' "  $connections connection(s)" "${RPS[$connections]}" \
    "${P50[$connections]}" "${P99[$connections]}" "${NON200[$connections]}" "${GRANT_CPU[$connections]}"
done
printf 'runtime RSS idle (after warm-up)    %s MiB\n' "$(awk -v k="$IDLE_RSS" 'BEGIN {printf "%.1f", k/1024}')"
printf 'runtime RSS peak under load         %s MiB\n' "$(awk -v k="$LOAD_RSS" 'BEGIN {printf "%.1f", k/1024}')"
echo "argon2id (release build)            ${ARGON2:-not measured}"
if [[ -n "${USER_GRANT[refresh_token]:-}" ]]; then
  echo "user grants at 16 connections (bench/load; authorization_code = authorize + token exchange)"
fi
for workload in refresh_token authorization_code; do
  [[ -n "${USER_GRANT[$workload]:-}" ]] || continue
  printf '%-34s %14s %10s %10s %8s %14s\n' "  $workload" \
    "$(jq -r '.ops_per_s | round' <<<"${USER_GRANT[$workload]}")" \
    "$(jq -r '"\(.p50_ms)ms"' <<<"${USER_GRANT[$workload]}")" \
    "$(jq -r '"\(.p99_ms)ms"' <<<"${USER_GRANT[$workload]}")" \
    "$(jq -r .errors <<<"${USER_GRANT[$workload]}")" "${USER_CPU[$workload]}"
done
echo "token endpoint, one request at a time: runtime CPU per request (answer)"
printf '  %-44s %8s ms (%s)\n' "normal client_credentials request" "${FORM_CPU[normal]}" "${FORM_STATUS[normal]}"
printf '  %-44s %8s ms (%s)\n' "64 KiB body, 2,048 parameters" "${FORM_CPU[limit]}" "${FORM_STATUS[limit]}"
printf '  %-44s %8s ms (%s)\n' "1 MiB body, 32,768 parameters (hostile)" "${FORM_CPU[hostile]}" "${FORM_STATUS[hostile]}"

# A benchmark of failing requests measures nothing: any non-200 answer fails the run.
for connections in 1 16 64; do
  if [[ "${NON200[$connections]:-missing}" != 0 ]]; then
    echo "bench: ${NON200[$connections]:-no count of} non-200 answers at $connections connection(s)" >&2
    exit 1
  fi
done
