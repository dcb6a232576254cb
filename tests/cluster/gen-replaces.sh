#!/usr/bin/env bash
# Regenerate the `replace` block of tests/cluster/go.mod from the go.mod of the
# pinned k8s.io/kubernetes release.
#
# k8s.io/kubernetes maps every staging module (k8s.io/api, k8s.io/client-go, ...)
# to ./staging/src/... inside its own repository; a module that depends on
# k8s.io/kubernetes must mirror that with `k8s.io/<staging> => k8s.io/<staging> v0.<minor>.<patch>`.
#
# Usage:
#   tests/cluster/gen-replaces.sh                # use the k8s.io/kubernetes version required in go.mod
#   tests/cluster/gen-replaces.sh v1.36.4        # bump the pin: rewrites the require + replace block
#
# It also sets go.etcd.io/etcd/server/v3 to the version that release pins and
# runs `go mod tidy` (skip the tidy with NO_TIDY=1).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
gomod="$here/go.mod"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

current="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$gomod")"
version="${1:-$current}"
if [[ -z "$version" ]]; then
  echo "gen-replaces.sh: no k8s.io/kubernetes version given or found in $gomod" >&2
  exit 1
fi
if [[ ! "$version" =~ ^v1\.([0-9]+)\.([0-9]+)$ ]]; then
  echo "gen-replaces.sh: expected a release version like v1.36.3, got '$version'" >&2
  exit 1
fi
staging_version="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"

k8s_gomod="$(cd "$here" && go mod download -json "k8s.io/kubernetes@$version" </dev/null |
  sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
if [[ -z "$k8s_gomod" || ! -f "$k8s_gomod" ]]; then
  echo "gen-replaces.sh: could not download k8s.io/kubernetes@$version" >&2
  exit 1
fi

# Every `k8s.io/x => ./staging/...` line in upstream's go.mod, whether written
# inside a replace ( ... ) block or as a single-line replace directive.
mapfile -t staging < <(sed -n \
  -e 's/^[[:space:]]*\(replace[[:space:]]\{1,\}\)\{0,1\}\([^[:space:]]\{1,\}\)[[:space:]]\{1,\}=>[[:space:]]\{1,\}\.\/staging\/.*$/\2/p' \
  "$k8s_gomod" | sort -u)
if [[ ${#staging[@]} -eq 0 ]]; then
  echo "gen-replaces.sh: no ./staging replaces found in $k8s_gomod" >&2
  exit 1
fi

tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
# Drop the old generated block (between the markers) and write a fresh one.
awk '
  /^\/\/ BEGIN generated staging replaces/ {skip = 1; next}
  /^\/\/ END generated staging replaces/ {skip = 0; next}
  !skip {print}
' "$gomod" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' >"$tmp"
{
  echo
  echo "// BEGIN generated staging replaces (tests/cluster/gen-replaces.sh, k8s.io/kubernetes $version)"
  echo "replace ("
  for m in "${staging[@]}"; do
    printf '\t%s => %s %s\n' "$m" "$m" "$staging_version"
  done
  echo ")"
  echo "// END generated staging replaces"
} >>"$tmp"
cp "$tmp" "$gomod"

# Pin k8s.io/kubernetes itself, and etcd's server module at the version that
# release pins (the etcd binary is built from it).
etcd="$(awk '$1 == "go.etcd.io/etcd/server/v3" {print $2; exit}' "$k8s_gomod")"
(cd "$here" && go mod edit -require="k8s.io/kubernetes@$version")
if [[ -n "$etcd" ]]; then
  (cd "$here" && go mod edit -require="go.etcd.io/etcd/server/v3@$etcd")
fi
echo "gen-replaces.sh: k8s.io/kubernetes $version -> ${#staging[@]} staging replaces at $staging_version"
echo "gen-replaces.sh: go.etcd.io/etcd/server/v3 ${etcd:-<not pinned upstream; left as is>}"

if [[ "${NO_TIDY:-0}" != 1 ]]; then
  echo "gen-replaces.sh: go mod tidy"
  (cd "$here" && go mod tidy </dev/null)
fi
