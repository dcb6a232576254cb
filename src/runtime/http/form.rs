//! Reads the url-encoded bodies of the public listener's `POST` endpoints with bounded work.
//!
//! Every public `POST` (token, userinfo, logout, the hosted pages) takes its body through
//! [`BoundedForm`], so nothing reaches a handler before its size and its number of parameters
//! are checked, and parsing is one linear pass. Anyone can send these requests before
//! authenticating, so their cost must not grow faster than the (capped) body.
//!
//! ```text
//!  Content-Length > MAX_FORM_BYTES ──▶ TooLarge (body not read)
//!  read ≤ MAX_FORM_BYTES ──▶ count '&' pieces ≤ limit ──▶ decode pairs ──▶ handler
//! ```

use std::collections::HashSet;

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Largest form body accepted on the public listener (64 KiB): an OAuth request or a sign-up
/// form with every attribute at its maximum length is a few KiB.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// Most parameters an OAuth request (token, userinfo, logout) may carry: they use about ten.
pub const MAX_OAUTH_PARAMETERS: usize = 64;

/// Most fields a hosted-page form may carry: sign-up forms repeat a name per ticked option of
/// a multi-select attribute, and a flow's attributes are not capped.
pub const MAX_PAGE_PARAMETERS: usize = 256;

/// Why a form body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// The body is larger than [`MAX_FORM_BYTES`] (declared or sent).
    #[error("the request body must be at most {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body has more parameters than the endpoint accepts.
    #[error("the request body must have at most {limit} parameters")]
    TooManyParameters {
        /// The limit in parameters.
        limit: usize,
    },
    /// The body is not empty and not `application/x-www-form-urlencoded`.
    #[error("the body must be application/x-www-form-urlencoded")]
    NotForm,
}

impl FormError {
    /// The HTTP status of a page that reports the error (413 for a body over the size limit).
    pub fn status(self) -> StatusCode {
        match self {
            FormError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            FormError::TooManyParameters { .. } | FormError::NotForm => StatusCode::BAD_REQUEST,
        }
    }
}

/// A plain-text answer, for a handler that takes the form without `Result` (the public
/// handlers all answer in their endpoint's own shape instead).
impl IntoResponse for FormError {
    fn into_response(self) -> Response {
        (self.status(), self.to_string()).into_response()
    }
}

/// Decoded parameters in the order sent (repeated names kept).
#[derive(Default)]
pub struct FormParameters(Vec<(String, String)>);

impl std::fmt::Debug for FormParameters {
    // Forms carry passwords, client secrets and codes.
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("FormParameters(..)")
    }
}

impl FormParameters {
    /// The first value of `name`, if sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The first name sent more than once (one pass with a hash set).
    pub fn first_repeated(&self) -> Option<&str> {
        let mut seen = HashSet::with_capacity(self.0.len());
        self.0
            .iter()
            .map(|(key, _)| key.as_str())
            .find(|key| !seen.insert(*key))
    }

    /// The pairs in the order sent.
    pub fn into_pairs(self) -> Vec<(String, String)> {
        self.0
    }
}

/// Decodes one `application/x-www-form-urlencoded` component (`+` is a space).
fn decode_component(component: &[u8]) -> String {
    let spaced: Vec<u8> = component
        .iter()
        .map(|byte| if *byte == b'+' { b' ' } else { *byte })
        .collect();
    percent_encoding::percent_decode(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// Parses a form body of at most `max_parameters` parameters. Empty pieces (`a=1&&b=2`) are
/// skipped, as browsers and `form_urlencoded` do; the count stops at the first one too many,
/// before anything is decoded.
///
/// # Errors
/// [`FormError::TooManyParameters`].
pub fn parse(body: &[u8], max_parameters: usize) -> Result<FormParameters, FormError> {
    let pieces = || {
        body.split(|byte| *byte == b'&')
            .filter(|piece| !piece.is_empty())
    };
    if pieces().nth(max_parameters).is_some() {
        return Err(FormError::TooManyParameters {
            limit: max_parameters,
        });
    }
    let pairs = pieces()
        .map(|piece| {
            let (name, value) = match piece.iter().position(|byte| *byte == b'=') {
                Some(index) => (&piece[..index], &piece[index + 1..]),
                None => (piece, &[][..]),
            };
            (decode_component(name), decode_component(value))
        })
        .collect();
    Ok(FormParameters(pairs))
}

fn is_form_media_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media_type| {
            media_type
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Reads at most [`MAX_FORM_BYTES`]: a larger declared length is refused before any of the
/// body is read (a client sending `Expect: 100-continue` never uploads it), a larger chunked
/// body as soon as it passes the limit.
async fn read_bounded(headers: &HeaderMap, body: Body) -> Result<axum::body::Bytes, FormError> {
    let too_large = FormError::TooLarge {
        limit: MAX_FORM_BYTES,
    };
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared_length.is_some_and(|length| length > MAX_FORM_BYTES) {
        return Err(too_large);
    }
    // The only other failure is a broken connection, whose client reads no answer.
    axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| too_large)
}

/// A form body of at most [`MAX_FORM_BYTES`] and `MAX_PARAMETERS` parameters; an empty body
/// (of any type) is an empty form. Take it as `Result<BoundedForm<_>, FormError>` to answer
/// the error in the endpoint's own shape.
pub struct BoundedForm<const MAX_PARAMETERS: usize>(pub FormParameters);

/// The body of an OAuth endpoint (token, userinfo, logout).
pub type OAuthForm = BoundedForm<MAX_OAUTH_PARAMETERS>;

/// The body of a hosted-page form.
pub type PageForm = BoundedForm<MAX_PAGE_PARAMETERS>;

impl<const MAX_PARAMETERS: usize, S: Send + Sync> FromRequest<S> for BoundedForm<MAX_PARAMETERS> {
    type Rejection = FormError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let bytes = read_bounded(&parts.headers, body).await?;
        if bytes.is_empty() {
            return Ok(BoundedForm(FormParameters::default()));
        }
        if !is_form_media_type(&parts.headers) {
            return Err(FormError::NotForm);
        }
        parse(&bytes, MAX_PARAMETERS).map(BoundedForm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_like_browsers_send_them() {
        let form = parse(b"a=1+2&b=%C3%A9%26&&c&a=3", 8).expect("parse");
        assert_eq!(
            form.into_pairs(),
            [
                ("a".to_string(), "1 2".to_string()),
                ("b".to_string(), "é&".to_string()),
                ("c".to_string(), String::new()),
                ("a".to_string(), "3".to_string()),
            ]
        );
    }

    #[test]
    fn parameters_over_the_limit_are_refused_and_empty_pieces_do_not_count() {
        assert!(parse(b"a=1&b=2&&&", 2).is_ok());
        assert_eq!(
            parse(b"a=1&b=2&c=3", 2).err(),
            Some(FormError::TooManyParameters { limit: 2 })
        );
    }

    #[test]
    fn the_first_repeated_name_is_found_in_one_pass() {
        let distinct: Vec<u8> = (0..10_000)
            .map(|index| format!("p{index}=x"))
            .collect::<Vec<_>>()
            .join("&")
            .into_bytes();
        assert_eq!(
            parse(&distinct, 10_000).expect("parse").first_repeated(),
            None
        );
        let repeated = parse(b"grant_type=a&code=b&grant_type=c", 8).expect("parse");
        assert_eq!(repeated.first_repeated(), Some("grant_type"));
    }

    async fn extract(
        content_type: Option<&str>,
        content_length: Option<usize>,
        body: Vec<u8>,
    ) -> Result<Vec<(String, String)>, FormError> {
        let mut request = Request::builder().method("POST").uri("/token");
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        if let Some(length) = content_length {
            request = request.header(header::CONTENT_LENGTH, length);
        }
        let request = request.body(Body::from(body)).expect("request");
        OAuthForm::from_request(request, &())
            .await
            .map(|BoundedForm(form)| form.into_pairs())
    }

    #[tokio::test]
    async fn bodies_are_bounded_by_declared_and_by_actual_length() {
        let too_large = Err(FormError::TooLarge {
            limit: MAX_FORM_BYTES,
        });
        let form = Some("application/x-www-form-urlencoded; charset=UTF-8");
        // Declared too large: refused without reading (the body here is empty).
        assert_eq!(
            extract(form, Some(MAX_FORM_BYTES + 1), vec![]).await,
            too_large
        );
        // Sent without a length (chunked): cut at the limit.
        assert_eq!(
            extract(form, None, vec![b'a'; MAX_FORM_BYTES + 1]).await,
            too_large
        );
        assert!(
            extract(form, None, vec![b'a'; MAX_FORM_BYTES])
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn an_empty_body_is_an_empty_form_and_other_bodies_must_be_forms() {
        assert_eq!(extract(None, None, vec![]).await, Ok(vec![]));
        assert_eq!(
            extract(Some("application/json"), None, b"{}".to_vec()).await,
            Err(FormError::NotForm)
        );
        assert_eq!(
            extract(
                Some("Application/X-WWW-Form-Urlencoded"),
                None,
                b"a=1".to_vec()
            )
            .await,
            Ok(vec![("a".to_string(), "1".to_string())])
        );
    }

    #[test]
    fn errors_name_the_limit() {
        assert_eq!(
            FormError::TooLarge { limit: 65536 }.to_string(),
            "the request body must be at most 65536 bytes"
        );
        assert_eq!(
            FormError::TooManyParameters { limit: 64 }.to_string(),
            "the request body must have at most 64 parameters"
        );
    }
}
