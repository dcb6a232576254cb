//! Serves each tenant's OpenID Connect endpoints on paths shaped like Entra External ID's.
//!
//! ```text
//!  {publicUrl}/{subdomain}/v2.0/.well-known/openid-configuration
//!  {publicUrl}/{subdomain}/discovery/v2.0/keys
//!  {publicUrl}/{subdomain}/oauth2/v2.0/authorize | token | logout
//!  {publicUrl}/{subdomain}/openid/v2.0/userinfo
//! ```

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use tower_http::cors::CorsLayer;

use super::form::{BoundedForm, FormError, OAuthForm};
use super::metrics::{self, ListenerMetrics};
use super::store::{self, CodeRecord, GrantRecord, Kind, SessionRecord, StoreError};
use super::tokens::{AccessTokenClaims, IdTokenClaims, TokenError};
use super::{AppState, Tenant, crypto, flows, i18n, pages, token_endpoint};
use crate::contract::{self as model, ClientSpec};

/// Default lifetime of an authorization code (60 seconds: it is redeemed right after the
/// redirect); `--authorization-code-lifetime-seconds` changes it.
pub const CODE_LIFETIME_SECONDS: i64 = 60;

/// Lifetime of a pending authorization request while the customer signs in (15 minutes).
pub const AUTHORIZATION_REQUEST_LIFETIME_SECONDS: i64 = 900;

/// OpenID Connect scopes the runtime understands.
pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// An OAuth 2.0 error response (RFC 6749 §5.2).
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    basic_challenge: bool,
}

impl OAuthError {
    /// An error with HTTP status 400.
    pub fn bad_request(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
            basic_challenge: false,
        }
    }

    /// `invalid_client` (401), with a `Basic` challenge when the client used Basic.
    pub fn invalid_client(description: impl Into<String>, basic_used: bool) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: description.into(),
            basic_challenge: basic_used,
        }
    }

    /// `server_error` (500).
    pub fn server_error() -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "server_error",
            description: "the server failed to complete the request".into(),
            basic_challenge: false,
        }
    }

    /// An error about an unknown tenant (404).
    pub fn unknown_tenant() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            error: "invalid_request",
            description: "unknown tenant".into(),
            basic_challenge: false,
        }
    }

    /// The OAuth error code.
    pub fn code(&self) -> &'static str {
        self.error
    }

    /// The human-readable description.
    pub fn description(&self) -> &str {
        &self.description
    }
}

impl From<StoreError> for OAuthError {
    fn from(error: StoreError) -> Self {
        tracing::error!(error = %error, "OAuth request failed in storage");
        OAuthError::server_error()
    }
}

impl From<TokenError> for OAuthError {
    fn from(error: TokenError) -> Self {
        tracing::error!(error = %error, "OAuth request failed handling tokens");
        OAuthError::server_error()
    }
}

fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            axum::Json(serde_json::json!({
                "error": self.error,
                "error_description": self.description,
            })),
        )
            .into_response();
        no_store(&mut response);
        if self.basic_challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"token\""),
            );
        }
        response
    }
}

/// The public listener's router: OpenID Connect endpoints and hosted pages.
pub fn router(state: Arc<AppState>) -> Router {
    // Browser apps (SPAs) call these cross-origin; none of them uses cookies.
    let cors = CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]);
    let listener_metrics = ListenerMetrics {
        listener: "public",
        metrics: state.metrics.clone(),
    };
    Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(discovery).layer(cors.clone()),
        )
        .route(
            "/{tenant}/discovery/v2.0/keys",
            get(jwks).layer(cors.clone()),
        )
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize))
        .route(
            "/{tenant}/oauth2/v2.0/token",
            axum::routing::post(token_endpoint::token).layer(cors.clone()),
        )
        .route(
            "/{tenant}/openid/v2.0/userinfo",
            get(userinfo).post(userinfo_form).layer(cors),
        )
        .route(
            "/{tenant}/oauth2/v2.0/logout",
            get(logout).post(logout_form),
        )
        .merge(pages::router())
        .route_layer(middleware::from_fn_with_state(
            listener_metrics,
            metrics::track,
        ))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
        .with_state(state)
}

pub(crate) async fn known_tenant(
    state: &AppState,
    subdomain: &str,
) -> Result<Option<Tenant>, StoreError> {
    if !model::is_valid_subdomain(subdomain) {
        return Ok(None);
    }
    state.tenant(subdomain).await
}

pub(crate) fn json_no_store<T: Serialize>(value: &T) -> Response {
    let mut response = axum::Json(value).into_response();
    no_store(&mut response);
    response
}

// ---- discovery and keys ---------------------------------------------------------------------

async fn discovery(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
) -> Result<Response, OAuthError> {
    let Some(tenant) = known_tenant(&state, &subdomain).await? else {
        return Ok((StatusCode::NOT_FOUND, "unknown tenant").into_response());
    };
    let base = format!("{}/{}", state.public_url, tenant.subdomain);
    let document = serde_json::json!({
        "issuer": state.issuer(&tenant.subdomain),
        "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{base}/oauth2/v2.0/token"),
        "userinfo_endpoint": format!("{base}/openid/v2.0/userinfo"),
        "end_session_endpoint": format!("{base}/oauth2/v2.0/logout"),
        "jwks_uri": format!("{base}/discovery/v2.0/keys"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": OIDC_SCOPES,
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "nbf", "auth_time", "nonce", "tid", "oid", "ver",
            "sid", "email", "name", "preferred_username"
        ],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "ui_locales_supported": ui_locales_supported(tenant.spec.supported_locales.as_deref()),
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "tenant_region_scope": tenant.spec.country_code,
    });
    Ok(axum::Json(document).into_response())
}

/// The page languages a tenant offers: the built-in languages (one per `locales/*.json`),
/// narrowed to the tenant's `supportedLocales` when it lists any, matched by primary subtag
/// as the pages match them. English, the pages' fallback, when nothing is left.
pub fn ui_locales_supported(tenant_supported: Option<&[String]>) -> Vec<&'static str> {
    let offered: Vec<&'static str> = i18n::BUILT_IN_LANGUAGES
        .into_iter()
        .filter(|language| {
            tenant_supported.is_none_or(|supported| {
                supported.iter().any(|tag| {
                    tag.split(['-', '_'])
                        .next()
                        .is_some_and(|primary| primary.eq_ignore_ascii_case(language))
                })
            })
        })
        .collect();
    if offered.is_empty() {
        vec![i18n::BUILT_IN_LANGUAGES[0]]
    } else {
        offered
    }
}

async fn jwks(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
) -> Result<Response, OAuthError> {
    let Some(tenant) = known_tenant(&state, &subdomain).await? else {
        return Ok((StatusCode::NOT_FOUND, "unknown tenant").into_response());
    };
    let keys = state.keyring.jwks(&state.store, &tenant.id).await?;
    let mut response = axum::Json(keys).into_response();
    // Short caching: a newly published next key must reach relying parties before use.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(response)
}

// ---- scopes ---------------------------------------------------------------------------------

/// The API part of a scope request: which resource and which of its scopes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceAccess {
    /// Client ID of the resource app (the token audience).
    pub resource_client_id: String,
    /// Granted scope values (without the resource prefix).
    pub scopes: Vec<String>,
}

/// Splits API scopes (`api://…/orders.read`) into one resource identifier and scope values.
/// Returns `None` when there are no API scopes.
///
/// # Errors
/// An `invalid_scope` description when scopes name several resources or are malformed.
pub fn split_api_scopes(scopes: &[&str]) -> Result<Option<(String, Vec<String>)>, String> {
    let mut resource: Option<String> = None;
    let mut values = Vec::new();
    for scope in scopes.iter().filter(|scope| !OIDC_SCOPES.contains(scope)) {
        let Some((prefix, value)) = scope.rsplit_once('/') else {
            return Err(format!(
                "scope {scope} is not an OpenID Connect scope or an API scope such as api://<app>/<scope>"
            ));
        };
        if value.is_empty() || !(prefix.starts_with("api://") || prefix.starts_with("https://")) {
            return Err(format!("scope {scope} is not a valid API scope"));
        }
        match &resource {
            Some(existing) if existing != prefix => {
                return Err("scopes for more than one API cannot be requested at once".into());
            }
            _ => resource = Some(prefix.to_string()),
        }
        values.push(value.to_string());
    }
    Ok(resource.map(|resource| (resource, values)))
}

/// Decides which scopes of `resource` the `client` gets. `.default` means every permitted
/// scope; otherwise each requested scope must be exposed by the resource and permitted to
/// the client (an app may always use its own API).
///
/// # Errors
/// An `invalid_scope` description.
pub fn grant_api_scopes(
    client_id: &str,
    client: &ClientSpec,
    resource_client_id: &str,
    resource: &ClientSpec,
    requested: &[String],
) -> Result<Vec<String>, String> {
    let own_api = client_id == resource_client_id;
    let permitted: Vec<&str> = client
        .api_permissions
        .iter()
        .filter(|permission| permission.resource_app_id == resource_client_id)
        .flat_map(|permission| permission.scopes.iter().map(String::as_str))
        .collect();
    let has_permission_entry = client
        .api_permissions
        .iter()
        .any(|permission| permission.resource_app_id == resource_client_id);
    if !own_api && !has_permission_entry {
        return Err("the client has no permission for this API (apiPermissions)".into());
    }
    let exposed: Vec<&str> = resource.exposed_scopes().collect();
    let allowed = |scope: &str| exposed.contains(&scope) && (own_api || permitted.contains(&scope));
    if requested.iter().any(|scope| scope == ".default") {
        if requested.len() > 1 {
            return Err(".default cannot be combined with other scopes of the same API".into());
        }
        return Ok(exposed
            .iter()
            .filter(|scope| allowed(scope))
            .map(|scope| scope.to_string())
            .collect());
    }
    for scope in requested {
        if !exposed.contains(&scope.as_str()) {
            return Err(format!("the API does not expose the scope {scope}"));
        }
        if !allowed(scope) {
            return Err(format!("the client is not permitted the scope {scope}"));
        }
    }
    Ok(requested.to_vec())
}

async fn resolve_resource(
    state: &AppState,
    tenant: &Tenant,
    identifier: &str,
) -> Result<Option<(String, ClientSpec)>, OAuthError> {
    let document = match identifier.strip_prefix("api://") {
        Some(id) if model::is_valid_uuid(id) => {
            match state.store.document(Kind::Client, &tenant.id, id).await? {
                Some(document) => Some(document),
                None => {
                    state
                        .store
                        .client_by_identifier_uri(&tenant.id, identifier)
                        .await?
                }
            }
        }
        _ => {
            state
                .store
                .client_by_identifier_uri(&tenant.id, identifier)
                .await?
        }
    };
    let Some(document) = document else {
        return Ok(None);
    };
    let spec: ClientSpec = serde_json::from_str(&document.spec).map_err(|error| {
        OAuthError::from(StoreError::Corrupt {
            what: "client",
            reason: error.to_string(),
        })
    })?;
    Ok(Some((document.key, spec)))
}

/// Resolves requested scopes into the API access they grant (if any API scope was asked).
pub(crate) async fn resolve_access(
    state: &AppState,
    tenant: &Tenant,
    client_id: &str,
    client: &ClientSpec,
    scopes: &[&str],
) -> Result<Option<ResourceAccess>, OAuthError> {
    let Some((identifier, values)) = split_api_scopes(scopes)
        .map_err(|reason| OAuthError::bad_request("invalid_scope", reason))?
    else {
        return Ok(None);
    };
    let (resource_client_id, resource) = resolve_resource(state, tenant, &identifier)
        .await?
        .ok_or_else(|| {
            OAuthError::bad_request(
                "invalid_scope",
                format!("no API {identifier} in this tenant"),
            )
        })?;
    let granted = grant_api_scopes(client_id, client, &resource_client_id, &resource, &values)
        .map_err(|reason| OAuthError::bad_request("invalid_scope", reason))?;
    Ok(Some(ResourceAccess {
        resource_client_id,
        scopes: granted,
    }))
}

pub(crate) async fn load_client(
    state: &AppState,
    tenant: &Tenant,
    client_id: &str,
) -> Result<Option<ClientSpec>, OAuthError> {
    let Some(document) = state
        .store
        .document(Kind::Client, &tenant.id, client_id)
        .await?
    else {
        return Ok(None);
    };
    serde_json::from_str(&document.spec)
        .map(Some)
        .map_err(|error| {
            OAuthError::from(StoreError::Corrupt {
                what: "client",
                reason: error.to_string(),
            })
        })
}

// ---- authorize ------------------------------------------------------------------------------

/// Query parameters of the authorization endpoint.
#[derive(Deserialize, Debug, Default)]
pub struct AuthorizeQuery {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    response_type: Option<String>,
    response_mode: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    prompt: Option<String>,
    login_hint: Option<String>,
    ui_locales: Option<String>,
    max_age: Option<String>,
}

/// A validated authorization request, kept while the customer signs in.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct AuthorizationRequest {
    /// The client.
    pub client_id: String,
    /// The exact registered redirect URI.
    pub redirect_uri: String,
    /// Requested scopes, space-separated.
    pub scope: String,
    /// `state` to echo.
    pub state: Option<String>,
    /// `nonce` for the ID token.
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
    /// Email to prefill.
    pub login_hint: Option<String>,
    /// Preferred languages.
    pub ui_locales: Option<String>,
}

/// The URL of a redirect back to the client with `params` (plus `state` and `iss`).
pub fn redirect_location(
    redirect_uri: &str,
    params: &[(&str, &str)],
    state: Option<&str>,
    issuer: &str,
) -> String {
    let mut query: Vec<String> = params
        .iter()
        .map(|(name, value)| format!("{name}={}", encode_component(value)))
        .collect();
    if let Some(state) = state {
        query.push(format!("state={}", encode_component(state)));
    }
    query.push(format!("iss={}", encode_component(issuer)));
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    format!("{redirect_uri}{separator}{}", query.join("&"))
}

/// Builds the redirect back to the client with `params` (plus `state` and `iss`).
pub fn redirect_to_client(
    redirect_uri: &str,
    params: &[(&str, &str)],
    state: Option<&str>,
    issuer: &str,
) -> Response {
    let location = redirect_location(redirect_uri, params, state, issuer);
    let mut response = Redirect::to(&location).into_response();
    no_store(&mut response);
    response
}

/// Percent-encodes a query component.
pub fn encode_component(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

async fn authorize(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    headers: HeaderMap,
    Query(query): Query<AuthorizeQuery>,
) -> Response {
    match authorize_inner(&state, &subdomain, &headers, query).await {
        Ok(response) => response,
        Err(error) => {
            tracing::error!(error = ?error, "authorization request failed");
            pages::ErrorPage {
                tenant: None,
                headers: Some(&headers),
                status: StatusCode::INTERNAL_SERVER_ERROR,
                code: "server_error",
                message_key: "error_server",
            }
            .render(&state)
        }
    }
}

/// The page for a tenant path that names no tenant.
fn unknown_tenant_page(state: &AppState, headers: &HeaderMap) -> Response {
    pages::ErrorPage {
        tenant: None,
        headers: Some(headers),
        status: StatusCode::NOT_FOUND,
        code: "invalid_request",
        message_key: "error_tenant_unknown",
    }
    .render(state)
}

/// The page for a request of `tenant` that cannot go back to the app (400): the OAuth error
/// `code` and the message `message_key` in the customer's language.
fn bad_request_page(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    code: &str,
    message_key: &str,
) -> Response {
    pages::ErrorPage {
        tenant: Some(tenant),
        headers: Some(headers),
        status: StatusCode::BAD_REQUEST,
        code,
        message_key,
    }
    .render(state)
}

async fn authorize_inner(
    state: &AppState,
    subdomain: &str,
    headers: &HeaderMap,
    query: AuthorizeQuery,
) -> Result<Response, OAuthError> {
    let Some(tenant) = known_tenant(state, subdomain).await? else {
        return Ok(unknown_tenant_page(state, headers));
    };
    let page_error = |code: &'static str, message_key: &'static str| {
        bad_request_page(state, &tenant, headers, code, message_key)
    };
    // Until client and redirect URI are known to be valid, errors are shown, never redirected.
    let Some(client_id) = query.client_id.as_deref().filter(|id| !id.is_empty()) else {
        return Ok(page_error("invalid_request", "error_client_id_missing"));
    };
    let Some(client) = load_client(state, &tenant, client_id).await? else {
        return Ok(page_error("invalid_client", "error_client_unknown"));
    };
    let Some(redirect_uri) = query.redirect_uri.as_deref() else {
        return Ok(page_error("invalid_request", "error_redirect_uri_missing"));
    };
    if !client.has_redirect_uri(redirect_uri) {
        return Ok(page_error(
            "invalid_request",
            "error_redirect_uri_unregistered",
        ));
    }
    let issuer = state.issuer(&tenant.subdomain);
    let reply_state = query.state.as_deref();
    let redirect_error = |code: &str, description: &str| {
        redirect_to_client(
            redirect_uri,
            &[("error", code), ("error_description", description)],
            reply_state,
            &issuer,
        )
    };
    // A client in no user flow has no sign-in experience: the customer sees why, and the
    // app gets an OAuth error (right away for prompt=none, else through the page's link).
    if flows::flow_for_client(&state.store, &tenant.id, client_id)
        .await?
        .is_none()
    {
        let description = "the application is not part of any user flow in this tenant";
        let return_to_client = redirect_location(
            redirect_uri,
            &[
                ("error", "unauthorized_client"),
                ("error_description", description),
            ],
            reply_state,
            &issuer,
        );
        if query.prompt.as_deref() == Some("none") {
            return Ok(redirect_error("unauthorized_client", description));
        }
        return Ok(pages::no_user_flow_page(
            state,
            &tenant,
            Some(headers),
            query.ui_locales.as_deref(),
            &return_to_client,
        ));
    }
    if query.response_type.as_deref() != Some("code") {
        return Ok(redirect_error(
            "unsupported_response_type",
            "only response_type=code is supported",
        ));
    }
    if query
        .response_mode
        .as_deref()
        .is_some_and(|mode| mode != "query")
    {
        return Ok(redirect_error(
            "invalid_request",
            "only response_mode=query is supported",
        ));
    }
    let scope = query.scope.clone().unwrap_or_default();
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    if let Err(error) = resolve_access(state, &tenant, client_id, &client, &scopes).await {
        return Ok(redirect_error(error.code(), &error.description));
    }
    let code_challenge = match (
        query.code_challenge.as_deref(),
        query.code_challenge_method.as_deref(),
    ) {
        (None, _) if !client.app_type.is_confidential() => {
            return Ok(redirect_error(
                "invalid_request",
                "PKCE is required for public clients: send code_challenge with code_challenge_method=S256",
            ));
        }
        (None, _) => None,
        (Some(_), method) if method != Some("S256") => {
            return Ok(redirect_error(
                "invalid_request",
                "only code_challenge_method=S256 is supported",
            ));
        }
        (Some(challenge), _) if !crypto::is_valid_code_challenge(challenge) => {
            return Ok(redirect_error(
                "invalid_request",
                "code_challenge must be 43 base64url characters",
            ));
        }
        (Some(challenge), _) => Some(challenge.to_string()),
    };
    let prompts: Vec<&str> = query
        .prompt
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    if prompts.contains(&"none") && prompts.len() > 1 {
        return Ok(redirect_error(
            "invalid_request",
            "prompt=none cannot be combined with other values",
        ));
    }
    let max_age: Option<i64> = match query.max_age.as_deref() {
        None => None,
        Some(text) => match text.parse::<i64>() {
            Ok(seconds) if seconds >= 0 => Some(seconds),
            _ => {
                return Ok(redirect_error(
                    "invalid_request",
                    "max_age must be a non-negative integer",
                ));
            }
        },
    };
    let request = AuthorizationRequest {
        client_id: client_id.to_string(),
        redirect_uri: redirect_uri.to_string(),
        scope: scopes.join(" "),
        state: query.state.clone(),
        nonce: query.nonce.clone(),
        code_challenge,
        login_hint: query.login_hint.clone(),
        ui_locales: query.ui_locales.clone(),
    };
    let force_login = prompts
        .iter()
        .any(|prompt| matches!(*prompt, "login" | "select_account"));
    if !force_login && let Some(session) = pages::current_session(state, &tenant, headers).await? {
        let fresh_enough =
            max_age.is_none_or(|max_age| store::now() - session.auth_time <= max_age);
        if fresh_enough {
            return complete_authorization(state, &tenant, &request, &session).await;
        }
    }
    if prompts.contains(&"none") {
        return Ok(redirect_error(
            "login_required",
            "the user is not signed in",
        ));
    }
    let request_id = crypto::random_token(24);
    let parameters = serde_json::to_string(&request).map_err(|_| OAuthError::server_error())?;
    state
        .store
        .create_authorization_request(
            &tenant.id,
            &request_id,
            &parameters,
            store::now() + AUTHORIZATION_REQUEST_LIFETIME_SECONDS,
        )
        .await?;
    Ok(Redirect::to(&format!(
        "{}/{}/signin?request={request_id}",
        state.public_url, tenant.subdomain
    ))
    .into_response())
}

/// Issues an authorization code for a signed-in session and redirects back to the client.
///
/// # Errors
/// Storage failure.
pub async fn complete_authorization(
    state: &AppState,
    tenant: &Tenant,
    request: &AuthorizationRequest,
    session: &SessionRecord,
) -> Result<Response, OAuthError> {
    let code = crypto::random_token(32);
    let grant = GrantRecord {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.id.clone(),
        client_id: request.client_id.clone(),
        user_id: session.user_id.clone(),
        session_id: Some(session.id.clone()),
        scope: request.scope.clone(),
        auth_time: session.auth_time,
        revoked_at: None,
    };
    let record = CodeRecord {
        grant_id: grant.id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        code_challenge: request.code_challenge.clone(),
        nonce: request.nonce.clone(),
        expires_at: store::now() + state.authorization_code_lifetime_seconds,
    };
    state
        .store
        .create_grant_with_code(&grant, &crypto::token_digest(&code), &record)
        .await?;
    Ok(redirect_to_client(
        &request.redirect_uri,
        &[("code", &code)],
        request.state.as_deref(),
        &state.issuer(&tenant.subdomain),
    ))
}

// ---- userinfo -------------------------------------------------------------------------------

fn bearer_error(status: StatusCode, error: &str, description: &str) -> Response {
    let challenge = format!("Bearer error=\"{error}\", error_description=\"{description}\"");
    let mut response = (
        status,
        axum::Json(serde_json::json!({ "error": error, "error_description": description })),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    no_store(&mut response);
    response
}

async fn userinfo(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    headers: HeaderMap,
) -> Response {
    match userinfo_inner(&state, &subdomain, &headers).await {
        Ok(response) => response,
        Err(error) => {
            tracing::error!(error = ?error, "userinfo failed");
            OAuthError::server_error().into_response()
        }
    }
}

/// `POST` userinfo: the token comes in the header as for `GET`; the body is read only to bound
/// it like every public body (a body-carried `access_token`, RFC 6750 §2.2, is not supported).
async fn userinfo_form(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    headers: HeaderMap,
    form: Result<OAuthForm, FormError>,
) -> Response {
    if let Err(error) = form {
        return bearer_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &error.to_string(),
        );
    }
    userinfo(State(state), Path(subdomain), headers).await
}

async fn userinfo_inner(
    state: &AppState,
    subdomain: &str,
    headers: &HeaderMap,
) -> Result<Response, OAuthError> {
    let Some(tenant) = known_tenant(state, subdomain).await? else {
        return Ok((StatusCode::NOT_FOUND, "unknown tenant").into_response());
    };
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
    else {
        let mut response = (StatusCode::UNAUTHORIZED, "").into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return Ok(response);
    };
    let issuer = state.issuer(&tenant.subdomain);
    let claims: AccessTokenClaims = match state
        .keyring
        .verify(&state.store, &tenant.id, &issuer, token.trim(), true)
        .await
    {
        Ok(claims) => claims,
        Err(TokenError::Invalid(reason)) => {
            return Ok(bearer_error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                &reason,
            ));
        }
        Err(other) => return Err(other.into()),
    };
    let Some(grant_id) = claims.grant_id.as_deref() else {
        return Ok(bearer_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the token is not a user access token",
        ));
    };
    let scopes: Vec<&str> = claims
        .scp
        .as_deref()
        .unwrap_or_default()
        .split(' ')
        .collect();
    let grant = state.store.grant(grant_id).await?;
    let Some(grant) = grant.filter(|grant| grant.revoked_at.is_none()) else {
        return Ok(bearer_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the token has been revoked",
        ));
    };
    let granted: Vec<&str> = grant.scope.split_whitespace().collect();
    if !granted.contains(&"openid") {
        return Ok(bearer_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "the token was not issued with the openid scope",
        ));
    }
    let Some(user) = state.store.user(&tenant.id, &claims.sub).await? else {
        return Ok(bearer_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the user no longer exists",
        ));
    };
    let mut body = serde_json::json!({
        "sub": user.id,
        "oid": user.id,
        "tid": tenant.id,
    });
    if granted.contains(&"email") || scopes.contains(&"email") {
        body["email"] = serde_json::Value::String(user.email.clone());
    }
    if granted.contains(&"profile") {
        body["preferred_username"] = serde_json::Value::String(user.email.clone());
        if let Some(name) = &user.display_name {
            body["name"] = serde_json::Value::String(name.clone());
        }
    }
    Ok(json_no_store(&body))
}

// ---- logout ---------------------------------------------------------------------------------

/// Parameters of RP-initiated logout.
#[derive(Deserialize, Debug, Default)]
pub struct LogoutQuery {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    client_id: Option<String>,
}

/// `GET` logout: never confirmed, so without `id_token_hint` it only asks.
async fn logout(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    headers: HeaderMap,
    Query(query): Query<LogoutQuery>,
) -> Response {
    logout_common(&state, &subdomain, &headers, query, false).await
}

/// `POST` logout: an app's form post, or the confirmation form's (which carries its CSRF token).
async fn logout_form(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    headers: HeaderMap,
    form: Result<OAuthForm, FormError>,
) -> Response {
    let form = match form {
        Ok(BoundedForm(form)) => form,
        Err(error) => return pages::form_error_page(&state, &headers, error),
    };
    let confirmed = form
        .get("csrf_token")
        .is_some_and(|token| pages::logout_csrf_valid(&state, &headers, token));
    let text = |name: &str| form.get(name).map(str::to_string);
    let query = LogoutQuery {
        id_token_hint: text("id_token_hint"),
        post_logout_redirect_uri: text("post_logout_redirect_uri"),
        state: text("state"),
        client_id: text("client_id"),
    };
    logout_common(&state, &subdomain, &headers, query, confirmed).await
}

async fn logout_common(
    state: &AppState,
    subdomain: &str,
    headers: &HeaderMap,
    query: LogoutQuery,
    confirmed: bool,
) -> Response {
    match logout_inner(state, subdomain, headers, query, confirmed).await {
        Ok(response) => response,
        Err(error) => {
            tracing::error!(error = ?error, "logout failed");
            pages::ErrorPage {
                tenant: None,
                headers: Some(headers),
                status: StatusCode::INTERNAL_SERVER_ERROR,
                code: "server_error",
                message_key: "error_sign_out_failed",
            }
            .render(state)
        }
    }
}

/// A logout request whose parameters hold together.
struct ValidLogout {
    /// Whether a valid `id_token_hint` identified the app (then no confirmation is asked).
    hinted: bool,
    /// The registered `post_logout_redirect_uri`, if one was asked for.
    redirect: Option<String>,
}

/// Checks the hint, the client and the redirect of a logout request.
///
/// # Errors
/// The outer error is a storage or key failure; the inner one the message key of the page
/// that refuses the request (a hint of another tenant, a hint and `client_id` that disagree,
/// a redirect not registered or not attributable to any app).
async fn validate_logout(
    state: &AppState,
    tenant: &Tenant,
    query: &LogoutQuery,
) -> Result<Result<ValidLogout, &'static str>, OAuthError> {
    let issuer = state.issuer(&tenant.subdomain);
    let hinted_client = match query.id_token_hint.as_deref() {
        Some(hint) => match state
            .keyring
            .verify::<IdTokenClaims>(&state.store, &tenant.id, &issuer, hint, false)
            .await
        {
            Ok(claims) => Some(claims.aud),
            Err(TokenError::Invalid(_)) => return Ok(Err("error_logout_hint_invalid")),
            Err(other) => return Err(other.into()),
        },
        None => None,
    };
    if let (Some(hinted), Some(given)) = (&hinted_client, &query.client_id)
        && hinted != given
    {
        return Ok(Err("error_logout_hint_mismatch"));
    }
    let hinted = hinted_client.is_some();
    let Some(uri) = query.post_logout_redirect_uri.as_deref() else {
        return Ok(Ok(ValidLogout {
            hinted,
            redirect: None,
        }));
    };
    // Without a hint or client_id nothing says whose redirect it is, so it is refused
    // rather than followed (an open redirect after a sign-out page).
    let Some(client_id) = hinted_client.as_deref().or(query.client_id.as_deref()) else {
        return Ok(Err("error_logout_redirect_needs_client"));
    };
    match load_client(state, tenant, client_id).await? {
        Some(client) if client.has_post_logout_redirect_uri(uri) => Ok(Ok(ValidLogout {
            hinted,
            redirect: Some(uri.to_string()),
        })),
        Some(_) => Ok(Err("error_logout_redirect_unregistered")),
        None => Ok(Err("error_logout_redirect_needs_client")),
    }
}

/// RP-initiated logout. With a valid `id_token_hint` the session ends at once; without one
/// anybody could have sent the request (an image on another site), so the user is asked
/// first and the session ends only on the confirmation form's CSRF-protected `POST`
/// (OpenID Connect RP-Initiated Logout 1.0 §2 and §6).
async fn logout_inner(
    state: &AppState,
    subdomain: &str,
    headers: &HeaderMap,
    query: LogoutQuery,
    confirmed: bool,
) -> Result<Response, OAuthError> {
    let Some(tenant) = known_tenant(state, subdomain).await? else {
        return Ok(unknown_tenant_page(state, headers));
    };
    let logout = match validate_logout(state, &tenant, &query).await? {
        Ok(logout) => logout,
        Err(message_key) => {
            return Ok(bad_request_page(
                state,
                &tenant,
                headers,
                "invalid_request",
                message_key,
            ));
        }
    };
    if !logout.hinted && !confirmed {
        let confirmation = pages::LogoutConfirmation {
            client_id: query.client_id.as_deref(),
            post_logout_redirect_uri: logout.redirect.as_deref(),
            state: query.state.as_deref(),
        };
        return Ok(pages::logout_confirmation_page(state, &tenant, headers, &confirmation).await?);
    }
    let clear_cookie = pages::end_session(state, &tenant, headers).await?;
    let mut response = match logout.redirect {
        Some(uri) => {
            let location = match &query.state {
                Some(reply_state) => {
                    let separator = if uri.contains('?') { '&' } else { '?' };
                    format!("{uri}{separator}state={}", encode_component(reply_state))
                }
                None => uri,
            };
            Redirect::to(&location).into_response()
        }
        None => pages::signed_out_page(state, &tenant, Some(headers)),
    };
    response
        .headers_mut()
        .append(header::SET_COOKIE, clear_cookie);
    no_store(&mut response);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::AppType;
    use crate::api::app_registration::{ApiScope, ExposedApi};
    use crate::contract::ApiPermissionSpec;

    fn client(app_type: AppType) -> ClientSpec {
        ClientSpec {
            display_name: "App".into(),
            app_type,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            exposed_api: None,
            api_permissions: vec![],
            access_token_lifetime: None,
            client_secrets: vec![],
        }
    }

    fn api(scopes: &[&str]) -> ClientSpec {
        let mut spec = client(AppType::Web);
        spec.exposed_api = Some(ExposedApi {
            identifier_uri: Some("api://orders".into()),
            scopes: Some(
                scopes
                    .iter()
                    .map(|value| ApiScope {
                        value: value.to_string(),
                        admin_consent_display_name: None,
                        admin_consent_description: None,
                        user_consent_display_name: None,
                        user_consent_description: None,
                    })
                    .collect(),
            ),
        });
        spec
    }

    #[test]
    fn api_scopes_must_name_one_resource() {
        assert_eq!(split_api_scopes(&["openid", "email"]), Ok(None));
        assert_eq!(
            split_api_scopes(&["openid", "api://orders/orders.read"]),
            Ok(Some(("api://orders".into(), vec!["orders.read".into()])))
        );
        assert!(split_api_scopes(&["api://a/x", "api://b/y"]).is_err());
        assert!(split_api_scopes(&["orders.read"]).is_err());
    }

    #[test]
    fn api_scopes_need_a_permission_unless_the_api_is_the_clients_own() {
        let resource = api(&["orders.read", "orders.write"]);
        let mut caller = client(AppType::Daemon);
        let requested = vec![".default".to_string()];
        assert!(grant_api_scopes("caller", &caller, "api-id", &resource, &requested).is_err());
        caller.api_permissions.push(ApiPermissionSpec {
            resource_app_id: "api-id".into(),
            scopes: vec!["orders.read".into()],
        });
        assert_eq!(
            grant_api_scopes("caller", &caller, "api-id", &resource, &requested),
            Ok(vec!["orders.read".to_string()])
        );
        assert!(
            grant_api_scopes(
                "caller",
                &caller,
                "api-id",
                &resource,
                &["orders.write".into()]
            )
            .is_err()
        );
        assert_eq!(
            grant_api_scopes("api-id", &resource, "api-id", &resource, &requested)
                .map(|scopes| scopes.len()),
            Ok(2)
        );
    }

    #[test]
    fn discovery_offers_every_language_with_a_locale_file() {
        let directory =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/runtime/locales");
        let mut files: Vec<String> = std::fs::read_dir(&directory)
            .expect("read the locales directory")
            .filter_map(|entry| {
                let name = entry.ok()?.file_name().into_string().ok()?;
                name.strip_suffix(".json").map(str::to_string)
            })
            .collect();
        files.sort();
        let mut advertised = ui_locales_supported(None);
        advertised.sort_unstable();
        assert_eq!(
            advertised, files,
            "ui_locales_supported and locales/*.json differ"
        );
        let tenant = vec!["fr-CA".to_string(), "es".to_string()];
        assert_eq!(ui_locales_supported(Some(&tenant)), ["fr"]);
        assert_eq!(ui_locales_supported(Some(&["ja".to_string()])), ["en"]);
    }

    #[test]
    fn client_redirects_carry_state_and_issuer() {
        let response = redirect_to_client(
            "https://app.example.com/cb",
            &[("code", "abc")],
            Some("x y"),
            "https://id.example.com/t/v2.0",
        );
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        assert_eq!(
            location,
            "https://app.example.com/cb?code=abc&state=x%20y&iss=https%3A%2F%2Fid%2Eexample%2Ecom%2Ft%2Fv2%2E0"
        );
    }
}
