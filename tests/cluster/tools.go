//go:build tools

package tools

// The commands scripts/build-k8s.sh builds; importing them here keeps their
// dependencies in go.mod and go.sum.
import (
	_ "go.etcd.io/etcd/server/v3"                     // etcd
	_ "k8s.io/kubernetes/cmd/kube-apiserver"          // kube-apiserver
	_ "k8s.io/kubernetes/cmd/kube-controller-manager" // kube-controller-manager
	_ "k8s.io/kubernetes/cmd/kubectl"                 // kubectl
)
