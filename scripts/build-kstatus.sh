#!/usr/bin/env bash
# Build the kstatus test tool (tests/kstatus/: prints the health Flux and other
# GitOps tools compute for Kubernetes objects, via sigs.k8s.io/cli-utils kstatus)
# at the versions pinned in its go.mod/go.sum, into a cache outside the repository:
#
#   ${CIAM_CACHE_DIR:-$HOME/.cache/ciam-operator}/kstatus/<stamp>/kstatus
#
# <stamp> is the first 16 hex digits of the sha256 of tests/kstatus/go.mod +
# go.sum + *.go + this script + `go version`; the build is skipped when that
# binary already exists. Progress goes to stderr; the last line on stdout is
# the binary's path.
#
# Usage:
#   scripts/build-kstatus.sh               build if needed, print the binary's path
#   scripts/build-kstatus.sh --force       rebuild even when the stamp matches
#   scripts/build-kstatus.sh --print-path  print the binary's path only (no build)
#   scripts/build-kstatus.sh --check       exit 0 if the cached build is up to date, 1 if not
#
# Using it:  kubectl get customertenants -A -o json | "$(scripts/build-kstatus.sh)"
#
# Environment:
#   CIAM_CACHE_DIR   cache root (default $HOME/.cache/ciam-operator)
#   GO               go command (default: go)
set -euo pipefail

# Everything runs inside main so bash parses the whole file before running it
# (safe against the script being edited while a build runs).
main() {
  script_path="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
  repo_root="$(cd "$(dirname "$script_path")/.." && pwd)"
  module_dir="$repo_root/tests/kstatus"
  go_cmd="${GO:-go}"

  export GOTOOLCHAIN=local
  export CGO_ENABLED=0
  export GOWORK=off
  export GOFLAGS="-mod=readonly -buildvcs=false"

  log() { printf 'build-kstatus: %s\n' "$*" >&2; }
  die() { log "error: $*"; exit 1; }

  mode=build
  for arg in "$@"; do
    case "$arg" in
      --force) mode=force ;;
      --print-path) mode=print ;;
      --check) mode=check ;;
      -h | --help)
        sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$script_path"
        exit 0
        ;;
      *) die "unknown argument: $arg (see --help)" ;;
    esac
  done

  [[ -f "$module_dir/go.mod" && -f "$module_dir/go.sum" ]] || die "missing $module_dir/go.mod or go.sum"
  command -v "$go_cmd" >/dev/null 2>&1 || die "go not found (set GO=/path/to/go)"
  # The stamp includes `go version`, so even --print-path needs go.
  go_version="$("$go_cmd" version)"

  compute_stamp() {
    local source
    {
      printf '%s\n' "$go_version"
      for source in "$module_dir/go.mod" "$module_dir/go.sum" "$module_dir"/*.go "$script_path"; do
        # The name too, so renaming a file changes the stamp.
        printf '== %s\n' "${source#"$repo_root"/}"
        cat "$source"
      done
    } | sha256sum | cut -c1-16
  }
  stamp="$(compute_stamp)"

  cache_root="${CIAM_CACHE_DIR:-$HOME/.cache/ciam-operator}"
  stamp_dir="$cache_root/kstatus/$stamp"
  binary="$stamp_dir/kstatus"

  case "$mode" in
    print)
      printf '%s\n' "$binary"
      exit 0
      ;;
    check)
      if [[ -x "$binary" ]]; then exit 0; else exit 1; fi
      ;;
  esac

  mkdir -p "$stamp_dir"
  # Serialise concurrent invocations (e.g. parallel test runs).
  exec 9>"$stamp_dir/.build.lock"
  if command -v flock >/dev/null 2>&1; then
    flock 9
  fi

  if [[ "$mode" != force && -x "$binary" ]]; then
    log "up to date: $binary"
    printf '%s\n' "$binary"
    exit 0
  fi

  tmp_binary="$(mktemp "$stamp_dir/.kstatus.tmp.XXXXXX")"
  trap 'rm -f "$tmp_binary"' EXIT

  cli_utils_version="$(awk '$1 == "sigs.k8s.io/cli-utils" {print $2; exit} $1 == "require" && $2 == "sigs.k8s.io/cli-utils" {print $3; exit}' "$module_dir/go.mod")"
  log "building kstatus (sigs.k8s.io/cli-utils ${cli_utils_version:-?}) with $go_version"
  log "  output: $binary"
  start=$SECONDS
  (
    cd "$module_dir"
    "$go_cmd" build -trimpath -ldflags "-s -w" -o "$tmp_binary" . </dev/null
  )
  [[ -s "$tmp_binary" ]] || die "go build did not produce a binary"
  chmod 0755 "$tmp_binary"
  # Atomic: a concurrent reader sees either no binary or a complete one.
  mv -f "$tmp_binary" "$binary"
  log "built in $((SECONDS - start))s"

  # Earlier builds (other stamps) are dead weight; remove those no one is building.
  # Only stamp-named directories, and only when their lock is free.
  local old_dir
  for old_dir in "$cache_root/kstatus"/*/; do
    old_dir="${old_dir%/}"
    [[ "$old_dir" != "$stamp_dir" && "$(basename "$old_dir")" =~ ^[0-9a-f]{16}$ ]] || continue
    if (exec 8>>"$old_dir/.build.lock" && flock -n 8) 2>/dev/null; then
      rm -rf "$old_dir"
      log "removed the outdated build $old_dir"
    fi
  done

  printf '%s\n' "$binary"
}

main "$@"; exit $?
