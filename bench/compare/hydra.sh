# bench/compare/hydra.sh: Ory Hydra for the comparison (sourced by run.sh). Builds Hydra from its
# Go module's own source once (cached binary), runs it on loopback with PostgreSQL, and
# creates the benchmark clients through its admin API.
#
# Why the build goes this way: `go install github.com/ory/hydra/v2@v2.3.0` ignores the module's
# `replace` of gobuffalo/pop (replaces apply only in the main module), so the module is
# downloaded with `go mod download` and built inside a writable copy of it. The module zip
# leaves out the nested module `internal/httpclient` that its go.mod replaces
# github.com/ory/hydra-client-go/v2 with; the published hydra-client-go at the version go.mod
# requires is put in its place. Built with `-tags sqlite` as Ory's release images are.
#
# Settings beyond the defaults, and why: `--dev` (without it Hydra marks its cookies Secure and
# requires https, which a plain-HTTP loopback browser cannot send back), `--sqa-opt-out` (no
# telemetry calls to the network). Storage is PostgreSQL (scripts/postgres.sh, a throwaway
# cluster on loopback, fsync off): with a SQLite file Hydra answers 500 "database is locked" as
# soon as two sign-ins run at once (also with WAL, a busy timeout and immediate transactions),
# so SQLite is not a usable store for Hydra under load. The database's CPU time is counted as
# Hydra's. Everything else is Hydra's default: opaque access tokens, client secrets hashed with
# BCrypt.
# Hydra has no login UI: the load generator accepts its login and consent challenges through the
# admin API (what a login app does), so Hydra takes part in the client-credentials,
# refresh-token and authorization-code workloads, not in the password sign-in.

HYDRA_VERSION=v2.3.0
HYDRA_DIR="$CACHE/hydra-$HYDRA_VERSION"
HYDRA_BIN="$HYDRA_DIR/hydra"
HYDRA_PID=""
HYDRA_PG_DIR=""

hydra_build() {
  [[ -x "$HYDRA_BIN" ]] && return 0
  local dir client_dir required
  log "building Ory Hydra $HYDRA_VERSION from its module source (a few minutes, once)"
  dir="$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "github.com/ory/hydra/v2@$HYDRA_VERSION" | jq -r .Dir)"
  rm -rf "$HYDRA_DIR/src"
  mkdir -p "$HYDRA_DIR"
  cp -r "$dir" "$HYDRA_DIR/src"
  chmod -R u+w "$HYDRA_DIR/src"
  if [[ ! -f "$HYDRA_DIR/src/internal/httpclient/go.mod" ]]; then
    required="$(awk '$1 == "github.com/ory/hydra-client-go/v2" {print $2; exit}' "$HYDRA_DIR/src/go.mod")"
    client_dir="$(cd /tmp && go mod download -json "github.com/ory/hydra-client-go/v2@$required" | jq -r .Dir)"
    cp -r "$client_dir" "$HYDRA_DIR/src/internal/httpclient"
    chmod -R u+w "$HYDRA_DIR/src/internal/httpclient"
  fi
  (cd "$HYDRA_DIR/src" && CGO_ENABLED=1 go build -tags sqlite,sqlite_omit_load_extension -trimpath -o "$HYDRA_BIN.tmp" .)
  mv "$HYDRA_BIN.tmp" "$HYDRA_BIN"
}

# hydra_start WORK ROOT: starts a PostgreSQL cluster, migrates it and starts `hydra serve all`;
# sets HYDRA_PID, HYDRA_DB_PID, HYDRA_PUBLIC, HYDRA_ADMIN.
hydra_start() {
  local work="$1" root="$2" public_port admin_port pg_url
  # Outside WORK: the cluster runs as the postgres user when we are root.
  HYDRA_PG_DIR="$(mktemp -u "${TMPDIR:-/tmp}/ciam-bench-hydra-pg.XXXXXX")"
  pg_url="$(CIAM_POSTGRES_DIR="$HYDRA_PG_DIR" "$root/scripts/postgres.sh" start)"
  HYDRA_DB_PID="$(head -1 "$HYDRA_PG_DIR/data/postmaster.pid")"
  public_port="$(free_port)"
  admin_port="$(free_port)"
  HYDRA_PUBLIC="http://127.0.0.1:$public_port"
  HYDRA_ADMIN="http://127.0.0.1:$admin_port"
  # Hydra's default pool (2 × cores connections) deadlocks at 16 concurrent refresh grants (a
  # grant holds one connection while it waits for another): more connections than concurrent
  # requests (64 at most here) rule that out; 90 of PostgreSQL's 100.
  export DSN="$pg_url?sslmode=disable&max_conns=90&max_idle_conns=90"
  "$HYDRA_BIN" migrate sql up -e --yes >"$work/hydra-migrate.log" 2>&1 ||
    { cat "$work/hydra-migrate.log" >&2; die "Hydra migrations failed"; }
  log "starting Ory Hydra $HYDRA_VERSION on $HYDRA_PUBLIC (admin $HYDRA_ADMIN)"
  SERVE_PUBLIC_HOST=127.0.0.1 SERVE_PUBLIC_PORT="$public_port" \
    SERVE_ADMIN_HOST=127.0.0.1 SERVE_ADMIN_PORT="$admin_port" \
    URLS_SELF_ISSUER="$HYDRA_PUBLIC" URLS_LOGIN="http://127.0.0.1:9/login" \
    URLS_CONSENT="http://127.0.0.1:9/consent" SECRETS_SYSTEM="$(random_secret)" \
    LOG_LEVEL=warn \
    "$HYDRA_BIN" serve all --dev --sqa-opt-out >"$work/hydra.log" 2>&1 &
  HYDRA_PID=$!
  unset DSN
  wait_http "$HYDRA_ADMIN/health/ready" 120 "$HYDRA_PID" ||
    { tail -40 "$work/hydra.log" >&2; die "Hydra did not become ready"; }
}

# hydra_setup WORK REDIRECT_URI USER: clients; writes WORK/hydra.json.
hydra_setup() {
  local work="$1" redirect="$2" user="$3" daemon_secret web_secret
  daemon_secret="$(random_secret)"
  web_secret="$(random_secret)"
  curl -fsS -o /dev/null -H 'Content-Type: application/json' "$HYDRA_ADMIN/admin/clients" -d "{
    \"client_id\":\"daemon\",\"client_secret\":\"$daemon_secret\",
    \"grant_types\":[\"client_credentials\"],\"token_endpoint_auth_method\":\"client_secret_basic\"}"
  curl -fsS -o /dev/null -H 'Content-Type: application/json' "$HYDRA_ADMIN/admin/clients" -d "{
    \"client_id\":\"web\",\"client_secret\":\"$web_secret\",
    \"grant_types\":[\"authorization_code\",\"refresh_token\"],\"response_types\":[\"code\"],
    \"scope\":\"openid offline_access\",\"redirect_uris\":[\"$redirect\"],
    \"token_endpoint_auth_method\":\"client_secret_basic\"}"
  jq -n --arg t "$HYDRA_PUBLIC/oauth2/token" --arg a "$HYDRA_PUBLIC/oauth2/auth" \
    --arg admin "$HYDRA_ADMIN" --arg ds "$daemon_secret" --arg ws "$web_secret" \
    --arg r "$redirect" --arg u "$user" '{
    name: "hydra", token_url: $t, authorize_url: $a, hydra_admin_url: $admin,
    client_id: "daemon", client_secret: $ds,
    app_client_id: "web", app_client_secret: $ws, redirect_uri: $r,
    app_scope: "openid offline_access", username: $u}' >"$work/hydra.json"
}

hydra_stop() {
  stop_pid "$HYDRA_PID"
  if [[ -n "$HYDRA_PG_DIR" ]]; then
    CIAM_POSTGRES_DIR="$HYDRA_PG_DIR" "$ROOT/scripts/postgres.sh" stop || true
  fi
}
