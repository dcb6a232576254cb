//! What the admin API reads from a request besides its path: bounded JSON bodies and the
//! owner headers, each refused with a [`Problem`] naming what is wrong.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use super::Problem;
use crate::contract::FieldError;
use crate::contract::owner::{self, Claim, Owner};

/// Largest accepted request body (1 MiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

fn is_json_media_type(headers: &HeaderMap) -> bool {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    media_type == "application/json" || media_type.ends_with("+json")
}

/// Refuses a body whose declared length is over [`MAX_BODY_BYTES`] before reading any of it,
/// so a client sending `Expect: 100-continue` is answered without uploading the body.
fn check_declared_length(headers: &HeaderMap) -> Result<(), Problem> {
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared_length.is_some_and(|length| length > MAX_BODY_BYTES) {
        return Err(Problem::too_large());
    }
    Ok(())
}

/// Reads a body of at most [`MAX_BODY_BYTES`] (413 beyond, also when sent chunked).
pub(super) async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, Problem> {
    check_declared_length(headers)?;
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| Problem::too_large())
}

/// A JSON request body: `application/json`, at most [`MAX_BODY_BYTES`], answered with a
/// problem document when it is too large (413), of another type (415) or malformed or of the
/// wrong shape (400, naming the offending field).
pub struct AdminJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AdminJson<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        check_declared_length(request.headers())?;
        if !is_json_media_type(request.headers()) {
            return Err(Problem::unsupported_media_type());
        }
        let (parts, body) = request.into_parts();
        let body = read_body(&parts.headers, body).await?;
        parse_json(&body).map(AdminJson)
    }
}

/// Who a write comes from: the `Ciam-Owner` and `Ciam-Owner-Replaces` headers (see
/// [`owner`]), refused with 400 naming the header when malformed.
pub struct OwnerClaim(pub Claim);

impl<S: Send + Sync> FromRequestParts<S> for OwnerClaim {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let header = |name: &'static str| -> Result<Option<&str>, Problem> {
            let mut values = parts.headers.get_all(name).iter();
            let value = values.next();
            if values.next().is_some() {
                return Err(Problem::header(name, "must be sent once"));
            }
            value
                .map(|value| {
                    value
                        .to_str()
                        .map_err(|_| Problem::header(name, "must be visible ASCII"))
                })
                .transpose()
        };
        let owner = header(owner::HEADER)?
            .map(|value| {
                Owner::parse(value).map_err(|reason| Problem::header(owner::HEADER, reason))
            })
            .transpose()?;
        let replaces = header(owner::REPLACES_HEADER)?
            .map(|value| {
                owner::parse_replaces(value)
                    .map_err(|reason| Problem::header(owner::REPLACES_HEADER, reason))
            })
            .transpose()?;
        if replaces.is_some() && owner.is_none() {
            return Err(Problem::header(
                owner::REPLACES_HEADER,
                "needs a Ciam-Owner header: only a declared owner can take over",
            ));
        }
        Ok(Self(Claim { owner, replaces }))
    }
}

/// The claim of a kind that has no owners (SMTP settings): every write is anonymous, and the
/// owner headers are not read.
pub struct NoOwner;

impl<S: Send + Sync> FromRequestParts<S> for NoOwner {
    type Rejection = Infallible;

    async fn from_request_parts(_parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self)
    }
}

impl From<NoOwner> for Claim {
    fn from(_: NoOwner) -> Self {
        Claim::default()
    }
}

impl From<OwnerClaim> for Claim {
    fn from(OwnerClaim(claim): OwnerClaim) -> Self {
        claim
    }
}

/// An optional JSON request body: none (empty), or JSON under the same rules as
/// [`AdminJson`]. For actions such as key rotation whose clients may send `{}`.
pub struct OptionalAdminJson<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalAdminJson<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let body = read_body(&parts.headers, body).await?;
        if body.is_empty() {
            return Ok(OptionalAdminJson(None));
        }
        if !is_json_media_type(&parts.headers) {
            return Err(Problem::unsupported_media_type());
        }
        parse_json(&body).map(|value| OptionalAdminJson(Some(value)))
    }
}

/// Where a JSON shape error points: the path serde_path_to_error tracked (`clientSecrets[0].hash`,
/// `.` for the whole document), extended by the name of a missing field.
fn shape_error(path: &str, message: &str) -> FieldError {
    let parent = if path == "." { "" } else { path };
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name);
    match missing {
        Some(name) if parent.is_empty() => FieldError::new(name, "is required"),
        Some(name) => FieldError::new(format!("{parent}.{name}"), "is required"),
        None if parent.is_empty() => FieldError::new(ROOT_FIELD, message),
        None => FieldError::new(parent, message),
    }
}

/// The `field` of an error about the body as a whole (for example an array sent for an object).
pub const ROOT_FIELD: &str = "(body)";

/// serde_json's message without its " at line L column C" suffix (the path says where).
fn without_position(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_string(),
        None => message,
    }
}

pub(super) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    let malformed = |error: &serde_json::Error| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "Malformed request body",
            format!(
                "malformed JSON at line {} column {}",
                error.line(),
                error.column()
            ),
        )
    };
    // Well-formedness first (trailing characters included): deserializing stops at the first
    // shape error, which in a truncated document would hide that it is truncated.
    serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(|error| malformed(&error))?;
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return malformed(&inner);
        }
        Problem::wrong_shape(shape_error(&path, &without_position(&inner)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{ClientSpec, TenantSpec};

    fn shape_problem<T: DeserializeOwned + std::fmt::Debug>(body: &str) -> Problem {
        match parse_json::<T>(body.as_bytes()) {
            Ok(value) => panic!("{body} parsed as {value:?}"),
            Err(problem) => problem,
        }
    }

    fn fields(problem: &Problem) -> Vec<(&str, &str)> {
        problem
            .errors
            .iter()
            .map(|error| (error.field.as_str(), error.reason.as_str()))
            .collect()
    }

    #[test]
    fn wrong_types_name_the_json_path_of_the_field() {
        let problem = shape_problem::<TenantSpec>(r#"{"displayName": 5, "countryCode": "US"}"#);
        assert_eq!(problem.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            fields(&problem),
            [(
                "displayName",
                "invalid type: integer `5`, expected a string"
            )]
        );
        let nested = shape_problem::<ClientSpec>(
            r#"{"displayName": "A", "type": "web", "clientSecrets": [{"hash": "sha256:x"}, {"hash": true}]}"#,
        );
        assert_eq!(nested.errors[0].field, "clientSecrets[1].hash");
        let variant = shape_problem::<ClientSpec>(r#"{"displayName": "A", "type": "mobile"}"#);
        assert_eq!(variant.errors[0].field, "type");
        assert!(
            variant.errors[0]
                .reason
                .starts_with("unknown variant `mobile`")
        );
    }

    #[test]
    fn missing_and_unknown_fields_are_named() {
        let missing = shape_problem::<TenantSpec>(r#"{"displayName": "Contoso"}"#);
        assert_eq!(fields(&missing), [("countryCode", "is required")]);
        let nested = shape_problem::<TenantSpec>(
            r#"{"displayName": "C", "countryCode": "US", "email": {"fromName": "C"}}"#,
        );
        assert_eq!(fields(&nested), [("email.fromAddress", "is required")]);
        let unknown = shape_problem::<TenantSpec>(
            r#"{"displayName": "C", "countryCode": "US", "colour": "red"}"#,
        );
        assert_eq!(unknown.errors[0].field, "colour");
        assert!(
            unknown.errors[0]
                .reason
                .starts_with("unknown field `colour`")
        );
        assert!(unknown.detail.contains("colour"));
        let whole = shape_problem::<TenantSpec>("[]");
        assert_eq!(whole.errors[0].field, ROOT_FIELD);
    }

    #[test]
    fn malformed_json_and_trailing_characters_are_malformed() {
        for body in [
            r#"{"displayName": "#,
            r#"{"displayName": "C", "countryCode": "US"} x"#,
            r#"{"colour": "red", "displayName": "#,
        ] {
            let problem = shape_problem::<TenantSpec>(body);
            assert_eq!(problem.status, StatusCode::BAD_REQUEST);
            assert!(problem.errors.is_empty(), "{body}");
            assert!(
                problem.detail.starts_with("malformed JSON at line 1"),
                "{body}"
            );
        }
    }
}
