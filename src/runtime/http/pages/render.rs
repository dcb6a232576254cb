//! Renders the hosted pages: the compiled templates, the headers every page carries, the
//! page language, and the parts every form page shares.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::Environment;

use crate::runtime::i18n::{self, Strings};
use crate::runtime::{AppState, Tenant};

/// The page templates, compiled once.
pub struct Templates {
    environment: Environment<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Templates(..)")
    }
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    /// Loads the built-in templates (HTML auto-escaping is on for `.html` names).
    pub fn new() -> Self {
        let mut environment = Environment::new();
        for (name, source) in [
            ("layout.html", include_str!("../../templates/layout.html")),
            ("signin.html", include_str!("../../templates/signin.html")),
            ("signup.html", include_str!("../../templates/signup.html")),
            ("message.html", include_str!("../../templates/message.html")),
            ("errors.html", include_str!("../../templates/errors.html")),
            ("verify.html", include_str!("../../templates/verify.html")),
            ("reset.html", include_str!("../../templates/reset.html")),
            ("logout.html", include_str!("../../templates/logout.html")),
            (
                "form_post.html",
                include_str!("../../templates/form_post.html"),
            ),
        ] {
            if let Err(error) = environment.add_template(name, source) {
                // The templates are compiled into the binary; a syntax error is a build bug
                // that the unit tests catch.
                tracing::error!(template = name, error = %error, "invalid built-in template");
            }
        }
        Self { environment }
    }

    pub(super) fn render(
        &self,
        name: &str,
        values: minijinja::Value,
    ) -> Result<String, minijinja::Error> {
        self.environment.get_template(name)?.render(values)
    }
}

/// The Content-Security-Policy of the hosted pages: no script, no third-party resources, no
/// framing. The form-post page adds its script's hash and a `form-action`.
pub const HOSTED_PAGE_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; frame-ancestors 'none'; base-uri 'none'";

/// Adds the headers every hosted page carries: no caching, no framing, no third-party
/// resources (`policy`), no referrer leaks of the query string.
pub(super) fn page_response(status: StatusCode, body: String, policy: HeaderValue) -> Response {
    let mut response = (status, Html(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Renders template `name` as a page with `status`.
pub(super) fn render_page(
    state: &AppState,
    status: StatusCode,
    name: &str,
    values: minijinja::Value,
) -> Response {
    match state.templates.render(name, values) {
        Ok(body) => page_response(status, body, HeaderValue::from_static(HOSTED_PAGE_POLICY)),
        Err(error) => {
            tracing::error!(template = name, error = %error, "failed to render a page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "failed to render the page",
            )
                .into_response()
        }
    }
}

/// The request's `Accept-Language`, when it is text.
pub(super) fn accept_language(headers: Option<&HeaderMap>) -> Option<&str> {
    headers
        .and_then(|headers| headers.get(header::ACCEPT_LANGUAGE))
        .and_then(|value| value.to_str().ok())
}

/// The language of a page answering an authorization request of `tenant`: its `ui_locales`,
/// then `Accept-Language`, then the tenant's default.
pub fn request_language(
    tenant: &Tenant,
    headers: Option<&HeaderMap>,
    ui_locales: Option<&str>,
) -> &'static str {
    i18n::pick_language(
        ui_locales,
        accept_language(headers),
        tenant.spec.default_locale.as_deref(),
        tenant.spec.supported_locales.as_deref(),
    )
}

/// The language of a page shown outside a pending request: `Accept-Language`, then the
/// tenant's default (English without a tenant).
pub(super) fn page_language(tenant: Option<&Tenant>, headers: Option<&HeaderMap>) -> &'static str {
    i18n::pick_language(
        None,
        accept_language(headers),
        tenant.and_then(|tenant| tenant.spec.default_locale.as_deref()),
        tenant.and_then(|tenant| tenant.spec.supported_locales.as_deref()),
    )
}

/// The words for a duration of whole minutes (at least one) in the page language.
pub fn minutes_text(strings: &Strings, seconds: i64) -> String {
    let minutes = (seconds / 60).max(1);
    let key = if minutes == 1 {
        "duration_one_minute"
    } else {
        "duration_minutes"
    };
    i18n::fill(
        strings.get(key).map_or("", String::as_str),
        &[("count", &minutes.to_string())],
    )
}

#[cfg(test)]
mod tests {
    use super::super::fields;
    use super::*;
    use crate::runtime::domain::branding;
    use minijinja::context;

    #[test]
    fn templates_render_with_escaping() {
        let templates = Templates::new();
        let html = templates
            .render(
                "message.html",
                context! { lang => "en", t => i18n::built_in_strings("en"), tenant_name => "<b>", title => "T", message => "m", error_code => "invalid_request" },
            )
            .expect("render");
        assert!(html.contains("&lt;b&gt;"));
        assert!(html.contains("data-error=\"invalid_request\""));
        for name in ["signin.html", "signup.html", "logout.html"] {
            assert!(
                templates
                    .render(
                        name,
                        context! {
                            lang => "en",
                            t => i18n::built_in_strings("en"),
                            brand => branding::BrandView::default(),
                        }
                    )
                    .map_err(|error| error.to_string())
                    .is_ok(),
                "{name}"
            );
        }
    }

    #[test]
    fn the_no_user_flow_page_returns_a_form_post_error_by_form() {
        let templates = Templates::new();
        let form = super::super::form_post::ReturnForm {
            action: "https://app.example.com/cb".into(),
            fields: vec![super::super::form_post::FormField {
                name: "error".into(),
                value: "unauthorized_client\"><b>".into(),
            }],
        };
        let html = templates
            .render(
                "message.html",
                context! { lang => "en", t => i18n::built_in_strings("en"), title => "T", message => "m", error_code => "unauthorized_client", return_form => form },
            )
            .expect("render");
        assert!(html.contains(
            "<form method=\"post\" action=\"https:&#x2f;&#x2f;app.example.com&#x2f;cb\">"
        ));
        assert!(html.contains("value=\"unauthorized_client&quot;&gt;&lt;b&gt;\""));
        assert!(html.contains("<button type=\"submit\">Return to the application</button>"));
        assert!(!html.contains("<script"), "the error page runs no script");
    }

    #[test]
    fn sign_up_fields_render_every_control_with_errors_linked() {
        let templates = Templates::new();
        let field = |control: &'static str, error: Option<&str>| fields::FieldView {
            name: format!("attribute.{control}"),
            id: format!("field-{control}"),
            label_html: "I accept the <a href=\"https://x.example\">terms</a>".into(),
            label_text: "I accept the terms".into(),
            control,
            required: true,
            value: String::new(),
            checked: false,
            options: vec![fields::OptionView {
                label: "A".into(),
                value: "a".into(),
                checked: true,
            }],
            autocomplete: "off",
            error: error.map(str::to_string),
            max_length: 100,
        };
        let fields: Vec<_> = ["text", "number", "radio", "checkbox", "multi", "dropdown"]
            .into_iter()
            .map(|control| field(control, (control == "checkbox").then_some("Accept")))
            .collect();
        let html = templates
            .render(
                "signup.html",
                context! { lang => "en", t => i18n::built_in_strings("en"), fields => fields },
            )
            .expect("render");
        assert!(html.contains("<a href=\"https://x.example\">terms</a>"));
        assert!(html.contains("aria-describedby=\"error-field-checkbox\""));
        assert!(html.contains("<select id=\"field-dropdown\""));
        assert!(html.contains("type=\"radio\" value=\"a\" checked"));
    }
}
