//! Serves the token endpoint: reads the client's credentials and the grant's parameters, lets
//! the domain authenticate the client and run the grant, and renders the tokens or the error.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::runtime::domain::client_auth::{
    self, AuthenticatedClient, BasicCredentials, ClientAuthError, PresentedCredentials,
    TokenEndpoint,
};
use crate::runtime::domain::grants::{
    IssuedTokens, Provider, authorization_code, client_credentials, refresh_token,
};
use crate::runtime::http::form::{BoundedForm, FormError, FormParameters, OAuthForm};
use crate::runtime::{AppState, Tenant, store};

use super::{OAuthError, json_no_store, known_tenant, provider};

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

/// The body of a token request.
struct TokenRequest {
    params: FormParameters,
}

impl TokenRequest {
    /// A parameter's value; an empty value counts as absent.
    fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).filter(|value| !value.is_empty())
    }

    /// The credentials in the `Basic` header (never both) or the body.
    fn credentials<'a>(&'a self, headers: &HeaderMap) -> PresentedCredentials<'a> {
        let basic = match basic_header(headers) {
            None => BasicCredentials::Absent,
            Some(value) => match parse_basic_credentials(value) {
                Some((client_id, secret)) => BasicCredentials::Present { client_id, secret },
                None => BasicCredentials::Malformed,
            },
        };
        PresentedCredentials {
            basic,
            client_id: self.get("client_id"),
            client_secret: self.get("client_secret"),
            client_assertion_type: self.get("client_assertion_type"),
            client_assertion: self.get("client_assertion"),
        }
    }
}

/// The `Authorization: Basic` header's value, if the request carries one.
fn basic_header(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .filter(|value| value.to_ascii_lowercase().starts_with("basic "))
}

/// Longest client ID a failure's log line repeats: the value is whatever the caller sent
/// (up to the form limit), while real client IDs are 36-character UUIDs.
const LOGGED_CLIENT_ID_CHARS: usize = 64;

/// Authenticates the client; a failure is counted and logged, naming tenant, client ID,
/// method and reason, never the secret or the client assertion. No throttle follows: client IDs are public, so a
/// per-client-ID lockout would let anyone lock an app out of its tokens, while its 256-bit
/// random secret cannot be guessed online anyway.
async fn authenticate_client(
    state: &AppState,
    tenant: &Tenant,
    credentials: &PresentedCredentials<'_>,
) -> Result<AuthenticatedClient, OAuthError> {
    // A client assertion's `aud` is the token endpoint; the issuer is accepted too (OIDC
    // Core §9 allows either, and some libraries send the issuer).
    let audiences = [
        format!(
            "{}/{}/oauth2/v2.0/token",
            state.settings.public_url, tenant.subdomain
        ),
        state.issuer(&tenant.subdomain),
    ];
    let endpoint = TokenEndpoint {
        tenant_id: &tenant.id,
        audiences: &audiences,
    };
    let result =
        client_auth::authenticate_client(&state.store, &endpoint, credentials, store::now()).await;
    let error = match result {
        Ok(client) => return Ok(client),
        Err(error) => error,
    };
    if let ClientAuthError::Failed {
        method,
        client_id,
        failure,
    } = &error
    {
        state.metrics.count_client_auth_failure(
            &tenant.subdomain,
            method.as_str(),
            failure.reason(),
        );
        let logged_client_id: String = client_id.chars().take(LOGGED_CLIENT_ID_CHARS).collect();
        tracing::warn!(
            tenant = %tenant.subdomain,
            client_id = %logged_client_id,
            method = method.as_str(),
            reason = failure.reason(),
            "client authentication failed"
        );
    }
    Err(error.into())
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
        Ok(tokens) => tokens_response(&tokens, request.get("client_info") == Some("1")),
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
) -> Result<IssuedTokens, OAuthError> {
    let Some(tenant) = known_tenant(state, subdomain).await? else {
        return Err(OAuthError::unknown_tenant());
    };
    if let Some(name) = request.params.first_repeated() {
        return Err(OAuthError::bad_request(
            "invalid_request",
            format!("the parameter {name} is repeated"),
        ));
    }
    let client = authenticate_client(state, &tenant, &request.credentials(headers)).await?;
    let issuer = state.issuer(&tenant.subdomain);
    let provider = provider(state, &tenant, &issuer);
    run_grant(&provider, &client, request, grant_type).await
}

/// Runs the grant `grant_type` names.
async fn run_grant(
    provider: &Provider<'_>,
    client: &AuthenticatedClient,
    request: &TokenRequest,
    grant_type: &str,
) -> Result<IssuedTokens, OAuthError> {
    let now = store::now();
    let issued = match grant_type {
        "client_credentials" => {
            let scope = request.get("scope").unwrap_or_default();
            client_credentials::exchange(provider, client, scope, now).await
        }
        "authorization_code" => {
            let exchange = authorization_code::CodeExchange {
                code: request.get("code"),
                redirect_uri: request.get("redirect_uri"),
                code_verifier: request.get("code_verifier"),
            };
            authorization_code::exchange(provider, client, &exchange, now).await
        }
        "refresh_token" => {
            refresh_token::exchange(provider, client, request.get("refresh_token"), now).await
        }
        "" => {
            return Err(OAuthError::bad_request(
                "invalid_request",
                "grant_type is missing",
            ));
        }
        _ => {
            return Err(OAuthError::bad_request(
                "unsupported_grant_type",
                format!("grant_type {grant_type} is not supported"),
            ));
        }
    };
    Ok(issued?)
}

/// The token response (RFC 6749 §5.1), not cacheable; with `client_info` (Entra's account
/// hint for MSAL) when the request asked for it and the tokens are a user's.
fn tokens_response(tokens: &IssuedTokens, with_client_info: bool) -> Response {
    let mut body = serde_json::json!({
        "access_token": tokens.access_token,
        "token_type": "Bearer",
        "expires_in": tokens.expires_in,
        "scope": tokens.scope,
    });
    if let Some(id_token) = &tokens.id_token {
        body["id_token"] = serde_json::Value::String(id_token.clone());
    }
    if let Some(refresh_token) = &tokens.refresh_token {
        body["refresh_token"] = serde_json::Value::String(refresh_token.clone());
    }
    if let Some(client_info) = tokens.client_info.as_ref().filter(|_| with_client_info) {
        body["client_info"] = serde_json::Value::String(client_info.encode());
    }
    json_no_store(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

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
