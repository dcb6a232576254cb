//! Serves the UserInfo endpoint: reads the bearer token and renders the claims the domain
//! releases, or a bearer-token error (RFC 6750 §3).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::runtime::AppState;
use crate::runtime::domain::userinfo::{self, UserinfoError};
use crate::runtime::http::form::{FormError, OAuthForm};

use super::{OAuthError, json_no_store, known_tenant, no_store, provider, unknown_tenant_text};

/// A bearer-token error: JSON body and the `WWW-Authenticate` challenge.
fn bearer_error(status: StatusCode, error: &str, description: &str) -> Response {
    let challenge = format!("Bearer error=\"{error}\", error_description=\"{description}\"");
    let mut response = (
        status,
        axum::Json(serde_json::json!({ "error": error, "error_description": description })),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    no_store(&mut response);
    response
}

/// `GET /{subdomain}/openid/v2.0/userinfo`.
pub(super) async fn userinfo(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    headers: HeaderMap,
) -> Response {
    match userinfo_inner(&state, &subdomain, &headers).await {
        Ok(response) => response,
        Err(error) => {
            tracing::error!(error = ?error, "userinfo failed");
            OAuthError::server_error().into_response()
        }
    }
}

/// `POST` userinfo: the token comes in the header as for `GET`; the body is read only to bound
/// it like every public body (a body-carried `access_token`, RFC 6750 §2.2, is not supported).
pub(super) async fn userinfo_form(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
    headers: HeaderMap,
    form: Result<OAuthForm, FormError>,
) -> Response {
    if let Err(error) = form {
        return bearer_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &error.to_string(),
        );
    }
    userinfo(State(state), Path(subdomain), headers).await
}

async fn userinfo_inner(
    state: &AppState,
    subdomain: &str,
    headers: &HeaderMap,
) -> Result<Response, OAuthError> {
    let Some(tenant) = known_tenant(state, subdomain).await? else {
        return Ok(unknown_tenant_text());
    };
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
    else {
        let mut response = (StatusCode::UNAUTHORIZED, "").into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return Ok(response);
    };
    let issuer = state.issuer(&tenant.subdomain);
    match userinfo::claims(&provider(state, &tenant, &issuer), token.trim()).await {
        Ok(claims) => Ok(json_no_store(&claims)),
        Err(UserinfoError::InvalidToken(reason)) => Ok(bearer_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            &reason,
        )),
        Err(error @ UserinfoError::InsufficientScope) => Ok(bearer_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            &error.to_string(),
        )),
        Err(UserinfoError::Store(error)) => Err(error.into()),
        Err(UserinfoError::Token(error)) => Err(error.into()),
    }
}
