//! Serves each tenant's OpenID Connect endpoints on paths shaped like Entra External ID's.
//!
//! ```text
//!  {publicUrl}/{subdomain}/v2.0/.well-known/openid-configuration   (issuer + /.well-known/…)
//!  {publicUrl}/{subdomain}/.well-known/openid-configuration        (authority + .well-known/…)
//!  {publicUrl}/{subdomain}/discovery/v2.0/keys
//!  {publicUrl}/{subdomain}/oauth2/v2.0/authorize | token | logout
//!  {publicUrl}/{subdomain}/openid/v2.0/userinfo
//! ```
//!
//! Each handler extracts the request, calls `runtime::domain`, and renders the result; OAuth
//! errors render through [`OAuthError`].

pub mod authorize;
pub mod discovery;
pub mod error;
pub mod logout;
pub mod token;
pub mod userinfo;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use tower_http::cors::CorsLayer;

pub use error::OAuthError;

use crate::contract as model;
use crate::runtime::domain::grants::Provider;
use crate::runtime::http::pages;
pub(crate) use crate::runtime::http::redirect::no_store;
use crate::runtime::metrics::{self, ListenerMetrics};
use crate::runtime::store::StoreError;
use crate::runtime::{AppState, Tenant};

/// The public listener's router: OpenID Connect endpoints and hosted pages.
pub fn router(state: Arc<AppState>) -> Router {
    // Browser apps (SPAs) call these cross-origin; none of them uses cookies.
    let cors = CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]);
    let listener_metrics = ListenerMetrics {
        listener: "public",
        metrics: state.metrics.clone(),
    };
    Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(discovery::discovery).layer(cors.clone()),
        )
        // The same document where libraries that derive it from the authority look.
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(discovery::discovery).layer(cors.clone()),
        )
        .route(
            "/{tenant}/discovery/v2.0/keys",
            get(discovery::jwks).layer(cors.clone()),
        )
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize::authorize))
        .route(
            "/{tenant}/oauth2/v2.0/token",
            post(token::token).layer(cors.clone()),
        )
        .route(
            "/{tenant}/openid/v2.0/userinfo",
            get(userinfo::userinfo)
                .post(userinfo::userinfo_form)
                .layer(cors),
        )
        .route(
            "/{tenant}/oauth2/v2.0/logout",
            get(logout::logout).post(logout::logout_form),
        )
        .merge(pages::router())
        .route_layer(middleware::from_fn_with_state(
            listener_metrics,
            metrics::track,
        ))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
        .with_state(state)
}

/// The tenant a path's subdomain names, if it names one.
pub(crate) async fn known_tenant(
    state: &AppState,
    subdomain: &str,
) -> Result<Option<Tenant>, StoreError> {
    if !model::is_valid_subdomain(subdomain) {
        return Ok(None);
    }
    state.tenant(subdomain).await
}

/// The tenant's OpenID provider for the domain: store, keys and issuer.
fn provider<'a>(state: &'a AppState, tenant: &'a Tenant, issuer: &'a str) -> Provider<'a> {
    Provider {
        store: &state.store,
        keyring: &state.keys.keyring,
        tenant,
        issuer,
    }
}

/// `value` as JSON, not cacheable.
pub(crate) fn json_no_store<T: Serialize>(value: &T) -> Response {
    let mut response = axum::Json(value).into_response();
    no_store(&mut response);
    response
}

/// The plain answer of an endpoint whose path names no tenant (404).
fn unknown_tenant_text() -> Response {
    (StatusCode::NOT_FOUND, "unknown tenant").into_response()
}

/// The page for a tenant path that names no tenant.
fn unknown_tenant_page(state: &AppState, headers: &HeaderMap) -> Response {
    pages::ErrorPage {
        tenant: None,
        headers: Some(headers),
        status: StatusCode::NOT_FOUND,
        code: "invalid_request",
        message_key: "error_tenant_unknown",
    }
    .render(state)
}

/// The page for a request of `tenant` that cannot go back to the app (400): the OAuth error
/// `code` and the message `message_key` in the customer's language.
fn bad_request_page(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    code: &str,
    message_key: &str,
) -> Response {
    pages::ErrorPage {
        tenant: Some(tenant),
        headers: Some(headers),
        status: StatusCode::BAD_REQUEST,
        code,
        message_key,
    }
    .render(state)
}

/// The 500 page of a browser-facing endpoint, after logging what failed.
fn server_error_page(state: &AppState, headers: &HeaderMap, message_key: &'static str) -> Response {
    pages::ErrorPage {
        tenant: None,
        headers: Some(headers),
        status: StatusCode::INTERNAL_SERVER_ERROR,
        code: "server_error",
        message_key,
    }
    .render(state)
}
