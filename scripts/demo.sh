#!/usr/bin/env bash
# `make demo`: starts the local control plane, installs the CRDs, applies deploy/examples/
# into the ciam-demo namespace and shows what was created.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
namespace="${CIAM_DEMO_NAMESPACE:-ciam-demo}"
cd "$repo_root"

scripts/cluster.sh up >&2
eval "$(scripts/cluster.sh env)"

echo "==> installing the CRDs from crds/" >&2
kubectl apply --server-side --field-manager=ciam-demo -f crds/ >&2
kubectl wait --for=condition=Established --timeout=60s -f crds/ >&2

echo "==> applying deploy/examples/ into namespace $namespace" >&2
kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f - >&2
kubectl apply -n "$namespace" -f deploy/examples/ >&2

cat <<TEXT

The examples are stored in the local control plane:

$(kubectl get ciam -n "$namespace")

Try it yourself:
  eval "\$(scripts/cluster.sh env)"      # KUBECONFIG and the matching kubectl on PATH
  kubectl get ciam -n $namespace         # every ciam.dev resource
  kubectl explain customertenant.spec    # field documentation
  kubectl apply -n $namespace -f tests/invalid/24-app-web-http-redirect.yaml   # refused, with the reason

The operator and the identity runtime are not part of this build yet, so the resources
have no status. Stop everything with: make demo-down
TEXT
