# bench/compare/lib.sh: helpers shared by the comparison's scripts (sourced, not run): free
# loopback ports, readiness polling, memory of a server's whole process tree read from /proc
# (its CPU time is read by the load generator itself, around the measured phase).

CACHE="${CIAM_CACHE_DIR:-$HOME/.cache/ciam-operator}"

log() { printf '[bench-compare %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

random_secret() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# wait_http URL SECONDS PID: polls until URL answers 2xx, the process dies, or time runs out.
wait_http() {
  local url="$1" seconds="$2" pid="$3" i
  for ((i = 0; i < seconds * 10; i++)); do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# tree_pids PID: the process and all its descendants.
tree_pids() {
  local pid="$1" child
  echo "$pid"
  for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do
    tree_pids "$child"
  done
}

# tree_status_kib PID FIELD: VmRSS or VmHWM (KiB) summed over the process tree.
tree_status_kib() {
  local total=0 p v
  for p in $(tree_pids "$1"); do
    v="$(awk -v f="$2:" '$1 == f {print $2}' "/proc/$p/status" 2>/dev/null)"
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# stop_pid PID: TERM, wait up to 20 s, then KILL (the process and its tree).
stop_pid() {
  local pid="$1" pids i
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  pids="$(tree_pids "$pid")"
  kill $pids 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 $pids 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
