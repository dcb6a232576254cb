#!/usr/bin/env bash
# `make demo`: starts the local control plane, the identity runtime and the operator, applies
# deploy/examples/ into the ciam-demo namespace, waits until they are Ready and prints what a
# person needs next. `scripts/demo.sh down` (make demo-down) stops everything it started.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
namespace="${CIAM_DEMO_NAMESPACE:-ciam-demo}"
state="${CIAM_DEMO_DIR:-$repo_root/.demo}"
binary="$repo_root/target/debug/ciam-operator"
cd "$repo_root"

log() { printf '==> %s\n' "$*" >&2; }

stop_demo_processes() {
  for name in operator runtime mailbox; do
    if [[ -f "$state/$name.pid" ]]; then
      pid="$(cat "$state/$name.pid")"
      if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
      fi
      rm -f "$state/$name.pid"
    fi
  done
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_for_url() {
  local url="$1" what="$2"
  for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "error: $what did not become ready; see $state/*.log" >&2
  exit 1
}

if [[ "${1:-up}" == "down" ]]; then
  stop_demo_processes
  scripts/cluster.sh down
  # The runtime's database belongs with the cluster state that was just removed.
  rm -rf "$state"
  exit 0
fi

scripts/cluster.sh up >&2
eval "$(scripts/cluster.sh env)"

log "installing the CRDs from crds/"
kubectl apply --server-side --field-manager=ciam-demo -f crds/ >&2
kubectl wait --for=condition=Established --timeout=60s -f crds/ >&2

log "starting the identity runtime and the operator (state and logs in $state)"
stop_demo_processes
mkdir -p "$state"
chmod 700 "$state"
[[ -s "$state/admin-token" ]] || head -c 32 /dev/urandom | base64 | tr -d '/+=\n' >"$state/admin-token"
[[ -s "$state/key-encryption-key" ]] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$state/key-encryption-key"
public_port="$(free_port)"
admin_port="$(free_port)"
public_url="http://127.0.0.1:$public_port"
setsid nohup "$binary" runtime \
  --public-addr "127.0.0.1:$public_port" --admin-addr "127.0.0.1:$admin_port" \
  --public-url "$public_url" --admin-token-file "$state/admin-token" \
  --key-encryption-key-file "$state/key-encryption-key" \
  --database "sqlite://$state/runtime.db" >"$state/runtime.log" 2>&1 </dev/null &
echo $! >"$state/runtime.pid"
wait_for_url "http://127.0.0.1:$admin_port/readyz" "the identity runtime"
KUBECONFIG="$KUBECONFIG" setsid nohup "$binary" controller \
  --backend-url "http://127.0.0.1:$admin_port" --backend-token-file "$state/admin-token" \
  >"$state/operator.log" 2>&1 </dev/null &
echo $! >"$state/operator.pid"

mail_port="$(free_port)"
setsid nohup node scripts/demo-mailbox.mjs "$mail_port" >"$state/mail.log" 2>&1 </dev/null &
echo $! >"$state/mailbox.pid"

log "applying deploy/examples/ into namespace $namespace"
kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f - >&2
kubectl apply -n "$namespace" -f deploy/examples/ >&2
# Point the example tenant's SMTP Secret at the demo mailbox, and have the tenant re-read it.
kubectl create secret generic contoso-smtp -n "$namespace" --from-literal=host=127.0.0.1 \
  --from-literal=port="$mail_port" --from-literal=tls=none --dry-run=client -o yaml | kubectl apply -f - >&2
kubectl annotate customertenant contoso -n "$namespace" --overwrite ciam.dev/smtp-secret-applied="$(date +%s)" >&2
log "waiting for the tenant, the apps and the user flow to be Ready"
kubectl wait -n "$namespace" --for=condition=Ready --timeout=120s \
  customertenant/contoso appregistration/storefront appregistration/orders-api \
  appregistration/nightly-reports userflow/shoppers branding/contoso >&2

client_id="$(kubectl get appregistration storefront -n "$namespace" -o jsonpath='{.status.clientId}')"
authority="$(kubectl get customertenant contoso -n "$namespace" -o jsonpath='{.status.authority}')"
redirect="http://localhost:3000/signin-oidc"
signin_url="${authority}oauth2/v2.0/authorize?client_id=${client_id}&response_type=code&scope=openid%20profile%20email&redirect_uri=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$redirect")&state=demo&nonce=demo"

cat <<TEXT

The examples are running:

$(kubectl get ciam -n "$namespace")

Sign up as a customer of the storefront app (open in a browser; after sign-in you are sent to
$redirect with an authorization code, which the storefront would redeem):

  $signin_url

The storefront's credentials, as its pods get them with envFrom (CLIENT_SECRET included):

  eval "\$(scripts/cluster.sh env)"
  kubectl get secret storefront-oidc -n $namespace -o go-template='{{range \$k, \$v := .data}}{{\$k}}={{\$v | base64decode}}{{"\n"}}{{end}}'

Discovery document: $(kubectl get customertenant contoso -n "$namespace" -o jsonpath='{.status.discoveryUrl}')
One-time passcodes (sign-up verification, passwordless sign-in, MFA, password reset) arrive in
the demo mailbox; watch them with:

  tail -f $state/mail.log

Logs: $state/runtime.log, $state/operator.log

Stop everything with: make demo-down
TEXT
