//! Serves the authorization endpoint: validates the request through the domain, answers from a
//! fresh session or sends the customer to the hosted sign-in page, and redirects back to the
//! app with a code or an OAuth error.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};

pub use crate::runtime::domain::authorize::AuthorizationRequest;
use crate::runtime::domain::authorize::{
    self as domain, AuthorizeError, AuthorizeQuery, NO_USER_FLOW, TrustedClient,
};
use crate::runtime::http::pages;
use crate::runtime::http::redirect::{
    complete_authorization, redirect_location, redirect_to_client,
};
use crate::runtime::store;
use crate::runtime::{AppState, Tenant};

use super::{OAuthError, bad_request_page, known_tenant, unknown_tenant_page};

/// `GET /{subdomain}/oauth2/v2.0/authorize`.
pub(super) async fn authorize(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    headers: HeaderMap,
    Query(query): Query<AuthorizeQuery>,
) -> Response {
    match authorize_inner(&state, &subdomain, &headers, query).await {
        Ok(response) => response,
        Err(error) => {
            tracing::error!(error = ?error, "authorization request failed");
            super::server_error_page(&state, &headers, "error_server")
        }
    }
}

/// An OAuth error redirected to the trusted client.
fn redirect_error(
    state: &AppState,
    tenant: &Tenant,
    client: &TrustedClient,
    query: &AuthorizeQuery,
    code: &str,
    description: &str,
) -> Response {
    redirect_to_client(
        &client.redirect_uri,
        &[("error", code), ("error_description", description)],
        query.state.as_deref(),
        &state.issuer(&tenant.subdomain),
    )
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
    // Until client and redirect URI are known to be valid, errors are shown, never redirected.
    let client = match domain::identify_client(&state.store, &tenant, &query).await {
        Ok(client) => client,
        Err(AuthorizeError::Untrusted(refusal)) => {
            return Ok(bad_request_page(
                state,
                &tenant,
                headers,
                refusal.code(),
                refusal.message_key(),
            ));
        }
        Err(AuthorizeError::Store(error)) => return Err(error.into()),
    };
    if !domain::has_user_flow(&state.store, &tenant.id, &client.client_id).await? {
        return Ok(no_user_flow(state, &tenant, headers, &client, &query));
    }
    let valid = match domain::validate(&state.store, &tenant, &client, &query).await {
        Ok(valid) => valid,
        Err(refusal) => {
            return Ok(redirect_error(
                state,
                &tenant,
                &client,
                &query,
                refusal.code,
                &refusal.description,
            ));
        }
    };
    let now = store::now();
    if !valid.forces_login()
        && let Some(session) = pages::current_session(state, &tenant, headers).await?
        && valid.accepts_session(&session, now)
    {
        return Ok(complete_authorization(state, &tenant, &valid.request, &session).await?);
    }
    if valid.is_silent() {
        let description = "the user is not signed in";
        return Ok(redirect_error(
            state,
            &tenant,
            &client,
            &query,
            "login_required",
            description,
        ));
    }
    let request_id = domain::start_sign_in(&state.store, &tenant.id, &valid.request, now).await?;
    Ok(Redirect::to(&format!(
        "{}/{}/signin?request={request_id}",
        state.settings.public_url, tenant.subdomain
    ))
    .into_response())
}

/// A client in no user flow has no sign-in experience: the customer sees why, and the app
/// gets an OAuth error (right away for `prompt=none`, else through the page's link).
fn no_user_flow(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    client: &TrustedClient,
    query: &AuthorizeQuery,
) -> Response {
    if query.prompt.as_deref() == Some("none") {
        return redirect_error(
            state,
            tenant,
            client,
            query,
            "unauthorized_client",
            NO_USER_FLOW,
        );
    }
    let return_to_client = redirect_location(
        &client.redirect_uri,
        &[
            ("error", "unauthorized_client"),
            ("error_description", NO_USER_FLOW),
        ],
        query.state.as_deref(),
        &state.issuer(&tenant.subdomain),
    );
    pages::no_user_flow_page(
        state,
        tenant,
        Some(headers),
        query.ui_locales.as_deref(),
        &return_to_client,
    )
}
