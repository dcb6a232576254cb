//! The sign-in page: shows the form, runs `domain::sign_in` on submit and renders its
//! outcome.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use minijinja::context;

use super::error::{OrServerError, PageError, csrf_failure};
use super::pending::{
    ClientIp, PendingRequest, RequestQuery, hosted, pending_request, submitted_request, throttles,
};
use super::render::{FormPage, form_status, render_form};
use super::verify::show_challenge;
use super::{read_form, refusal_text, start_session_and_redirect};
use crate::runtime::domain::sign_in::{self, SignInForm, SignInOutcome};
use crate::runtime::form::{FormError, PageForm};
use crate::runtime::{AppState, flows, store};

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

pub(super) async fn show_sign_in(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    headers: HeaderMap,
    Query(query): Query<RequestQuery>,
) -> Result<Response, PageError> {
    let pending = pending_request(&state, &subdomain, query.request.as_deref(), &headers).await?;
    let hint = pending.request.login_hint.clone().unwrap_or_default();
    Ok(sign_in_page(&state, &headers, &pending, &hint, None))
}

pub(super) async fn submit_sign_in(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    headers: HeaderMap,
    ip: ClientIp,
    form: Result<PageForm, FormError>,
) -> Result<Response, PageError> {
    let form = read_form(&state, &headers, form)?;
    let pending = submitted_request(&state, &subdomain, &headers, &form).await?;
    let submitted = SignInForm {
        email: flows::normalize_email(form.get("email").unwrap_or_default()),
        password: form.get("password").unwrap_or_default().to_string(),
        passwordless: form.get("method") == Some("otp"),
    };
    let email = submitted.email.clone();
    let outcome = sign_in::submit(
        hosted(&state),
        throttles(&state, &pending, &ip),
        &pending.flow,
        &pending.id,
        submitted,
        store::now(),
    )
    .await
    .or_server_error(&state, &headers)?;
    match outcome {
        SignInOutcome::MethodNotOffered => Err(csrf_failure(&state, &headers)),
        SignInOutcome::Refused(refusal) => {
            let message = refusal_text(&pending, refusal);
            Ok(sign_in_page(
                &state,
                &headers,
                &pending,
                &email,
                Some(&message),
            ))
        }
        SignInOutcome::PasscodeSent(issued) => {
            Ok(show_challenge(&state, &headers, &pending, issued))
        }
        SignInOutcome::SignedIn { user_id } => {
            start_session_and_redirect(&state, &headers, &pending, &user_id).await
        }
    }
}
