//! Validates an authorization request (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2) into an
//! [`AuthorizationRequest`], decides whether a signed-in session may answer it (`prompt`,
//! `max_age`) and which hosted page opens (`prompt=create`), and issues the authorization code
//! once the customer is signed in. The response mode (query or form post) travels with the
//! request so that every answer to the client, code or error, takes the same way back.
//!
//! ```text
//!  identify_client ──▶ validate ──▶ session fresh enough? ──▶ issue_code
//!   (page errors)     (redirected     │ no
//!                      errors)        └──▶ start_sign_in (pending request, hosted pages)
//! ```

use serde::{Deserialize, Serialize};

use crate::contract::ClientSpec;
use crate::runtime::domain::flows;
use crate::runtime::store::{CodeRecord, GrantRecord, SessionRecord, Store, StoreError};
use crate::runtime::{Tenant, crypto};

use super::client_auth::load_client;
use super::scopes::{ScopeError, resolve_access};

/// Default lifetime of an authorization code (60 seconds: it is redeemed right after the
/// redirect); `--authorization-code-lifetime-seconds` changes it.
pub const CODE_LIFETIME_SECONDS: i64 = 60;

/// Lifetime of a pending authorization request while the customer signs in (15 minutes).
pub const AUTHORIZATION_REQUEST_LIFETIME_SECONDS: i64 = 900;

/// The `error_description` sent to an app that is in no user flow.
pub const NO_USER_FLOW: &str = "the application is not part of any user flow in this tenant";

/// Query parameters of the authorization endpoint.
#[derive(Deserialize, Debug, Default)]
pub struct AuthorizeQuery {
    /// `client_id`.
    pub client_id: Option<String>,
    /// `redirect_uri`.
    pub redirect_uri: Option<String>,
    /// `response_type` (only `code`).
    pub response_type: Option<String>,
    /// `response_mode` (`query` or `form_post`).
    pub response_mode: Option<String>,
    /// Requested scopes, space-separated.
    pub scope: Option<String>,
    /// `state` to echo.
    pub state: Option<String>,
    /// `nonce` for the ID token.
    pub nonce: Option<String>,
    /// PKCE challenge.
    pub code_challenge: Option<String>,
    /// PKCE method (only `S256`).
    pub code_challenge_method: Option<String>,
    /// `prompt` values, space-separated.
    pub prompt: Option<String>,
    /// Email to prefill.
    pub login_hint: Option<String>,
    /// Preferred languages.
    pub ui_locales: Option<String>,
    /// Maximum age of the authentication, in seconds.
    pub max_age: Option<String>,
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
    /// How the answer goes back to the client (requests kept before form posts existed
    /// load as `query`).
    #[serde(default)]
    pub response_mode: ResponseMode,
}

/// How the authorization response travels back to the client's redirect URI.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// Parameters in the redirect URI's query (RFC 6749 §4.1.2), the default of `code`.
    #[default]
    Query,
    /// Parameters in an HTML form the browser posts to the redirect URI (OAuth 2.0 Form Post
    /// Response Mode).
    FormPost,
}

impl ResponseMode {
    /// The mode every answer to `query` uses, its errors included: `form_post` when asked for,
    /// else the query. An unsupported mode is answered in the default mode, the only one the
    /// client is known to read.
    pub fn of(query: &AuthorizeQuery) -> Self {
        match query.response_mode.as_deref() {
            Some("form_post") => ResponseMode::FormPost,
            _ => ResponseMode::Query,
        }
    }

    /// The requested `response_mode`; `fragment` and unknown modes are refused (only the
    /// code flow is served, and a fragment never reaches a server).
    fn requested(mode: Option<&str>) -> Result<Self, Refusal> {
        match mode {
            None | Some("query") => Ok(ResponseMode::Query),
            Some("form_post") => Ok(ResponseMode::FormPost),
            Some(_) => Err(Refusal::new(
                "invalid_request",
                "only response_mode=query and response_mode=form_post are supported",
            )),
        }
    }
}

/// Why a request is refused before its client and redirect URI are trusted: the customer sees
/// the error; nothing is redirected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UntrustedRequest {
    /// No `client_id`.
    #[error("client_id is missing")]
    ClientIdMissing,
    /// No such client in the tenant.
    #[error("unknown client")]
    ClientUnknown,
    /// No `redirect_uri`.
    #[error("redirect_uri is missing")]
    RedirectUriMissing,
    /// A `redirect_uri` the client did not register.
    #[error("redirect_uri is not registered")]
    RedirectUriUnregistered,
}

impl UntrustedRequest {
    /// The OAuth error code.
    pub fn code(self) -> &'static str {
        match self {
            UntrustedRequest::ClientUnknown => "invalid_client",
            _ => "invalid_request",
        }
    }

    /// The message key of the error page.
    pub fn message_key(self) -> &'static str {
        match self {
            UntrustedRequest::ClientIdMissing => "error_client_id_missing",
            UntrustedRequest::ClientUnknown => "error_client_unknown",
            UntrustedRequest::RedirectUriMissing => "error_redirect_uri_missing",
            UntrustedRequest::RedirectUriUnregistered => "error_redirect_uri_unregistered",
        }
    }
}

/// An OAuth error sent back to the client's (trusted) redirect URI.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct Refusal {
    /// The OAuth error code.
    pub code: &'static str,
    /// `error_description`.
    pub description: String,
}

impl Refusal {
    fn new(code: &'static str, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }
}

/// Why an authorization request's client cannot be trusted.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    /// Shown on a page.
    #[error(transparent)]
    Untrusted(UntrustedRequest),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A client whose redirect URI is registered: from here on errors go back to it.
#[derive(Clone, Debug)]
pub struct TrustedClient {
    /// Client ID.
    pub client_id: String,
    /// The registered redirect URI the request named.
    pub redirect_uri: String,
    /// Its registration.
    pub spec: std::sync::Arc<ClientSpec>,
}

/// Finds the client and checks its redirect URI.
///
/// # Errors
/// [`AuthorizeError::Untrusted`] or a storage failure.
pub async fn identify_client(
    store: &Store,
    tenant: &Tenant,
    query: &AuthorizeQuery,
) -> Result<TrustedClient, AuthorizeError> {
    let untrusted = AuthorizeError::Untrusted;
    let Some(client_id) = query.client_id.as_deref().filter(|id| !id.is_empty()) else {
        return Err(untrusted(UntrustedRequest::ClientIdMissing));
    };
    let Some(spec) = load_client(store, &tenant.id, client_id).await? else {
        return Err(untrusted(UntrustedRequest::ClientUnknown));
    };
    let Some(redirect_uri) = query.redirect_uri.as_deref() else {
        return Err(untrusted(UntrustedRequest::RedirectUriMissing));
    };
    if !spec.has_redirect_uri(redirect_uri) {
        return Err(untrusted(UntrustedRequest::RedirectUriUnregistered));
    }
    Ok(TrustedClient {
        client_id: client_id.to_string(),
        redirect_uri: redirect_uri.to_string(),
        spec,
    })
}

/// Whether the client is in a user flow (without one it has no sign-in experience).
///
/// # Errors
/// Storage failure.
pub async fn has_user_flow(
    store: &Store,
    tenant_id: &str,
    client_id: &str,
) -> Result<bool, StoreError> {
    Ok(flows::flow_for_client(store, tenant_id, client_id)
        .await?
        .is_some())
}

/// An authorization request that holds together, with its `prompt` and `max_age`.
#[derive(Clone, Debug)]
pub struct ValidAuthorization {
    /// What is kept while the customer signs in.
    pub request: AuthorizationRequest,
    prompts: Vec<String>,
    max_age: Option<i64>,
}

impl ValidAuthorization {
    /// `prompt=login`, `select_account` or `create`: an existing session may not answer (the
    /// customer asked to sign in again, to choose, or to create an account).
    pub fn forces_login(&self) -> bool {
        self.prompts
            .iter()
            .any(|prompt| matches!(prompt.as_str(), "login" | "select_account" | "create"))
    }

    /// `prompt=create` (OpenID Connect Prompt Create): the sign-up page opens first.
    pub fn opens_sign_up(&self) -> bool {
        self.prompts.iter().any(|prompt| prompt == "create")
    }

    /// `prompt=none`: the customer may not be asked anything.
    pub fn is_silent(&self) -> bool {
        self.prompts.iter().any(|prompt| prompt == "none")
    }

    /// Whether a session authenticated at `auth_time` is recent enough for `max_age` at `now`.
    pub fn accepts_session(&self, session: &SessionRecord, now: i64) -> bool {
        self.max_age
            .is_none_or(|max_age| now - session.auth_time <= max_age)
    }
}

/// Validates the rest of a request of a trusted client: response type and mode, scopes, PKCE,
/// `prompt` and `max_age`.
///
/// # Errors
/// The [`Refusal`] to redirect to the client.
pub async fn validate(
    store: &Store,
    tenant: &Tenant,
    client: &TrustedClient,
    query: &AuthorizeQuery,
) -> Result<ValidAuthorization, Refusal> {
    if query.response_type.as_deref() != Some("code") {
        return Err(Refusal::new(
            "unsupported_response_type",
            "only response_type=code is supported",
        ));
    }
    let response_mode = ResponseMode::requested(query.response_mode.as_deref())?;
    let scope = query.scope.clone().unwrap_or_default();
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    check_scopes(store, tenant, client, &scopes).await?;
    let code_challenge = code_challenge(
        client.spec.app_type.is_confidential(),
        query.code_challenge.as_deref(),
        query.code_challenge_method.as_deref(),
    )?;
    let prompts = prompts(query.prompt.as_deref())?;
    let max_age = max_age(query.max_age.as_deref())?;
    let request = AuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri: client.redirect_uri.clone(),
        scope: scopes.join(" "),
        state: query.state.clone(),
        nonce: query.nonce.clone(),
        code_challenge,
        login_hint: query.login_hint.clone(),
        ui_locales: query.ui_locales.clone(),
        response_mode,
    };
    Ok(ValidAuthorization {
        request,
        prompts,
        max_age,
    })
}

/// Checks that the requested scopes can be granted to the client.
async fn check_scopes(
    store: &Store,
    tenant: &Tenant,
    client: &TrustedClient,
    scopes: &[&str],
) -> Result<(), Refusal> {
    match resolve_access(store, tenant, &client.client_id, &client.spec, scopes).await {
        Ok(_) => Ok(()),
        Err(ScopeError::Invalid(reason)) => Err(Refusal::new("invalid_scope", reason)),
        Err(ScopeError::Store(error)) => {
            tracing::error!(error = %error, "OAuth request failed in storage");
            Err(Refusal::new(
                "server_error",
                "the server failed to complete the request",
            ))
        }
    }
}

/// The PKCE challenge to keep: required of public clients, S256 only (RFC 7636 §4.3).
///
/// # Errors
/// An `invalid_request` refusal.
pub fn code_challenge(
    confidential: bool,
    challenge: Option<&str>,
    method: Option<&str>,
) -> Result<Option<String>, Refusal> {
    match (challenge, method) {
        (None, _) if !confidential => Err(Refusal::new(
            "invalid_request",
            "PKCE is required for public clients: send code_challenge with code_challenge_method=S256",
        )),
        (None, _) => Ok(None),
        (Some(_), method) if method != Some("S256") => Err(Refusal::new(
            "invalid_request",
            "only code_challenge_method=S256 is supported",
        )),
        (Some(challenge), _) if !crypto::is_valid_code_challenge(challenge) => Err(Refusal::new(
            "invalid_request",
            "code_challenge must be 43 base64url characters",
        )),
        (Some(challenge), _) => Ok(Some(challenge.to_string())),
    }
}

/// The `prompt` values; `none` stands alone.
fn prompts(prompt: Option<&str>) -> Result<Vec<String>, Refusal> {
    let prompts: Vec<String> = prompt
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if prompts.iter().any(|prompt| prompt == "none") && prompts.len() > 1 {
        return Err(Refusal::new(
            "invalid_request",
            "prompt=none cannot be combined with other values",
        ));
    }
    Ok(prompts)
}

/// `max_age` in seconds, a non-negative integer.
fn max_age(max_age: Option<&str>) -> Result<Option<i64>, Refusal> {
    match max_age {
        None => Ok(None),
        Some(text) => match text.parse::<i64>() {
            Ok(seconds) if seconds >= 0 => Ok(Some(seconds)),
            _ => Err(Refusal::new(
                "invalid_request",
                "max_age must be a non-negative integer",
            )),
        },
    }
}

/// Keeps the request while the customer signs in; returns its ID for the sign-in page.
///
/// # Errors
/// Storage failure.
pub async fn start_sign_in(
    store: &Store,
    tenant_id: &str,
    request: &AuthorizationRequest,
    now: i64,
) -> Result<String, StoreError> {
    let request_id = crypto::random_token(24);
    let parameters = serde_json::to_string(request).map_err(|error| StoreError::Corrupt {
        what: "authorization request",
        reason: error.to_string(),
    })?;
    store
        .create_authorization_request(
            tenant_id,
            &request_id,
            &parameters,
            now + AUTHORIZATION_REQUEST_LIFETIME_SECONDS,
        )
        .await?;
    Ok(request_id)
}

/// Records the grant of a signed-in session and issues its single-use authorization code,
/// valid `code_lifetime_seconds` from `now`.
///
/// # Errors
/// Storage failure.
pub async fn issue_code(
    store: &Store,
    tenant: &Tenant,
    request: &AuthorizationRequest,
    session: &SessionRecord,
    code_lifetime_seconds: i64,
    now: i64,
) -> Result<String, StoreError> {
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
        expires_at: now + code_lifetime_seconds,
    };
    store
        .create_grant_with_code(&grant, &crypto::token_digest(&code), &record)
        .await?;
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::domain::grants::authorization_code::{self, CodeExchange};
    use crate::runtime::domain::oidc_fixture::{CHALLENGE, Fixture, REDIRECT_URI, VERIFIER, now};

    fn query(client_id: &str) -> AuthorizeQuery {
        AuthorizeQuery {
            client_id: Some(client_id.into()),
            redirect_uri: Some(REDIRECT_URI.into()),
            response_type: Some("code".into()),
            scope: Some("openid  email".into()),
            ..AuthorizeQuery::default()
        }
    }

    async fn validated(
        fixture: &Fixture,
        query: &AuthorizeQuery,
    ) -> Result<ValidAuthorization, Refusal> {
        let client = identify_client(&fixture.store, &fixture.tenant, query)
            .await
            .expect("a trusted client");
        validate(&fixture.store, &fixture.tenant, &client, query).await
    }

    fn session(auth_time: i64) -> SessionRecord {
        SessionRecord {
            id: "session".into(),
            user_id: "user".into(),
            auth_time,
        }
    }

    async fn untrusted(fixture: &Fixture, query: AuthorizeQuery) -> UntrustedRequest {
        match identify_client(&fixture.store, &fixture.tenant, &query).await {
            Err(AuthorizeError::Untrusted(refusal)) => refusal,
            other => panic!("expected an untrusted request, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn errors_before_the_redirect_uri_is_trusted_are_never_redirected() {
        let fixture = Fixture::new().await;
        let app = fixture.app(Some("secret")).await;
        let unregistered = AuthorizeQuery {
            redirect_uri: Some("https://evil.example.com/".into()),
            ..query(&app.id)
        };
        assert_eq!(
            untrusted(&fixture, unregistered).await,
            UntrustedRequest::RedirectUriUnregistered
        );
        let no_redirect = AuthorizeQuery {
            redirect_uri: None,
            ..query(&app.id)
        };
        assert_eq!(
            untrusted(&fixture, no_redirect).await,
            UntrustedRequest::RedirectUriMissing
        );
        assert_eq!(
            untrusted(&fixture, query(&uuid::Uuid::new_v4().to_string())).await,
            UntrustedRequest::ClientUnknown
        );
        assert_eq!(
            untrusted(&fixture, query("")).await,
            UntrustedRequest::ClientIdMissing
        );
    }

    #[tokio::test]
    async fn a_valid_request_keeps_its_normalised_scopes_and_state() {
        let fixture = Fixture::new().await;
        let app = fixture.app(Some("secret")).await;
        let request = AuthorizeQuery {
            state: Some("xyz".into()),
            ..query(&app.id)
        };
        let valid = validated(&fixture, &request).await.expect("valid");
        assert_eq!(valid.request.scope, "openid email");
        assert_eq!(valid.request.state.as_deref(), Some("xyz"));
        assert_eq!(valid.request.code_challenge, None);
        assert!(!valid.forces_login() && !valid.is_silent());
    }

    #[tokio::test]
    async fn public_clients_must_use_pkce_with_s256() {
        let fixture = Fixture::new().await;
        let spa = fixture.app(None).await;
        let refusal = validated(&fixture, &query(&spa.id))
            .await
            .expect_err("refused");
        assert_eq!(refusal.code, "invalid_request");
        assert!(refusal.description.starts_with("PKCE is required"));
        let plain = AuthorizeQuery {
            code_challenge: Some(VERIFIER.into()),
            code_challenge_method: Some("plain".into()),
            ..query(&spa.id)
        };
        assert_eq!(
            validated(&fixture, &plain)
                .await
                .expect_err("refused")
                .description,
            "only code_challenge_method=S256 is supported"
        );
        let s256 = AuthorizeQuery {
            code_challenge: Some(CHALLENGE.into()),
            code_challenge_method: Some("S256".into()),
            ..query(&spa.id)
        };
        let valid = validated(&fixture, &s256).await.expect("valid");
        assert_eq!(valid.request.code_challenge.as_deref(), Some(CHALLENGE));
    }

    #[tokio::test]
    async fn response_type_scopes_prompt_and_max_age_are_checked() {
        let fixture = Fixture::new().await;
        let app = fixture.app(Some("secret")).await;
        let cases = [
            (
                AuthorizeQuery {
                    response_type: Some("token".into()),
                    ..query(&app.id)
                },
                "unsupported_response_type",
            ),
            (
                AuthorizeQuery {
                    response_mode: Some("fragment".into()),
                    ..query(&app.id)
                },
                "invalid_request",
            ),
            (
                AuthorizeQuery {
                    scope: Some("openid api://nowhere/read".into()),
                    ..query(&app.id)
                },
                "invalid_scope",
            ),
            (
                AuthorizeQuery {
                    prompt: Some("none login".into()),
                    ..query(&app.id)
                },
                "invalid_request",
            ),
            (
                AuthorizeQuery {
                    max_age: Some("-1".into()),
                    ..query(&app.id)
                },
                "invalid_request",
            ),
        ];
        for (request, code) in cases {
            let refusal = validated(&fixture, &request).await.expect_err("refused");
            assert_eq!(refusal.code, code, "{request:?}");
        }
    }

    #[tokio::test]
    async fn prompt_and_max_age_decide_whether_a_session_answers() {
        let fixture = Fixture::new().await;
        let app = fixture.app(Some("secret")).await;
        let login = AuthorizeQuery {
            prompt: Some("select_account".into()),
            ..query(&app.id)
        };
        assert!(
            validated(&fixture, &login)
                .await
                .expect("valid")
                .forces_login()
        );
        let silent = AuthorizeQuery {
            prompt: Some("none".into()),
            ..query(&app.id)
        };
        assert!(
            validated(&fixture, &silent)
                .await
                .expect("valid")
                .is_silent()
        );
        let recent = AuthorizeQuery {
            max_age: Some("300".into()),
            ..query(&app.id)
        };
        let valid = validated(&fixture, &recent).await.expect("valid");
        assert!(valid.accepts_session(&session(1_000), 1_300));
        assert!(!valid.accepts_session(&session(1_000), 1_301));
        let any_age = validated(&fixture, &query(&app.id)).await.expect("valid");
        assert!(any_age.accepts_session(&session(0), 1_000_000));
    }

    #[tokio::test]
    async fn form_post_is_kept_with_the_request_and_fragment_is_refused() {
        let fixture = Fixture::new().await;
        let app = fixture.app(Some("secret")).await;
        for (mode, expected) in [
            (None, ResponseMode::Query),
            (Some("query"), ResponseMode::Query),
            (Some("form_post"), ResponseMode::FormPost),
        ] {
            let request = AuthorizeQuery {
                response_mode: mode.map(str::to_string),
                ..query(&app.id)
            };
            let valid = validated(&fixture, &request).await.expect("valid");
            assert_eq!(valid.request.response_mode, expected, "{mode:?}");
            assert_eq!(ResponseMode::of(&request), expected, "{mode:?}");
        }
        for unsupported in ["fragment", "FORM_POST", "web_message"] {
            let request = AuthorizeQuery {
                response_mode: Some(unsupported.into()),
                ..query(&app.id)
            };
            let refusal = validated(&fixture, &request).await.expect_err("refused");
            assert_eq!(refusal.code, "invalid_request", "{unsupported}");
            // The refusal itself goes back in the default mode the client surely reads.
            assert_eq!(ResponseMode::of(&request), ResponseMode::Query);
        }
        // An error of a form_post request (here a scope) goes back as a form post too.
        let bad_scope = AuthorizeQuery {
            response_mode: Some("form_post".into()),
            scope: Some("openid api://nowhere/read".into()),
            ..query(&app.id)
        };
        assert_eq!(
            validated(&fixture, &bad_scope)
                .await
                .expect_err("refused")
                .code,
            "invalid_scope"
        );
        assert_eq!(ResponseMode::of(&bad_scope), ResponseMode::FormPost);
    }

    #[test]
    fn a_request_kept_before_response_modes_loads_as_query() {
        let stored = r#"{"client_id":"c","redirect_uri":"https://app.example.com/cb","scope":"openid","state":null,"nonce":null,"code_challenge":null,"login_hint":null,"ui_locales":null}"#;
        let request: AuthorizationRequest = serde_json::from_str(stored).expect("loads");
        assert_eq!(request.response_mode, ResponseMode::Query);
        let kept = serde_json::to_string(&AuthorizationRequest {
            response_mode: ResponseMode::FormPost,
            ..request
        })
        .expect("serialises");
        assert!(kept.contains(r#""response_mode":"form_post""#), "{kept}");
    }

    #[tokio::test]
    async fn prompt_create_opens_sign_up_and_no_session_answers_it() {
        let fixture = Fixture::new().await;
        let app = fixture.app(Some("secret")).await;
        let create = AuthorizeQuery {
            prompt: Some("create".into()),
            ..query(&app.id)
        };
        let valid = validated(&fixture, &create).await.expect("valid");
        assert!(valid.opens_sign_up());
        assert!(valid.forces_login(), "an existing session never answers it");
        assert!(!valid.is_silent());
        let plain = validated(&fixture, &query(&app.id)).await.expect("valid");
        assert!(!plain.opens_sign_up());
        let login = AuthorizeQuery {
            prompt: Some("login".into()),
            ..query(&app.id)
        };
        assert!(
            !validated(&fixture, &login)
                .await
                .expect("valid")
                .opens_sign_up()
        );
        for combined in ["none create", "create none"] {
            let silent_create = AuthorizeQuery {
                prompt: Some(combined.into()),
                ..query(&app.id)
            };
            let refusal = validated(&fixture, &silent_create)
                .await
                .expect_err("refused");
            assert_eq!(refusal.code, "invalid_request", "{combined}");
        }
    }

    #[tokio::test]
    async fn a_code_issued_for_a_session_is_redeemed_by_its_client() {
        let fixture = Fixture::new().await;
        let app = fixture.app(Some("secret")).await;
        let user = fixture.user().await;
        let valid = validated(&fixture, &query(&app.id)).await.expect("valid");
        let session = SessionRecord {
            user_id: user.id.clone(),
            ..session(now())
        };
        let code = issue_code(
            &fixture.store,
            &fixture.tenant,
            &valid.request,
            &session,
            CODE_LIFETIME_SECONDS,
            now(),
        )
        .await
        .expect("a code");
        let exchange = CodeExchange {
            code: Some(&code),
            redirect_uri: Some(REDIRECT_URI),
            code_verifier: None,
        };
        let tokens = authorization_code::exchange(&fixture.provider(), &app, &exchange, now())
            .await
            .expect("tokens");
        let claims = fixture.access_claims(&tokens.access_token).await;
        assert_eq!(claims.sub, user.id);
        assert_eq!(claims.scp.as_deref(), Some("openid email"));
    }

    #[tokio::test]
    async fn a_pending_request_is_kept_for_the_sign_in_pages() {
        let fixture = Fixture::new().await;
        let app = fixture.app(Some("secret")).await;
        let valid = validated(&fixture, &query(&app.id)).await.expect("valid");
        let id = start_sign_in(&fixture.store, &fixture.tenant.id, &valid.request, now())
            .await
            .expect("kept");
        let stored = fixture
            .store
            .authorization_request(&fixture.tenant.id, &id, now())
            .await
            .expect("read");
        assert!(stored.is_some());
    }
}
