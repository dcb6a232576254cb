//! Serves the authorization endpoint: validates the request through the domain, answers from a
//! fresh session or sends the customer to the hosted sign-in page (sign-up for
//! `prompt=create`), and returns to the app with a code or an OAuth error in the request's
//! response mode (query redirect or form post).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};

pub use crate::runtime::domain::authorize::AuthorizationRequest;
use crate::runtime::domain::authorize::{
    self as domain, AuthorizeError, AuthorizeQuery, NO_USER_FLOW, ResponseMode, TrustedClient,
    ValidAuthorization,
};
use crate::runtime::http::pages;
use crate::runtime::http::redirect::{ClientReturn, complete_authorization};
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

/// The way back to a trusted client, in the response mode the request asked for (also for
/// the errors of a request that turns out invalid).
fn client_return<'a>(
    state: &AppState,
    tenant: &'a Tenant,
    client: &'a TrustedClient,
    query: &'a AuthorizeQuery,
    headers: &HeaderMap,
) -> ClientReturn<'a> {
    ClientReturn {
        redirect_uri: &client.redirect_uri,
        mode: ResponseMode::of(query),
        state: query.state.as_deref(),
        issuer: state.issuer(&tenant.subdomain),
        language: pages::request_language(tenant, Some(headers), query.ui_locales.as_deref()),
        tenant_name: &tenant.spec.display_name,
    }
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
    let way_back = client_return(state, &tenant, &client, &query, headers);
    if !domain::has_user_flow(&state.store, &tenant.id, &client.client_id).await? {
        return Ok(no_user_flow(state, &tenant, headers, &query, &way_back));
    }
    let valid = match domain::validate(&state.store, &tenant, &client, &query).await {
        Ok(valid) => valid,
        Err(refusal) => {
            let error = [
                ("error", refusal.code),
                ("error_description", refusal.description.as_str()),
            ];
            return Ok(way_back.respond(state, &error));
        }
    };
    let now = store::now();
    if !valid.forces_login()
        && let Some(session) = pages::current_session(state, &tenant, headers).await?
        && valid.accepts_session(&session, now)
    {
        let language = way_back.language;
        return Ok(
            complete_authorization(state, &tenant, &valid.request, &session, language).await?,
        );
    }
    if valid.is_silent() {
        let error = [
            ("error", "login_required"),
            ("error_description", "the user is not signed in"),
        ];
        return Ok(way_back.respond(state, &error));
    }
    let request_id = domain::start_sign_in(&state.store, &tenant.id, &valid.request, now).await?;
    let page = first_page(state, &tenant, &valid, way_back.language).await?;
    Ok(Redirect::to(&format!(
        "{}/{}/{page}?request={request_id}",
        state.settings.public_url, tenant.subdomain
    ))
    .into_response())
}

/// The hosted page a sign-in starts on: sign-up for `prompt=create` when the tenant offers
/// sign-up in the page language, else sign-in.
async fn first_page(
    state: &AppState,
    tenant: &Tenant,
    valid: &ValidAuthorization,
    language: &str,
) -> Result<&'static str, OAuthError> {
    if valid.opens_sign_up() && pages::sign_up_offered(state, tenant, language).await? {
        Ok("signup")
    } else {
        Ok("signin")
    }
}

/// A client in no user flow has no sign-in experience: the customer sees why, and the app
/// gets an OAuth error (right away for `prompt=none`, else through the page's link or form).
fn no_user_flow(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    query: &AuthorizeQuery,
    way_back: &ClientReturn<'_>,
) -> Response {
    let error = [
        ("error", "unauthorized_client"),
        ("error_description", NO_USER_FLOW),
    ];
    if query.prompt.as_deref() == Some("none") {
        return way_back.respond(state, &error);
    }
    pages::no_user_flow_page(
        state,
        tenant,
        Some(headers),
        query.ui_locales.as_deref(),
        &way_back.way_back(&error),
    )
}
