# bench/compare/keycloak.sh: Keycloak for the comparison (sourced by run.sh). Fetches
# org.keycloak:keycloak-quarkus-dist from Maven Central into the cache once, runs it in
# production mode (`start`) on Temurin JDK 25 on loopback, and sets up the benchmark realm,
# clients and user through the admin REST API with curl.
#
# Settings beyond the defaults, and why: plain HTTP on 127.0.0.1 with the hostname set to that
# URL (loopback, no TLS, as for the other two servers); `--cache=local` (no cluster discovery
# on the network); Argon2id at the runtime's parameters (m=19456 KiB, t=2, p=1) and the realm's
# password policy `hashAlgorithm(argon2)`; the realm's refresh tokens rotate (revokeRefreshToken),
# as the runtime's do. The database is Keycloak's default (dev-file, H2), kept in the cache
# between runs; the realm is deleted and created again on every run.

KEYCLOAK_VERSION=26.7.3
KEYCLOAK_HOME="$CACHE/keycloak-$KEYCLOAK_VERSION"
KEYCLOAK_JAVA_HOME="${KEYCLOAK_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
KEYCLOAK_MAVEN="${KEYCLOAK_MAVEN:-https://repo.maven.apache.org/maven2}"
KC_PID=""

keycloak_fetch() {
  [[ -x "$KEYCLOAK_HOME/bin/kc.sh" ]] && return 0
  local name="keycloak-quarkus-dist-$KEYCLOAK_VERSION.tar.gz" tmp
  local url="$KEYCLOAK_MAVEN/org/keycloak/keycloak-quarkus-dist/$KEYCLOAK_VERSION/$name"
  tmp="$(mktemp -d "$CACHE/keycloak-dl.XXXXXX")"
  log "downloading $url"
  curl -fsSL --retry 3 -o "$tmp/$name" "$url"
  curl -fsSL --retry 3 -o "$tmp/$name.sha1" "$url.sha1"
  echo "$(tr -d ' \n' <"$tmp/$name.sha1")  $tmp/$name" | sha1sum -c --quiet - || die "Keycloak download: SHA-1 mismatch"
  mkdir -p "$tmp/unpacked"
  tar -xzf "$tmp/$name" -C "$tmp/unpacked" --strip-components=1
  rm -rf "$KEYCLOAK_HOME"
  mv "$tmp/unpacked" "$KEYCLOAK_HOME"
  rm -rf "$tmp"
}

# keycloak_start WORK: starts Keycloak; sets KC_PID and KC_URL.
keycloak_start() {
  local work="$1" port mport password_file="$KEYCLOAK_HOME/bench-admin-password"
  [[ -x "$KEYCLOAK_JAVA_HOME/bin/java" ]] || die "Temurin JDK 25 not found at $KEYCLOAK_JAVA_HOME"
  # The bootstrap admin is created with the first database only: keep its password with it.
  if [[ ! -s "$password_file" ]]; then
    rm -rf "$KEYCLOAK_HOME/data"
    (umask 077 && random_secret >"$password_file")
  fi
  KC_ADMIN_PASSWORD="$(cat "$password_file")"
  port="$(free_port)"
  mport="$(free_port)"
  KC_URL="http://127.0.0.1:$port"
  log "starting Keycloak $KEYCLOAK_VERSION on $KC_URL"
  JAVA_HOME="$KEYCLOAK_JAVA_HOME" KC_BOOTSTRAP_ADMIN_USERNAME=admin \
    KC_BOOTSTRAP_ADMIN_PASSWORD="$KC_ADMIN_PASSWORD" \
    "$KEYCLOAK_HOME/bin/kc.sh" start \
    --http-enabled=true --http-host=127.0.0.1 --http-port="$port" \
    --http-management-port="$mport" --hostname="$KC_URL" \
    --cache=local --health-enabled=true \
    --spi-password-hashing--argon2--memory=19456 \
    --spi-password-hashing--argon2--iterations=2 \
    --spi-password-hashing--argon2--parallelism=1 \
    >"$work/keycloak.log" 2>&1 &
  KC_PID=$!
  wait_http "http://127.0.0.1:$mport/health/ready" 600 "$KC_PID" ||
    { tail -40 "$work/keycloak.log" >&2; die "Keycloak did not become ready"; }
}

# keycloak_setup WORK REDIRECT_URI USER PASSWORD: realm, clients, user; writes WORK/keycloak.json.
keycloak_setup() {
  local work="$1" redirect="$2" user="$3" password="$4" token daemon_secret web_secret
  token="$(curl -fsS "$KC_URL/realms/master/protocol/openid-connect/token" \
    -d grant_type=password -d client_id=admin-cli -d username=admin \
    --data-urlencode "password=$KC_ADMIN_PASSWORD" | jq -r .access_token)"
  local auth=(-H "Authorization: Bearer $token" -H 'Content-Type: application/json')
  curl -sS -o /dev/null -X DELETE "${auth[@]}" "$KC_URL/admin/realms/bench"
  daemon_secret="$(random_secret)"
  web_secret="$(random_secret)"
  curl -fsS "${auth[@]}" "$KC_URL/admin/realms" -d '{"realm":"bench","enabled":true,
    "passwordPolicy":"hashAlgorithm(argon2)","revokeRefreshToken":true,"refreshTokenMaxReuse":0}'
  curl -fsS "${auth[@]}" "$KC_URL/admin/realms/bench/clients" -d "{\"clientId\":\"daemon\",
    \"secret\":\"$daemon_secret\",\"publicClient\":false,\"serviceAccountsEnabled\":true,
    \"standardFlowEnabled\":false,\"directAccessGrantsEnabled\":false}"
  curl -fsS "${auth[@]}" "$KC_URL/admin/realms/bench/clients" -d "{\"clientId\":\"web\",
    \"secret\":\"$web_secret\",\"publicClient\":false,\"standardFlowEnabled\":true,
    \"directAccessGrantsEnabled\":false,\"redirectUris\":[\"$redirect\"],
    \"attributes\":{\"pkce.code.challenge.method\":\"S256\"}}"
  curl -fsS "${auth[@]}" "$KC_URL/admin/realms/bench/users" -d "{\"username\":\"$user\",
    \"email\":\"$user@example.com\",\"firstName\":\"Dana\",\"lastName\":\"Bench\",
    \"emailVerified\":true,\"enabled\":true,
    \"credentials\":[{\"type\":\"password\",\"value\":\"$password\",\"temporary\":false}]}"
  # The stored credential must be Argon2id at the runtime's parameters.
  local id
  id="$(curl -fsS "${auth[@]}" "$KC_URL/admin/realms/bench/users?username=$user&exact=true" | jq -r '.[0].id')"
  curl -fsS "${auth[@]}" "$KC_URL/admin/realms/bench/users/$id/credentials" |
    jq -e '.[0].credentialData | fromjson | .algorithm == "argon2" and .hashIterations == 2
      and .additionalParameters.memory == ["19456"] and .additionalParameters.parallelism == ["1"]
      and .additionalParameters.type == ["id"]' >/dev/null ||
    die "Keycloak did not store the password as Argon2id m=19456 t=2 p=1"
  local realm="$KC_URL/realms/bench/protocol/openid-connect"
  jq -n --arg t "$realm/token" --arg a "$realm/auth" --arg ds "$daemon_secret" \
    --arg ws "$web_secret" --arg r "$redirect" --arg u "$user" --arg p "$password" '{
    name: "keycloak", token_url: $t, authorize_url: $a,
    client_id: "daemon", client_secret: $ds,
    app_client_id: "web", app_client_secret: $ws, redirect_uri: $r, app_scope: "openid",
    username: $u, password: $p, username_field: "username", password_field: "password"}' \
    >"$work/keycloak.json"
}
