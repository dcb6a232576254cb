#!/usr/bin/env bash
# `make bench-compare`: this project's identity runtime, Keycloak 26.7.3 and Ory Hydra v2.3.0 on
# one machine in one run. The same load generator (bench/load) drives the same workloads against
# all three, interleaved (runtime, Keycloak, Hydra, runtime, … per workload and connection
# count), reading each server's CPU time (utime + stime of its whole process tree) from /proc
# before and after every run. Also measured: the floor (one ES256 signature + one SHA-256 with
# OpenSSL on one core) and the Argon2id hash limit of the machine. The tables go into
# docs/performance.md between marker comments and the plot into docs/performance.png.
#
# Environment:
#   BENCH_QUICK=1        smoke run (~3 minutes): 3 s per run, 1 round, 16 connections
#   BENCH_DURATION       seconds per run (default 8: a full run stays within 15 minutes)
#   BENCH_ROUNDS         rounds per workload and connection count; the median is reported (default 3)
#   BENCH_CONNECTIONS    connection counts (default "16 64")
#   BENCH_WORKLOADS      default "client_credentials refresh_token authorization_code password_sign_in"
#   BENCH_SERVERS        default "runtime keycloak hydra"
#   BENCH_RUNTIME_BIN    a runtime binary to measure instead of building this tree's (e.g. a
#                        "before" build for a before/after)
#   BENCH_ARGON2=0       skip the Argon2id timing (and the sign-in limit comparison)
#   BENCH_NO_DOCS=1      print the tables only; leave docs/ alone
#   BENCH_KEEP=1         keep the work directory (logs, profiles, raw results)
# Everything started here is stopped on exit; servers listen on 127.0.0.1 only, on free ports.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/bench/compare"
# shellcheck source=lib.sh
source "$HERE/lib.sh"
# shellcheck source=keycloak.sh
source "$HERE/keycloak.sh"
# shellcheck source=hydra.sh
source "$HERE/hydra.sh"
# shellcheck source=runtime.sh
source "$HERE/runtime.sh"

if [[ "${BENCH_QUICK:-0}" == 1 ]]; then
  DURATION="${BENCH_DURATION:-3}" ROUNDS="${BENCH_ROUNDS:-1}" CONNECTIONS="${BENCH_CONNECTIONS:-16}"
else
  DURATION="${BENCH_DURATION:-8}" ROUNDS="${BENCH_ROUNDS:-3}" CONNECTIONS="${BENCH_CONNECTIONS:-16 64}"
fi
WORKLOADS="${BENCH_WORKLOADS:-client_credentials refresh_token authorization_code password_sign_in}"
SERVERS="${BENCH_SERVERS:-runtime keycloak hydra}"
REDIRECT_URI="http://127.0.0.1:9/callback"
USER_NAME="dana"
PASSWORD="Corr3ct-Horse-Battery-$(random_secret | head -c 8)"

mkdir -p "$CACHE/bench"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ciam-bench-compare.XXXXXX")"
cleanup() {
  stop_pid "$RT_SINK_PID"
  stop_pid "$RT_PID"
  stop_pid "$KC_PID"
  hydra_stop
  if [[ "${BENCH_KEEP:-0}" == 1 ]]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wants() { [[ " $SERVERS " == *" $1 "* ]]; }

# --- Build and fetch -----------------------------------------------------------------------
LOAD="$CACHE/bench/load"
log "building the load generator"
(cd "$ROOT/bench/load" && go build -trimpath -o "$LOAD.tmp" . && mv "$LOAD.tmp" "$LOAD")
RUNTIME_BIN="${BENCH_RUNTIME_BIN:-}"
if wants runtime && [[ -z "$RUNTIME_BIN" ]]; then
  log "building the runtime (release)"
  (cd "$ROOT" && cargo build --release --locked --bin ciam-operator >&2)
  RUNTIME_BIN="$ROOT/target/release/ciam-operator"
fi
wants keycloak && keycloak_fetch
wants hydra && hydra_build

# --- The floor and the Argon2id limit ---------------------------------------------------------
log "measuring the floor (OpenSSL, one core)"
SIGN_PER_S="$(openssl speed -mr -seconds 3 ecdsap256 2>/dev/null | awk -F: '/^\+F4:/ && $3 == 256 {print $4}')"
SHA_BYTES_PER_S="$(openssl speed -mr -seconds 3 -bytes 64 sha256 2>/dev/null | awk -F: '/^\+F:/ {print $4}')"
[[ -n "$SIGN_PER_S" && -n "$SHA_BYTES_PER_S" ]] || die "could not read openssl speed's figures"
ARGON2_LINE=""
if [[ "${BENCH_ARGON2:-1}" == 1 ]]; then
  log "timing Argon2id at the runtime's parameters (release; the first time builds the test, minutes)"
  ARGON2_LINE="$(cd "$ROOT" && cargo test --release --locked --test runtime_argon2_timing -- --ignored --nocapture 2>/dev/null | grep '^ARGON2ID' || true)"
  [[ -n "$ARGON2_LINE" ]] || die "the Argon2id timing test printed nothing"
fi

# --- Servers -----------------------------------------------------------------------------------
if wants runtime; then
  runtime_start "$WORK" "$RUNTIME_BIN"
  runtime_setup "$WORK" "$LOAD" "$REDIRECT_URI" "$USER_NAME" "$PASSWORD"
fi
if wants keycloak; then
  keycloak_start "$WORK"
  keycloak_setup "$WORK" "$REDIRECT_URI" "$USER_NAME" "$PASSWORD"
fi
if wants hydra; then
  hydra_start "$WORK" "$ROOT"
  hydra_setup "$WORK" "$REDIRECT_URI" "$USER_NAME"
fi

server_pid() {
  case "$1" in runtime) echo "$RT_PID" ;; keycloak) echo "$KC_PID" ;; hydra) echo "$HYDRA_PID" ;; esac
}
# cpu_pids SERVER: the processes whose CPU counts for the server (Hydra: and its PostgreSQL).
cpu_pids() {
  case "$1" in hydra) echo "$HYDRA_PID,$HYDRA_DB_PID" ;; *) server_pid "$1" ;; esac
}
# Hydra has no password store (its login UI is the customer's): no password sign-in.
takes_part() { [[ "$1" != hydra || "$2" != password_sign_in ]]; }

# Warm-up (JIT, connection pools, caches), which also checks every workload once.
for server in $SERVERS; do
  for workload in $WORKLOADS; do
    takes_part "$server" "$workload" || continue
    log "warm-up: $server $workload"
    "$LOAD" run -profile "$WORK/$server.json" -workload "$workload" -c 4 -d 3s >/dev/null ||
      die "warm-up of $server $workload failed"
  done
done
declare -A IDLE_RSS
for server in $SERVERS; do IDLE_RSS[$server]="$(tree_status_kib "$(server_pid "$server")" VmRSS)"; done

# --- Measured runs, interleaved -----------------------------------------------------------
CLK_TCK="$(getconf CLK_TCK)"
RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
for workload in $WORKLOADS; do
  for connections in $CONNECTIONS; do
    for ((round = 1; round <= ROUNDS; round++)); do
      for server in $SERVERS; do
        takes_part "$server" "$workload" || continue
        log "$workload, $connections connections, round $round/$ROUNDS: $server"
        # The generator reads the server's CPU time around the measured phase only.
        line="$("$LOAD" run -profile "$WORK/$server.json" -workload "$workload" \
          -c "$connections" -d "${DURATION}s" -cpu-pid "$(cpu_pids "$server")" -clk-tck "$CLK_TCK")" ||
          die "$server $workload at $connections connections: ${line:-no result}"
        jq -c --argjson round "$round" '. + {round: $round}' <<<"$line" >>"$RESULTS"
      done
    done
  done
done

# --- Report ------------------------------------------------------------------------------------
rss_json="{}"
for server in $SERVERS; do
  rss_json="$(jq -c --arg s "$server" --argjson idle "${IDLE_RSS[$server]}" \
    --argjson peak "$(tree_status_kib "$(server_pid "$server")" VmHWM)" \
    '. + {($s): {idle_kib: $idle, peak_kib: $peak}}' <<<"$rss_json")"
done
jq -n --arg cores "$(nproc)" --arg cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" \
  --arg date "$(date -u +%Y-%m-%dT%H:%MZ)" --arg commit "$(git -C "$ROOT" rev-parse --short HEAD)" \
  --arg sign "$SIGN_PER_S" --arg sha "$SHA_BYTES_PER_S" --arg argon2 "$ARGON2_LINE" \
  --argjson duration "$DURATION" --argjson rounds "$ROUNDS" --argjson rss "$rss_json" \
  --arg load_load "$(cut -d' ' -f1-3 /proc/loadavg)" '{
    cores: ($cores | tonumber), cpu: $cpu, date: $date, commit: $commit,
    es256_sign_per_s: ($sign | tonumber), sha256_64b_bytes_per_s: ($sha | tonumber),
    argon2: $argon2, duration_s: $duration, rounds: $rounds, rss: $rss, loadavg_end: $load_load,
    keycloak: "26.7.3", hydra: "v2.3.0"}' >"$WORK/meta.json"

VENV="$CACHE/bench-venv"
if [[ ! -x "$VENV/bin/python" ]] || ! cmp -s "$HERE/requirements.txt" "$VENV/requirements.txt"; then
  log "installing the plot's Python packages into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r "$HERE/requirements.txt"
  cp "$HERE/requirements.txt" "$VENV/requirements.txt"
fi
REPORT_ARGS=(--results "$RESULTS" --meta "$WORK/meta.json")
if [[ "${BENCH_NO_DOCS:-0}" != 1 ]]; then
  REPORT_ARGS+=(--doc "$ROOT/docs/performance.md" --plot "$ROOT/docs/performance.png")
fi
"$VENV/bin/python" "$HERE/report.py" "${REPORT_ARGS[@]}"
