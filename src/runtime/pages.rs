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

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use minijinja::{Environment, context};
use serde::Deserialize;

use super::flows::{self, FieldProblem};
use super::form::{BoundedForm, FormError, PageForm};
use super::i18n::{self, Strings};
use super::oidc::{self, AuthorizationRequest};
use super::store::{self, ChallengeRecord, Kind, SessionRecord, StoreError, UserRecord};
use super::{AppState, Tenant, branding, crypto, email};
use crate::contract::UserFlowSpec;
use crate::contract::{BrandingDocument, StoredSmtp};

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
            ("errors.html", include_str!("templates/errors.html")),
            ("verify.html", include_str!("templates/verify.html")),
            ("reset.html", include_str!("templates/reset.html")),
            ("logout.html", include_str!("templates/logout.html")),
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
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; frame-ancestors 'none'; base-uri 'none'",
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

/// The language of a page shown outside a pending request: `Accept-Language`, then the
/// tenant's default (English without a tenant).
fn page_language(tenant: Option<&Tenant>, headers: Option<&HeaderMap>) -> &'static str {
    let accept_language = headers
        .and_then(|headers| headers.get(header::ACCEPT_LANGUAGE))
        .and_then(|value| value.to_str().ok());
    i18n::pick_language(
        None,
        accept_language,
        tenant.and_then(|tenant| tenant.spec.default_locale.as_deref()),
        tenant.and_then(|tenant| tenant.spec.supported_locales.as_deref()),
    )
}

/// A page about an error the client cannot be redirected to: the OAuth error code and a
/// message in the page language.
pub struct ErrorPage<'a> {
    /// The tenant, when it is known (its name heads the page, its languages apply).
    pub tenant: Option<&'a Tenant>,
    /// The request's headers, for `Accept-Language`.
    pub headers: Option<&'a HeaderMap>,
    /// The HTTP status.
    pub status: StatusCode,
    /// The OAuth error code shown to the person and to tests.
    pub code: &'a str,
    /// Key of the message in the locale files.
    pub message_key: &'a str,
}

impl ErrorPage<'_> {
    /// Renders the page.
    pub fn render(&self, state: &AppState) -> Response {
        self.render_with(state, &[])
    }

    /// Renders the page with the message's `{name}` placeholders filled from `values`.
    pub fn render_with(&self, state: &AppState, values: &[(&str, &str)]) -> Response {
        let language = page_language(self.tenant, self.headers);
        let strings = i18n::built_in_strings(language);
        let text = |key: &str| strings.get(key).cloned().unwrap_or_default();
        render_page(
            state,
            self.status,
            "message.html",
            context! {
                lang => language,
                tenant_name => self.tenant.map_or_else(|| text("page_fallback_name"), |tenant| tenant.spec.display_name.clone()),
                title => text("error_title"),
                message => i18n::fill(&text(self.message_key), values),
                error_code => self.code,
                t => &strings,
            },
        )
    }
}

/// The page shown when the client is in no user flow, with a link that returns the OAuth
/// error to the app. `ui_locales` of the request and `Accept-Language` choose the language.
pub fn no_user_flow_page(
    state: &AppState,
    tenant: &Tenant,
    headers: Option<&HeaderMap>,
    ui_locales: Option<&str>,
    return_url: &str,
) -> Response {
    let accept_language = headers
        .and_then(|headers| headers.get(header::ACCEPT_LANGUAGE))
        .and_then(|value| value.to_str().ok());
    let language = i18n::pick_language(
        ui_locales,
        accept_language,
        tenant.spec.default_locale.as_deref(),
        tenant.spec.supported_locales.as_deref(),
    );
    let strings = i18n::built_in_strings(language);
    render_page(
        state,
        StatusCode::BAD_REQUEST,
        "message.html",
        context! {
            lang => language,
            t => &strings,
            tenant_name => tenant.spec.display_name,
            title => strings.get("no_flow_title"),
            message => strings.get("no_flow_message"),
            error_code => "unauthorized_client",
            return_url => return_url,
        },
    )
}

/// The page shown after logout without a redirect.
pub fn signed_out_page(state: &AppState, tenant: &Tenant, headers: Option<&HeaderMap>) -> Response {
    let language = page_language(Some(tenant), headers);
    let strings = i18n::built_in_strings(language);
    render_page(
        state,
        StatusCode::OK,
        "message.html",
        context! {
            lang => language,
            tenant_name => tenant.spec.display_name,
            title => strings.get("signed_out_title"),
            message => strings.get("signed_out_message"),
            t => &strings,
        },
    )
}

/// What the logout confirmation form sends back, already validated (see `oidc::logout`).
pub struct LogoutConfirmation<'a> {
    /// The app that asked, when it said so.
    pub client_id: Option<&'a str>,
    /// The app's registered redirect after the sign-out.
    pub post_logout_redirect_uri: Option<&'a str>,
    /// The app's `state`, echoed on that redirect.
    pub state: Option<&'a str>,
}

/// What the logout form's CSRF token is bound to instead of an authorization request ID
/// (which is base64url, so never contains ':').
const LOGOUT_CSRF_CONTEXT: &str = "logout:";

/// Whether `presented` is the logout confirmation form's CSRF token for this browser.
pub fn logout_csrf_valid(state: &AppState, headers: &HeaderMap, presented: &str) -> bool {
    csrf_valid(state, headers, LOGOUT_CSRF_CONTEXT, presented)
}

/// The page that asks whether to sign out, for a logout request no ID token identifies: a
/// form whose CSRF-protected `POST` (the only thing that ends the session) carries the
/// validated parameters back. Branded and in the page language like the other pages.
///
/// # Errors
/// Storage failure reading the branding.
pub async fn logout_confirmation_page(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    confirmation: &LogoutConfirmation<'_>,
) -> Result<Response, StoreError> {
    let language = page_language(Some(tenant), Some(headers));
    let mut strings = i18n::built_in_strings(language);
    let document = tenant_branding(state, tenant).await?;
    branding::apply_strings(&mut strings, &document, language);
    let brand = branding::view(&branding::content_for(&document, language));
    let (cookie_value, set_cookie) = csrf_cookie(state, tenant, headers);
    let question = i18n::fill(
        strings.get("sign_out_question").map_or("", String::as_str),
        &[("tenant", &tenant.spec.display_name)],
    );
    let mut response = render_page(
        state,
        StatusCode::OK,
        "logout.html",
        context! {
            lang => language,
            t => &strings,
            brand => brand,
            tenant_name => tenant.spec.display_name,
            message => question,
            action => format!("{}/{}/oauth2/v2.0/logout", state.public_url, tenant.subdomain),
            csrf_token => csrf_token(&state.csrf_key, &cookie_value, LOGOUT_CSRF_CONTEXT),
            client_id => confirmation.client_id,
            post_logout_redirect_uri => confirmation.post_logout_redirect_uri,
            state => confirmation.state,
        },
    );
    if let Some(set_cookie) = set_cookie {
        response
            .headers_mut()
            .append(header::SET_COOKIE, set_cookie);
    }
    Ok(response)
}

/// The words for a duration of whole minutes (at least one) in the page language.
pub fn minutes_text(strings: &Strings, seconds: i64) -> String {
    let minutes = (seconds / 60).max(1);
    let key = if minutes == 1 {
        "duration_one_minute"
    } else {
        "duration_minutes"
    };
    i18n::fill(
        strings.get(key).map_or("", String::as_str),
        &[("count", &minutes.to_string())],
    )
}

/// The hosted pages' routes.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/{tenant}/signin", get(show_sign_in).post(submit_sign_in))
        .route("/{tenant}/signup", get(show_sign_up).post(submit_sign_up))
        .route("/{tenant}/verify", post(submit_verify))
        .route("/{tenant}/reset", get(show_reset).post(submit_reset))
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

/// A pending authorization request with what its pages need: the tenant, the client's user
/// flow and the page language.
struct PendingRequest {
    tenant: Tenant,
    id: String,
    request: AuthorizationRequest,
    client_name: String,
    flow: UserFlowSpec,
    language: &'static str,
    strings: Strings,
    brand: branding::BrandView,
    /// The tenant's Branding, for attribute labels translated in its `strings`.
    branding: BrandingDocument,
}

impl PendingRequest {
    fn text(&self, key: &str) -> String {
        self.strings.get(key).cloned().unwrap_or_default()
    }
}

async fn pending_request(
    state: &AppState,
    subdomain: &str,
    request_id: Option<&str>,
    headers: &HeaderMap,
) -> Result<Result<PendingRequest, Response>, StoreError> {
    let Some(tenant) = state.tenant(subdomain).await? else {
        return Ok(Err(ErrorPage {
            tenant: None,
            headers: Some(headers),
            status: StatusCode::NOT_FOUND,
            code: "invalid_request",
            message_key: "error_tenant_unknown",
        }
        .render(state)));
    };
    let expired = || {
        ErrorPage {
            tenant: Some(&tenant),
            headers: Some(headers),
            status: StatusCode::BAD_REQUEST,
            code: "invalid_request",
            message_key: "error_link_expired",
        }
        .render(state)
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
        });
    // The flow may have changed since /authorize; a client removed from every flow can no
    // longer sign in.
    let Some((_, flow)) =
        flows::flow_for_client(&state.store, &tenant.id, &request.client_id).await?
    else {
        let return_url = oidc::redirect_location(
            &request.redirect_uri,
            &[("error", "unauthorized_client")],
            request.state.as_deref(),
            &state.issuer(&tenant.subdomain),
        );
        return Ok(Err(no_user_flow_page(
            state,
            &tenant,
            Some(headers),
            request.ui_locales.as_deref(),
            &return_url,
        )));
    };
    let accept_language = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|value| value.to_str().ok());
    let language = i18n::pick_language(
        request.ui_locales.as_deref(),
        accept_language,
        tenant.spec.default_locale.as_deref(),
        tenant.spec.supported_locales.as_deref(),
    );
    let mut strings = i18n::built_in_strings(language);
    let document = tenant_branding(state, &tenant).await?;
    branding::apply_strings(&mut strings, &document, language);
    let brand = branding::view(&branding::content_for(&document, language));
    let client_name = client_name.unwrap_or_else(|| {
        strings
            .get("client_fallback_name")
            .cloned()
            .unwrap_or_default()
    });
    Ok(Ok(PendingRequest {
        tenant,
        id: id.to_string(),
        request,
        client_name,
        flow,
        language,
        strings,
        brand,
        branding: document,
    }))
}

/// The tenant's stored branding (empty when it has none or it no longer parses).
async fn tenant_branding(
    state: &AppState,
    tenant: &Tenant,
) -> Result<BrandingDocument, StoreError> {
    Ok(state
        .store
        .document(Kind::Branding, &tenant.id, &tenant.id)
        .await?
        .and_then(|document| match serde_json::from_str(&document.spec) {
            Ok(parsed) => Some(parsed),
            Err(error) => {
                tracing::warn!(tenant = %tenant.subdomain, error = %error, "stored branding does not parse; using the default look");
                None
            }
        })
        .unwrap_or_default())
}

/// One entry of a form's error summary: the field's element ID and the message.
#[derive(serde::Serialize)]
struct SummaryItem {
    id: String,
    message: String,
}

/// What a form page shows besides the common parts.
struct FormPage<'a> {
    template: &'static str,
    pending: &'a PendingRequest,
    status: StatusCode,
    values: minijinja::Value,
}

/// The browser's CSRF cookie value, or a new one with the `Set-Cookie` that stores it.
fn csrf_cookie(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
) -> (String, Option<HeaderValue>) {
    match read_cookie(headers, CSRF_COOKIE).filter(|value| !value.is_empty()) {
        Some(existing) => (existing, None),
        None => {
            let value = crypto::random_token(32);
            let set_cookie = cookie(state, tenant, CSRF_COOKIE, &value, SESSION_LIFETIME_SECONDS);
            (value, Some(set_cookie))
        }
    }
}

fn render_form(state: &AppState, headers: &HeaderMap, page: FormPage<'_>) -> Response {
    let (cookie_value, set_cookie) = csrf_cookie(state, &page.pending.tenant, headers);
    let pending = page.pending;
    let tenant = &pending.tenant;
    let subtitle_key = if page.template == "signup.html" {
        "sign_up_subtitle"
    } else {
        "sign_in_subtitle"
    };
    let common = context! {
        lang => pending.language,
        t => &pending.strings,
        tenant_name => tenant.spec.display_name,
        client_name => pending.client_name,
        subtitle => i18n::fill(&pending.text(subtitle_key), &[("client", &pending.client_name)]),
        request_id => pending.id,
        csrf_token => csrf_token(&state.csrf_key, &cookie_value, &pending.id),
        password_rules => password_rules(tenant).describe(&pending.strings),
        brand => &pending.brand,
    };
    let mut response = render_page(
        state,
        page.status,
        page.template,
        context! { ..page.values, ..common },
    );
    if let Some(set_cookie) = set_cookie {
        response
            .headers_mut()
            .append(header::SET_COOKIE, set_cookie);
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

fn server_error_page(
    state: &AppState,
    headers: &HeaderMap,
    error: &dyn std::fmt::Display,
) -> Response {
    tracing::error!(error = %error, "hosted page failed");
    ErrorPage {
        tenant: None,
        headers: Some(headers),
        status: StatusCode::INTERNAL_SERVER_ERROR,
        code: "server_error",
        message_key: "error_server",
    }
    .render(state)
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
    /// The rules in words, in the page language.
    pub fn describe(&self, strings: &Strings) -> String {
        i18n::fill(
            strings
                .get("password_rules")
                .map_or("", |text| text.as_str()),
            &[
                ("min", &self.min_length.to_string()),
                ("classes", &self.required_classes.to_string()),
            ],
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

/// Verifies off the async workers, counting the verification when Argon2 actually runs (a
/// hash that does not parse is refused without any work).
async fn verify_password_blocking(state: &AppState, password: String, phc: String) -> bool {
    if crypto::is_password_hash(&phc) {
        state.metrics.count_password_verification();
    }
    tokio::task::spawn_blocking(move || crypto::verify_password(&password, &phc))
        .await
        .unwrap_or(false)
}

/// A hash to verify against when the email is unknown or its account has no password, so the
/// response time reveals neither (see [`password_check`]).
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| crypto::hash_password("decoy password").unwrap_or_default())
}

/// What a password sign-in verifies the presented password against.
#[derive(Debug, PartialEq, Eq)]
struct PasswordCheck<'a> {
    /// The PHC string Argon2 runs on.
    phc: &'a str,
    /// Whether a match signs in (never for the decoy).
    can_sign_in: bool,
}

/// The account's own hash when it has a usable one, else the decoy. Unknown addresses,
/// passwordless accounts (whose stored hash is no PHC string) and wrong passwords thus all
/// cost one Argon2 verification, so the answer's timing reveals neither whether an account
/// exists nor whether it has a password.
fn password_check<'a>(stored_hash: Option<&'a str>, decoy: &'a str) -> PasswordCheck<'a> {
    match stored_hash.filter(|hash| crypto::is_password_hash(hash)) {
        Some(phc) => PasswordCheck {
            phc,
            can_sign_in: true,
        },
        None => PasswordCheck {
            phc: decoy,
            can_sign_in: false,
        },
    }
}

fn csrf_failure(state: &AppState, headers: &HeaderMap) -> Response {
    ErrorPage {
        tenant: None,
        headers: Some(headers),
        status: StatusCode::FORBIDDEN,
        code: "invalid_request",
        message_key: "error_form_expired",
    }
    .render(state)
}

/// Form fields as submitted, in order (repeated names kept, as multi-select checkboxes send).
struct SubmittedForm(Vec<(String, String)>);

/// The page for a public form body over the limits of [`super::form`]: `invalid_request`,
/// 413 or 400, naming the limit. A body that is no form at all is answered like a forged one
/// (no page of the runtime sends it).
pub fn form_error_page(state: &AppState, headers: &HeaderMap, error: FormError) -> Response {
    let (message_key, limit) = match error {
        FormError::TooLarge { limit } => ("error_form_too_large", limit),
        FormError::TooManyParameters { limit } => ("error_form_too_many_fields", limit),
        FormError::NotForm => return csrf_failure(state, headers),
    };
    tracing::info!(error = %error, "form refused");
    ErrorPage {
        tenant: None,
        headers: Some(headers),
        status: error.status(),
        code: "invalid_request",
        message_key,
    }
    .render_with(state, &[("limit", &limit.to_string())])
}

impl SubmittedForm {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

impl std::fmt::Debug for SubmittedForm {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("SubmittedForm(..)")
    }
}

/// Loads the pending request of a submitted form and checks its CSRF token.
async fn submitted_request(
    state: &AppState,
    subdomain: &str,
    headers: &HeaderMap,
    form: &SubmittedForm,
) -> Result<PendingRequest, Response> {
    let pending = match pending_request(state, subdomain, form.get("request"), headers).await {
        Ok(Ok(pending)) => pending,
        Ok(Err(response)) => return Err(response),
        Err(error) => return Err(server_error_page(state, headers, &error)),
    };
    if csrf_valid(
        state,
        headers,
        &pending.id,
        form.get("csrf_token").unwrap_or_default(),
    ) {
        Ok(pending)
    } else {
        Err(csrf_failure(state, headers))
    }
}

// ---- sign-in --------------------------------------------------------------------------------

fn sign_in_page(
    state: &AppState,
    headers: &HeaderMap,
    pending: &PendingRequest,
    email: &str,
    error: Option<&str>,
) -> Response {
    render_form(
        state,
        headers,
        FormPage {
            template: "signin.html",
            pending,
            status: if error.is_some() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            },
            values: context! {
                email => email,
                error => error,
                reset_it_now => error.is_some_and(|error| error == pending.text("error_credentials_wrong")),
                password_method => pending.flow.offers(flows::METHOD_EMAIL_PASSWORD),
                otp_method => pending.flow.offers(flows::METHOD_EMAIL_OTP),
            },
        },
    )
}

async fn show_sign_in(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    headers: HeaderMap,
    Query(query): Query<RequestQuery>,
) -> Response {
    match pending_request(&state, &subdomain, query.request.as_deref(), &headers).await {
        Ok(Ok(pending)) => {
            let hint = pending.request.login_hint.clone().unwrap_or_default();
            sign_in_page(&state, &headers, &pending, &hint, None)
        }
        Ok(Err(response)) => response,
        Err(error) => server_error_page(&state, &headers, &error),
    }
}

async fn submit_sign_in(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    headers: HeaderMap,
    ip: ClientIp,
    form: Result<PageForm, FormError>,
) -> Response {
    let form = match form {
        Ok(BoundedForm(fields)) => SubmittedForm(fields.into_pairs()),
        Err(error) => return form_error_page(&state, &headers, error),
    };
    let pending = match submitted_request(&state, &subdomain, &headers, &form).await {
        Ok(pending) => pending,
        Err(response) => return response,
    };
    let email = flows::normalize_email(form.get("email").unwrap_or_default());
    let failed =
        |key: &str| sign_in_page(&state, &headers, &pending, &email, Some(&pending.text(key)));
    let passwordless = form.get("method") == Some("otp");
    let method = if passwordless {
        flows::METHOD_EMAIL_OTP
    } else {
        flows::METHOD_EMAIL_PASSWORD
    };
    if !pending.flow.offers(method) {
        return csrf_failure(&state, &headers);
    }
    if passwordless {
        if !flows::is_plausible_email(&email) {
            return failed("error_email");
        }
        match is_locked(&state, &pending.tenant, &email, &ip).await {
            Ok(true) => return failed("error_locked"),
            Ok(false) => {}
            Err(error) => return server_error_page(&state, &headers, &error),
        }
        match take_passcode_allowance(&state, &pending.tenant, &email, &ip).await {
            Ok(true) => {}
            Ok(false) => return failed("error_send_limit"),
            Err(error) => return server_error_page(&state, &headers, &error),
        }
        let user = match state.store.user_by_email(&pending.tenant.id, &email).await {
            Ok(user) => user,
            Err(error) => return server_error_page(&state, &headers, &error),
        };
        let payload = user
            .as_ref()
            .map(|user| user.id.clone())
            .unwrap_or_default();
        return start_challenge(
            &state,
            &headers,
            &pending,
            Purpose::SignIn,
            &email,
            payload,
            user.is_some(),
        )
        .await;
    }
    let password = form.get("password").unwrap_or_default().to_string();
    if email.is_empty() || password.is_empty() {
        return failed("error_credentials_missing");
    }
    // Locked emails answer the same whether or not an account exists.
    match is_locked(&state, &pending.tenant, &email, &ip).await {
        Ok(true) => return failed("error_locked"),
        Ok(false) => {}
        Err(error) => return server_error_page(&state, &headers, &error),
    }
    let user: Option<UserRecord> = match state.store.user_by_email(&pending.tenant.id, &email).await
    {
        Ok(user) => user,
        Err(error) => return server_error_page(&state, &headers, &error),
    };
    let check = password_check(
        user.as_ref().map(|user| user.password_hash.as_str()),
        decoy_hash(),
    );
    let verified = verify_password_blocking(&state, password, check.phc.to_string()).await
        && check.can_sign_in;
    let Some(user) = user.filter(|_| verified) else {
        if let Err(error) = record_failure(&state, &pending.tenant, &email, &ip).await {
            return server_error_page(&state, &headers, &error);
        }
        tracing::info!(tenant = %pending.tenant.subdomain, "sign-in failed: wrong email or password");
        return failed("error_credentials_wrong");
    };
    if let Err(error) = state
        .store
        .clear_failures(
            &pending.tenant.id,
            &Throttled::Failures.email_subject(&email),
        )
        .await
    {
        return server_error_page(&state, &headers, &error);
    }
    if pending.flow.requires_mfa() {
        match take_passcode_allowance(&state, &pending.tenant, &email, &ip).await {
            Ok(true) => {}
            Ok(false) => return failed("error_send_limit"),
            Err(error) => return server_error_page(&state, &headers, &error),
        }
        return start_challenge(
            &state,
            &headers,
            &pending,
            Purpose::Mfa,
            &user.email,
            user.id.clone(),
            true,
        )
        .await;
    }
    match start_session_and_redirect(&state, &pending, &user.id).await {
        Ok(response) => response,
        Err(error) => server_error_page(&state, &headers, &error.code()),
    }
}

// ---- sign-up --------------------------------------------------------------------------------

/// Labels of built-in attributes in the page language; custom attributes show their name.
fn attribute_label(strings: &Strings, name: &str) -> String {
    strings
        .get(&format!("attribute_{name}"))
        .cloned()
        .unwrap_or_else(|| flows::default_label(name))
}

struct SignUpErrors {
    fields: BTreeMap<String, String>,
    password: Option<String>,
    form: Option<String>,
}

fn sign_up_page(
    state: &AppState,
    headers: &HeaderMap,
    pending: &PendingRequest,
    submitted: Option<&SubmittedForm>,
    errors: Option<SignUpErrors>,
) -> Response {
    let attributes = pending.flow.sign_up_attributes();
    let mut submitted_pairs = submitted.map(|form| form.0.clone());
    if submitted_pairs.is_none()
        && let Some(hint) = &pending.request.login_hint
    {
        // Prefill the email from login_hint and keep the other defaults.
        let mut pairs = vec![("email".to_string(), hint.clone())];
        for attribute in attributes
            .iter()
            .filter(|attribute| attribute.name != "email")
        {
            if let Some(default) = &attribute.default_value {
                pairs.push((flows::field_name(&attribute.name), default.clone()));
            }
        }
        submitted_pairs = Some(pairs);
    }
    let field_errors = errors
        .as_ref()
        .map(|errors| errors.fields.clone())
        .unwrap_or_default();
    let fields = flows::field_views(
        &attributes,
        submitted_pairs.as_deref(),
        &field_errors,
        &pending.text("optional_suffix"),
        &flows::FieldLabels {
            translated: &|name| {
                branding::attribute_label_override(&pending.branding, pending.language, name)
            },
            built_in: &|name| attribute_label(&pending.strings, name),
        },
    );
    let password_error = errors.as_ref().and_then(|errors| errors.password.clone());
    // The summary lists the problems in form order; the password sits after the email.
    let mut summary = Vec::new();
    for field in &fields {
        if let Some(message) = &field.error {
            summary.push(SummaryItem {
                id: field.id.clone(),
                message: format!("{}: {message}", field.label_text),
            });
        }
        if field.name == "email"
            && let Some(message) = &password_error
        {
            summary.push(SummaryItem {
                id: "field-password".to_string(),
                message: format!("{}: {message}", pending.text("new_password_label")),
            });
        }
    }
    let form_error = errors.and_then(|errors| errors.form);
    render_form(
        state,
        headers,
        FormPage {
            template: "signup.html",
            pending,
            status: if summary.is_empty() && form_error.is_none() {
                StatusCode::OK
            } else {
                StatusCode::BAD_REQUEST
            },
            values: context! {
                fields => fields,
                summary => summary,
                error => form_error,
                password_error => password_error,
                collect_password => pending.flow.offers(flows::METHOD_EMAIL_PASSWORD),
            },
        },
    )
}

async fn show_sign_up(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    headers: HeaderMap,
    Query(query): Query<RequestQuery>,
) -> Response {
    match pending_request(&state, &subdomain, query.request.as_deref(), &headers).await {
        Ok(Ok(pending)) => sign_up_page(&state, &headers, &pending, None, None),
        Ok(Err(response)) => response,
        Err(error) => server_error_page(&state, &headers, &error),
    }
}

async fn submit_sign_up(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    headers: HeaderMap,
    ip: ClientIp,
    form: Result<PageForm, FormError>,
) -> Response {
    let form = match form {
        Ok(BoundedForm(fields)) => SubmittedForm(fields.into_pairs()),
        Err(error) => return form_error_page(&state, &headers, error),
    };
    let pending = match submitted_request(&state, &subdomain, &headers, &form).await {
        Ok(pending) => pending,
        Err(response) => return response,
    };
    let attributes = pending.flow.sign_up_attributes();
    let custom = pending
        .tenant
        .spec
        .custom_attributes
        .clone()
        .unwrap_or_default();
    let collected = flows::collect_attributes(&attributes, &custom, &form.0);
    let collect_password = pending.flow.offers(flows::METHOD_EMAIL_PASSWORD);
    let password = form.get("password").unwrap_or_default().to_string();
    let rules = password_rules(&pending.tenant);
    let password_error = (collect_password && !rules.accepts(&password))
        .then(|| pending.text("error_password_rules"));
    let collected = match collected {
        Ok(collected) if password_error.is_none() => collected,
        result => {
            let fields = result
                .err()
                .unwrap_or_default()
                .into_iter()
                .map(|(name, problem): (String, FieldProblem)| {
                    (name, pending.text(problem.message_key()))
                })
                .collect();
            let errors = SignUpErrors {
                fields,
                password: password_error,
                form: None,
            };
            return sign_up_page(&state, &headers, &pending, Some(&form), Some(errors));
        }
    };
    match take_passcode_allowance(&state, &pending.tenant, &collected.email, &ip).await {
        Ok(true) => {}
        Ok(false) => {
            let errors = SignUpErrors {
                fields: BTreeMap::new(),
                password: None,
                form: Some(pending.text("error_send_limit")),
            };
            return sign_up_page(&state, &headers, &pending, Some(&form), Some(errors));
        }
        Err(error) => return server_error_page(&state, &headers, &error),
    }
    let password_hash = if collect_password {
        match hash_password_blocking(password).await {
            Ok(hash) => hash,
            Err(error) => return server_error_page(&state, &headers, &error),
        }
    } else {
        // Passwordless accounts get no usable password: "!" is no PHC string.
        "!".to_string()
    };
    // The account is created only once the email is verified; until then it waits in the
    // challenge. An email that already has an account gets a code too, and learns that only
    // after proving it owns the mailbox.
    let now = store::now();
    let account = PendingAccount {
        id: uuid::Uuid::new_v4().to_string(),
        email: collected.email.clone(),
        password_hash,
        display_name: collected.display_name.clone(),
        attributes: collected.values.clone(),
        consents: collected
            .consents
            .iter()
            .map(|name| (name.clone(), now))
            .collect(),
    };
    let payload = match serde_json::to_string(&account) {
        Ok(payload) => payload,
        Err(error) => return server_error_page(&state, &headers, &error),
    };
    start_challenge(
        &state,
        &headers,
        &pending,
        Purpose::SignUp,
        &collected.email,
        payload,
        true,
    )
    .await
}

// ---- one-time passcodes ---------------------------------------------------------------------

/// Wrong passcodes a challenge tolerates before a new code must be sent.
pub const MAX_PASSCODE_ATTEMPTS: i64 = 5;

/// The client's IP address, when the listener recorded it.
struct ClientIp(Option<std::net::IpAddr>);

impl axum::extract::FromRequestParts<Arc<AppState>> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        // Without --ip-lockout the address is not used at all.
        Ok(ClientIp(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .filter(|_| state.ip_lockout)
                .map(|info| info.0.ip()),
        ))
    }
}

/// What a passcode challenge is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    SignUp,
    SignIn,
    Mfa,
    Reset,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::SignUp => "sign_up",
            Purpose::SignIn => "sign_in",
            Purpose::Mfa => "mfa",
            Purpose::Reset => "reset",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        [
            Purpose::SignUp,
            Purpose::SignIn,
            Purpose::Mfa,
            Purpose::Reset,
        ]
        .into_iter()
        .find(|purpose| purpose.as_str() == value)
    }

    fn title_key(self) -> &'static str {
        match self {
            Purpose::SignUp => "verify_title_sign_up",
            Purpose::SignIn => "verify_title_sign_in",
            Purpose::Mfa => "verify_title_mfa",
            Purpose::Reset => "verify_title_reset",
        }
    }
}

/// The account a sign-up creates once its email is verified.
#[derive(serde::Serialize, Deserialize)]
struct PendingAccount {
    id: String,
    email: String,
    password_hash: String,
    display_name: Option<String>,
    attributes: BTreeMap<String, serde_json::Value>,
    consents: BTreeMap<String, i64>,
}

/// Lockout settings of the tenant: (threshold, duration in seconds).
fn lockout_policy(tenant: &Tenant) -> (i64, i64) {
    let lockout = tenant.spec.lockout.as_ref();
    (
        lockout.map_or(10, |lockout| i64::from(lockout.threshold)),
        lockout.map_or(60, |lockout| i64::from(lockout.duration_seconds)),
    )
}

/// Per-IP failures tolerate this many times the per-account threshold (several customers
/// may share an address).
const IP_THRESHOLD_FACTOR: i64 = 10;

/// What a throttle counts: failed sign-in attempts (passwords, passcodes) or passcodes sent.
#[derive(Clone, Copy)]
enum Throttled {
    Failures,
    Sends,
}

impl Throttled {
    fn prefix(self) -> &'static str {
        match self {
            Throttled::Failures => "",
            Throttled::Sends => "send:",
        }
    }

    /// The throttle row of `email` (`email:…` or `send:email:…`).
    fn email_subject(self, email: &str) -> String {
        format!("{}email:{email}", self.prefix())
    }

    /// The rows this attempt counts against, with their thresholds: the email, and the client
    /// IP (at `IP_THRESHOLD_FACTOR` times the threshold) when IP counting is on.
    fn subjects(self, email: &str, ip: &ClientIp, threshold: i64) -> Vec<(String, i64)> {
        let mut subjects = vec![(self.email_subject(email), threshold)];
        subjects.extend(ip.0.map(|ip| {
            (
                format!("{}ip:{ip}", self.prefix()),
                threshold * IP_THRESHOLD_FACTOR,
            )
        }));
        subjects
    }
}

/// Whether any of `subjects` is locked out now.
async fn any_locked(
    state: &AppState,
    tenant: &Tenant,
    subjects: &[(String, i64)],
) -> Result<bool, StoreError> {
    let now = store::now();
    for (subject, _) in subjects {
        if state.store.locked_until(&tenant.id, subject).await? > now {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Counts one attempt against each of `subjects`; one that reaches its threshold is locked
/// for the tenant's lockout duration.
async fn count_attempt(
    state: &AppState,
    tenant: &Tenant,
    subjects: &[(String, i64)],
) -> Result<(), StoreError> {
    let (_, duration) = lockout_policy(tenant);
    let until = store::now() + duration;
    for (subject, threshold) in subjects {
        state
            .store
            .record_failure(&tenant.id, subject, *threshold, until)
            .await?;
    }
    Ok(())
}

/// Whether the email or the client IP is locked out now.
async fn is_locked(
    state: &AppState,
    tenant: &Tenant,
    email: &str,
    ip: &ClientIp,
) -> Result<bool, StoreError> {
    let (threshold, _) = lockout_policy(tenant);
    any_locked(
        state,
        tenant,
        &Throttled::Failures.subjects(email, ip, threshold),
    )
    .await
}

/// Counts a failed attempt against the email and the client IP.
async fn record_failure(
    state: &AppState,
    tenant: &Tenant,
    email: &str,
    ip: &ClientIp,
) -> Result<(), StoreError> {
    let (threshold, _) = lockout_policy(tenant);
    count_attempt(
        state,
        tenant,
        &Throttled::Failures.subjects(email, ip, threshold),
    )
    .await
}

/// Passcodes one address may be sent before one of them is used; past that it gets no more
/// for the tenant's lockout duration, so nobody can flood a mailbox through these pages.
pub const MAX_UNUSED_PASSCODES: i64 = 5;

/// Whether a passcode may be sent to `email` now, counting it when it may. Unknown and known
/// addresses count alike, so the limit reveals nothing about accounts.
async fn take_passcode_allowance(
    state: &AppState,
    tenant: &Tenant,
    email: &str,
    ip: &ClientIp,
) -> Result<bool, StoreError> {
    let subjects = Throttled::Sends.subjects(email, ip, MAX_UNUSED_PASSCODES);
    if any_locked(state, tenant, &subjects).await? {
        return Ok(false);
    }
    count_attempt(state, tenant, &subjects).await?;
    Ok(true)
}

/// Sends a passcode in the background, so known and unknown accounts answer alike and as
/// fast; a failure is logged (without the code).
fn send_passcode(state: &Arc<AppState>, pending: &PendingRequest, to: &str, passcode: String) {
    let state = state.clone();
    let tenant = pending.tenant.clone();
    let to = to.to_string();
    let duration = minutes_text(&pending.strings, state.passcode_lifetime_seconds);
    let subject = i18n::fill(
        &pending.text("email_subject"),
        &[("tenant", &tenant.spec.display_name)],
    );
    let body = i18n::fill(
        &pending.text("email_body"),
        &[
            ("code", &passcode),
            ("duration", &duration),
            ("tenant", &tenant.spec.display_name),
        ],
    );
    tokio::spawn(async move {
        let result = async {
            let sender = tenant
                .spec
                .email
                .as_ref()
                .ok_or(email::EmailError::NotConfigured("email sender"))?;
            let smtp: StoredSmtp = state
                .store
                .document(Kind::Smtp, &tenant.id, &tenant.id)
                .await
                .ok()
                .flatten()
                .and_then(|document| serde_json::from_str(&document.spec).ok())
                .ok_or(email::EmailError::NotConfigured("SMTP server"))?;
            email::send(
                &state.kek,
                &tenant.id,
                &smtp,
                email::OutgoingEmail {
                    from_address: &sender.from_address,
                    from_name: sender.from_name.as_deref(),
                    to: &to,
                    subject: &subject,
                    body,
                },
            )
            .await
        }
        .await;
        match result {
            Ok(()) => tracing::info!(tenant = %tenant.subdomain, "passcode email sent"),
            Err(error) => {
                tracing::error!(tenant = %tenant.subdomain, error = %error, "failed to send a passcode email");
            }
        }
    });
}

/// Creates a challenge and shows the passcode page. `deliver` is false for unknown accounts:
/// the challenge is a decoy that no code opens, and nothing is sent, but the page is the same.
async fn start_challenge(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    pending: &PendingRequest,
    purpose: Purpose,
    email: &str,
    payload: String,
    deliver: bool,
) -> Response {
    let now = store::now();
    let id = crypto::random_token(24);
    let passcode = email::new_passcode();
    let challenge = ChallengeRecord {
        code_digest: if deliver {
            email::passcode_digest(&state.passcode_key, &id, &passcode)
        } else {
            String::new()
        },
        id,
        request_id: pending.id.clone(),
        purpose: purpose.as_str().to_string(),
        email: email.to_string(),
        payload,
        attempts: 0,
        sent_at: now,
        expires_at: now + state.passcode_lifetime_seconds,
        used_at: None,
    };
    if let Err(error) = state
        .store
        .create_challenge(&pending.tenant.id, &challenge)
        .await
    {
        return server_error_page(state, headers, &error);
    }
    if deliver {
        send_passcode(state, pending, email, passcode);
    }
    verify_page(state, headers, pending, &challenge, None, None)
}

fn verify_page(
    state: &AppState,
    headers: &HeaderMap,
    pending: &PendingRequest,
    challenge: &ChallengeRecord,
    error: Option<&str>,
    notice: Option<&str>,
) -> Response {
    let purpose = Purpose::parse(&challenge.purpose).unwrap_or(Purpose::SignIn);
    let duration = minutes_text(&pending.strings, state.passcode_lifetime_seconds);
    render_form(
        state,
        headers,
        FormPage {
            template: "verify.html",
            pending,
            status: if error.is_some() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            },
            values: context! {
                title => pending.text(purpose.title_key()),
                sent_text => i18n::fill(
                    &pending.text("verify_sent"),
                    &[("email", &challenge.email), ("duration", &duration)],
                ),
                challenge_id => challenge.id,
                new_password => purpose == Purpose::Reset,
                error => error,
                notice => notice,
            },
        },
    )
}

async fn submit_verify(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    headers: HeaderMap,
    ip: ClientIp,
    form: Result<PageForm, FormError>,
) -> Response {
    let form = match form {
        Ok(BoundedForm(fields)) => SubmittedForm(fields.into_pairs()),
        Err(error) => return form_error_page(&state, &headers, error),
    };
    let pending = match submitted_request(&state, &subdomain, &headers, &form).await {
        Ok(pending) => pending,
        Err(response) => return response,
    };
    let challenge = match state
        .store
        .challenge(
            &pending.tenant.id,
            form.get("challenge").unwrap_or_default(),
        )
        .await
    {
        Ok(Some(challenge)) if challenge.request_id == pending.id => challenge,
        Ok(_) => return csrf_failure(&state, &headers),
        Err(error) => return server_error_page(&state, &headers, &error),
    };
    let Some(purpose) = Purpose::parse(&challenge.purpose) else {
        return csrf_failure(&state, &headers);
    };
    let now = store::now();
    let show = |error: Option<&str>, notice: Option<&str>| {
        verify_page(&state, &headers, &pending, &challenge, error, notice)
    };
    if form.get("action") == Some("resend") {
        if challenge.used_at.is_some() {
            return show(Some(&pending.text("error_code_expired")), None);
        }
        let wait = challenge.sent_at + state.passcode_resend_seconds - now;
        if wait > 0 {
            let message = i18n::fill(
                &pending.text("error_resend_wait"),
                &[("seconds", &wait.to_string())],
            );
            return show(Some(&message), None);
        }
        match take_passcode_allowance(&state, &pending.tenant, &challenge.email, &ip).await {
            Ok(true) => {}
            Ok(false) => return show(Some(&pending.text("error_send_limit")), None),
            Err(error) => return server_error_page(&state, &headers, &error),
        }
        let passcode = email::new_passcode();
        let deliver = !challenge.code_digest.is_empty();
        let digest = if deliver {
            email::passcode_digest(&state.passcode_key, &challenge.id, &passcode)
        } else {
            String::new()
        };
        if let Err(error) = state
            .store
            .renew_challenge(
                &challenge.id,
                &digest,
                now,
                now + state.passcode_lifetime_seconds,
            )
            .await
        {
            return server_error_page(&state, &headers, &error);
        }
        if deliver {
            send_passcode(&state, &pending, &challenge.email, passcode);
        }
        return show(None, Some(&pending.text("notice_code_resent")));
    }
    if challenge.used_at.is_some() || challenge.expires_at <= now {
        return show(Some(&pending.text("error_code_expired")), None);
    }
    match is_locked(&state, &pending.tenant, &challenge.email, &ip).await {
        Ok(true) => return show(Some(&pending.text("error_locked")), None),
        Ok(false) => {}
        Err(error) => return server_error_page(&state, &headers, &error),
    }
    // The try is taken before the code is compared, so a burst of parallel guesses gets no
    // more than MAX_PASSCODE_ATTEMPTS comparisons.
    match state
        .store
        .take_challenge_attempt(&challenge.id, MAX_PASSCODE_ATTEMPTS, now)
        .await
    {
        Ok(true) => {}
        // Spent and expired challenges were answered above, so no try left means too many.
        Ok(false) => return show(Some(&pending.text("error_code_attempts")), None),
        Err(error) => return server_error_page(&state, &headers, &error),
    }
    let presented = form.get("code").unwrap_or_default();
    if !email::passcode_matches(
        &state.passcode_key,
        &challenge.id,
        &challenge.code_digest,
        presented,
    ) {
        if let Err(error) = record_failure(&state, &pending.tenant, &challenge.email, &ip).await {
            return server_error_page(&state, &headers, &error);
        }
        tracing::info!(tenant = %pending.tenant.subdomain, purpose = purpose.as_str(), "wrong passcode");
        return show(Some(&pending.text("error_code_wrong")), None);
    }
    // A reset checks the new password before spending the code, so a weak password can be
    // corrected with the same code.
    let new_password = form.get("new_password").unwrap_or_default().to_string();
    let rules = password_rules(&pending.tenant);
    if purpose == Purpose::Reset && !rules.accepts(&new_password) {
        let message = format!(
            "{} {}",
            pending.text("error_password_rules"),
            rules.describe(&pending.strings)
        );
        return show(Some(&message), None);
    }
    match state.store.consume_challenge(&challenge.id).await {
        Ok(true) => {}
        Ok(false) => return show(Some(&pending.text("error_code_expired")), None),
        Err(error) => return server_error_page(&state, &headers, &error),
    }
    // A used code clears the address's failures and the sends of address and IP.
    let mut cleared = vec![Throttled::Failures.email_subject(&challenge.email)];
    cleared.extend(
        Throttled::Sends
            .subjects(&challenge.email, &ip, MAX_UNUSED_PASSCODES)
            .into_iter()
            .map(|(subject, _)| subject),
    );
    for subject in cleared {
        if let Err(error) = state
            .store
            .clear_failures(&pending.tenant.id, &subject)
            .await
        {
            return server_error_page(&state, &headers, &error);
        }
    }
    let user_id = match purpose {
        Purpose::SignUp => {
            let Ok(account) = serde_json::from_str::<PendingAccount>(&challenge.payload) else {
                return server_error_page(&state, &headers, &"a pending account did not parse");
            };
            let user = UserRecord {
                id: account.id,
                email: account.email,
                password_hash: account.password_hash,
                display_name: account.display_name,
                failed_sign_ins: 0,
                locked_until: 0,
                attributes: account.attributes,
                consents: account.consents,
            };
            match state.store.create_user(&pending.tenant.id, &user).await {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => {
                    return sign_in_page(
                        &state,
                        &headers,
                        &pending,
                        &user.email,
                        Some(&pending.text("error_account_exists")),
                    );
                }
                Err(error) => return server_error_page(&state, &headers, &error),
            }
            tracing::info!(tenant = %pending.tenant.subdomain, user_id = %user.id, "account created");
            user.id
        }
        Purpose::SignIn | Purpose::Mfa => challenge.payload.clone(),
        Purpose::Reset => {
            let password_hash = match hash_password_blocking(new_password).await {
                Ok(hash) => hash,
                Err(error) => return server_error_page(&state, &headers, &error),
            };
            if let Err(error) = state
                .store
                .set_password(&pending.tenant.id, &challenge.payload, &password_hash)
                .await
            {
                return server_error_page(&state, &headers, &error);
            }
            tracing::info!(tenant = %pending.tenant.subdomain, user_id = %challenge.payload, "password reset");
            challenge.payload.clone()
        }
    };
    match start_session_and_redirect(&state, &pending, &user_id).await {
        Ok(response) => response,
        Err(error) => server_error_page(&state, &headers, &error.code()),
    }
}

// ---- password reset -------------------------------------------------------------------------

fn reset_page(
    state: &AppState,
    headers: &HeaderMap,
    pending: &PendingRequest,
    email: &str,
    error: Option<&str>,
) -> Response {
    render_form(
        state,
        headers,
        FormPage {
            template: "reset.html",
            pending,
            status: if error.is_some() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            },
            values: context! { email => email, error => error },
        },
    )
}

async fn show_reset(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    headers: HeaderMap,
    Query(query): Query<RequestQuery>,
) -> Response {
    match pending_request(&state, &subdomain, query.request.as_deref(), &headers).await {
        Ok(Ok(pending)) => {
            let hint = pending.request.login_hint.clone().unwrap_or_default();
            reset_page(&state, &headers, &pending, &hint, None)
        }
        Ok(Err(response)) => response,
        Err(error) => server_error_page(&state, &headers, &error),
    }
}

async fn submit_reset(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    headers: HeaderMap,
    ip: ClientIp,
    form: Result<PageForm, FormError>,
) -> Response {
    let form = match form {
        Ok(BoundedForm(fields)) => SubmittedForm(fields.into_pairs()),
        Err(error) => return form_error_page(&state, &headers, error),
    };
    let pending = match submitted_request(&state, &subdomain, &headers, &form).await {
        Ok(pending) => pending,
        Err(response) => return response,
    };
    let email = flows::normalize_email(form.get("email").unwrap_or_default());
    if !flows::is_plausible_email(&email) {
        return reset_page(
            &state,
            &headers,
            &pending,
            &email,
            Some(&pending.text("error_email")),
        );
    }
    let refused =
        |key: &str| reset_page(&state, &headers, &pending, &email, Some(&pending.text(key)));
    // A locked address can no more reset its password than sign in: the reset would be a way
    // around the lockout.
    match is_locked(&state, &pending.tenant, &email, &ip).await {
        Ok(true) => return refused("error_locked"),
        Ok(false) => {}
        Err(error) => return server_error_page(&state, &headers, &error),
    }
    match take_passcode_allowance(&state, &pending.tenant, &email, &ip).await {
        Ok(true) => {}
        Ok(false) => return refused("error_send_limit"),
        Err(error) => return server_error_page(&state, &headers, &error),
    }
    let user = match state.store.user_by_email(&pending.tenant.id, &email).await {
        Ok(user) => user,
        Err(error) => return server_error_page(&state, &headers, &error),
    };
    let payload = user
        .as_ref()
        .map(|user| user.id.clone())
        .unwrap_or_default();
    start_challenge(
        &state,
        &headers,
        &pending,
        Purpose::Reset,
        &email,
        payload,
        user.is_some(),
    )
    .await
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
                context! { lang => "en", t => i18n::built_in_strings("en"), tenant_name => "<b>", title => "T", message => "m", error_code => "invalid_request" },
            )
            .expect("render");
        assert!(html.contains("&lt;b&gt;"));
        assert!(html.contains("data-error=\"invalid_request\""));
        for name in ["signin.html", "signup.html", "logout.html"] {
            assert!(
                templates
                    .render(
                        name,
                        context! {
                            lang => "en",
                            t => i18n::built_in_strings("en"),
                            brand => branding::BrandView::default(),
                        }
                    )
                    .map_err(|error| error.to_string())
                    .is_ok(),
                "{name}"
            );
        }
    }

    #[test]
    fn sign_up_fields_render_every_control_with_errors_linked() {
        let templates = Templates::new();
        let field = |control: &'static str, error: Option<&str>| flows::FieldView {
            name: format!("attribute.{control}"),
            id: format!("field-{control}"),
            label_html: "I accept the <a href=\"https://x.example\">terms</a>".into(),
            label_text: "I accept the terms".into(),
            control,
            required: true,
            value: String::new(),
            checked: false,
            options: vec![flows::OptionView {
                label: "A".into(),
                value: "a".into(),
                checked: true,
            }],
            autocomplete: "off",
            error: error.map(str::to_string),
            max_length: 100,
        };
        let fields: Vec<_> = ["text", "number", "radio", "checkbox", "multi", "dropdown"]
            .into_iter()
            .map(|control| field(control, (control == "checkbox").then_some("Accept")))
            .collect();
        let html = templates
            .render(
                "signup.html",
                context! { lang => "en", t => i18n::built_in_strings("en"), fields => fields },
            )
            .expect("render");
        assert!(html.contains("<a href=\"https://x.example\">terms</a>"));
        assert!(html.contains("aria-describedby=\"error-field-checkbox\""));
        assert!(html.contains("<select id=\"field-dropdown\""));
        assert!(html.contains("type=\"radio\" value=\"a\" checked"));
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
    fn sign_in_verifies_against_the_decoy_unless_the_account_has_a_password() {
        let decoy = crypto::hash_password("decoy").expect("hash");
        let own = crypto::hash_password("Corr3ct-Horse").expect("hash");
        let on_decoy = PasswordCheck {
            phc: &decoy,
            can_sign_in: false,
        };
        assert_eq!(password_check(None, &decoy), on_decoy, "unknown address");
        // "!" is what passwordless sign-up stores; "" what an older or imported row may hold.
        for passwordless in ["!", ""] {
            assert_eq!(password_check(Some(passwordless), &decoy), on_decoy);
        }
        assert_eq!(
            password_check(Some(&own), &decoy),
            PasswordCheck {
                phc: &own,
                can_sign_in: true
            }
        );
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
