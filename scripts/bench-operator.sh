#!/usr/bin/env bash
# Benchmarks the operator on the local control plane with release builds:
#   - time for N AppRegistrations (default 1000) to become Ready, and the floor: N Secrets
#     applied directly with kubectl;
#   - API-server writes and runtime PUTs during a steady-state resync of those objects (goal 0);
#   - the operator's resident memory with N objects.
# Prints one line per figure. Starts its own runtime and operator; stops them on exit.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
count="${BENCH_APPS:-1000}"
resync="${BENCH_RESYNC_SECONDS:-60}"
namespace="bench-$(date +%s)"
work="$(mktemp -d "${TMPDIR:-/tmp}/ciam-bench.XXXXXX")"
binary="${CARGO_TARGET_DIR:-$repo_root/target}/release/ciam-operator"
cd "$repo_root"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  kubectl delete namespace "$namespace" --wait=false >/dev/null 2>&1 || true
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }
ready_count() {
  kubectl get appregistrations -n "$namespace" -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c '^True$' || true
}
# resourceVersions of every object the operator writes in the namespace; a write of any of
# them changes its resourceVersion. (The API server's global request counters are not used:
# other controllers write all the time.)
object_versions() {
  kubectl get appregistrations,customertenants,secrets,events -n "$namespace" \
    -o jsonpath='{range .items[*]}{.kind}/{.metadata.name}={.metadata.resourceVersion}{"\n"}{end}' | sort
}
runtime_puts() {
  curl -fsS "http://127.0.0.1:$admin_port/metrics" | awk '/_requests_total\{/ && /listener="admin"/ && /method="(PUT|DELETE)"/ { sum += $NF } END { printf "%d\n", sum }'
}

cargo build --release --locked --bin ciam-operator >&2
scripts/cluster.sh up >&2
eval "$(scripts/cluster.sh env)"
kubectl apply --server-side --field-manager=ciam-bench -f crds/ >/dev/null
kubectl create namespace "$namespace" >/dev/null

head -c 32 /dev/urandom | base64 | tr -d '/+=\n' >"$work/token"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/kek"
public_port="$(free_port)"; admin_port="$(free_port)"; metrics_port="$(free_port)"
"$binary" runtime --public-addr "127.0.0.1:$public_port" --admin-addr "127.0.0.1:$admin_port" \
  --public-url "http://127.0.0.1:$public_port" --admin-token-file "$work/token" \
  --key-encryption-key-file "$work/kek" --database "sqlite://$work/runtime.db" >"$work/runtime.log" 2>&1 &
pids+=($!)
until curl -fsS -o /dev/null "http://127.0.0.1:$admin_port/readyz" 2>/dev/null; do sleep 0.2; done
"$binary" controller --backend-url "http://127.0.0.1:$admin_port" --backend-token-file "$work/token" \
  --watch-namespace "$namespace" --resync-seconds "$resync" --metrics-addr "127.0.0.1:$metrics_port" \
  >"$work/operator.log" 2>&1 &
operator_pid=$!
pids+=("$operator_pid")

cat <<YAML | kubectl apply -n "$namespace" -f - >/dev/null
apiVersion: ciam.dev/v1alpha1
kind: CustomerTenant
metadata: {name: bench}
spec: {displayName: Bench, subdomain: $namespace, countryCode: US}
YAML
until kubectl get customertenant bench -n "$namespace" -o jsonpath='{.status.tenantId}' | grep -q .; do sleep 0.5; done

python3 - "$count" >"$work/apps.yaml" <<'PY'
import sys
for i in range(int(sys.argv[1])):
    print(f"""---
apiVersion: ciam.dev/v1alpha1
kind: AppRegistration
metadata: {{name: app-{i:04d}}}
spec: {{tenantRef: {{name: bench}}, displayName: App {i}, type: daemon}}""")
PY
python3 - "$count" >"$work/secrets.yaml" <<'PY'
import sys, secrets
for i in range(int(sys.argv[1])):
    print(f"""---
apiVersion: v1
kind: Secret
metadata: {{name: floor-{i:04d}}}
stringData: {{CLIENT_ID: "{i}", CLIENT_SECRET: "{secrets.token_urlsafe(32)}"}}""")
PY

start="$(now_ms)"
kubectl apply -n "$namespace" --server-side -f "$work/apps.yaml" >/dev/null
until [[ "$(ready_count)" -ge "$count" ]]; do sleep 1; done
apps_ms=$(( $(now_ms) - start ))

start="$(now_ms)"
kubectl apply -n "$namespace" --server-side -f "$work/secrets.yaml" >/dev/null
floor_ms=$(( $(now_ms) - start ))

# Steady state: let every object pass at least one resync and count the writes.
sleep 5
object_versions >"$work/before"; puts_before="$(runtime_puts)"
sleep $(( resync + 15 ))
object_versions >"$work/after"; puts_after="$(runtime_puts)"
changed="$(python3 - "$work/before" "$work/after" <<'PY'
import sys
before = dict(line.rsplit("=", 1) for line in open(sys.argv[1]) if "=" in line)
after = dict(line.rsplit("=", 1) for line in open(sys.argv[2]) if "=" in line)
print(sum(1 for name, version in after.items() if before.get(name) != version))
PY
)"
rss_kib="$(awk '/VmRSS/ {print $2}' "/proc/$operator_pid/status")"
reconciles="$(curl -fsS "http://127.0.0.1:$metrics_port/metrics" | awk '/^ciam_operator_reconciles_total\{kind="AppRegistration"\}/ {print $NF}')"

echo "apps=$count"
echo "time_to_ready_ms=$apps_ms ($(python3 -c "print(round($count*1000/$apps_ms, 1))") apps/s)"
echo "floor_secrets_applied_ms=$floor_ms (ratio $(python3 -c "print(round($apps_ms/$floor_ms, 1))")x)"
echo "steady_state_objects_written=$changed of $(wc -l <"$work/before") over $(( resync + 15 ))s (resync ${resync}s; new Events count as writes)"
echo "steady_state_runtime_puts=$(( puts_after - puts_before ))"
echo "operator_reconciles_total=$reconciles"
echo "operator_rss_mib=$(python3 -c "print(round($rss_kib/1024, 1))")"
