#!/usr/bin/env bash
# Build the Helm CLI (helm.sh/helm/v3/cmd/helm) from the Go module in
# tests/helm/, at the version pinned in its go.mod/go.sum, into a cache outside
# the repository:
#
#   ${CIAM_CACHE_DIR:-$HOME/.cache/ciam-operator}/helm/<helm version>/bin/helm
#
# The build is skipped when a stamp in that directory matches the sha256 of
# tests/helm/go.mod + go.sum + this script + `go version`, and the binary
# exists. Progress goes to stderr; the last line on stdout is the bin directory.
#
# Usage:
#   scripts/build-helm.sh                  build if needed, print the bin dir
#   scripts/build-helm.sh --force          rebuild even when the stamp matches
#   scripts/build-helm.sh --print-bin-dir  print the bin dir only (no build)
#   scripts/build-helm.sh --check          exit 0 if the cached build is up to date, 1 if not
#
# Environment:
#   CIAM_CACHE_DIR   cache root (default $HOME/.cache/ciam-operator)
#   GO               go command (default: go)
#   BUILD_JOBS       go build -p value (default 2)
#   HELM_GIT_COMMIT  git commit stamped into helm (default: empty; the module has no git metadata)
set -euo pipefail

# Everything runs inside main so bash parses the whole file before running it
# (safe against the script being edited while a build runs).
main() {
  script_path="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
  repo_root="$(cd "$(dirname "$script_path")/.." && pwd)"
  module_dir="$repo_root/tests/helm"
  go_cmd="${GO:-go}"
  jobs="${BUILD_JOBS:-2}"

  export GOTOOLCHAIN=local
  export CGO_ENABLED=0
  export GOWORK=off
  export GOFLAGS="-mod=readonly -buildvcs=false"

  log() { printf 'build-helm: %s\n' "$*" >&2; }
  die() { log "error: $*"; exit 1; }

  mode=build
  for arg in "$@"; do
    case "$arg" in
      --force) mode=force ;;
      --print-bin-dir) mode=print ;;
      --check) mode=check ;;
      -h | --help)
        sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$script_path"
        exit 0
        ;;
      *) die "unknown argument: $arg (see --help)" ;;
    esac
  done

  [[ -f "$module_dir/go.mod" ]] || die "missing $module_dir/go.mod"

  # Versions come from go.mod: `helm.sh/helm/v3 vX.Y.Z` and `k8s.io/client-go v0.X.Y`.
  mod_version() {
    awk -v m="$1" '($1 == m && $2 ~ /^v[0-9]/) {print $2; exit} ($1 == "require" && $2 == m) {print $3; exit}' \
      "$module_dir/go.mod"
  }
  helm_version="$(mod_version helm.sh/helm/v3)"
  client_go_version="$(mod_version k8s.io/client-go)"
  [[ "$helm_version" =~ ^v3\.[0-9]+\.[0-9]+$ ]] ||
    die "cannot read a helm.sh/helm/v3 release version from $module_dir/go.mod (got '$helm_version')"
  [[ "$client_go_version" =~ ^v0\.([0-9]+)\.[0-9]+$ ]] ||
    die "cannot read a k8s.io/client-go version from $module_dir/go.mod (got '$client_go_version')"
  # Upstream derives the Kubernetes version helm assumes without a cluster
  # (`helm template`, `helm lint`) from client-go: v0.X.Y -> 1.X.
  k8s_minor="${BASH_REMATCH[1]}"

  cache_root="${CIAM_CACHE_DIR:-$HOME/.cache/ciam-operator}"
  version_dir="$cache_root/helm/$helm_version"
  bin_dir="$version_dir/bin"
  stamp_file="$bin_dir/.build-stamp"

  if [[ "$mode" == print ]]; then
    printf '%s\n' "$bin_dir"
    exit 0
  fi

  command -v "$go_cmd" >/dev/null 2>&1 || die "go not found (set GO=/path/to/go)"
  go_version="$("$go_cmd" version)"

  compute_stamp() {
    {
      printf 'helm=%s client-go=%s\n%s\n' "$helm_version" "$client_go_version" "$go_version"
      cat "$module_dir/go.mod" "$module_dir/go.sum"
      cat "$script_path"
    } | sha256sum | awk '{print $1}'
  }
  want_stamp="$(compute_stamp)"

  up_to_date() {
    [[ -f "$stamp_file" && "$(cat "$stamp_file")" == "$want_stamp" && -x "$bin_dir/helm" ]]
  }

  if [[ "$mode" == check ]]; then
    if up_to_date; then exit 0; else exit 1; fi
  fi

  mkdir -p "$version_dir"
  # Serialise concurrent invocations (e.g. `make tools` and render-deploy.sh).
  exec 9>"$version_dir/.build.lock"
  if command -v flock >/dev/null 2>&1; then
    flock 9
  fi

  if [[ "$mode" != force ]] && up_to_date; then
    log "up to date ($helm_version): $bin_dir"
    printf '%s\n' "$bin_dir"
    exit 0
  fi

  # Same -X keys as helm's Makefile for a tagged release build: the version, no
  # "unreleased" metadata, commit and tree state, and the Kubernetes version
  # used for .Capabilities when there is no cluster.
  ldflags="-w -s"
  ldflags+=" -X helm.sh/helm/v3/internal/version.version=$helm_version"
  ldflags+=" -X helm.sh/helm/v3/internal/version.metadata="
  ldflags+=" -X helm.sh/helm/v3/internal/version.gitCommit=${HELM_GIT_COMMIT:-}"
  ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  ldflags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1"
  ldflags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$k8s_minor"
  ldflags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1"
  ldflags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$k8s_minor"

  tmp_dir="$(mktemp -d "$version_dir/.bin.tmp.XXXXXX")"
  trap 'rm -rf "$tmp_dir"' EXIT

  log "building helm $helm_version (Kubernetes defaults 1.$k8s_minor from client-go $client_go_version)"
  log "  go: $go_version, -p $jobs, CGO_ENABLED=0; output: $bin_dir"
  start=$SECONDS
  (
    cd "$module_dir"
    "$go_cmd" build -p "$jobs" -trimpath -ldflags "$ldflags" -o "$tmp_dir/helm" \
      helm.sh/helm/v3/cmd/helm </dev/null
  )
  [[ -x "$tmp_dir/helm" ]] || die "go build did not produce helm"
  built_version="$("$tmp_dir/helm" version --template '{{.Version}}')" ||
    die "the built helm does not run"
  [[ "$built_version" == "$helm_version" ]] ||
    die "the built helm reports version '$built_version', expected '$helm_version'"

  mkdir -p "$bin_dir"
  rm -f "$stamp_file"
  mv -f "$tmp_dir/helm" "$bin_dir/helm"
  printf '%s\n' "$want_stamp" >"$stamp_file"
  log "built in $((SECONDS - start))s:"
  (cd "$bin_dir" && ls -l helm >&2)
  printf '%s\n' "$bin_dir"
}

main "$@"; exit $?
