//! Serves RP-initiated logout. With a valid `id_token_hint` the session ends at once; without
//! one anybody could have sent the request (an image on another site), so the user is asked
//! first and the session ends only on the confirmation form's CSRF-protected `POST`
//! (OpenID Connect RP-Initiated Logout 1.0 §2 and §6).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::runtime::domain::logout::{self, LogoutError, LogoutQuery, ValidLogout};
use crate::runtime::http::form::{BoundedForm, FormError, OAuthForm};
use crate::runtime::http::pages;
use crate::runtime::{AppState, Tenant};

use super::{OAuthError, bad_request_page, known_tenant, no_store, provider, unknown_tenant_page};
use crate::runtime::http::redirect::encode_component;

/// `GET` logout: never confirmed, so without `id_token_hint` it only asks.
pub(super) async fn logout(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    headers: HeaderMap,
    Query(query): Query<LogoutQuery>,
) -> Response {
    logout_common(&state, &subdomain, &headers, query, false).await
}

/// `POST` logout: an app's form post, or the confirmation form's (which carries its CSRF token).
pub(super) async fn logout_form(
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
            super::server_error_page(state, headers, "error_sign_out_failed")
        }
    }
}

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
    let issuer = state.issuer(&tenant.subdomain);
    let logout = match logout::validate(&provider(state, &tenant, &issuer), &query).await {
        Ok(logout) => logout,
        Err(LogoutError::Refused(refusal)) => {
            return Ok(bad_request_page(
                state,
                &tenant,
                headers,
                "invalid_request",
                refusal.message_key(),
            ));
        }
        Err(LogoutError::Store(error)) => return Err(error.into()),
        Err(LogoutError::Token(error)) => return Err(error.into()),
    };
    if !logout.hinted && !confirmed {
        let confirmation = pages::LogoutConfirmation {
            client_id: query.client_id.as_deref(),
            post_logout_redirect_uri: logout.redirect.as_deref(),
            state: query.state.as_deref(),
        };
        return Ok(pages::logout_confirmation_page(state, &tenant, headers, &confirmation).await?);
    }
    sign_out(state, &tenant, headers, logout, query.state.as_deref()).await
}

/// Ends the session and sends the browser to the app's redirect (with its `state`) or to the
/// signed-out page.
async fn sign_out(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    logout: ValidLogout,
    reply_state: Option<&str>,
) -> Result<Response, OAuthError> {
    let clear_cookie = pages::end_session(state, tenant, headers).await?;
    let mut response = match logout.redirect {
        Some(uri) => {
            let location = match reply_state {
                Some(reply_state) => {
                    let separator = if uri.contains('?') { '&' } else { '?' };
                    format!("{uri}{separator}state={}", encode_component(reply_state))
                }
                None => uri,
            };
            Redirect::to(&location).into_response()
        }
        None => pages::signed_out_page(state, tenant, Some(headers)),
    };
    response
        .headers_mut()
        .append(header::SET_COOKIE, clear_cookie);
    no_store(&mut response);
    Ok(response)
}
