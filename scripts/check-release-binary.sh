#!/usr/bin/env bash
# Build the release binary and check it the way the container image runs it,
# without a container engine: the binary alone in an empty directory that is
# also the working directory, run as UID/GID 65532 (distroless `nonroot`) with
# no capabilities and no_new_privs, an empty environment (`env -i`, no
# SSL_CERT_FILE, HOME=/nonexistent), and the runtime's data directory the only
# place it may write.
#
# Checks:
#   1. `ldd` lists only libraries gcr.io/distroless/cc-debian12 ships (glibc:
#      libc, libm, libpthread, libdl, librt, ld-linux; and libgcc_s), and no
#      symbol needs a glibc newer than Debian 12's 2.36.
#   2. `ciam-operator --version` and `ciam-operator crds` succeed.
#   3. `ciam-operator runtime` (SQLite in the data directory) answers /healthz,
#      /readyz and /metrics on the admin port, refuses the admin API without the
#      token and serves it with it, answers the public port without crashing,
#      creates a tenant (signing key encrypted with the key-encryption key) and
#      serves its discovery document and JWKS, stops on SIGTERM with exit
#      status 0, and starts again on the same database.
#   When this machine allows it (root may create namespaces), 2 and 3 run as
#   PID 1 of a PID namespace (as in a container: PID 1 gets SIGTERM only if it
#   handles it), in a private mount namespace where the root filesystem is
#   read-only (only the data directory is writable; /tmp stays writable only if
#   it is a mount of its own), the CA certificate directories are empty and
#   /etc/passwd, /etc/group and /etc/nsswitch.conf are empty. When strace
#   works, every file the binary opens outside its own directories is listed,
#   and reading CA files or /etc/passwd is reported.
#
# Not checked (no container engine here): building the image, what the
# distroless image contains, pulling it from a registry, running in a pod.
#
# Usage:
#   scripts/check-release-binary.sh                build (cargo build --release --locked) and check
#   scripts/check-release-binary.sh --no-build     check the existing target/release/ciam-operator
#   scripts/check-release-binary.sh --binary PATH  check PATH instead (no build)
#
# Runs as root (it switches to UID 65532 with setpriv from util-linux); skips
# with exit status 0 when setpriv is missing. Needs python3 (free ports), curl
# and ldd; uses readelf (binutils), unshare (util-linux) and strace when present.
#
# Environment:
#   CARGO               cargo command (default: cargo)
#   CARGO_TARGET_DIR    cargo's target directory (default: target/)
#   CHECK_TIMEOUT       seconds to wait for the runtime to become ready or to stop (default 60)
#   CHECK_STRACE        0 to skip the strace file-access audit (default: on when strace works)
#   CHECK_NAMESPACE     0 to skip the PID and read-only mount namespaces (default: on when allowed)
set -euo pipefail

# Everything runs inside main so bash parses the whole file before running it.
main() {
  script_path="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
  repo_root="$(cd "$(dirname "$script_path")/.." && pwd)"
  cargo_cmd="${CARGO:-cargo}"
  timeout_seconds="${CHECK_TIMEOUT:-60}"
  image_uid=65532
  image_gid=65532

  log() { printf 'check-release-binary: %s\n' "$*" >&2; }
  die() {
    log "error: $*"
    exit 1
  }

  build=true
  binary=""
  while (($#)); do
    case "$1" in
      --no-build) build=false ;;
      --binary)
        [[ $# -ge 2 ]] || die "--binary needs a path"
        build=false
        binary="$2"
        shift
        ;;
      -h | --help)
        sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$script_path"
        exit 0
        ;;
      *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
  done

  if ! command -v setpriv >/dev/null 2>&1; then
    log "SKIP: setpriv (util-linux) is not installed, so the binary cannot be run as UID $image_uid;"
    log "      install util-linux (apt-get install util-linux) to run this check"
    exit 0
  fi
  [[ "$(id -u)" == 0 ]] || die "must run as root: it switches to UID $image_uid with setpriv (CI runs as root)"
  local tool
  for tool in python3 curl ldd; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found"
  done

  verified=()
  not_verified=()
  failures=()
  pass() {
    verified+=("$*")
    log "ok: $*"
  }
  fail() {
    failures+=("$*")
    log "FAIL: $*"
  }

  # --- the binary ---------------------------------------------------------
  local target_dir="${CARGO_TARGET_DIR:-$repo_root/target}"
  if [[ "$build" == true ]]; then
    log "building: $cargo_cmd build --release --locked (target dir $target_dir)"
    local build_start=$SECONDS
    (cd "$repo_root" && "$cargo_cmd" build --release --locked) ||
      die "cargo build --release --locked failed"
    pass "cargo build --release --locked ($((SECONDS - build_start))s)"
  fi
  [[ -n "$binary" ]] || binary="$target_dir/release/ciam-operator"
  [[ -x "$binary" ]] || die "no executable at $binary (build it, or pass --binary)"
  log "binary: $binary ($(du -h "$binary" | cut -f1)), $(file -b "$binary" 2>/dev/null | cut -d, -f1-2 || true)"

  # --- the scratch tree ---------------------------------------------------
  # Root-owned and read-only for 65532 except data/, like the image plus its volumes.
  work="$(mktemp -d "${TMPDIR:-/tmp}/ciam-check-release.XXXXXX")"
  runtime_pid=""
  wait_pid=""
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  chmod 0755 "$work"
  app_dir="$work/app"            # the binary alone; also the working directory
  secrets_dir="$work/secrets"    # what the chart mounts from Secrets
  data_dir="$work/data"          # the only writable volume
  logs_dir="$work/logs"          # this script's own output, never visible to 65532
  mkdir -p "$app_dir" "$secrets_dir" "$data_dir" "$logs_dir"
  install -m 0755 "$binary" "$app_dir/ciam-operator"
  chmod 0755 "$app_dir" "$secrets_dir"
  chmod 0700 "$logs_dir"
  chown "$image_uid:$image_gid" "$data_dir"
  chmod 0700 "$data_dir"
  # The admin token (>= 16 characters) and a 32-byte key-encryption key in hex.
  admin_token="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
  printf '%s\n' "$admin_token" >"$secrets_dir/admin-token"
  python3 -c 'import secrets; print(secrets.token_hex(32))' >"$secrets_dir/key-encryption-key"
  chown "root:$image_gid" "$secrets_dir/admin-token" "$secrets_dir/key-encryption-key"
  chmod 0440 "$secrets_dir/admin-token" "$secrets_dir/key-encryption-key"

  # Every directory above $work must be searchable by 65532.
  setpriv --reuid="$image_uid" --regid="$image_gid" --clear-groups test -x "$app_dir/ciam-operator" ||
    die "UID $image_uid cannot reach $app_dir (is ${TMPDIR:-/tmp} searchable by others?); set TMPDIR to such a directory"

  # setpriv: the image's user, no supplementary groups, no capabilities
  # (securityContext capabilities.drop: [ALL]), allowPrivilegeEscalation: false.
  setpriv_args=(--reuid="$image_uid" --regid="$image_gid" --clear-groups --no-new-privs)
  if setpriv "${setpriv_args[@]}" --inh-caps=-all --bounding-set=-all true 2>/dev/null; then
    setpriv_args+=(--inh-caps=-all --bounding-set=-all)
  else
    not_verified+=("dropping the capability bounding set (setpriv --bounding-set=-all is not permitted here)")
  fi
  # Nothing but PATH (the distroless default) and HOME reaches the process, plus
  # the chart's CIAM_* variables where a run uses them (extra_env). Distroless
  # also sets SSL_CERT_FILE: left out on purpose.
  clean_env=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/nonexistent)
  extra_env=()

  # --- read-only root filesystem (mount namespace) ------------------------
  use_namespace=false
  # A mount namespace for the read-only root, and a PID namespace so that the
  # binary is PID 1, as in a container (PID 1 gets SIGTERM only if it handles it).
  namespace_command=(unshare --mount --propagation private --pid --fork --kill-child)
  if [[ "${CHECK_NAMESPACE:-1}" != 0 ]] && command -v unshare >/dev/null 2>&1; then
    if "${namespace_command[@]}" bash -c "$(namespace_setup_script); true" >"$logs_dir/namespace-probe.log" 2>&1; then
      use_namespace=true
    else
      log "no private mount namespace here ($(head -n1 "$logs_dir/namespace-probe.log")); running without a read-only root"
    fi
  fi
  if [[ "$use_namespace" == true ]]; then
    local tmp_note="/tmp read-only too (not a separate mount here)"
    if mountpoint -q /tmp 2>/dev/null; then tmp_note="/tmp writable (a separate mount)"; fi
    pass "namespaces: the binary runs as PID 1 of a PID namespace and sees a read-only root filesystem (only the data directory writable; $tmp_note), no CA certificates, empty /etc/passwd, /etc/group, /etc/nsswitch.conf"
  else
    not_verified+=("running as PID 1, a read-only root filesystem, absent CA files or /etc/passwd (no namespaces; only file permissions kept the binary from writing)")
  fi

  # --- file-access audit (strace) -----------------------------------------
  use_strace=false
  if [[ "${CHECK_STRACE:-1}" != 0 ]] && command -v strace >/dev/null 2>&1; then
    if strace -f -o /dev/null true >/dev/null 2>&1; then
      use_strace=true
    else
      not_verified+=("which files the binary opens (strace cannot trace here)")
    fi
  else
    not_verified+=("which files the binary opens (strace not installed or CHECK_STRACE=0)")
  fi

  check_libraries
  check_simple_commands
  check_runtime
  if [[ "$use_strace" == true ]]; then
    audit_file_access
  fi
  summary
}

# The mounts made in the private namespace, as root, before dropping to 65532.
namespace_setup_script() {
  cat <<EOF
set -e
mount --make-rprivate /
mount --bind '$data_dir' '$data_dir'
mount -o remount,bind,ro /
for dir in /etc/ssl /usr/lib/ssl /etc/pki /etc/ca-certificates /usr/share/ca-certificates /usr/local/share/ca-certificates; do
  if [ -d "\$dir" ]; then mount -t tmpfs -o ro,mode=0755 tmpfs "\$dir"; fi
done
for file in /etc/passwd /etc/group /etc/nsswitch.conf; do
  if [ -f "\$file" ]; then mount --bind /dev/null "\$file"; fi
done
EOF
}

# Runs "$@" (a ciam-operator subcommand) as the image would. Writes its PID to
# PIDFILE first (the exec chain keeps it).
# Usage: launch PIDFILE STRACE_LOG ARGS...
launch() {
  local pid_file="$1" strace_log="$2"
  shift 2
  local prefix=()
  if [[ "$use_strace" == true ]]; then
    prefix=(strace -f -qq -s 4096 -e trace=%file -o "$strace_log")
  fi
  local setup=":"
  if [[ "$use_namespace" == true ]]; then
    setup="$(namespace_setup_script)"
    prefix+=("${namespace_command[@]}")
  fi
  # The working directory is the binary's own, unwritable directory (the strictest
  # case of whatever WORKDIR the image has). The PID file gets the PID as this
  # script sees it (/proc is the host's), which the execs keep.
  "${prefix[@]}" bash -c "read -r pid _ </proc/self/stat; echo \$pid >'$pid_file'; $setup
cd '$app_dir'
exec setpriv ${setpriv_args[*]} ${clean_env[*]} ${extra_env[*]} ./ciam-operator \"\$@\"" ciam-operator "$@"
}

check_libraries() {
  local ldd_output libraries=() unexpected=() name
  ldd_output="$(ldd "$binary" 2>&1)" || true
  if grep -q 'statically linked' <<<"$ldd_output"; then
    pass "ldd: statically linked"
    return
  fi
  while read -r name _; do
    [[ -n "$name" ]] || continue
    libraries+=("$name")
    case "$(basename "$name")" in
      linux-vdso.so.* | linux-gate.so.* | ld-linux*.so.* | libc.so.6 | libm.so.6 | libpthread.so.0 | libdl.so.2 | librt.so.1 | libgcc_s.so.1) ;;
      *) unexpected+=("$name") ;;
    esac
  done <<<"$ldd_output"
  if grep -q 'not found' <<<"$ldd_output"; then
    fail "ldd: a library is not found on this machine: $(grep 'not found' <<<"$ldd_output" | tr -s ' \t' ' ')"
  elif ((${#unexpected[@]})); then
    fail "ldd: needs ${unexpected[*]}, which gcr.io/distroless/cc-debian12 does not ship (only glibc and libgcc_s)"
  else
    pass "ldd: only libraries distroless/cc-debian12 ships: ${libraries[*]}"
  fi

  # Symbol versions: Debian 12 ships glibc 2.36.
  if ! command -v readelf >/dev/null 2>&1; then
    not_verified+=("the glibc symbol versions the binary needs (readelf, from binutils, not installed)")
    return
  fi
  local newest
  newest="$(readelf --version-info --wide "$binary" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1)"
  if [[ -z "$newest" ]]; then
    fail "readelf: found no GLIBC symbol versions in a dynamically linked binary"
  elif [[ "$(printf '%s\n2.36\n' "$newest" | sort -V | tail -n1)" == 2.36 ]]; then
    pass "glibc symbol versions: newest GLIBC_$newest (Debian 12 has 2.36)"
  else
    fail "the binary needs GLIBC_$newest, newer than Debian 12's 2.36: build it on bookworm (the Dockerfile does)"
  fi
  local interpreter
  interpreter="$(readelf --program-headers "$binary" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')"
  [[ -z "$interpreter" ]] || log "program interpreter: $interpreter"
}

# Usage: run_once NAME ARGS... (output in $logs_dir/NAME.{out,err}, status in $?)
run_once() {
  local name="$1"
  shift
  launch "$logs_dir/$name.pid" "$logs_dir/$name.strace" "$@" \
    >"$logs_dir/$name.out" 2>"$logs_dir/$name.err" </dev/null
}

check_simple_commands() {
  if run_once version --version; then
    if grep -Eq '^ciam-operator [0-9]' "$logs_dir/version.out"; then
      pass "--version as UID $image_uid in an empty directory: $(head -n1 "$logs_dir/version.out")"
    else
      fail "--version printed '$(head -c 200 "$logs_dir/version.out")'"
    fi
  else
    fail "--version failed (exit $?): $(tail -n 5 "$logs_dir/version.err" | tr '\n' ' ')"
  fi

  local status=0
  run_once crds crds || status=$?
  if ((status == 0)); then
    local count
    count="$(grep -c '^kind: CustomResourceDefinition' "$logs_dir/crds.out" || true)"
    if ((count > 0)); then
      pass "crds as UID $image_uid: $count CustomResourceDefinitions on stdout"
    else
      fail "crds exited 0 but printed no CustomResourceDefinition"
    fi
  else
    fail "crds failed (exit $status): $(tail -n 5 "$logs_dir/crds.err" | tr '\n' ' ')"
  fi
}

# HTTP status of a request, "000" when there is no answer.
# Usage: http_status METHOD URL [curl args...]
http_status() {
  local method="$1" url="$2"
  shift 2
  curl --silent --show-error --max-time 10 --output "$logs_dir/last-body" --write-out '%{http_code}' \
    --request "$method" "$@" "$url" 2>>"$logs_dir/curl.err" || true
}

expect_status() { # Usage: expect_status WANT DESCRIPTION METHOD URL [curl args...]
  local want="$1" description="$2" got
  shift 2
  got="$(http_status "$@")"
  if [[ "$got" == "$want" ]]; then
    pass "$description: HTTP $got"
    return 0
  fi
  fail "$description: HTTP $got, want $want ($(head -c 300 "$logs_dir/last-body" 2>/dev/null | tr '\n' ' '))"
  return 1
}

# Confirms, from /proc, that the running binary is confined as intended (so
# the other checks mean what they say).
check_process() {
  local pid="$1" problems=() value
  [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == "$app_dir/ciam-operator" ]] ||
    problems+=("PID $pid is $(readlink "/proc/$pid/exe" 2>/dev/null), not the copied binary")
  value="$(awk '$1 == "Uid:" {print $2 "/" $3 "/" $4 "/" $5}' "/proc/$pid/status")"
  [[ "$value" == "$image_uid/$image_uid/$image_uid/$image_uid" ]] || problems+=("UIDs $value")
  value="$(awk '$1 == "Gid:" {print $2 "/" $3 "/" $4 "/" $5}' "/proc/$pid/status")"
  [[ "$value" == "$image_gid/$image_gid/$image_gid/$image_gid" ]] || problems+=("GIDs $value")
  value="$(awk '$1 == "Groups:" {print $2}' "/proc/$pid/status")"
  [[ -z "$value" ]] || problems+=("supplementary groups $value")
  value="$(awk '$1 == "CapEff:" {print $2}' "/proc/$pid/status")"
  [[ "$value" =~ ^0+$ ]] || problems+=("effective capabilities $value")
  value="$(awk '$1 == "NoNewPrivs:" {print $2}' "/proc/$pid/status")"
  [[ "$value" == 1 ]] || problems+=("NoNewPrivs $value")
  [[ "$(readlink "/proc/$pid/cwd")" == "$app_dir" ]] || problems+=("working directory $(readlink "/proc/$pid/cwd")")
  value="$(tr '\0' '\n' <"/proc/$pid/environ" | cut -d= -f1 | sort | tr '\n' ' ')"
  [[ "$value" != *SSL_CERT* ]] || problems+=("SSL_CERT_* set in its environment")
  if [[ "$use_namespace" == true ]]; then
    # mountinfo field 5 is the mount point, field 6 its options.
    awk '$5 == "/" {print $6}' "/proc/$pid/mountinfo" | grep -q '^ro' || problems+=("root filesystem not read-only")
    awk -v d="$data_dir" '$5 == d {print $6}' "/proc/$pid/mountinfo" | grep -q '^rw' || problems+=("data directory not a writable mount")
    [[ "$(awk '$1 == "NSpid:" {print $NF}' "/proc/$pid/status")" == 1 ]] || problems+=("not PID 1 in its PID namespace")
  fi
  if ((${#problems[@]})); then
    fail "the runtime process is not confined as intended: ${problems[*]}"
  else
    pass "runtime process: UID/GID $image_uid, no supplementary groups, no capabilities, no_new_privs, cwd = the binary's directory, environment: ${value% }$([[ "$use_namespace" != true ]] || echo ", PID 1, / mounted read-only")"
  fi
}

# Usage: start_runtime NAME flags|env (sets runtime_pid, wait_pid; returns 1 if it never got ready)
# flags: the settings as command-line flags; env: as the chart's ConfigMap sets
# them (CIAM_* variables, `args: [runtime]`), with this machine's addresses and paths.
start_runtime() {
  local name="$1" settings="$2"
  rm -f "$logs_dir/$name.pid"
  if [[ "$settings" == flags ]]; then
    launch "$logs_dir/$name.pid" "$logs_dir/$name.strace" runtime \
      --public-addr "127.0.0.1:$public_port" \
      --admin-addr "127.0.0.1:$admin_port" \
      --public-url "$public_url" \
      --admin-token-file "$secrets_dir/admin-token" \
      --key-encryption-key-file "$secrets_dir/key-encryption-key" \
      --database "sqlite://$data_dir/runtime.db" \
      >"$logs_dir/$name.out" 2>"$logs_dir/$name.err" </dev/null &
  else
    extra_env=(
      "CIAM_PUBLIC_ADDR=127.0.0.1:$public_port"
      "CIAM_ADMIN_ADDR=127.0.0.1:$admin_port"
      "CIAM_PUBLIC_URL=$public_url"
      "CIAM_ADMIN_TOKEN_FILE=$secrets_dir/admin-token"
      "CIAM_KEY_ENCRYPTION_KEY_FILE=$secrets_dir/key-encryption-key"
      "CIAM_DATABASE=sqlite://$data_dir/runtime.db"
      CIAM_LOG_FORMAT=json
      CIAM_SIGNING_ALGORITHM=ES256
      CIAM_IP_LOCKOUT=false
    )
    launch "$logs_dir/$name.pid" "$logs_dir/$name.strace" runtime \
      >"$logs_dir/$name.out" 2>"$logs_dir/$name.err" </dev/null &
    extra_env=()
  fi
  wait_pid=$!
  runtime_pid=""
  local deadline=$((SECONDS + timeout_seconds))
  while ((SECONDS < deadline)); do
    [[ -n "$runtime_pid" || ! -s "$logs_dir/$name.pid" ]] || runtime_pid="$(cat "$logs_dir/$name.pid")"
    if ! kill -0 "$wait_pid" 2>/dev/null; then
      local status=0
      wait "$wait_pid" || status=$?
      wait_pid=""
      runtime_pid=""
      fail "runtime ($name) exited with status $status before it was ready: $(tail -n 5 "$logs_dir/$name.err" "$logs_dir/$name.out" | tr '\n' ' ')"
      return 1
    fi
    if [[ -n "$runtime_pid" && "$(http_status GET "$admin_url/healthz")" == 200 ]]; then
      pass "runtime ($name, settings as $settings) as UID $image_uid: admin /healthz answers 200 after $((SECONDS + timeout_seconds - deadline))s"
      [[ "$name" != start ]] || check_process "$runtime_pid"
      return 0
    fi
    sleep 0.2 # poll interval
  done
  fail "runtime ($name) did not answer /healthz within ${timeout_seconds}s: $(tail -n 5 "$logs_dir/$name.err" | tr '\n' ' ')"
  return 1
}

# Usage: stop_runtime NAME (SIGTERM, wait, check the exit status)
stop_runtime() {
  local name="$1" status=0
  [[ -n "$wait_pid" ]] || return 0
  kill -TERM "$runtime_pid" 2>/dev/null || true
  local deadline=$((SECONDS + timeout_seconds))
  while kill -0 "$wait_pid" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.1 # poll interval
  done
  if kill -0 "$wait_pid" 2>/dev/null; then
    fail "runtime ($name) still running ${timeout_seconds}s after SIGTERM; killing it"
    kill -KILL "$runtime_pid" "$wait_pid" 2>/dev/null || true
  fi
  wait "$wait_pid" || status=$?
  wait_pid=""
  runtime_pid=""
  if ((status == 0)); then
    pass "runtime ($name) stopped on SIGTERM with exit status 0"
  else
    fail "runtime ($name) exited with status $status after SIGTERM: $(tail -n 3 "$logs_dir/$name.err" | tr '\n' ' ')"
  fi
}

check_runtime() {
  local ports
  ports="$(python3 -c '
import socket
sockets = [socket.socket() for _ in range(2)]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in sockets))
')"
  read -r public_port admin_port <<<"$ports"
  public_url="http://127.0.0.1:$public_port"
  admin_url="http://127.0.0.1:$admin_port"
  local auth=(--header "Authorization: Bearer $admin_token")

  if start_runtime start flags; then
    expect_status 200 "admin /readyz (SQLite in the data directory)" GET "$admin_url/readyz" || true
    expect_status 200 "admin /metrics" GET "$admin_url/metrics" || true
    expect_status 401 "admin API without the token" GET "$admin_url/admin/v1/tenants" || true
    expect_status 200 "admin API with the token from --admin-token-file" GET "$admin_url/admin/v1/tenants" "${auth[@]}" || true
    local root_status
    root_status="$(http_status GET "$public_url/")"
    if [[ "$root_status" =~ ^[234] ]]; then
      pass "public GET / (no tenant): HTTP $root_status"
    else
      fail "public GET /: HTTP $root_status"
    fi
    expect_status 404 "public discovery of an unknown tenant" GET "$public_url/nosuchtenant/v2.0/.well-known/openid-configuration" || true
    if expect_status 201 "admin PUT of a tenant (writes SQLite, encrypts a signing key with the KEK)" \
      PUT "$admin_url/admin/v1/tenants/smoke" "${auth[@]}" --header 'Content-Type: application/json' \
      --data '{"displayName":"Smoke","countryCode":"US"}'; then
      expect_status 200 "public discovery of that tenant" GET "$public_url/smoke/v2.0/.well-known/openid-configuration" || true
      expect_status 200 "public JWKS of that tenant" GET "$public_url/smoke/discovery/v2.0/keys" || true
    fi
    if kill -0 "$wait_pid" 2>/dev/null; then
      pass "runtime still running after the requests"
    fi
    stop_runtime start

    local owner
    owner="$(stat -c '%u' "$data_dir/runtime.db" 2>/dev/null || echo none)"
    if [[ "$owner" == "$image_uid" ]]; then
      pass "the SQLite database was created in the data directory, owned by UID $image_uid"
    else
      fail "no SQLite database owned by UID $image_uid in the data directory (owner: $owner)"
    fi
    local strays
    strays="$(find "$work" -uid "$image_uid" ! -path "$data_dir" ! -path "$data_dir/*" -print | head -n 5)"
    [[ -z "$strays" ]] || fail "UID $image_uid wrote outside the data directory: $strays"

    # A pod restart: same database, same key-encryption key; configured like the chart does.
    if start_runtime restart env; then
      expect_status 200 "after a restart, discovery of the tenant created before" GET "$public_url/smoke/v2.0/.well-known/openid-configuration" || true
      expect_status 200 "after a restart, JWKS (signing keys decrypted with the KEK)" GET "$public_url/smoke/discovery/v2.0/keys" || true
      stop_runtime restart
    fi
  fi
}

# Lists files the binary touched outside its own tree and the usual kernel/loader paths.
audit_file_access() {
  local name trace paths=() path
  for name in version crds start restart; do
    trace="$logs_dir/$name.strace"
    [[ -s "$trace" ]] || continue
    # Keep only what follows the exec of the binary (setpriv, env, bash come first).
    while IFS= read -r path; do
      paths+=("$path")
    done < <(awk 'found || /execve\("\.\/ciam-operator"/ {found = 1; print}' "$trace" |
      grep -v 'execve(' | grep -o '"/[^"]*"' | tr -d '"' | sort -u)
  done
  local interesting=() sensitive=()
  for path in $(printf '%s\n' "${paths[@]}" | sort -u); do
    case "$path" in
      "$work" | "$work"/* | /proc/* | /sys/* | /dev/* | /etc/ld.so.cache | /etc/ld.so.preload | /lib/* | /lib64/* | /usr/lib/x86_64-linux-gnu/* | /usr/lib/aarch64-linux-gnu/* | /usr/lib64/*) continue ;;
    esac
    # SQLite resolves the database path component by component: the ancestors of the scratch tree.
    [[ "$work/" != "$path"/* ]] || continue
    interesting+=("$path")
    case "$path" in
      /etc/ssl* | /usr/lib/ssl* | /etc/pki* | *ca-certificates* | *.pem | *.crt | /etc/passwd | /etc/group | /etc/nsswitch.conf) sensitive+=("$path") ;;
    esac
  done
  if ((${#interesting[@]} == 0)); then
    pass "file access (strace): --version, crds and runtime open nothing outside the binary's directory, the secrets, the data directory, /proc, /sys, /dev and the dynamic loader's libraries"
  else
    log "files the binary looked up outside its own directories: ${interesting[*]}"
    pass "file access (strace) audited; outside its own directories it looked up: ${interesting[*]}"
  fi
  if ((${#sensitive[@]})); then
    log "NOTE: the binary read CA or user-database files: ${sensitive[*]} (reported, not a failure)"
    not_verified+=("that the binary never reads CA/user files: it looked up ${sensitive[*]} (reported, not a failure)")
  else
    pass "no CA certificate file, /etc/passwd, /etc/group or /etc/nsswitch.conf read (SSL_CERT_FILE unset)"
  fi
}

summary() {
  not_verified+=(
    "ciam-operator controller under these conditions (it needs a Kubernetes API server; the e2e tests run it)"
    "the image build itself (docker build): no container engine here"
    "what gcr.io/distroless/cc-debian12:nonroot contains (its libraries, /etc/passwd, CA bundle) and its digest: no registry reachable"
    "running in a pod: the chart's volumes and fsGroup, probes through the kubelet, the RuntimeDefault seccomp profile, cgroup limits"
  )
  {
    printf '\n== verified\n'
    printf '  + %s\n' "${verified[@]}"
    printf '== not verified\n'
    printf '  - %s\n' "${not_verified[@]}"
    if ((${#failures[@]})); then
      printf '== FAILED (%d)\n' "${#failures[@]}"
      printf '  ! %s\n' "${failures[@]}"
      printf 'logs: %s (kept)\n' "$logs_dir"
    fi
  } >&2
  if ((${#failures[@]})); then
    keep_work=true
    exit 1
  fi
  log "all checks passed"
}

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  local status=$?
  if [[ -n "${wait_pid:-}" ]] && kill -0 "$wait_pid" 2>/dev/null; then
    kill -KILL "${runtime_pid:-$wait_pid}" "$wait_pid" 2>/dev/null || true
    wait "$wait_pid" 2>/dev/null || true
  fi
  if [[ "${keep_work:-false}" == true ]]; then
    # Keep the logs for the failure report, drop the secrets.
    rm -rf "${work:?}/secrets"
  elif [[ -n "${work:-}" ]]; then
    rm -rf "$work"
  fi
  return "$status"
}

main "$@"; exit $?
