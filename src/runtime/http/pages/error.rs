//! Pages about errors the client cannot be redirected to, and `PageError`, the hosted
//! pages' error: an error page ready to send.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::context;

use super::render::{page_language, render_page, request_language};
use crate::runtime::http::form::FormError;
use crate::runtime::http::redirect::WayBack;
use crate::runtime::i18n;
use crate::runtime::{AppState, Tenant};

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

/// Why a hosted page could not be served as asked: the error page to send instead (boxed,
/// so results stay small).
#[derive(Debug)]
pub struct PageError(Box<Response>);

impl PageError {
    /// An error page already rendered (expired link, forged form, …).
    pub fn shown(response: Response) -> Self {
        Self(Box::new(response))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// Turns a failure into the server error page (logging it), for `?` in handlers.
pub trait OrServerError<T> {
    /// The value, or the server error page for the error.
    ///
    /// # Errors
    /// The server error page.
    fn or_server_error(self, state: &AppState, headers: &HeaderMap) -> Result<T, PageError>;
}

impl<T, E: std::fmt::Display> OrServerError<T> for Result<T, E> {
    fn or_server_error(self, state: &AppState, headers: &HeaderMap) -> Result<T, PageError> {
        self.map_err(|error| server_error_page(state, headers, &error))
    }
}

/// The page of a failure inside the runtime (logged, never shown in detail).
pub(super) fn server_error_page(
    state: &AppState,
    headers: &HeaderMap,
    error: &dyn std::fmt::Display,
) -> PageError {
    tracing::error!(error = %error, "hosted page failed");
    PageError::shown(
        ErrorPage {
            tenant: None,
            headers: Some(headers),
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "server_error",
            message_key: "error_server",
        }
        .render(state),
    )
}

/// The page of a form this browser did not get from us (or that expired).
pub(super) fn csrf_failure(state: &AppState, headers: &HeaderMap) -> PageError {
    PageError::shown(
        ErrorPage {
            tenant: None,
            headers: Some(headers),
            status: StatusCode::FORBIDDEN,
            code: "invalid_request",
            message_key: "error_form_expired",
        }
        .render(state),
    )
}

/// The page for a public form body over the limits of [`crate::runtime::http::form`]:
/// `invalid_request`, 413 or 400, naming the limit. A body that is no form at all is answered
/// like a forged one (no page of the runtime sends it).
pub fn form_error_page(state: &AppState, headers: &HeaderMap, error: FormError) -> Response {
    let (message_key, limit) = match error {
        FormError::TooLarge { limit } => ("error_form_too_large", limit),
        FormError::TooManyParameters { limit } => ("error_form_too_many_fields", limit),
        FormError::NotForm => return csrf_failure(state, headers).into_response(),
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

/// The page shown when the client is in no user flow, with a link (or, for `form_post`, a
/// form) that returns the OAuth error to the app. `ui_locales` of the request and
/// `Accept-Language` choose the language.
pub fn no_user_flow_page(
    state: &AppState,
    tenant: &Tenant,
    headers: Option<&HeaderMap>,
    ui_locales: Option<&str>,
    way_back: &WayBack,
) -> Response {
    let language = request_language(tenant, headers, ui_locales);
    let strings = i18n::built_in_strings(language);
    let (return_url, return_form) = match way_back {
        WayBack::Link(url) => (Some(url), None),
        WayBack::Form(form) => (None, Some(form)),
    };
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
            return_form => return_form,
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
