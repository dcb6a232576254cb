#!/usr/bin/env bash
# Build the local test cluster's control-plane binaries (etcd, kube-apiserver,
# kube-controller-manager, kubectl) from the Go module in tests/cluster/, at the
# versions pinned in its go.mod/go.sum, into a cache outside the repository:
#
#   ${CIAM_CACHE_DIR:-$HOME/.cache/ciam-operator}/k8s/<k8s version>/bin/
#
# The build is skipped when a stamp in that directory matches the sha256 of
# tests/cluster/go.mod + go.sum + this script + `go version`, and
# all four binaries exist. Progress goes to stderr; the last line on stdout is
# the bin directory.
#
# Usage:
#   scripts/build-k8s.sh                  build if needed, print the bin dir
#   scripts/build-k8s.sh --force          rebuild even when the stamp matches
#   scripts/build-k8s.sh --print-bin-dir  print the bin dir only (no build)
#   scripts/build-k8s.sh --check          exit 0 if the cached build is up to date, 1 if not
#
# Environment:
#   CIAM_CACHE_DIR   cache root (default $HOME/.cache/ciam-operator)
#   GO               go command (default: go)
#   BUILD_JOBS       go build -p value (default 2)
#   K8S_GIT_COMMIT   git commit stamped into the Kubernetes binaries (default: unknown)
#   ETCD_GIT_SHA     git SHA stamped into etcd (default: unknown)
set -euo pipefail

# Everything runs inside main so bash parses the whole file before running it
# (safe against the script being edited while a build runs).
main() {
  script_path="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
  repo_root="$(cd "$(dirname "$script_path")/.." && pwd)"
  module_dir="$repo_root/tests/cluster"
  go_cmd="${GO:-go}"
  jobs="${BUILD_JOBS:-2}"

  export GOTOOLCHAIN=local
  export CGO_ENABLED=0
  export GOWORK=off
  export GOFLAGS="-mod=readonly -buildvcs=false"

  log() { printf 'build-k8s: %s\n' "$*" >&2; }
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

  # Versions come from go.mod: `k8s.io/kubernetes vX.Y.Z` and `go.etcd.io/etcd/server/v3 vX.Y.Z`.
  mod_version() {
    awk -v m="$1" '($1 == m && $2 ~ /^v[0-9]/) {print $2; exit} ($1 == "require" && $2 == m) {print $3; exit}' \
      "$module_dir/go.mod"
  }
  k8s_version="$(mod_version k8s.io/kubernetes)"
  etcd_version="$(mod_version go.etcd.io/etcd/server/v3)"
  [[ "$k8s_version" =~ ^v([0-9]+)\.([0-9]+)\.([0-9]+)$ ]] ||
    die "cannot read a k8s.io/kubernetes release version from $module_dir/go.mod (got '$k8s_version')"
  k8s_major="${BASH_REMATCH[1]}"
  k8s_minor="${BASH_REMATCH[2]}"
  [[ -n "$etcd_version" ]] || die "cannot read go.etcd.io/etcd/server/v3 version from $module_dir/go.mod"

  cache_root="${CIAM_CACHE_DIR:-$HOME/.cache/ciam-operator}"
  version_dir="$cache_root/k8s/$k8s_version"
  bin_dir="$version_dir/bin"
  stamp_file="$bin_dir/.build-stamp"
  binaries=(etcd kube-apiserver kube-controller-manager kubectl)

  if [[ "$mode" == print ]]; then
    printf '%s\n' "$bin_dir"
    exit 0
  fi

  command -v "$go_cmd" >/dev/null 2>&1 || die "go not found (set GO=/path/to/go)"
  go_version="$("$go_cmd" version)"

  compute_stamp() {
    {
      printf 'k8s=%s etcd=%s\n%s\n' "$k8s_version" "$etcd_version" "$go_version"
      cat "$module_dir/go.mod" "$module_dir/go.sum"
      cat "$script_path"
    } | sha256sum | awk '{print $1}'
  }
  want_stamp="$(compute_stamp)"

  up_to_date() {
    local b
    [[ -f "$stamp_file" && "$(cat "$stamp_file")" == "$want_stamp" ]] || return 1
    for b in "${binaries[@]}"; do
      [[ -x "$bin_dir/$b" ]] || return 1
    done
  }

  if [[ "$mode" == check ]]; then
    if up_to_date; then exit 0; else exit 1; fi
  fi

  mkdir -p "$version_dir"
  # Serialise concurrent invocations (e.g. two `make cluster-up`s).
  exec 9>"$version_dir/.build.lock"
  if command -v flock >/dev/null 2>&1; then
    flock 9
  fi

  if [[ "$mode" != force ]] && up_to_date; then
    log "up to date ($k8s_version, etcd $etcd_version): $bin_dir"
    printf '%s\n' "$bin_dir"
    exit 0
  fi

  # Reproducible build date: the release time the module proxy reports for the pin.
  build_date="$(cd "$module_dir" &&
    "$go_cmd" list -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' k8s.io/kubernetes </dev/null 2>/dev/null)" ||
    build_date=""
  [[ -n "$build_date" ]] || build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

  # Same -X keys as kubernetes' hack/lib/version.sh (both packages), plus etcd's GitSHA.
  ldflags="-s -w"
  add_ldflag() {
    local pkg
    for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
      ldflags+=" -X '$pkg.$1=$2'"
    done
  }
  add_ldflag buildDate "$build_date"
  add_ldflag gitCommit "${K8S_GIT_COMMIT:-unknown}"
  add_ldflag gitTreeState clean
  add_ldflag gitVersion "$k8s_version"
  add_ldflag gitMajor "$k8s_major"
  add_ldflag gitMinor "$k8s_minor"
  ldflags+=" -X 'go.etcd.io/etcd/api/v3/version.GitSHA=${ETCD_GIT_SHA:-unknown}'"

  tmp_dir="$(mktemp -d "$version_dir/.bin.tmp.XXXXXX")"
  trap 'rm -rf "$tmp_dir"' EXIT

  log "building Kubernetes $k8s_version (kube-apiserver, kube-controller-manager, kubectl) and etcd $etcd_version"
  log "  go: $go_version, -p $jobs, CGO_ENABLED=0; output: $bin_dir"
  start=$SECONDS
  (
    cd "$module_dir"
    "$go_cmd" build -p "$jobs" -trimpath -ldflags "$ldflags" -o "$tmp_dir/" \
      k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kubectl </dev/null
    "$go_cmd" build -p "$jobs" -trimpath -ldflags "$ldflags" -o "$tmp_dir/etcd" \
      go.etcd.io/etcd/server/v3 </dev/null
  )
  for b in "${binaries[@]}"; do
    [[ -x "$tmp_dir/$b" ]] || die "go build did not produce $b"
  done

  mkdir -p "$bin_dir"
  rm -f "$stamp_file"
  for b in "${binaries[@]}"; do
    mv -f "$tmp_dir/$b" "$bin_dir/$b"
  done
  printf '%s\n' "$want_stamp" >"$stamp_file"
  log "built in $((SECONDS - start))s:"
  (cd "$bin_dir" && ls -l "${binaries[@]}" >&2)
  printf '%s\n' "$bin_dir"
}

main "$@"; exit $?
