//! Serves the admin API: declarative tenants, clients, user flows, branding and signing keys.
//!
//! `PUT` takes a whole object, `GET` returns it for drift checks, `DELETE` removes it; the same
//! listener serves `/healthz`, `/readyz` and `/metrics`.
//!
//! ```text
//!  /admin/v1/tenants/{subdomain}                      tenant
//!      ├── /clients/{clientId}                        app registration
//!      ├── /userflows/{name}                          user flow
//!      ├── /branding                                  branding (one per tenant)
//!      ├── /smtp                                      SMTP settings (one per tenant)
//!      └── /signing-keys, /signing-keys/rotate        key inventory and rotation
//! ```
//!
//! Every request needs `Authorization: Bearer <token from the admin token file>`. Errors are
//! RFC 9457 `application/problem+json` documents naming the field and the reason
//! ([`Problem`]).
//!
//! Clients, user flows, branding and SMTP settings share their routes: each kind's file says
//! only what is its own (validation, checks against stored objects, its view), and
//! `document.rs` serves list, get, put and delete for all of them. Rules that span objects
//! (user flows per tenant, a client's type and identifier URI) are in
//! [`crate::runtime::domain::admin`].

mod branding;
mod clients;
mod document;
mod extract;
mod flows;
mod health;
mod keys;
mod problem;
mod smtp;
mod tenants;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use extract::{AdminJson, MAX_BODY_BYTES, NoOwner, OptionalAdminJson, OwnerClaim, ROOT_FIELD};
pub use keys::RotateRequest;
pub use problem::Problem;

use crate::runtime::domain::admin::stored_spec;
use crate::runtime::metrics::{self, ListenerMetrics};
use crate::runtime::store::Document;
use crate::runtime::{AppState, Tenant};
use document::{list_route, named_routes, singleton_routes};

/// The admin listener's router.
pub fn router(state: Arc<AppState>) -> Router {
    let listener_metrics = ListenerMetrics {
        listener: "admin",
        metrics: state.metrics.clone(),
    };
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::render_metrics))
        .route_layer(middleware::from_fn(refuse_unexpected_body))
        .merge(api(state.clone()))
        .route_layer(middleware::from_fn_with_state(
            listener_metrics,
            metrics::track,
        ))
        .fallback(|| async { Problem::not_found("no such admin endpoint") })
        .with_state(state)
}

/// `/admin/v1/…`, behind the bearer token.
fn api(state: Arc<AppState>) -> Router<Arc<AppState>> {
    use self::{branding::Branding, clients::Clients, flows::UserFlows, smtp::Smtp};
    Router::new()
        .route("/admin/v1/tenants", get(tenants::list_tenants))
        .route(
            "/admin/v1/tenants/{tenant}",
            get(tenants::get_tenant)
                .put(tenants::put_tenant)
                .delete(tenants::delete_tenant),
        )
        .route(
            "/admin/v1/tenants/{tenant}/clients",
            list_route::<Clients>(),
        )
        .route(
            "/admin/v1/tenants/{tenant}/clients/{client_id}",
            named_routes::<Clients>(),
        )
        .route(
            "/admin/v1/tenants/{tenant}/userflows",
            list_route::<UserFlows>(),
        )
        .route(
            "/admin/v1/tenants/{tenant}/userflows/{name}",
            named_routes::<UserFlows>(),
        )
        .route(
            "/admin/v1/tenants/{tenant}/branding",
            singleton_routes::<Branding>(),
        )
        .route(
            "/admin/v1/tenants/{tenant}/smtp",
            singleton_routes::<Smtp>(),
        )
        .route(
            "/admin/v1/tenants/{tenant}/signing-keys",
            get(keys::list_signing_keys),
        )
        .route(
            "/admin/v1/tenants/{tenant}/signing-keys/rotate",
            post(keys::rotate_signing_keys),
        )
        .route_layer(middleware::from_fn(refuse_unexpected_body))
        .route_layer(middleware::from_fn_with_state(state, require_token))
}

/// Middleware: rejects requests without the admin bearer token (compared in constant time).
async fn require_token(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(token) if state.admin_token_matches(token.as_bytes()) => next.run(request).await,
        Some(_) => Problem::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "the bearer token is not valid",
        )
        .into_response(),
        None => Problem::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "an Authorization: Bearer token is required",
        )
        .into_response(),
    }
}

/// Middleware for the admin listener: a request whose endpoint takes no body (every `GET`,
/// `HEAD` and `DELETE`) is refused when it carries one: 413 when over [`MAX_BODY_BYTES`], else
/// 400. `PUT` and `POST` handlers read their bodies themselves.
async fn refuse_unexpected_body(request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::PUT | Method::POST) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    match extract::read_body(&parts.headers, body).await {
        Ok(bytes) if bytes.is_empty() => next.run(Request::from_parts(parts, Body::empty())).await,
        Ok(_) => Problem::new(
            StatusCode::BAD_REQUEST,
            "Unexpected request body",
            format!("{} requests to this endpoint take no body", parts.method),
        )
        .into_response(),
        Err(problem) => problem.into_response(),
    }
}

fn rfc3339(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds)
        .map(|timestamp| timestamp.to_string())
        .unwrap_or_default()
}

/// The spec of a stored document (500 when it no longer parses).
fn stored_json<T: DeserializeOwned>(document: &Document, what: &'static str) -> Result<T, Problem> {
    Ok(stored_spec(document, what)?)
}

fn to_json<T: Serialize>(value: &T) -> Result<String, Problem> {
    serde_json::to_string(value).map_err(|error| {
        tracing::error!(error = %error, "failed to serialize a spec");
        Problem::internal()
    })
}

/// 201 with the object's view when `created`, else 200.
fn respond(created: bool, body: serde_json::Value) -> Response {
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, axum::Json(body)).into_response()
}

async fn require_tenant(state: &AppState, subdomain: &str) -> Result<Tenant, Problem> {
    state
        .tenant(subdomain)
        .await?
        .ok_or_else(|| Problem::not_found(format!("tenant {subdomain} does not exist")))
}
