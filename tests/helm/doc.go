// Package tools pins the Helm CLI used to lint and render the chart in
// charts/ciam-operator and the plain manifests in deploy/. The import lives in
// tools.go behind the "tools" build tag; scripts/build-helm.sh builds the
// binary and scripts/render-deploy.sh runs it. Not part of the Rust build.
package tools
