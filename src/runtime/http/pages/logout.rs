//! The logout confirmation page, shown for a logout request no ID token identifies.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use minijinja::context;

use super::cookies::{LOGOUT_CSRF_CONTEXT, csrf_cookie, csrf_token};
use super::pending::tenant_branding;
use super::render::{page_language, render_page};
use crate::runtime::domain::branding;
use crate::runtime::store::StoreError;
use crate::runtime::{AppState, Tenant, i18n};

/// What the logout confirmation form sends back, already validated (see `oidc::logout`).
pub struct LogoutConfirmation<'a> {
    /// The app that asked, when it said so.
    pub client_id: Option<&'a str>,
    /// The app's registered redirect after the sign-out.
    pub post_logout_redirect_uri: Option<&'a str>,
    /// The app's `state`, echoed on that redirect.
    pub state: Option<&'a str>,
}

/// The page that asks whether to sign out, for a logout request no ID token identifies: a
/// form whose CSRF-protected `POST` (the only thing that ends the session) carries the
/// validated parameters back. Branded and in the page language like the other pages.
///
/// # Errors
/// Storage failure reading the branding.
pub async fn logout_confirmation_page(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    confirmation: &LogoutConfirmation<'_>,
) -> Result<Response, StoreError> {
    let language = page_language(Some(tenant), Some(headers));
    let mut strings = i18n::built_in_strings(language);
    let document = tenant_branding(state, tenant).await?;
    branding::apply_strings(&mut strings, &document, language);
    let brand = branding::view(&branding::content_for(&document, language));
    let (cookie_value, set_cookie) = csrf_cookie(state, tenant, headers);
    let question = i18n::fill(
        strings.get("sign_out_question").map_or("", String::as_str),
        &[("tenant", &tenant.spec.display_name)],
    );
    let mut response = render_page(
        state,
        StatusCode::OK,
        "logout.html",
        context! {
            lang => language,
            t => &strings,
            brand => brand,
            tenant_name => tenant.spec.display_name,
            message => question,
            action => format!("{}/{}/oauth2/v2.0/logout", state.settings.public_url, tenant.subdomain),
            csrf_token => csrf_token(&state.keys.csrf_key, &cookie_value, LOGOUT_CSRF_CONTEXT),
            client_id => confirmation.client_id,
            post_logout_redirect_uri => confirmation.post_logout_redirect_uri,
            state => confirmation.state,
        },
    );
    if let Some(set_cookie) = set_cookie {
        response
            .headers_mut()
            .append(header::SET_COOKIE, set_cookie);
    }
    Ok(response)
}
