//! Renders the hosted sign-in and sign-up pages and keeps browser sessions.
//!
//! Forms are server-rendered and CSRF-protected; errors the client cannot be redirected to
//! are shown as pages.
//!
//! ```text
//!  /authorize ──(no session)──▶ /{subdomain}/signin?request=ID ◀──▶ /{subdomain}/signup?request=ID
//!                                        │ POST ok: new session cookie
//!                                        ▼
//!                               redirect_uri?code=…&state=…&iss=…
//! ```

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use minijinja::{Environment, context};
use serde::Deserialize;

use super::oidc::{self, AuthorizationRequest};
use super::store::{self, Kind, SessionRecord, StoreError, UserRecord};
use super::{AppState, Tenant, crypto};

/// Lifetime of a browser session (8 hours).
pub const SESSION_LIFETIME_SECONDS: i64 = 8 * 3600;

/// Name of the session cookie (scoped by path to one tenant).
pub const SESSION_COOKIE: &str = "ciam_session";

/// Name of the CSRF cookie (scoped by path to one tenant).
pub const CSRF_COOKIE: &str = "ciam_csrf";

/// The page templates, compiled once.
pub struct Templates {
    environment: Environment<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Templates(..)")
    }
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    /// Loads the built-in templates (HTML auto-escaping is on for `.html` names).
    pub fn new() -> Self {
        let mut environment = Environment::new();
        for (name, source) in [
            ("layout.html", include_str!("templates/layout.html")),
            ("signin.html", include_str!("templates/signin.html")),
            ("signup.html", include_str!("templates/signup.html")),
            ("message.html", include_str!("templates/message.html")),
        ] {
            if let Err(error) = environment.add_template(name, source) {
                // The templates are compiled into the binary; a syntax error is a build bug
                // that the unit tests catch.
                tracing::error!(template = name, error = %error, "invalid built-in template");
            }
        }
        Self { environment }
    }

    fn render(&self, name: &str, values: minijinja::Value) -> Result<String, minijinja::Error> {
        self.environment.get_template(name)?.render(values)
    }
}

/// Adds the headers every hosted page carries: no caching, no framing, no third-party
/// resources, no referrer leaks of the query string.
fn page_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, Html(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https:; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn render_page(
    state: &AppState,
    status: StatusCode,
    name: &str,
    values: minijinja::Value,
) -> Response {
    match state.pages.render(name, values) {
        Ok(body) => page_response(status, body),
        Err(error) => {
            tracing::error!(template = name, error = %error, "failed to render a page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "failed to render the page",
            )
                .into_response()
        }
    }
}

/// An error page showing the OAuth error code (used when the client cannot be redirected to).
pub fn error_page(state: &AppState, status: StatusCode, code: &str, description: &str) -> Response {
    render_page(
        state,
        status,
        "message.html",
        context! {
            lang => "en",
            tenant_name => "Sign in",
            title => "Something went wrong",
            message => description,
            error_code => code,
        },
    )
}

/// The page shown after logout without a redirect.
pub fn signed_out_page(state: &AppState, tenant: &Tenant) -> Response {
    render_page(
        state,
        StatusCode::OK,
        "message.html",
        context! {
            lang => "en",
            tenant_name => tenant.spec.display_name,
            title => "You have signed out",
            message => "You have signed out. You can close this window.",
        },
    )
}

/// The hosted pages' routes.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/{tenant}/signin", get(show_sign_in).post(submit_sign_in))
        .route("/{tenant}/signup", get(show_sign_up).post(submit_sign_up))
}

// ---- cookies --------------------------------------------------------------------------------

/// Reads a cookie from the request headers.
pub fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
}

/// A `Set-Cookie` value scoped to the tenant's path, HttpOnly, SameSite=Lax (so the cookie
/// accompanies the top-level redirect back from an app), and Secure behind https.
pub fn cookie(
    state: &AppState,
    tenant: &Tenant,
    name: &str,
    value: &str,
    max_age: i64,
) -> HeaderValue {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let text = format!(
        "{name}={value}; Path={}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
        state.tenant_path(&tenant.subdomain)
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The tenant's current browser session, if the cookie names a live one.
///
/// # Errors
/// Storage failure.
pub async fn current_session(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
) -> Result<Option<SessionRecord>, StoreError> {
    match read_cookie(headers, SESSION_COOKIE) {
        Some(secret) if !secret.is_empty() => {
            state
                .store
                .session(&tenant.id, &crypto::token_digest(&secret))
                .await
        }
        _ => Ok(None),
    }
}

/// Ends the browser session (if any) and returns the `Set-Cookie` value that clears it.
///
/// # Errors
/// Storage failure.
pub async fn end_session(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
) -> Result<HeaderValue, StoreError> {
    if let Some(secret) = read_cookie(headers, SESSION_COOKIE) {
        state
            .store
            .delete_session(&tenant.id, &crypto::token_digest(&secret))
            .await?;
    }
    Ok(cookie(state, tenant, SESSION_COOKIE, "", 0))
}

/// The CSRF token of a form: an HMAC binding the browser's CSRF cookie to the pending
/// authorization request, so a form cannot be submitted from another site or browser.
pub fn csrf_token(key: &[u8; 32], cookie_value: &str, request_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(crypto::hmac_sha256(
        key,
        format!("{cookie_value}|{request_id}").as_bytes(),
    ))
}

fn csrf_valid(state: &AppState, headers: &HeaderMap, request_id: &str, presented: &str) -> bool {
    read_cookie(headers, CSRF_COOKIE).is_some_and(|cookie_value| {
        !cookie_value.is_empty()
            && crypto::constant_time_eq(
                csrf_token(&state.csrf_key, &cookie_value, request_id).as_bytes(),
                presented.as_bytes(),
            )
    })
}

// ---- shared form plumbing -------------------------------------------------------------------

#[derive(Deserialize)]
struct RequestQuery {
    request: Option<String>,
}

struct PendingRequest {
    tenant: Tenant,
    id: String,
    request: AuthorizationRequest,
    client_name: String,
}

async fn pending_request(
    state: &AppState,
    subdomain: &str,
    request_id: Option<&str>,
) -> Result<Result<PendingRequest, Response>, StoreError> {
    let expired = || {
        error_page(
            state,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "This sign-in link has expired. Go back to the application and sign in again.",
        )
    };
    let Some(tenant) = state.tenant(subdomain).await? else {
        return Ok(Err(error_page(
            state,
            StatusCode::NOT_FOUND,
            "invalid_request",
            "This tenant does not exist.",
        )));
    };
    let Some(id) = request_id.filter(|id| !id.is_empty() && id.len() <= 64) else {
        return Ok(Err(expired()));
    };
    let Some(parameters) = state.store.authorization_request(&tenant.id, id).await? else {
        return Ok(Err(expired()));
    };
    let Ok(request) = serde_json::from_str::<AuthorizationRequest>(&parameters) else {
        return Ok(Err(expired()));
    };
    let client_name = state
        .store
        .document(Kind::Client, &tenant.id, &request.client_id)
        .await?
        .and_then(|document| {
            serde_json::from_str::<serde_json::Value>(&document.spec)
                .ok()
                .and_then(|spec| spec["displayName"].as_str().map(str::to_string))
        })
        .unwrap_or_else(|| "the application".to_string());
    Ok(Ok(PendingRequest {
        tenant,
        id: id.to_string(),
        request,
        client_name,
    }))
}

/// Picks the page language from `ui_locales`; only English is built in so far, so anything
/// else falls back to the tenant default and then to English.
fn page_language(request: &AuthorizationRequest, tenant: &Tenant) -> String {
    let supported = |tag: &str| tag == "en" || tag.starts_with("en-");
    request
        .ui_locales
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .chain(tenant.spec.default_locale.as_deref())
        .find(|tag| supported(tag))
        .unwrap_or("en")
        .to_string()
}

struct FormPage<'a> {
    template: &'static str,
    pending: &'a PendingRequest,
    email: &'a str,
    display_name: &'a str,
    error: Option<&'a str>,
}

fn render_form(state: &AppState, headers: &HeaderMap, page: FormPage<'_>) -> Response {
    let existing_cookie = read_cookie(headers, CSRF_COOKIE).filter(|value| !value.is_empty());
    let cookie_value = existing_cookie
        .clone()
        .unwrap_or_else(|| crypto::random_token(32));
    let tenant = &page.pending.tenant;
    let policy = password_rules(tenant);
    let mut response = render_page(
        state,
        if page.error.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        },
        page.template,
        context! {
            lang => page_language(&page.pending.request, tenant),
            tenant_name => tenant.spec.display_name,
            client_name => page.pending.client_name,
            request_id => page.pending.id,
            csrf_token => csrf_token(&state.csrf_key, &cookie_value, &page.pending.id),
            email => page.email,
            display_name => page.display_name,
            error => page.error,
            password_rules => policy.describe(),
        },
    );
    if existing_cookie.is_none() {
        response.headers_mut().append(
            header::SET_COOKIE,
            cookie(
                state,
                tenant,
                CSRF_COOKIE,
                &cookie_value,
                SESSION_LIFETIME_SECONDS,
            ),
        );
    }
    response
}

async fn start_session_and_redirect(
    state: &AppState,
    pending: &PendingRequest,
    user_id: &str,
) -> Result<Response, oidc::OAuthError> {
    let secret = crypto::random_token(32);
    let session = SessionRecord {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user_id.to_string(),
        auth_time: store::now(),
    };
    state
        .store
        .create_session(
            &pending.tenant.id,
            &session,
            &crypto::token_digest(&secret),
            store::now() + SESSION_LIFETIME_SECONDS,
        )
        .await?;
    state
        .store
        .delete_authorization_request(&pending.id)
        .await?;
    let mut response =
        oidc::complete_authorization(state, &pending.tenant, &pending.request, &session).await?;
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie(
            state,
            &pending.tenant,
            SESSION_COOKIE,
            &secret,
            SESSION_LIFETIME_SECONDS,
        ),
    );
    Ok(response)
}

fn server_error_page(state: &AppState, error: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %error, "hosted page failed");
    error_page(
        state,
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "The server failed to complete the request.",
    )
}

fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

fn is_plausible_email(email: &str) -> bool {
    email.len() <= 256
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(char::is_whitespace)
                && !domain.contains('@')
        })
}

/// A tenant's password rules with the defaults of the CRD.
pub struct PasswordRules {
    /// Minimum length.
    pub min_length: usize,
    /// Required character classes out of lower, upper, digit, symbol.
    pub required_classes: usize,
}

fn password_rules(tenant: &Tenant) -> PasswordRules {
    let policy = tenant.spec.password_policy.as_ref();
    PasswordRules {
        min_length: policy.map_or(8, |policy| policy.min_length as usize),
        required_classes: policy.map_or(3, |policy| policy.required_character_classes as usize),
    }
}

impl PasswordRules {
    /// The rules in words.
    pub fn describe(&self) -> String {
        format!(
            "At least {} characters, using at least {} of: lowercase letters, uppercase letters, digits, symbols.",
            self.min_length, self.required_classes
        )
    }

    /// Whether `password` satisfies the rules.
    pub fn accepts(&self, password: &str) -> bool {
        let classes = [
            password.chars().any(|c| c.is_lowercase()),
            password.chars().any(|c| c.is_uppercase()),
            password.chars().any(|c| c.is_ascii_digit()),
            password.chars().any(|c| !c.is_alphanumeric()),
        ]
        .into_iter()
        .filter(|present| *present)
        .count();
        let length = password.chars().count();
        length >= self.min_length && length <= 256 && classes >= self.required_classes
    }
}

async fn hash_password_blocking(password: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || crypto::hash_password(&password))
        .await
        .map_err(|error| error.to_string())?
        .map_err(|error| error.to_string())
}

async fn verify_password_blocking(password: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || crypto::verify_password(&password, &phc))
        .await
        .unwrap_or(false)
}

/// A hash to verify against when the email is unknown, so the response time does not reveal
/// whether an account exists.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| crypto::hash_password("decoy password").unwrap_or_default())
}

// ---- sign-in --------------------------------------------------------------------------------

async fn show_sign_in(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    headers: HeaderMap,
    Query(query): Query<RequestQuery>,
) -> Response {
    match pending_request(&state, &subdomain, query.request.as_deref()).await {
        Ok(Ok(pending)) => {
            let hint = pending.request.login_hint.clone().unwrap_or_default();
            render_form(
                &state,
                &headers,
                FormPage {
                    template: "signin.html",
                    pending: &pending,
                    email: &hint,
                    display_name: "",
                    error: None,
                },
            )
        }
        Ok(Err(response)) => response,
        Err(error) => server_error_page(&state, &error),
    }
}

/// Fields of the sign-in and sign-up forms.
#[derive(Deserialize)]
struct CredentialsForm {
    request: Option<String>,
    csrf_token: Option<String>,
    email: Option<String>,
    password: Option<String>,
    display_name: Option<String>,
}

impl std::fmt::Debug for CredentialsForm {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("CredentialsForm(..)")
    }
}

fn csrf_failure(state: &AppState) -> Response {
    error_page(
        state,
        StatusCode::FORBIDDEN,
        "invalid_request",
        "The form expired or was sent from another site. Go back to the application and sign in again.",
    )
}

async fn submit_sign_in(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    headers: HeaderMap,
    form: Result<Form<CredentialsForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return csrf_failure(&state);
    };
    let pending = match pending_request(&state, &subdomain, form.request.as_deref()).await {
        Ok(Ok(pending)) => pending,
        Ok(Err(response)) => return response,
        Err(error) => return server_error_page(&state, &error),
    };
    if !csrf_valid(
        &state,
        &headers,
        &pending.id,
        form.csrf_token.as_deref().unwrap_or_default(),
    ) {
        return csrf_failure(&state);
    }
    let email = normalize_email(form.email.as_deref().unwrap_or_default());
    let password = form.password.unwrap_or_default();
    let failed = |message: &str| {
        render_form(
            &state,
            &headers,
            FormPage {
                template: "signin.html",
                pending: &pending,
                email: &email,
                display_name: "",
                error: Some(message),
            },
        )
    };
    if email.is_empty() || password.is_empty() {
        return failed("Enter your email address and password.");
    }
    let user: Option<UserRecord> = match state.store.user_by_email(&pending.tenant.id, &email).await
    {
        Ok(user) => user,
        Err(error) => return server_error_page(&state, &error),
    };
    let Some(user) = user else {
        let _ = verify_password_blocking(password, decoy_hash().to_string()).await;
        return failed("The email address or password is incorrect.");
    };
    let now = store::now();
    if user.locked_until > now {
        return failed(
            "This account is temporarily locked after too many failed attempts. Try again later.",
        );
    }
    let verified = verify_password_blocking(password, user.password_hash.clone()).await;
    let lockout = pending.tenant.spec.lockout.as_ref();
    let threshold = lockout.map_or(10, |lockout| i64::from(lockout.threshold));
    let duration = lockout.map_or(60, |lockout| i64::from(lockout.duration_seconds));
    if let Err(error) = state
        .store
        .record_sign_in_attempt(&user.id, verified, threshold, now + duration)
        .await
    {
        return server_error_page(&state, &error);
    }
    if !verified {
        tracing::info!(tenant = %pending.tenant.subdomain, "sign-in failed: wrong password");
        return failed("The email address or password is incorrect.");
    }
    match start_session_and_redirect(&state, &pending, &user.id).await {
        Ok(response) => response,
        Err(error) => server_error_page(&state, &error.code()),
    }
}

// ---- sign-up --------------------------------------------------------------------------------

async fn show_sign_up(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    headers: HeaderMap,
    Query(query): Query<RequestQuery>,
) -> Response {
    match pending_request(&state, &subdomain, query.request.as_deref()).await {
        Ok(Ok(pending)) => {
            let hint = pending.request.login_hint.clone().unwrap_or_default();
            render_form(
                &state,
                &headers,
                FormPage {
                    template: "signup.html",
                    pending: &pending,
                    email: &hint,
                    display_name: "",
                    error: None,
                },
            )
        }
        Ok(Err(response)) => response,
        Err(error) => server_error_page(&state, &error),
    }
}

async fn submit_sign_up(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    headers: HeaderMap,
    form: Result<Form<CredentialsForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return csrf_failure(&state);
    };
    let pending = match pending_request(&state, &subdomain, form.request.as_deref()).await {
        Ok(Ok(pending)) => pending,
        Ok(Err(response)) => return response,
        Err(error) => return server_error_page(&state, &error),
    };
    if !csrf_valid(
        &state,
        &headers,
        &pending.id,
        form.csrf_token.as_deref().unwrap_or_default(),
    ) {
        return csrf_failure(&state);
    }
    let email = normalize_email(form.email.as_deref().unwrap_or_default());
    let display_name = form.display_name.unwrap_or_default().trim().to_string();
    let password = form.password.unwrap_or_default();
    let failed = |message: &str| {
        render_form(
            &state,
            &headers,
            FormPage {
                template: "signup.html",
                pending: &pending,
                email: &email,
                display_name: &display_name,
                error: Some(message),
            },
        )
    };
    if !is_plausible_email(&email) {
        return failed("Enter a valid email address, such as name@example.com.");
    }
    if display_name.chars().count() > 256 {
        return failed("The display name must be at most 256 characters.");
    }
    let rules = password_rules(&pending.tenant);
    if !rules.accepts(&password) {
        return failed(&format!(
            "The password does not meet the rules. {}",
            rules.describe()
        ));
    }
    let password_hash = match hash_password_blocking(password).await {
        Ok(hash) => hash,
        Err(error) => return server_error_page(&state, &error),
    };
    let user = UserRecord {
        id: uuid::Uuid::new_v4().to_string(),
        email: email.clone(),
        password_hash,
        display_name: (!display_name.is_empty()).then(|| display_name.clone()),
        failed_sign_ins: 0,
        locked_until: 0,
    };
    match state.store.create_user(&pending.tenant.id, &user).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return failed("An account with this email address already exists. Sign in instead.");
        }
        Err(error) => return server_error_page(&state, &error),
    }
    tracing::info!(tenant = %pending.tenant.subdomain, user_id = %user.id, "account created");
    match start_session_and_redirect(&state, &pending, &user.id).await {
        Ok(response) => response,
        Err(error) => server_error_page(&state, &error.code()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_with_escaping() {
        let templates = Templates::new();
        let html = templates
            .render(
                "message.html",
                context! { lang => "en", tenant_name => "<b>", title => "T", message => "m", error_code => "invalid_request" },
            )
            .expect("render");
        assert!(html.contains("&lt;b&gt;"));
        assert!(html.contains("data-error=\"invalid_request\""));
        for name in ["signin.html", "signup.html"] {
            assert!(
                templates.render(name, context! { lang => "en" }).is_ok(),
                "{name}"
            );
        }
    }

    #[test]
    fn password_rules_count_character_classes() {
        let rules = PasswordRules {
            min_length: 8,
            required_classes: 3,
        };
        assert!(rules.accepts("Passw0rd"));
        assert!(!rules.accepts("password1"));
        assert!(!rules.accepts("Pw0!"));
    }

    #[test]
    fn csrf_tokens_bind_cookie_and_request() {
        let key = [3u8; 32];
        let token = csrf_token(&key, "cookie", "request");
        assert_eq!(token, csrf_token(&key, "cookie", "request"));
        assert_ne!(token, csrf_token(&key, "other", "request"));
        assert_ne!(token, csrf_token(&key, "cookie", "other"));
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; ciam_session=xyz"),
        );
        assert_eq!(
            read_cookie(&headers, SESSION_COOKIE).as_deref(),
            Some("xyz")
        );
        assert_eq!(read_cookie(&headers, "missing"), None);
    }
}
