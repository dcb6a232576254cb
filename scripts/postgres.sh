#!/usr/bin/env bash
# A throwaway PostgreSQL server for the runtime's storage tests, from Debian's `postgresql`
# package: a fresh cluster in a temporary directory, listening only on 127.0.0.1 on a free
# port, trust authentication, fsync off. initdb refuses to run as root, so as root the server
# runs as the `postgres` system user that the package creates.
#
# Usage:
#   scripts/postgres.sh start    create and start the cluster; print its URL (postgres://…)
#   scripts/postgres.sh url      print the URL of the running cluster
#   scripts/postgres.sh stop     stop the cluster and remove its directory
#
# Environment:
#   CIAM_POSTGRES_DIR   state directory (default ${TMPDIR:-/tmp}/ciam-operator-postgres)
set -euo pipefail

STATE_DIR="${CIAM_POSTGRES_DIR:-${TMPDIR:-/tmp}/ciam-operator-postgres}"
DATA_DIR="$STATE_DIR/data"
SOCKET_DIR="$STATE_DIR/socket"
DATABASE=ciam
DB_USER=ciam

die() { echo "postgres.sh: $*" >&2; exit 1; }

pg_bin() {
  local dir
  dir="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)"
  [[ -n "$dir" ]] || die "PostgreSQL server binaries not found under /usr/lib/postgresql (run scripts/install-deps.sh)"
  echo "$dir"
}

# Runs a command as the cluster's owner: `postgres` when we are root, else ourselves.
as_owner() {
  if [[ "$(id -u)" == 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

url() {
  [[ -f "$STATE_DIR/port" ]] || die "not started (no $STATE_DIR/port)"
  echo "postgres://$DB_USER@127.0.0.1:$(cat "$STATE_DIR/port")/$DATABASE"
}

running() {
  [[ -f "$DATA_DIR/postmaster.pid" ]] && as_owner "$(pg_bin)/pg_ctl" -D "$DATA_DIR" status >/dev/null 2>&1
}

start() {
  if running; then
    url
    return
  fi
  local bin port
  bin="$(pg_bin)"
  rm -rf "$STATE_DIR"
  mkdir -p "$STATE_DIR" "$SOCKET_DIR"
  if [[ "$(id -u)" == 0 ]]; then
    id postgres >/dev/null 2>&1 || die "the postgres system user is missing (is the postgresql package installed?)"
    chown -R postgres: "$STATE_DIR"
  fi
  as_owner "$bin/initdb" -D "$DATA_DIR" -U "$DB_USER" --auth=trust -E UTF8 --no-sync >"$STATE_DIR/initdb.log" 2>&1 \
    || { cat "$STATE_DIR/initdb.log" >&2; die "initdb failed"; }
  port="$(free_port)"
  echo "$port" >"$STATE_DIR/port"
  as_owner "$bin/pg_ctl" -D "$DATA_DIR" -l "$STATE_DIR/postgres.log" -w -t 60 \
    -o "-p $port -k $SOCKET_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null || { cat "$STATE_DIR/postgres.log" >&2; die "the server did not start"; }
  as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U "$DB_USER" "$DATABASE"
  url
}

stop() {
  if [[ -d "$DATA_DIR" ]]; then
    as_owner "$(pg_bin)/pg_ctl" -D "$DATA_DIR" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$STATE_DIR"
}

case "${1:-}" in
  start) start ;;
  url) url ;;
  stop) stop ;;
  *) die "usage: $0 start|url|stop" ;;
esac
