//! Serves the token endpoint: client authentication, code, refresh and client-credentials grants.
//!
//! ```text
//!  code ──redeem once──▶ grant ──▶ access + ID + refresh token
//!                          ▲            │ refresh (rotates; a replay revokes the grant)
//!                          └────────────┘
//! ```

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::form::{BoundedForm, FormError, FormParameters, OAuthForm};
use super::oidc::{self, OAuthError, OIDC_SCOPES};
use super::store::{self, GrantRecord, Redemption};
use super::{AppState, Tenant, crypto, flows, tokens};
use crate::contract::ClientSpec;

/// Decodes a `client_secret_basic` credential component (form-urlencoded per RFC 6749 §2.3.1).
fn decode_basic_component(component: &str) -> String {
    let spaced = component.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// Parses an `Authorization: Basic` header into client ID and secret.
pub fn parse_basic_credentials(value: &str) -> Option<(String, String)> {
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((decode_basic_component(id), decode_basic_component(secret)))
}

struct TokenRequest {
    params: FormParameters,
}

impl TokenRequest {
    fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).filter(|value| !value.is_empty())
    }
}

struct AuthenticatedClient {
    id: String,
    spec: ClientSpec,
}

/// How a client presented its credentials (the `method` of a failure's metric and log line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AuthMethod {
    Basic,
    Post,
    None,
}

impl AuthMethod {
    fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Basic => "client_secret_basic",
            AuthMethod::Post => "client_secret_post",
            AuthMethod::None => "none",
        }
    }
}

/// Why a client failed to authenticate: the description it gets with `invalid_client`, and
/// the `reason` of the metric and the log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
enum ClientAuthFailure {
    #[error("the Basic authorization header is malformed")]
    MalformedBasic,
    #[error("client authentication is required")]
    NoClientId,
    #[error("unknown client")]
    UnknownClient,
    #[error("this client must authenticate with its client secret")]
    SecretMissing,
    #[error("client authentication failed")]
    WrongSecret,
    #[error("public clients have no client secret")]
    SecretNotAllowed,
}

impl ClientAuthFailure {
    fn reason(self) -> &'static str {
        match self {
            ClientAuthFailure::MalformedBasic => "malformed_basic",
            ClientAuthFailure::NoClientId => "no_client_id",
            ClientAuthFailure::UnknownClient => "unknown_client",
            ClientAuthFailure::SecretMissing => "secret_missing",
            ClientAuthFailure::WrongSecret => "wrong_secret",
            ClientAuthFailure::SecretNotAllowed => "secret_not_allowed",
        }
    }

    /// Judges a known client's presented secret.
    fn of_secret(spec: &ClientSpec, secret: Option<&str>) -> Option<Self> {
        match (spec.app_type.is_confidential(), secret) {
            (true, None) => Some(ClientAuthFailure::SecretMissing),
            (true, Some(secret)) if !spec.secret_matches(secret, jiff::Timestamp::now()) => {
                Some(ClientAuthFailure::WrongSecret)
            }
            (false, Some(_)) => Some(ClientAuthFailure::SecretNotAllowed),
            _ => None,
        }
    }
}

/// Longest client ID a failure's log line repeats: the value is whatever the caller sent
/// (up to the form limit), while real client IDs are 36-character UUIDs.
const LOGGED_CLIENT_ID_CHARS: usize = 64;

/// Counts and logs a failed client authentication, and builds its `invalid_client` answer.
/// The log line names tenant, client ID, method and reason, never the secret. No throttle
/// follows: client IDs are public, so a per-client-ID lockout would let anyone lock an app
/// out of its tokens, while its 256-bit random secret cannot be guessed online anyway.
fn client_auth_failed(
    state: &AppState,
    tenant: &Tenant,
    method: AuthMethod,
    client_id: &str,
    failure: ClientAuthFailure,
) -> OAuthError {
    state
        .metrics
        .count_client_auth_failure(&tenant.subdomain, method.as_str(), failure.reason());
    let logged_client_id: String = client_id.chars().take(LOGGED_CLIENT_ID_CHARS).collect();
    tracing::warn!(
        tenant = %tenant.subdomain,
        client_id = %logged_client_id,
        method = method.as_str(),
        reason = failure.reason(),
        "client authentication failed"
    );
    OAuthError::invalid_client(failure.to_string(), method == AuthMethod::Basic)
}

/// The `Authorization: Basic` header's value, if the request carries one.
fn basic_header(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .filter(|value| value.to_ascii_lowercase().starts_with("basic "))
}

/// Why the token endpoint could not read a client's credentials.
enum CredentialsError {
    /// The request is malformed (`invalid_request`); not counted as a failed authentication.
    InvalidRequest(OAuthError),
    /// No client could be identified.
    Failed(ClientAuthFailure),
}

/// Reads the client's credentials from the `Basic` header or the body (never both): the
/// client ID, and the secret if one was sent.
///
/// # Errors
/// `invalid_request` for two methods at once or a body `client_id` that differs from the
/// header's; a [`ClientAuthFailure`] when no client ID can be read.
fn presented_credentials(
    headers: &HeaderMap,
    request: &TokenRequest,
) -> Result<(String, Option<String>), CredentialsError> {
    let invalid_request = |reason: &str| {
        CredentialsError::InvalidRequest(OAuthError::bad_request("invalid_request", reason))
    };
    let Some(value) = basic_header(headers) else {
        let id = request
            .get("client_id")
            .ok_or(CredentialsError::Failed(ClientAuthFailure::NoClientId))?;
        return Ok((
            id.to_string(),
            request.get("client_secret").map(str::to_string),
        ));
    };
    let (id, secret) = parse_basic_credentials(value)
        .ok_or(CredentialsError::Failed(ClientAuthFailure::MalformedBasic))?;
    if request.get("client_secret").is_some() {
        return Err(invalid_request(
            "use exactly one client authentication method",
        ));
    }
    if request
        .get("client_id")
        .is_some_and(|body_id| body_id != id)
    {
        return Err(invalid_request(
            "client_id in the body differs from the authenticated client",
        ));
    }
    Ok((id, Some(secret)))
}

async fn authenticate_client(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    request: &TokenRequest,
) -> Result<AuthenticatedClient, OAuthError> {
    let method = if basic_header(headers).is_some() {
        AuthMethod::Basic
    } else if request.get("client_secret").is_some() {
        AuthMethod::Post
    } else {
        AuthMethod::None
    };
    let (client_id, secret) = match presented_credentials(headers, request) {
        Ok(credentials) => credentials,
        Err(CredentialsError::InvalidRequest(error)) => return Err(error),
        Err(CredentialsError::Failed(failure)) => {
            return Err(client_auth_failed(state, tenant, method, "", failure));
        }
    };
    let failure = match oidc::load_client(state, tenant, &client_id).await? {
        None => ClientAuthFailure::UnknownClient,
        Some(spec) => match ClientAuthFailure::of_secret(&spec, secret.as_deref()) {
            None => {
                return Ok(AuthenticatedClient {
                    id: client_id,
                    spec,
                });
            }
            Some(failure) => failure,
        },
    };
    Err(client_auth_failed(
        state, tenant, method, &client_id, failure,
    ))
}

/// `POST /{subdomain}/oauth2/v2.0/token`.
pub async fn token(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    headers: HeaderMap,
    form: Result<OAuthForm, FormError>,
) -> Response {
    let params = match form {
        Ok(BoundedForm(params)) => params,
        Err(error) => {
            state.metrics.count_token("", "invalid_request");
            tracing::info!(error = %error, "token request refused: unreadable form");
            return OAuthError::bad_request("invalid_request", error.to_string()).into_response();
        }
    };
    let request = TokenRequest { params };
    let grant_type = request.get("grant_type").unwrap_or_default().to_string();
    let result = token_inner(&state, &subdomain, &headers, &request, &grant_type).await;
    let outcome = match &result {
        Ok(_) => "issued",
        Err(error) => error.code(),
    };
    state.metrics.count_token(&grant_type, outcome);
    match result {
        Ok(response) => response,
        Err(error) => {
            tracing::info!(grant_type = %grant_type, error = error.code(), reason = %error.description(), "token request refused");
            error.into_response()
        }
    }
}

async fn token_inner(
    state: &AppState,
    subdomain: &str,
    headers: &HeaderMap,
    request: &TokenRequest,
    grant_type: &str,
) -> Result<Response, OAuthError> {
    let Some(tenant) = oidc::known_tenant(state, subdomain).await? else {
        return Err(OAuthError::unknown_tenant());
    };
    if let Some(name) = request.params.first_repeated() {
        return Err(OAuthError::bad_request(
            "invalid_request",
            format!("the parameter {name} is repeated"),
        ));
    }
    let client = authenticate_client(state, &tenant, headers, request).await?;
    match grant_type {
        "client_credentials" => client_credentials(state, &tenant, &client, request).await,
        "authorization_code" => authorization_code(state, &tenant, &client, request).await,
        "refresh_token" => refresh_token(state, &tenant, &client, request).await,
        "" => Err(OAuthError::bad_request(
            "invalid_request",
            "grant_type is missing",
        )),
        _ => Err(OAuthError::bad_request(
            "unsupported_grant_type",
            format!("grant_type {grant_type} is not supported"),
        )),
    }
}

async fn client_credentials(
    state: &AppState,
    tenant: &Tenant,
    client: &AuthenticatedClient,
    request: &TokenRequest,
) -> Result<Response, OAuthError> {
    if !client.spec.app_type.is_confidential() {
        return Err(OAuthError::bad_request(
            "unauthorized_client",
            "public clients cannot use client credentials",
        ));
    }
    let scope = request.get("scope").unwrap_or_default();
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    if scopes.len() != 1 || !scopes[0].ends_with("/.default") {
        return Err(OAuthError::bad_request(
            "invalid_scope",
            "client credentials need exactly one scope of the form api://<app>/.default",
        ));
    }
    let access = oidc::resolve_access(state, tenant, &client.id, &client.spec, &scopes)
        .await?
        .ok_or_else(|| OAuthError::bad_request("invalid_scope", "an API scope is required"))?;
    let now = store::now();
    let lifetime = client.spec.access_token_lifetime_seconds();
    let issuer = state.issuer(&tenant.subdomain);
    let claims = tokens::access_token_claims(&tokens::AccessTokenInput {
        issuer: &issuer,
        tenant_id: &tenant.id,
        client_id: &client.id,
        audience: &access.resource_client_id,
        user_id: None,
        permissions: &access.scopes,
        auth_time: None,
        grant_id: None,
        lifetime_seconds: lifetime,
        now,
        flow_claims: &std::collections::BTreeMap::new(),
    });
    let access_token = state
        .keyring
        .sign(&state.store, &tenant.id, &claims, "at+jwt")
        .await?;
    Ok(oidc::json_no_store(&serde_json::json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "scope": scope,
    })))
}

async fn authorization_code(
    state: &AppState,
    tenant: &Tenant,
    client: &AuthenticatedClient,
    request: &TokenRequest,
) -> Result<Response, OAuthError> {
    if client.spec.app_type == crate::api::AppType::Daemon {
        return Err(OAuthError::bad_request(
            "unauthorized_client",
            "daemon apps use client credentials only",
        ));
    }
    let code = request
        .get("code")
        .ok_or_else(|| OAuthError::bad_request("invalid_request", "code is missing"))?;
    let invalid_grant = |reason: &str| OAuthError::bad_request("invalid_grant", reason);
    let record = match state.store.redeem_code(&crypto::token_digest(code)).await? {
        Redemption::Unknown => return Err(invalid_grant("the authorization code is not valid")),
        Redemption::Replayed(record) => {
            // RFC 6749 §4.1.2: a reused code revokes what was issued from it.
            state.store.revoke_grant(&record.grant_id).await?;
            tracing::warn!(tenant = %tenant.subdomain, client_id = %client.id, "authorization code reuse: grant revoked");
            return Err(invalid_grant(
                "the authorization code was already used; tokens issued from it are revoked",
            ));
        }
        Redemption::Redeemed(record) => record,
    };
    let grant = state
        .store
        .grant(&record.grant_id)
        .await?
        .ok_or_else(|| invalid_grant("the authorization code is not valid"))?;
    if grant.client_id != client.id || grant.tenant_id != tenant.id {
        return Err(invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if grant.revoked_at.is_some() {
        return Err(invalid_grant("the authorization has been revoked"));
    }
    if record.expires_at <= store::now() {
        return Err(invalid_grant("the authorization code has expired"));
    }
    if request.get("redirect_uri") != Some(record.redirect_uri.as_str()) {
        return Err(invalid_grant(
            "redirect_uri does not match the one of the authorization request",
        ));
    }
    match (&record.code_challenge, request.get("code_verifier")) {
        (Some(challenge), Some(verifier)) if crypto::pkce_s256_matches(verifier, challenge) => {}
        (Some(_), Some(_)) => {
            return Err(invalid_grant(
                "the code_verifier does not match the code_challenge",
            ));
        }
        (Some(_), None) => return Err(invalid_grant("code_verifier is required")),
        (None, Some(_)) => {
            return Err(invalid_grant(
                "code_verifier was sent but the authorization request had no code_challenge",
            ));
        }
        (None, None) => {}
    }
    issue_user_tokens(state, tenant, client, &grant, record.nonce.as_deref()).await
}

async fn refresh_token(
    state: &AppState,
    tenant: &Tenant,
    client: &AuthenticatedClient,
    request: &TokenRequest,
) -> Result<Response, OAuthError> {
    let presented = request
        .get("refresh_token")
        .ok_or_else(|| OAuthError::bad_request("invalid_request", "refresh_token is missing"))?;
    let invalid_grant = |reason: &str| OAuthError::bad_request("invalid_grant", reason);
    let record = match state
        .store
        .redeem_refresh_token(&crypto::token_digest(presented))
        .await?
    {
        Redemption::Unknown => return Err(invalid_grant("the refresh token is not valid")),
        Redemption::Replayed(record) => {
            state.store.revoke_grant(&record.grant_id).await?;
            tracing::warn!(tenant = %tenant.subdomain, client_id = %client.id, "refresh token reuse: token family revoked");
            return Err(invalid_grant(
                "the refresh token was already used; its token family is revoked",
            ));
        }
        Redemption::Redeemed(record) => record,
    };
    let grant = state
        .store
        .grant(&record.grant_id)
        .await?
        .ok_or_else(|| invalid_grant("the refresh token is not valid"))?;
    if grant.client_id != client.id || grant.tenant_id != tenant.id {
        return Err(invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if grant.revoked_at.is_some() {
        return Err(invalid_grant("the refresh token has been revoked"));
    }
    if record.expires_at <= store::now() {
        return Err(invalid_grant("the refresh token has expired"));
    }
    issue_user_tokens(state, tenant, client, &grant, None).await
}

async fn issue_user_tokens(
    state: &AppState,
    tenant: &Tenant,
    client: &AuthenticatedClient,
    grant: &GrantRecord,
    nonce: Option<&str>,
) -> Result<Response, OAuthError> {
    let scopes: Vec<&str> = grant.scope.split_whitespace().collect();
    let access = oidc::resolve_access(state, tenant, &client.id, &client.spec, &scopes).await?;
    let user = state
        .store
        .user(&tenant.id, &grant.user_id)
        .await?
        .ok_or_else(|| OAuthError::bad_request("invalid_grant", "the user no longer exists"))?;
    let flow = flows::flow_for_client(&state.store, &tenant.id, &client.id).await?;
    let flow_claims = flows::token_claims(
        flow.as_ref().map(|(_, flow)| flow),
        &user.email,
        user.display_name.as_deref(),
        &user.attributes,
    );
    let now = store::now();
    let issuer = state.issuer(&tenant.subdomain);
    let lifetime = client.spec.access_token_lifetime_seconds();
    let oidc_scopes: Vec<String> = scopes
        .iter()
        .filter(|scope| OIDC_SCOPES.contains(scope) && **scope != "offline_access")
        .map(|scope| scope.to_string())
        .collect();
    let (audience, permissions) = match &access {
        Some(access) => (access.resource_client_id.clone(), access.scopes.clone()),
        None => (client.id.clone(), oidc_scopes),
    };
    let access_claims = tokens::access_token_claims(&tokens::AccessTokenInput {
        issuer: &issuer,
        tenant_id: &tenant.id,
        client_id: &client.id,
        audience: &audience,
        user_id: Some(&user.id),
        permissions: &permissions,
        auth_time: Some(grant.auth_time),
        grant_id: Some(&grant.id),
        lifetime_seconds: lifetime,
        now,
        flow_claims: &flow_claims,
    });
    let access_token = state
        .keyring
        .sign(&state.store, &tenant.id, &access_claims, "at+jwt")
        .await?;
    let mut body = serde_json::json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "scope": grant.scope,
    });
    if scopes.contains(&"openid") {
        let id_claims = tokens::id_token_claims(&tokens::IdTokenInput {
            issuer: &issuer,
            tenant_id: &tenant.id,
            client_id: &client.id,
            user_id: &user.id,
            email: &user.email,
            display_name: user.display_name.as_deref(),
            scopes: &scopes,
            nonce,
            auth_time: grant.auth_time,
            session_id: grant.session_id.as_deref(),
            now,
            flow_claims: &flow_claims,
        });
        body["id_token"] = serde_json::Value::String(
            state
                .keyring
                .sign(&state.store, &tenant.id, &id_claims, "JWT")
                .await?,
        );
    }
    if scopes.contains(&"offline_access") {
        let refresh = crypto::random_token(32);
        state
            .store
            .create_refresh_token(
                &grant.id,
                &crypto::token_digest(&refresh),
                now + tokens::REFRESH_TOKEN_LIFETIME_SECONDS,
            )
            .await?;
        body["refresh_token"] = serde_json::Value::String(refresh);
    }
    Ok(oidc::json_no_store(&body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_client_may_not_send_a_secret_and_a_confidential_one_must() {
        let mut spec = ClientSpec {
            display_name: "App".into(),
            app_type: crate::api::AppType::Spa,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            exposed_api: None,
            api_permissions: vec![],
            access_token_lifetime: None,
            client_secrets: vec![],
        };
        assert_eq!(ClientAuthFailure::of_secret(&spec, None), None);
        assert_eq!(
            ClientAuthFailure::of_secret(&spec, Some("x")),
            Some(ClientAuthFailure::SecretNotAllowed)
        );
        spec.app_type = crate::api::AppType::Daemon;
        assert_eq!(
            ClientAuthFailure::of_secret(&spec, None),
            Some(ClientAuthFailure::SecretMissing)
        );
        assert_eq!(
            ClientAuthFailure::of_secret(&spec, Some("x")),
            Some(ClientAuthFailure::WrongSecret)
        );
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("my%20client:s3cr%3At"));
        assert_eq!(
            parse_basic_credentials(&header),
            Some(("my client".into(), "s3cr:t".into()))
        );
        assert_eq!(parse_basic_credentials("Bearer x"), None);
    }
}
