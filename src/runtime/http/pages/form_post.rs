//! The form-post page (`response_mode=form_post`): the authorization response as hidden fields
//! of a form that a small inline script submits to the app's redirect URI, with a Continue
//! button for browsers without scripting. Its CSP allows exactly that script (by hash) and
//! form submissions only to the redirect URI's origin.

use std::sync::LazyLock;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use minijinja::context;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::render::{HOSTED_PAGE_POLICY, page_response};
use crate::runtime::i18n;

/// The compiled templates the page is rendered with (re-exported so that the authorization
/// response reaches them through this module only).
pub use super::render::Templates;

/// A form that posts an authorization response to the client: this page's, and the
/// no-user-flow page's way back in `form_post` mode.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct ReturnForm {
    /// The redirect URI.
    pub action: String,
    /// The hidden fields, in order.
    pub fields: Vec<FormField>,
}

/// One hidden field of a form posted to the client.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct FormField {
    /// Parameter name.
    pub name: String,
    /// Parameter value (escaped by the template).
    pub value: String,
}

/// The page's only script, embedded verbatim in `form_post.html`; the CSP names its hash.
pub const AUTO_SUBMIT_SCRIPT: &str = "document.getElementById(\"response\").submit();";

/// The CSP source of [`AUTO_SUBMIT_SCRIPT`]: `'sha256-<base64 of its SHA-256>'`.
pub fn auto_submit_script_source() -> &'static str {
    static SOURCE: LazyLock<String> = LazyLock::new(|| {
        let digest = Sha256::digest(AUTO_SUBMIT_SCRIPT.as_bytes());
        format!(
            "'sha256-{}'",
            base64::engine::general_purpose::STANDARD.encode(digest)
        )
    });
    &SOURCE
}

/// The `form-action` source of a redirect URI: its origin for http(s) (`scheme://host[:port]`),
/// its scheme for others (a registered custom scheme). `None` when it has neither in a shape
/// safe to put in a header (registration refuses such URIs; this is a second line).
fn form_action_source(redirect_uri: &str) -> Option<String> {
    let (scheme, rest) = redirect_uri.split_once(':')?;
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase())
        && scheme.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'.' | b'-')
        });
    if !scheme_ok {
        return None;
    }
    if !matches!(scheme, "http" | "https") {
        return Some(format!("{scheme}:"));
    }
    let authority = rest.strip_prefix("//")?.split(['/', '?']).next()?;
    let authority_ok = !authority.is_empty()
        && authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    authority_ok.then(|| format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

/// The page's Content-Security-Policy: the hosted pages' policy, the script's hash, and form
/// submissions only to `redirect_uri`'s origin.
pub fn form_post_policy(redirect_uri: &str) -> String {
    let form_action = form_action_source(redirect_uri).unwrap_or_else(|| "'none'".to_string());
    format!(
        "{HOSTED_PAGE_POLICY}; script-src {}; form-action {form_action}",
        auto_submit_script_source()
    )
}

/// Renders the page that posts `form` to the client, in `language`, headed by `tenant_name`.
pub fn form_post_page(
    templates: &Templates,
    tenant_name: &str,
    language: &'static str,
    form: &ReturnForm,
) -> Response {
    let strings = i18n::built_in_strings(language);
    let values = context! {
        lang => language,
        t => &strings,
        tenant_name => tenant_name,
        form => form,
        script => AUTO_SUBMIT_SCRIPT,
    };
    let body = match templates.render("form_post.html", values) {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(error = %error, "failed to render the form-post page");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "failed to render the page",
            )
                .into_response();
        }
    };
    let policy = HeaderValue::from_str(&form_post_policy(&form.action))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'; form-action 'none'"));
    page_response(StatusCode::OK, body, policy)
}

#[cfg(test)]
mod tests {
    use axum::http::header;

    use super::*;

    fn form(fields: &[(&str, &str)]) -> ReturnForm {
        ReturnForm {
            action: "https://App.example.com:8443/cb?x=1".into(),
            fields: fields
                .iter()
                .map(|(name, value)| FormField {
                    name: (*name).into(),
                    value: (*value).into(),
                })
                .collect(),
        }
    }

    async fn body_of(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        String::from_utf8(bytes.to_vec()).expect("utf-8")
    }

    fn header_of(response: &Response, name: header::HeaderName) -> &str {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn the_csp_hash_is_the_hash_of_the_script_the_page_runs() {
        let response = form_post_page(&Templates::new(), "Contoso", "en", &form(&[("code", "c")]));
        let policy = header_of(&response, header::CONTENT_SECURITY_POLICY).to_string();
        let html = body_of(response).await;
        let script = html
            .split("<script>")
            .nth(1)
            .and_then(|rest| rest.split("</script>").next())
            .expect("one inline script");
        let digest = Sha256::digest(script.as_bytes());
        let expected = format!(
            "script-src 'sha256-{}'",
            base64::engine::general_purpose::STANDARD.encode(digest)
        );
        assert!(policy.contains(&expected), "{policy} lacks {expected}");
        assert_eq!(html.matches("<script").count(), 1, "no other script");
        assert!(
            !policy.contains("unsafe-inline'; script") && !policy.contains("script-src 'unsafe")
        );
    }

    #[tokio::test]
    async fn the_page_posts_escaped_fields_to_the_redirect_uri_only() {
        let hostile = "\"><script>alert(1)</script>&";
        let response = form_post_page(
            &Templates::new(),
            "<b>Contoso</b>",
            "fr",
            &form(&[("code", "abc"), ("state", hostile)]),
        );
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header_of(&response, header::CACHE_CONTROL), "no-store");
        assert_eq!(header_of(&response, header::REFERRER_POLICY), "no-referrer");
        let policy = header_of(&response, header::CONTENT_SECURITY_POLICY).to_string();
        assert!(policy.starts_with(HOSTED_PAGE_POLICY), "{policy}");
        assert!(
            policy.ends_with("; form-action https://app.example.com:8443"),
            "{policy}"
        );
        let html = body_of(response).await;
        assert!(!html.contains(hostile));
        assert!(
            html.contains("value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;&#x2f;script&gt;&amp;\"")
        );
        assert!(html.contains("&lt;b&gt;Contoso&lt;&#x2f;b&gt;"));
        assert!(html.contains("<form id=\"response\" method=\"post\" action=\"https:&#x2f;&#x2f;App.example.com:8443&#x2f;cb?x=1\">"));
        assert!(html.contains("<input type=\"hidden\" name=\"code\" value=\"abc\">"));
        assert!(html.contains("<button type=\"submit\">Continuer</button>"));
        assert!(html.contains("<html lang=\"fr\">"));
    }

    #[test]
    fn form_action_is_the_origin_of_the_redirect_uri() {
        for (uri, source) in [
            ("https://app.example.com/cb", "https://app.example.com"),
            ("http://127.0.0.1:3000/cb?x=y", "http://127.0.0.1:3000"),
            ("http://[::1]:8080/cb", "http://[::1]:8080"),
            ("com.example.app:/oauth2redirect", "com.example.app:"),
            ("https://a.example.com;script-src *", "'none'"),
            ("https://a.example.com,x/cb", "'none'"),
            ("HTTPS://a.example.com/cb", "'none'"),
        ] {
            assert!(
                form_post_policy(uri).ends_with(&format!("; form-action {source}")),
                "{uri}: {}",
                form_post_policy(uri)
            );
        }
    }
}
