// Package tools pins the Kubernetes control-plane components (etcd,
// kube-apiserver, kube-controller-manager, kubectl) used by the local test
// cluster. The imports live in tools.go behind the "tools" build tag; the
// binaries are built by scripts/build-k8s.sh and run by scripts/cluster.sh.
package tools
