# bench/compare/runtime.sh: this project's identity runtime for the comparison (sourced by
# run.sh): the release binary on loopback with a SQLite file, a tenant with an API, a daemon and
# a confidential web app in an email + password user flow, and the benchmark user created through
# the real hosted sign-up (the passcode read from a loopback SMTP sink of the load generator).

RT_PID=""
RT_SINK_PID=""
RT_TENANT="${RT_TENANT:-bench}"

# runtime_start WORK BIN: sets RT_PID, RT_PUBLIC, RT_ADMIN, RT_ADMIN_TOKEN.
runtime_start() {
  local work="$1" bin="$2" public_port admin_port
  public_port="$(free_port)"
  admin_port="$(free_port)"
  RT_PUBLIC="http://127.0.0.1:$public_port"
  RT_ADMIN="http://127.0.0.1:$admin_port"
  RT_ADMIN_TOKEN="$(random_secret)"
  (umask 077 && printf "%s" "$RT_ADMIN_TOKEN" >"$work/rt-admin-token" && head -c 32 /dev/urandom | od -An -tx1 | tr -d " \n" >"$work/rt-kek")
  log "starting the identity runtime on $RT_PUBLIC (admin $RT_ADMIN)"
  RUST_LOG=warn "$bin" runtime \
    --public-addr "127.0.0.1:$public_port" --admin-addr "127.0.0.1:$admin_port" \
    --public-url "$RT_PUBLIC" --admin-token-file "$work/rt-admin-token" \
    --key-encryption-key-file "$work/rt-kek" --database "sqlite://$work/runtime.db" \
    >"$work/runtime.log" 2>&1 &
  RT_PID=$!
  wait_http "$RT_ADMIN/readyz" 60 "$RT_PID" ||
    { tail -40 "$work/runtime.log" >&2; die "the runtime did not become ready"; }
}

rt_put() {
  curl -sS --fail-with-body -o "$RT_WORK/put.out" -X PUT -H "Authorization: Bearer $RT_ADMIN_TOKEN" \
    -H 'Content-Type: application/json' "$RT_ADMIN$1" -d "$2" ||
    die "runtime admin PUT $1: $(cat "$RT_WORK/put.out")"
}

# runtime_setup WORK LOAD_BIN REDIRECT_URI USER PASSWORD: writes WORK/runtime.json.
runtime_setup() {
  local work="$1" load="$2" redirect="$3" user="$4" password="$5"
  RT_WORK="$work"
  local api daemon web daemon_secret web_secret smtp_port email="$user@example.com"
  api="$(python3 -c 'import uuid; print(uuid.uuid4())')"
  daemon="$(python3 -c 'import uuid; print(uuid.uuid4())')"
  web="$(python3 -c 'import uuid; print(uuid.uuid4())')"
  daemon_secret="$(random_secret)"
  web_secret="$(random_secret)"
  rt_put "/admin/v1/tenants/$RT_TENANT" '{"displayName":"Bench","countryCode":"US",
    "email":{"fromAddress":"no-reply@bench.example"}}'
  rt_put "/admin/v1/tenants/$RT_TENANT/clients/$api" "{\"displayName\":\"API\",\"type\":\"web\",
    \"exposedApi\":{\"identifierUri\":\"api://$RT_TENANT\",\"scopes\":[{\"value\":\"read\"}]},
    \"clientSecrets\":[{\"value\":\"$(random_secret)\"}]}"
  rt_put "/admin/v1/tenants/$RT_TENANT/clients/$daemon" "{\"displayName\":\"Daemon\",\"type\":\"daemon\",
    \"apiPermissions\":[{\"resourceAppId\":\"$api\",\"scopes\":[\"read\"]}],
    \"clientSecrets\":[{\"value\":\"$daemon_secret\"}]}"
  rt_put "/admin/v1/tenants/$RT_TENANT/clients/$web" "{\"displayName\":\"Web\",\"type\":\"web\",
    \"redirectUris\":[\"$redirect\"],\"clientSecrets\":[{\"value\":\"$web_secret\"}]}"
  rt_put "/admin/v1/tenants/$RT_TENANT/userflows/bench" "{\"displayName\":\"Bench\",
    \"applications\":[\"$web\"],\"signIn\":{\"methods\":[\"emailPassword\"]}}"
  smtp_port="$(free_port)"
  "$load" smtp-sink -addr "127.0.0.1:$smtp_port" -out "$work/mail.txt" >/dev/null 2>&1 &
  RT_SINK_PID=$!
  rt_put "/admin/v1/tenants/$RT_TENANT/smtp" "{\"host\":\"127.0.0.1\",\"port\":$smtp_port,\"tls\":\"none\"}"
  local base="$RT_PUBLIC/$RT_TENANT/oauth2/v2.0"
  jq -n --arg t "$base/token" --arg a "$base/authorize" --arg d "$daemon" --arg ds "$daemon_secret" \
    --arg w "$web" --arg ws "$web_secret" --arg r "$redirect" --arg u "$email" --arg p "$password" --arg tenant "$RT_TENANT" '{
    name: "runtime", token_url: $t, authorize_url: $a,
    client_id: $d, client_secret: $ds, scope: ("api://" + $tenant + "/.default"),
    app_client_id: $w, app_client_secret: $ws, redirect_uri: $r,
    app_scope: "openid offline_access", username: $u, password: $p,
    username_field: "email", password_field: "password",
    submit_name: "method", submit_value: "password"}' >"$work/runtime.json"
  "$load" signup -profile "$work/runtime.json" -mail "$work/mail.txt" >&2 ||
    die "the benchmark user's sign-up on the runtime failed"
  stop_pid "$RT_SINK_PID"
  RT_SINK_PID=""
}
