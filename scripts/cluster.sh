#!/usr/bin/env bash
# Local Kubernetes control plane for tests: etcd + kube-apiserver +
# kube-controller-manager on 127.0.0.1, started the way controller-runtime's
# envtest starts kube-apiserver, plus the controller-manager (garbage
# collection, namespace deletion, service accounts, ...). No kubelet, no
# scheduler: pods are never run.
#
# Usage:
#   scripts/cluster.sh up       build binaries if needed (scripts/build-k8s.sh), start, wait until ready
#   scripts/cluster.sh down     stop everything, remove the cluster state (logs are kept)
#   scripts/cluster.sh status   running/stopped per component; exit 0 if all up and ready, else 1
#   scripts/cluster.sh env      print `export KUBECONFIG=...` and `export PATH=<bin dir>:$PATH`
#                               (use: eval "$(scripts/cluster.sh env)")
#
# State lives in ${CIAM_CLUSTER_DIR:-<repo>/.cluster}:
#   kubeconfig                 admin kubeconfig (client cert CN=admin, O=system:masters)
#   kube-controller-manager.kubeconfig
#   pki/                       CA, apiserver serving cert, admin client cert, service-account
#                              keys, front-proxy CA and client cert
#   logs/                      etcd.log, kube-apiserver.log, kube-controller-manager.log;
#                              `up` keeps the previous run's as <name>.log.1
#   pids/                      one pid file per component
#   etcd-data/                 etcd data directory
#   ports.env                  the loopback ports picked at `up`
#
# Environment:
#   CIAM_CLUSTER_DIR       state directory (default <repo>/.cluster)
#   CIAM_CACHE_DIR         binary cache root, see scripts/build-k8s.sh
#   CIAM_CLUSTER_TIMEOUT   seconds to wait for each component to become ready (default 180)
# shellcheck disable=SC2317 # the health checks are called indirectly (wait_for)
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/.." && pwd)"
state_dir="${CIAM_CLUSTER_DIR:-$repo_root/.cluster}"
pki_dir="$state_dir/pki"
log_dir="$state_dir/logs"
pid_dir="$state_dir/pids"
etcd_data_dir="$state_dir/etcd-data"
ports_file="$state_dir/ports.env"
kubeconfig="$state_dir/kubeconfig"
kcm_kubeconfig="$state_dir/kube-controller-manager.kubeconfig"
timeout="${CIAM_CLUSTER_TIMEOUT:-180}"

components=(etcd kube-apiserver kube-controller-manager)
service_cluster_ip_range="10.0.0.0/24"
service_cluster_ip="10.0.0.1"
sa_issuer="https://kubernetes.default.svc.cluster.local"

log() { printf 'cluster: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  sed -n '2,/^# shellcheck/{/^# shellcheck/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
}

bin_dir=""
ensure_binaries() {
  local out
  out="$("$script_dir/build-k8s.sh" </dev/null)" || die "scripts/build-k8s.sh failed"
  bin_dir="$(printf '%s\n' "$out" | tail -n 1)"
  local b
  for b in etcd kube-apiserver kube-controller-manager kubectl; do
    [[ -x "$bin_dir/$b" ]] || die "missing $bin_dir/$b after build"
  done
}

# ---------------------------------------------------------------------------
# processes

pid_of() {
  local f="$pid_dir/$1.pid"
  [[ -f "$f" ]] || return 1
  local pid
  pid="$(cat "$f" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  printf '%s\n' "$pid"
}

# A pid counts as ours only while it runs the component's binary and points at
# this state directory (guards against pid reuse).
is_running() {
  local name="$1" pid cmdline
  pid="$(pid_of "$name")" || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
  [[ "$cmdline" == *"/$name "* && "$cmdline" == *"$state_dir"* ]]
}

start_component() {
  local name="$1"
  shift
  local logf="$log_dir/$name.log"
  # Keep the previous run's log next to the new one: a cluster that failed to start or
  # misbehaved is diagnosed from it after `up` has been run again.
  if [[ -s "$logf" ]]; then
    mv -f "$logf" "$logf.1"
  fi
  : >"$logf"
  # setsid: own session, so the process survives this script and its terminal.
  # Fds 8/9 (lock files) are closed so the daemons never hold a lock.
  setsid nohup "$bin_dir/$name" "$@" </dev/null >>"$logf" 2>&1 8>&- 9>&- &
  local pid=$! i
  printf '%s\n' "$pid" >"$pid_dir/$name.pid"
  # Until it execs the daemon, the background child is a copy of this shell, whose command
  # line is_running does not recognise; wait for the exec (or an exit) so that a busy machine
  # cannot make that gap look like a daemon that died (seen in CI as "exited while waiting").
  for ((i = 0; i < 200; i++)); do
    is_running "$name" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  log "started $name (pid $pid), log: $logf"
}

stop_component() {
  local name="$1" pid i
  if ! is_running "$name"; then
    rm -f "$pid_dir/$name.pid"
    return 0
  fi
  pid="$(pid_of "$name")"
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do # 15s
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not stop after SIGTERM, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  rm -f "$pid_dir/$name.pid"
}

stop_all() {
  local i
  for ((i = ${#components[@]} - 1; i >= 0; i--)); do
    stop_component "${components[$i]}"
  done
}

clean_state() {
  rm -rf "$etcd_data_dir" "$pid_dir" "$pki_dir" "$ports_file" "$kubeconfig" "$kcm_kubeconfig"
}

show_log_tail() {
  local name="$1" f="$log_dir/$1.log"
  if [[ -s "$f" ]]; then
    printf '\n----- last 40 lines of %s -----\n' "$f" >&2
    tail -n 40 "$f" >&2
    printf -- '----- end of %s -----\n\n' "$name" >&2
  fi
}

# ---------------------------------------------------------------------------
# ports

pick_ports() {
  local n="$1"
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$n" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
  else
    # Fallback: random ports in 20000-59999 that nothing listens on.
    local used picked=() p
    used=" $(ss -Htln 2>/dev/null | awk '{n = split($4, a, ":"); printf "%s ", a[n]}') "
    while ((${#picked[@]} < n)); do
      p=$((20000 + RANDOM % 40000))
      [[ "$used" != *" $p "* && " ${picked[*]} " != *" $p "* ]] && picked+=("$p")
    done
    echo "${picked[*]}"
  fi
}

load_ports() {
  ETCD_CLIENT_PORT="" ETCD_PEER_PORT="" APISERVER_PORT="" KCM_PORT=""
  if [[ -f "$ports_file" ]]; then
    # shellcheck disable=SC1090
    source "$ports_file"
  fi
}

# ---------------------------------------------------------------------------
# PKI (openssl)

gen_pki() {
  mkdir -p "$pki_dir"
  (
    cd "$pki_dir"
    umask 077
    local days=3650
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$days" \
      -keyout ca.key -out ca.crt -subj "/CN=ciam-local-ca" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null

    sign() { # name subject extfile-content [ca-basename]
      local name="$1" subj="$2" ext="$3" ca="${4:-ca}"
      openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$name.key" -out "$name.csr" \
        -subj "$subj" 2>/dev/null
      printf '%s\n' "$ext" >"$name.ext"
      openssl x509 -req -sha256 -days "$days" -in "$name.csr" -CA "$ca.crt" -CAkey "$ca.key" \
        -CAcreateserial -out "$name.crt" -extfile "$name.ext" 2>/dev/null
      rm -f "$name.csr" "$name.ext"
    }
    sign apiserver "/CN=kube-apiserver" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:${service_cluster_ip}"
    sign admin "/O=system:masters/CN=admin" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"

    # Front proxy (request-header authentication): lets aggregated API servers
    # and the controller-manager's delegated authentication find a complete
    # extension-apiserver-authentication ConfigMap.
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$days" \
      -keyout front-proxy-ca.key -out front-proxy-ca.crt -subj "/CN=ciam-local-front-proxy-ca" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
    sign front-proxy-client "/CN=front-proxy-client" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth" front-proxy-ca

    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key 2>/dev/null
    openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
    rm -f ./*.srl
  )
}

write_kubeconfig() { # path user
  local path="$1" user="$2"
  local ca admin_crt admin_key
  ca="$(base64 -w0 <"$pki_dir/ca.crt")"
  admin_crt="$(base64 -w0 <"$pki_dir/admin.crt")"
  admin_key="$(base64 -w0 <"$pki_dir/admin.key")"
  (
    umask 077
    cat >"$path" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: ciam-local
  cluster:
    server: https://127.0.0.1:${APISERVER_PORT}
    certificate-authority-data: ${ca}
users:
- name: ${user}
  user:
    client-certificate-data: ${admin_crt}
    client-key-data: ${admin_key}
contexts:
- name: ciam-local
  context:
    cluster: ciam-local
    user: ${user}
    namespace: default
current-context: ciam-local
EOF
  )
}

# ---------------------------------------------------------------------------
# health

kubectl_admin() {
  "$bin_dir/kubectl" --kubeconfig="$kubeconfig" --request-timeout=5s "$@"
}

etcd_healthy() {
  [[ -n "${ETCD_CLIENT_PORT:-}" ]] &&
    curl -fsS --max-time 3 "http://127.0.0.1:${ETCD_CLIENT_PORT}/health" 2>/dev/null | grep -q '"health":"true"'
}

apiserver_ready() {
  [[ -f "$kubeconfig" ]] && [[ "$(kubectl_admin get --raw /readyz 2>/dev/null)" == ok ]]
}

kcm_healthy() {
  [[ -n "${KCM_PORT:-}" ]] &&
    [[ "$(curl -ksS --max-time 3 "https://127.0.0.1:${KCM_PORT}/healthz" 2>/dev/null)" == ok ]]
}

default_ns_ready() {
  kubectl_admin get namespace default -o name >/dev/null 2>&1
}

default_sa_ready() {
  kubectl_admin -n default get serviceaccount default -o name >/dev/null 2>&1
}

# wait_for <description> <component whose log explains a failure> <check function>
wait_for() {
  local what="$1" comp="$2" check="$3" c
  local deadline=$((SECONDS + timeout)) delay=0.1
  while ! "$check"; do
    for c in "${components[@]}"; do
      if [[ -f "$pid_dir/$c.pid" ]] && ! is_running "$c"; then
        log "$c exited while waiting for $what"
        show_log_tail "$c"
        return 1
      fi
    done
    if ((SECONDS >= deadline)); then
      log "timed out after ${timeout}s waiting for $what"
      show_log_tail "$comp"
      return 1
    fi
    sleep "$delay"
    if [[ "$delay" == 0.1 ]]; then delay=0.25; else delay=0.5; fi
  done
}

all_running() {
  local c
  for c in "${components[@]}"; do
    is_running "$c" || return 1
  done
}

# ---------------------------------------------------------------------------
# commands

print_usage_hint() {
  cat <<EOF
cluster is ready
  kubeconfig: $kubeconfig
  binaries:   $bin_dir
  logs:       $log_dir
  apiserver:  https://127.0.0.1:${APISERVER_PORT}

Use it with:
  export KUBECONFIG=$kubeconfig
  export PATH=$bin_dir:\$PATH      # kubectl $(basename "$(dirname "$bin_dir")")
or: eval "\$(scripts/cluster.sh env)"
Stop it with: scripts/cluster.sh down
EOF
}

cmd_up() {
  ensure_binaries
  mkdir -p "$state_dir" "$log_dir"

  exec 8>"$state_dir/.lock"
  if command -v flock >/dev/null 2>&1; then
    flock 8
  fi

  load_ports
  if all_running; then
    # Already started (possibly by a concurrent `up` that is still waiting).
    local saved_timeout="$timeout"
    timeout=$((timeout < 30 ? timeout : 30))
    if wait_for "the running cluster" kube-apiserver apiserver_ready 2>/dev/null &&
      wait_for "the running controller-manager" kube-controller-manager kcm_healthy 2>/dev/null; then
      timeout="$saved_timeout"
      log "already running and healthy (state: $state_dir)"
      print_usage_hint
      return 0
    fi
    timeout="$saved_timeout"
    log "cluster processes are running but not healthy: restarting"
  elif [[ -d "$pid_dir" ]] && compgen -G "$pid_dir/*.pid" >/dev/null; then
    log "stale cluster state in $state_dir (some processes are gone): cleaning up"
  fi
  stop_all
  clean_state

  local start=$SECONDS
  mkdir -p "$pid_dir" "$etcd_data_dir" "$log_dir"
  chmod 700 "$etcd_data_dir"

  local ports
  read -r -a ports <<<"$(pick_ports 4)"
  ((${#ports[@]} == 4)) || die "could not pick free ports"
  ETCD_CLIENT_PORT="${ports[0]}" ETCD_PEER_PORT="${ports[1]}" APISERVER_PORT="${ports[2]}" KCM_PORT="${ports[3]}"
  cat >"$ports_file" <<EOF
ETCD_CLIENT_PORT=$ETCD_CLIENT_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
APISERVER_PORT=$APISERVER_PORT
KCM_PORT=$KCM_PORT
EOF

  gen_pki
  write_kubeconfig "$kubeconfig" admin
  write_kubeconfig "$kcm_kubeconfig" admin

  local fail=0
  local etcd_url="http://127.0.0.1:${ETCD_CLIENT_PORT}"
  local peer_url="http://127.0.0.1:${ETCD_PEER_PORT}"
  start_component etcd \
    --name=ciam-local \
    --data-dir="$etcd_data_dir" \
    --listen-client-urls="$etcd_url" \
    --advertise-client-urls="$etcd_url" \
    --listen-peer-urls="$peer_url" \
    --initial-advertise-peer-urls="$peer_url" \
    --initial-cluster="ciam-local=$peer_url" \
    --initial-cluster-state=new \
    --unsafe-no-fsync=true \
    --log-level=warn
  wait_for "etcd ($etcd_url/health)" etcd etcd_healthy || fail=1

  if ((fail == 0)); then
    # Flags as controller-runtime's envtest sets them, with a real CA and
    # service-account keys; the ServiceAccount admission plugin stays enabled
    # because the controller-manager creates the service accounts.
    # --endpoint-reconciler-type=none: the advertise address is loopback, which
    # an Endpoints object may not hold, so the reconciler could only fail.
    start_component kube-apiserver \
      --etcd-servers="$etcd_url" \
      --cert-dir="$pki_dir" \
      --tls-cert-file="$pki_dir/apiserver.crt" \
      --tls-private-key-file="$pki_dir/apiserver.key" \
      --client-ca-file="$pki_dir/ca.crt" \
      --secure-port="$APISERVER_PORT" \
      --bind-address=127.0.0.1 \
      --advertise-address=127.0.0.1 \
      --authorization-mode=Node,RBAC \
      --service-cluster-ip-range="$service_cluster_ip_range" \
      --service-account-issuer="$sa_issuer" \
      --service-account-key-file="$pki_dir/sa.pub" \
      --service-account-signing-key-file="$pki_dir/sa.key" \
      --allow-privileged=true \
      --requestheader-client-ca-file="$pki_dir/front-proxy-ca.crt" \
      --requestheader-allowed-names=front-proxy-client \
      --requestheader-username-headers=X-Remote-User \
      --requestheader-group-headers=X-Remote-Group \
      --requestheader-extra-headers-prefix=X-Remote-Extra- \
      --proxy-client-cert-file="$pki_dir/front-proxy-client.crt" \
      --proxy-client-key-file="$pki_dir/front-proxy-client.key" \
      --endpoint-reconciler-type=none \
      --profiling=false \
      --v=1
    wait_for "kube-apiserver /readyz" kube-apiserver apiserver_ready || fail=1
  fi

  if ((fail == 0)); then
    start_component kube-controller-manager \
      --kubeconfig="$kcm_kubeconfig" \
      --authentication-kubeconfig="$kcm_kubeconfig" \
      --authorization-kubeconfig="$kcm_kubeconfig" \
      --leader-elect=false \
      --bind-address=127.0.0.1 \
      --secure-port="$KCM_PORT" \
      --cert-dir="$pki_dir/kube-controller-manager" \
      --controllers='*' \
      --use-service-account-credentials=false \
      --service-account-private-key-file="$pki_dir/sa.key" \
      --root-ca-file="$pki_dir/ca.crt" \
      --cluster-signing-cert-file="$pki_dir/ca.crt" \
      --cluster-signing-key-file="$pki_dir/ca.key" \
      --service-cluster-ip-range="$service_cluster_ip_range" \
      --profiling=false \
      --v=1
    wait_for "kube-controller-manager /healthz" kube-controller-manager kcm_healthy || fail=1
  fi
  ((fail == 0)) && { wait_for "the default namespace" kube-apiserver default_ns_ready || fail=1; }
  ((fail == 0)) && { wait_for "the default ServiceAccount" kube-controller-manager default_sa_ready || fail=1; }

  if ((fail != 0)); then
    log "cluster failed to start; stopping what was started (logs kept in $log_dir)"
    stop_all
    exit 1
  fi
  log "ready in $((SECONDS - start))s"
  print_usage_hint
}

cmd_down() {
  if [[ -d "$state_dir" ]]; then
    exec 8>"$state_dir/.lock"
    if command -v flock >/dev/null 2>&1; then
      flock 8
    fi
  fi
  stop_all
  clean_state
  rm -f "$state_dir/.lock"
  log "stopped; state removed from $state_dir (logs kept in $log_dir)"
}

cmd_status() {
  bin_dir="$("$script_dir/build-k8s.sh" --print-bin-dir)"
  load_ports
  local ok=0 c port pid
  for c in "${components[@]}"; do
    case "$c" in
      etcd) port="${ETCD_CLIENT_PORT:-?}" ;;
      kube-apiserver) port="${APISERVER_PORT:-?}" ;;
      kube-controller-manager) port="${KCM_PORT:-?}" ;;
    esac
    if is_running "$c"; then
      pid="$(pid_of "$c")"
      printf '%-24s running  pid %-8s port %s\n' "$c" "$pid" "$port"
    else
      printf '%-24s stopped\n' "$c"
      ok=1
    fi
  done
  local readyz="unreachable"
  if is_running kube-apiserver && [[ -x "$bin_dir/kubectl" && -f "$kubeconfig" ]]; then
    readyz="$(kubectl_admin get --raw /readyz 2>&1)" || true
    if [[ "$readyz" != ok ]]; then
      # Keep only the failing checks, e.g. "not ready: [-]etcd failed".
      local failed
      failed="$(printf '%s' "$readyz" | grep -o '\[-\][^\]*failed' | sed 's/\\n$//' | paste -sd ' ' -)" || true
      readyz="not ready${failed:+: $failed}"
    fi
  fi
  printf '%-24s %s\n' "apiserver /readyz" "$readyz"
  [[ "$readyz" == ok ]] || ok=1
  if is_running kube-controller-manager; then
    local kh
    kh="$(curl -ksS --max-time 3 "https://127.0.0.1:${KCM_PORT}/healthz" 2>&1 || true)"
    printf '%-24s %s\n' "controller-manager /healthz" "$kh"
    [[ "$kh" == ok ]] || ok=1
  fi
  printf '%-24s %s\n' "kubeconfig" "$kubeconfig"
  return "$ok"
}

cmd_env() {
  bin_dir="$("$script_dir/build-k8s.sh" --print-bin-dir)"
  printf 'export KUBECONFIG=%q\n' "$kubeconfig"
  # shellcheck disable=SC2016 # $PATH is for the caller's shell to expand
  printf 'export PATH=%q:$PATH\n' "$bin_dir"
}

# main is run from one line so that bash has parsed the whole file first.
main() {
  case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) cmd_env ;;
    -h | --help | help)
      usage
      exit 0
      ;;
    *)
      usage
      exit 2
      ;;
  esac
}

main "$@"; exit $?
