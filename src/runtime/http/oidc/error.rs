//! The OAuth 2.0 JSON error response (RFC 6749 §5.2) every OpenID Connect endpoint answers
//! with, and how the domain's errors map onto it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::runtime::domain::client_auth::ClientAuthError;
use crate::runtime::domain::grants::GrantError;
use crate::runtime::domain::scopes::ScopeError;
use crate::runtime::store::StoreError;
use crate::runtime::tokens::TokenError;

use super::no_store;

/// An OAuth 2.0 error response (RFC 6749 §5.2).
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    basic_challenge: bool,
}

impl OAuthError {
    /// An error with HTTP status 400.
    pub fn bad_request(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
            basic_challenge: false,
        }
    }

    /// `invalid_client` (401), with a `Basic` challenge when the client used Basic.
    pub fn invalid_client(description: impl Into<String>, basic_used: bool) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: description.into(),
            basic_challenge: basic_used,
        }
    }

    /// `server_error` (500).
    pub fn server_error() -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "server_error",
            description: "the server failed to complete the request".into(),
            basic_challenge: false,
        }
    }

    /// An error about an unknown tenant (404).
    pub fn unknown_tenant() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            error: "invalid_request",
            description: "unknown tenant".into(),
            basic_challenge: false,
        }
    }

    /// The OAuth error code.
    pub fn code(&self) -> &'static str {
        self.error
    }

    /// The human-readable description.
    pub fn description(&self) -> &str {
        &self.description
    }
}

impl From<StoreError> for OAuthError {
    fn from(error: StoreError) -> Self {
        tracing::error!(error = %error, "OAuth request failed in storage");
        OAuthError::server_error()
    }
}

impl From<TokenError> for OAuthError {
    fn from(error: TokenError) -> Self {
        tracing::error!(error = %error, "OAuth request failed handling tokens");
        OAuthError::server_error()
    }
}

impl From<ScopeError> for OAuthError {
    fn from(error: ScopeError) -> Self {
        match error {
            ScopeError::Invalid(reason) => OAuthError::bad_request("invalid_scope", reason),
            ScopeError::Store(error) => error.into(),
        }
    }
}

impl From<GrantError> for OAuthError {
    fn from(error: GrantError) -> Self {
        match error {
            GrantError::Store(error) => error.into(),
            GrantError::Token(error) => error.into(),
            other => OAuthError::bad_request(other.code(), other.to_string()),
        }
    }
}

/// A client authentication error that is not a counted failure: a malformed request or a
/// server failure (failures go through the token handler, which counts and logs them).
impl From<ClientAuthError> for OAuthError {
    fn from(error: ClientAuthError) -> Self {
        match error {
            ClientAuthError::InvalidRequest(reason) => {
                OAuthError::bad_request("invalid_request", reason)
            }
            ClientAuthError::Failed {
                method, failure, ..
            } => OAuthError::invalid_client(
                failure.to_string(),
                method == crate::runtime::domain::client_auth::AuthMethod::Basic,
            ),
            ClientAuthError::Store(error) => error.into(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            axum::Json(serde_json::json!({
                "error": self.error,
                "error_description": self.description,
            })),
        )
            .into_response();
        no_store(&mut response);
        if self.basic_challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"token\""),
            );
        }
        response
    }
}
