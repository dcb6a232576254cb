#!/usr/bin/env bash
# Smoke test of a running local cluster (scripts/cluster.sh up):
#   1. owner-reference garbage collection (ConfigMap owns a Secret),
#   2. namespace deletion (namespace controller),
#   3. a CRD with an x-kubernetes-validations (CEL) rule rejects a violating
#      object with the rule's message, and `kubectl explain` works on it (OpenAPI v3).
# Uses the cluster's own kubectl and admin kubeconfig (scripts/cluster.sh env).
# Exits non-zero on the first failure. Cleans up what it created.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/../.." && pwd)"
eval "$("$repo_root/scripts/cluster.sh" env)"
timeout="${SMOKE_TIMEOUT:-60}"
suffix="$$-$RANDOM"
ns="smoke-$suffix"
crd_group="smoke.ciam.dev"
crd_name="widgets.$crd_group"

pass() { printf 'smoke: ok   %s\n' "$*"; }
fail() { printf 'smoke: FAIL %s\n' "$*" >&2; exit 1; }

# poll <seconds> <command...>: succeed as soon as the command does.
poll() {
  local limit=$(($1 + SECONDS))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < limit)) || return 1
    sleep 0.5
  done
}
gone() { ! kubectl "$@" >/dev/null 2>&1; }

cleanup() {
  kubectl delete namespace "$ns" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  kubectl delete crd "$crd_name" --ignore-not-found --wait=false >/dev/null 2>&1 || true
}
trap cleanup EXIT

kubectl version >/dev/null || fail "kubectl cannot reach the cluster (is it up?)"
kubectl create namespace "$ns" >/dev/null

# 1. garbage collection
kubectl -n "$ns" create configmap owner --from-literal=k=v >/dev/null
uid="$(kubectl -n "$ns" get configmap owner -o jsonpath='{.metadata.uid}')"
[[ -n "$uid" ]] || fail "no uid on configmap"
kubectl -n "$ns" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: owned
  ownerReferences:
  - apiVersion: v1
    kind: ConfigMap
    name: owner
    uid: $uid
stringData:
  k: v
EOF
kubectl -n "$ns" get secret owned >/dev/null || fail "secret not created"
kubectl -n "$ns" delete configmap owner >/dev/null
poll "$timeout" gone -n "$ns" get secret owned || fail "secret owned by the deleted configmap was not garbage-collected within ${timeout}s"
pass "garbage collection: secret owned by a deleted configmap was removed"

# 2. namespace deletion
ns2="smoke-del-$suffix"
kubectl create namespace "$ns2" >/dev/null
kubectl -n "$ns2" create configmap c --from-literal=k=v >/dev/null
kubectl delete namespace "$ns2" --wait=false >/dev/null
poll "$timeout" gone get namespace "$ns2" || fail "namespace $ns2 still present after ${timeout}s"
pass "namespace deletion: namespace with content went away"

# 3. CRD with a CEL rule, and kubectl explain
kubectl apply -f - >/dev/null <<EOF
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: $crd_name
spec:
  group: $crd_group
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        description: A Widget is a smoke-test resource.
        properties:
          spec:
            type: object
            description: Desired state of the widget.
            x-kubernetes-validations:
            - rule: "self.minReplicas <= self.maxReplicas"
              message: "minReplicas must not exceed maxReplicas"
            properties:
              minReplicas: {type: integer, description: Lower bound.}
              maxReplicas: {type: integer, description: Upper bound.}
EOF
poll "$timeout" kubectl wait --for=condition=Established --timeout=5s "crd/$crd_name" || fail "CRD not established"
poll "$timeout" kubectl -n "$ns" get widgets || fail "widgets not served"
kubectl -n "$ns" apply -f - >/dev/null <<EOF || fail "valid widget rejected"
apiVersion: $crd_group/v1
kind: Widget
metadata: {name: good}
spec: {minReplicas: 1, maxReplicas: 3}
EOF
out="$(kubectl -n "$ns" apply -f - 2>&1 <<EOF
apiVersion: $crd_group/v1
kind: Widget
metadata: {name: bad}
spec: {minReplicas: 5, maxReplicas: 3}
EOF
)" && fail "violating widget was accepted"
[[ "$out" == *"minReplicas must not exceed maxReplicas"* ]] || fail "rejection lacks the rule's message: $out"
pass "CEL validation: violating object rejected: $(printf '%s' "$out" | tail -n 1)"

explain="$(poll "$timeout" kubectl explain widgets.spec && kubectl explain widgets.spec 2>&1)" ||
  fail "kubectl explain widgets.spec failed"
[[ "$explain" == *"Desired state of the widget."* && "$explain" == *"minReplicas"* ]] ||
  fail "kubectl explain output lacks the schema: $explain"
pass "kubectl explain widgets.spec shows the CRD schema"

echo "smoke: all checks passed"
