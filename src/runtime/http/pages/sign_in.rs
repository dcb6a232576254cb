//! The sign-in page: shows the form, runs `domain::sign_in` on submit and renders its
//! outcome.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::error::{OrServerError, PageError, csrf_failure};
use super::form::sign_in_page;
use super::pending::{
    ClientIp, RequestQuery, hosted, pending_request, submitted_request, throttles,
};
use super::verify::show_challenge;
use super::{read_form, refusal_text, start_session_and_redirect};
use crate::runtime::domain::flows;
use crate::runtime::domain::sign_in::{self, SignInForm, SignInOutcome};
use crate::runtime::http::form::{FormError, PageForm};
use crate::runtime::{AppState, store};

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
