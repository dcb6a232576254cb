//! The admin API's error answer: an RFC 9457 `application/problem+json` document naming the
//! refused fields, or the owner of an object another owner may not change.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::MAX_BODY_BYTES;
use crate::contract::FieldError;
use crate::contract::owner::Owner;
use crate::runtime::domain::admin::AdminConflict;
use crate::runtime::store::StoreError;
use crate::runtime::tokens::TokenError;

/// An RFC 9457 problem document.
#[derive(Debug)]
pub struct Problem {
    pub(super) status: StatusCode,
    title: &'static str,
    pub(super) detail: String,
    pub(super) errors: Vec<FieldError>,
    /// For a refused write to another object's property: who owns it.
    owner: Option<Box<Owner>>,
}

impl Problem {
    pub(super) fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            owner: None,
        }
    }

    /// 422: the object breaks the rules of its kind.
    pub(super) fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|error| format!("{}: {}", error.field, error.reason))
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            title: "Invalid object",
            detail,
            errors,
            owner: None,
        }
    }

    /// 422 naming one field.
    pub(super) fn field(field: &str, reason: impl Into<String>) -> Self {
        Self::invalid(vec![FieldError {
            field: field.to_string(),
            reason: reason.into(),
        }])
    }

    /// 400: the body parses as JSON but not as the expected object.
    pub(super) fn wrong_shape(field: FieldError) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            title: "Malformed request body",
            detail: format!(
                "the JSON does not have the expected shape: {}: {}",
                field.field, field.reason
            ),
            errors: vec![field],
            owner: None,
        }
    }

    pub(super) fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found", what)
    }

    pub(super) fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal error",
            "the runtime failed to complete the request; see its logs",
        )
    }

    pub(super) fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request body too large",
            format!("the body must be at most {MAX_BODY_BYTES} bytes"),
        )
    }

    pub(super) fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            "the body must be JSON with Content-Type: application/json",
        )
    }

    /// 400 naming a malformed request header.
    pub(super) fn header(name: &str, reason: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "Invalid header",
            format!("{name}: {}", reason.into()),
        )
    }
}

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    problem_type: &'a str,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<&'a Owner>,
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = ProblemBody {
            problem_type: "about:blank",
            title: self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
            errors: &self.errors,
            owner: self.owner.as_deref(),
        };
        let mut response = (
            self.status,
            serde_json::to_string(&body).unwrap_or_default(),
        )
            .into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"ciam-admin\""),
            );
        }
        response
    }
}

impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(message) => {
                Problem::new(StatusCode::CONFLICT, "Conflict", message)
            }
            StoreError::OwnedByAnother { what, owner } => {
                tracing::warn!(object = %what, owner = %owner, "refused a write by another owner");
                Problem {
                    owner: Some(owner.clone()),
                    ..Problem::new(
                        StatusCode::CONFLICT,
                        "Owned by another object",
                        format!(
                            "{what} belongs to {owner}; only its owner may change or delete it"
                        ),
                    )
                }
            }
            other => {
                tracing::error!(error = %other, "admin request failed in storage");
                Problem::internal()
            }
        }
    }
}

impl From<TokenError> for Problem {
    fn from(error: TokenError) -> Self {
        tracing::error!(error = %error, "admin request failed handling signing keys");
        Problem::internal()
    }
}

impl From<AdminConflict> for Problem {
    fn from(conflict: AdminConflict) -> Self {
        match conflict {
            AdminConflict::Store(error) => error.into(),
            other => Problem::new(
                StatusCode::CONFLICT,
                conflict_title(&other),
                other.to_string(),
            ),
        }
    }
}

fn conflict_title(conflict: &AdminConflict) -> &'static str {
    match conflict {
        AdminConflict::TooManyUserFlows { .. } => "Too many user flows",
        AdminConflict::ApplicationInAnotherFlow { .. } => "Application already in a user flow",
        AdminConflict::ClientTypeChanged
        | AdminConflict::IdentifierUriInUse { .. }
        | AdminConflict::Store(_) => "Conflict",
    }
}
