//! The authorization response: what takes the browser back to the app with a code (after the
//! authorization endpoint found a fresh session, or after a hosted page signed the customer
//! in) or with an OAuth error, in the request's response mode: a redirect with the parameters
//! in the query, or a page whose form posts them (`response_mode=form_post`).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::runtime::domain::authorize::{self, AuthorizationRequest, ResponseMode};
use crate::runtime::http::pages::form_post::{self, FormField, ReturnForm, Templates};
use crate::runtime::store::{self, SessionRecord, StoreError};
use crate::runtime::{AppState, Tenant};

/// The way back to a trusted client: its registered redirect URI, the response mode, the
/// `state` to echo, the issuer (RFC 9207 `iss`), and the language and tenant name of a
/// form-post page.
#[derive(Clone, Debug)]
pub struct ClientReturn<'a> {
    /// The registered redirect URI the request named.
    pub redirect_uri: &'a str,
    /// Query or form post.
    pub mode: ResponseMode,
    /// The request's `state`.
    pub state: Option<&'a str>,
    /// The tenant's issuer.
    pub issuer: String,
    /// The language of the form-post page.
    pub language: &'static str,
    /// The tenant's display name, in the form-post page's title.
    pub tenant_name: &'a str,
}

/// A link (query mode) or a form (form-post mode) that takes the customer back to the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WayBack {
    /// `GET` this URL.
    Link(String),
    /// Submit this form.
    Form(ReturnForm),
}

impl<'a> ClientReturn<'a> {
    /// The way back of a pending `request` of `tenant`.
    pub fn of_request(
        state: &AppState,
        tenant: &'a Tenant,
        request: &'a AuthorizationRequest,
        language: &'static str,
    ) -> Self {
        Self {
            redirect_uri: &request.redirect_uri,
            mode: request.response_mode,
            state: request.state.as_deref(),
            issuer: state.issuer(&tenant.subdomain),
            language,
            tenant_name: &tenant.spec.display_name,
        }
    }

    /// `params` followed by `state` (when the request had one) and `iss`.
    fn parameters(&self, params: &[(&str, &str)]) -> Vec<FormField> {
        let field = |name: &str, value: &str| FormField {
            name: name.to_string(),
            value: value.to_string(),
        };
        let mut fields: Vec<FormField> = params
            .iter()
            .map(|(name, value)| field(name, value))
            .collect();
        if let Some(state) = self.state {
            fields.push(field("state", state));
        }
        fields.push(field("iss", &self.issuer));
        fields
    }

    /// The response that takes the browser back with `params`: a redirect (query) or the
    /// page that posts them (form post). Neither may be cached.
    pub fn respond(&self, state: &AppState, params: &[(&str, &str)]) -> Response {
        self.response(&state.templates, params)
    }

    fn response(&self, templates: &Templates, params: &[(&str, &str)]) -> Response {
        match self.way_back(params) {
            WayBack::Link(location) => {
                let mut response = Redirect::to(&location).into_response();
                no_store(&mut response);
                response
            }
            WayBack::Form(form) => {
                form_post::form_post_page(templates, self.tenant_name, self.language, &form)
            }
        }
    }

    /// The link or form that returns `params` to the client when the customer follows it.
    pub fn way_back(&self, params: &[(&str, &str)]) -> WayBack {
        let fields = self.parameters(params);
        match self.mode {
            ResponseMode::Query => WayBack::Link(query_location(self.redirect_uri, &fields)),
            ResponseMode::FormPost => WayBack::Form(ReturnForm {
                action: self.redirect_uri.to_string(),
                fields,
            }),
        }
    }
}

/// `redirect_uri` with `fields` added to its query.
fn query_location(redirect_uri: &str, fields: &[FormField]) -> String {
    let query: Vec<String> = fields
        .iter()
        .map(|field| format!("{}={}", field.name, encode_component(&field.value)))
        .collect();
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    format!("{redirect_uri}{separator}{}", query.join("&"))
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

/// Issues an authorization code for a signed-in session and sends the browser back to the
/// client with it, in the request's response mode (`language` is the form-post page's).
///
/// # Errors
/// Storage failure.
pub async fn complete_authorization(
    state: &AppState,
    tenant: &Tenant,
    request: &AuthorizationRequest,
    session: &SessionRecord,
    language: &'static str,
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
    Ok(ClientReturn::of_request(state, tenant, request, language)
        .respond(state, &[("code", &code)]))
}

#[cfg(test)]
mod tests {
    use axum::http::header;

    use super::*;

    fn client_return(mode: ResponseMode) -> ClientReturn<'static> {
        ClientReturn {
            redirect_uri: "https://app.example.com/cb",
            mode,
            state: Some("x y"),
            issuer: "https://id.example.com/t/v2.0".into(),
            language: "en",
            tenant_name: "Contoso",
        }
    }

    #[test]
    fn client_redirects_carry_state_and_issuer() {
        let WayBack::Link(location) =
            client_return(ResponseMode::Query).way_back(&[("code", "abc")])
        else {
            panic!("query mode returns by link");
        };
        assert_eq!(
            location,
            "https://app.example.com/cb?code=abc&state=x%20y&iss=https%3A%2F%2Fid%2Eexample%2Ecom%2Ft%2Fv2%2E0"
        );
    }

    async fn body_of(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        String::from_utf8(bytes.to_vec()).expect("utf-8")
    }

    #[tokio::test]
    async fn an_error_of_a_form_post_request_is_posted_not_redirected() {
        let templates = Templates::new();
        let error = [
            ("error", "login_required"),
            ("error_description", "not signed in"),
        ];
        let posted = client_return(ResponseMode::FormPost).response(&templates, &error);
        assert_eq!(posted.status(), axum::http::StatusCode::OK);
        assert!(posted.headers().get(header::LOCATION).is_none());
        let html = body_of(posted).await;
        for field in [
            "name=\"error\" value=\"login_required\"",
            "name=\"state\" value=\"x y\"",
            "name=\"iss\" value=\"https:&#x2f;&#x2f;id.example.com&#x2f;t&#x2f;v2.0\"",
        ] {
            assert!(html.contains(field), "{field} missing from {html}");
        }
        let redirected = client_return(ResponseMode::Query).response(&templates, &error);
        assert!(redirected.status().is_redirection());
        let location = redirected
            .headers()
            .get(header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        assert!(location.starts_with("https://app.example.com/cb?error=login%5Frequired&"));
    }

    #[test]
    fn form_post_returns_the_same_parameters_in_a_form() {
        let way_back = client_return(ResponseMode::FormPost)
            .way_back(&[("error", "login_required"), ("error_description", "d")]);
        let WayBack::Form(form) = way_back else {
            panic!("form_post returns by form");
        };
        assert_eq!(form.action, "https://app.example.com/cb");
        let pairs: Vec<(&str, &str)> = form
            .fields
            .iter()
            .map(|field| (field.name.as_str(), field.value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("error", "login_required"),
                ("error_description", "d"),
                ("state", "x y"),
                ("iss", "https://id.example.com/t/v2.0"),
            ]
        );
    }
}
