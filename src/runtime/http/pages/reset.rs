//! The password-reset page: asks for the address, then hands over to the verify page.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use minijinja::context;

use super::error::{OrServerError, PageError};
use super::form::{FormPage, form_status, render_form};
use super::pending::{
    ClientIp, PendingRequest, RequestQuery, hosted, pending_request, submitted_request, throttles,
};
use super::verify::show_challenge;
use super::{read_form, refusal_text};
use crate::runtime::domain::flows;
use crate::runtime::domain::reset;
use crate::runtime::http::form::{FormError, PageForm};
use crate::runtime::{AppState, store};

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
            status: form_status(error.is_some()),
            values: context! { email => email, error => error },
        },
    )
}

pub(super) async fn show_reset(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    headers: HeaderMap,
    Query(query): Query<RequestQuery>,
) -> Result<Response, PageError> {
    let pending = pending_request(&state, &subdomain, query.request.as_deref(), &headers).await?;
    let hint = pending.request.login_hint.clone().unwrap_or_default();
    Ok(reset_page(&state, &headers, &pending, &hint, None))
}

pub(super) async fn submit_reset(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    headers: HeaderMap,
    ip: ClientIp,
    form: Result<PageForm, FormError>,
) -> Result<Response, PageError> {
    let form = read_form(&state, &headers, form)?;
    let pending = submitted_request(&state, &subdomain, &headers, &form).await?;
    let email = flows::normalize_email(form.get("email").unwrap_or_default());
    let issued = reset::submit(
        hosted(&state),
        throttles(&state, &pending, &ip),
        &pending.id,
        &email,
        store::now(),
    )
    .await
    .or_server_error(&state, &headers)?;
    match issued {
        Ok(issued) => Ok(show_challenge(&state, &headers, &pending, issued)),
        Err(refusal) => {
            let message = refusal_text(&pending, refusal);
            Ok(reset_page(
                &state,
                &headers,
                &pending,
                &email,
                Some(&message),
            ))
        }
    }
}
