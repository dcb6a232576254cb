//! The authorization response: the redirect that takes the browser back to the app with a
//! code (after the authorization endpoint found a fresh session, or after a hosted page signed
//! the customer in) or with an OAuth error.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::runtime::domain::authorize::{self, AuthorizationRequest};
use crate::runtime::store::{self, SessionRecord, StoreError};
use crate::runtime::{AppState, Tenant};

/// The URL of a redirect back to the client with `params` (plus `state` and `iss`).
pub fn redirect_location(
    redirect_uri: &str,
    params: &[(&str, &str)],
    state: Option<&str>,
    issuer: &str,
) -> String {
    let mut query: Vec<String> = params
        .iter()
        .map(|(name, value)| format!("{name}={}", encode_component(value)))
        .collect();
    if let Some(state) = state {
        query.push(format!("state={}", encode_component(state)));
    }
    query.push(format!("iss={}", encode_component(issuer)));
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    format!("{redirect_uri}{separator}{}", query.join("&"))
}

/// Builds the redirect back to the client with `params` (plus `state` and `iss`).
pub fn redirect_to_client(
    redirect_uri: &str,
    params: &[(&str, &str)],
    state: Option<&str>,
    issuer: &str,
) -> Response {
    let location = redirect_location(redirect_uri, params, state, issuer);
    let mut response = Redirect::to(&location).into_response();
    no_store(&mut response);
    response
}

/// Percent-encodes a query component.
pub fn encode_component(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Marks a response as not cacheable (tokens, codes, redirects carrying them).
pub fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// Issues an authorization code for a signed-in session and redirects back to the client.
///
/// # Errors
/// Storage failure.
pub async fn complete_authorization(
    state: &AppState,
    tenant: &Tenant,
    request: &AuthorizationRequest,
    session: &SessionRecord,
) -> Result<Response, StoreError> {
    let code = authorize::issue_code(
        &state.store,
        tenant,
        request,
        session,
        state.settings.authorization_code_lifetime_seconds,
        store::now(),
    )
    .await?;
    Ok(redirect_to_client(
        &request.redirect_uri,
        &[("code", &code)],
        request.state.as_deref(),
        &state.issuer(&tenant.subdomain),
    ))
}

#[cfg(test)]
mod tests {
    use axum::http::header;

    use super::*;

    #[test]
    fn client_redirects_carry_state_and_issuer() {
        let response = redirect_to_client(
            "https://app.example.com/cb",
            &[("code", "abc")],
            Some("x y"),
            "https://id.example.com/t/v2.0",
        );
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        assert_eq!(
            location,
            "https://app.example.com/cb?code=abc&state=x%20y&iss=https%3A%2F%2Fid%2Eexample%2Ecom%2Ft%2Fv2%2E0"
        );
    }
}
