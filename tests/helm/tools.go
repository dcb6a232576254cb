//go:build tools

package tools

// The command scripts/build-helm.sh builds; importing it here keeps its
// dependencies in go.mod and go.sum.
import (
	_ "helm.sh/helm/v3/cmd/helm" // helm
)
