//! Form pages of a pending authorization request: the common parts every form shows (tenant,
//! app, CSRF token, password rules, branding) and the sign-in form itself, which the sign-in
//! and the passcode pages both return to.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use minijinja::context;

use super::cookies::{csrf_cookie, csrf_token};
use super::pending::PendingRequest;
use super::render::render_page;
use crate::runtime::domain::flows;
use crate::runtime::domain::passwords::PasswordRules;
use crate::runtime::{AppState, i18n};

/// What a form page shows besides the common parts.
pub(super) struct FormPage<'a> {
    pub template: &'static str,
    pub pending: &'a PendingRequest,
    pub status: StatusCode,
    pub values: minijinja::Value,
}

/// The status of a form page: 400 when it shows an error.
pub(super) fn form_status(has_error: bool) -> StatusCode {
    if has_error {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    }
}

/// Renders a form page of a pending request with its CSRF token (setting the CSRF cookie
/// when the browser has none yet).
pub(super) fn render_form(state: &AppState, headers: &HeaderMap, page: FormPage<'_>) -> Response {
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
        csrf_token => csrf_token(&state.keys.csrf_key, &cookie_value, &pending.id),
        password_rules => PasswordRules::of(tenant).describe(&pending.strings),
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

/// The sign-in form with `email` filled in and an optional error.
pub(super) fn sign_in_page(
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
            status: form_status(error.is_some()),
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
