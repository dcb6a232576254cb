//! The hosted pages' cookies: the browser session, and the CSRF cookie whose HMAC binds each
//! form to one browser and one pending request.

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::runtime::domain::sessions::{self, SESSION_LIFETIME_SECONDS};
use crate::runtime::store::{self, SessionRecord, StoreError};
use crate::runtime::{AppState, Tenant, crypto};

/// Name of the session cookie (scoped by path to one tenant).
pub const SESSION_COOKIE: &str = "ciam_session";

/// Name of the CSRF cookie (scoped by path to one tenant).
pub const CSRF_COOKIE: &str = "ciam_csrf";

/// What the logout form's CSRF token is bound to instead of an authorization request ID
/// (which is base64url, so never contains ':').
pub(super) const LOGOUT_CSRF_CONTEXT: &str = "logout:";

/// Reads a cookie from the request headers.
pub fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
}

/// A `Set-Cookie` value scoped to the tenant's path, HttpOnly, SameSite=Lax (so the cookie
/// accompanies the top-level redirect back from an app), and Secure behind https.
pub fn cookie(
    state: &AppState,
    tenant: &Tenant,
    name: &str,
    value: &str,
    max_age: i64,
) -> HeaderValue {
    let secure = if state.settings.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let text = format!(
        "{name}={value}; Path={}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
        state.tenant_path(&tenant.subdomain)
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The tenant's current browser session, if the cookie names a live one.
///
/// # Errors
/// Storage failure.
pub async fn current_session(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
) -> Result<Option<SessionRecord>, StoreError> {
    let secret = read_cookie(headers, SESSION_COOKIE);
    sessions::find(&state.store, &tenant.id, secret.as_deref(), store::now()).await
}

/// Ends the browser session (if any) and returns the `Set-Cookie` value that clears it.
///
/// # Errors
/// Storage failure.
pub async fn end_session(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
) -> Result<HeaderValue, StoreError> {
    let secret = read_cookie(headers, SESSION_COOKIE);
    sessions::end(&state.store, &tenant.id, secret.as_deref()).await?;
    Ok(cookie(state, tenant, SESSION_COOKIE, "", 0))
}

/// The CSRF token of a form: an HMAC binding the browser's CSRF cookie to the pending
/// authorization request, so a form cannot be submitted from another site or browser.
pub fn csrf_token(key: &[u8; 32], cookie_value: &str, request_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(crypto::hmac_sha256(
        key,
        format!("{cookie_value}|{request_id}").as_bytes(),
    ))
}

/// Whether `presented` is this browser's CSRF token for `request_id`.
pub(super) fn csrf_valid(
    state: &AppState,
    headers: &HeaderMap,
    request_id: &str,
    presented: &str,
) -> bool {
    read_cookie(headers, CSRF_COOKIE).is_some_and(|cookie_value| {
        !cookie_value.is_empty()
            && crypto::constant_time_eq(
                csrf_token(&state.keys.csrf_key, &cookie_value, request_id).as_bytes(),
                presented.as_bytes(),
            )
    })
}

/// Whether `presented` is the logout confirmation form's CSRF token for this browser.
pub fn logout_csrf_valid(state: &AppState, headers: &HeaderMap, presented: &str) -> bool {
    csrf_valid(state, headers, LOGOUT_CSRF_CONTEXT, presented)
}

/// The browser's CSRF cookie value, or a new one with the `Set-Cookie` that stores it.
pub(super) fn csrf_cookie(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
) -> (String, Option<HeaderValue>) {
    match read_cookie(headers, CSRF_COOKIE).filter(|value| !value.is_empty()) {
        Some(existing) => (existing, None),
        None => {
            let value = crypto::random_token(32);
            let set_cookie = cookie(state, tenant, CSRF_COOKIE, &value, SESSION_LIFETIME_SECONDS);
            (value, Some(set_cookie))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_bind_cookie_and_request() {
        let key = [3u8; 32];
        let token = csrf_token(&key, "cookie", "request");
        assert_eq!(token, csrf_token(&key, "cookie", "request"));
        assert_ne!(token, csrf_token(&key, "other", "request"));
        assert_ne!(token, csrf_token(&key, "cookie", "other"));
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; ciam_session=xyz"),
        );
        assert_eq!(
            read_cookie(&headers, SESSION_COOKIE).as_deref(),
            Some("xyz")
        );
        assert_eq!(read_cookie(&headers, "missing"), None);
    }
}
