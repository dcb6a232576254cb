//! The pending authorization request a hosted page serves, loaded with what its pages need
//! (tenant, client name, user flow, language, branding), and the submitted form around it.

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::cookies::csrf_valid;
use super::error::{ErrorPage, OrServerError, PageError, csrf_failure, no_user_flow_page};
use super::render::request_language;
use crate::contract::{BrandingDocument, UserFlowSpec};
use crate::runtime::domain::authorize::AuthorizationRequest;
use crate::runtime::domain::authorize::NO_USER_FLOW;
use crate::runtime::domain::hosted::Hosted;
use crate::runtime::domain::throttles::Throttles;
use crate::runtime::domain::{branding, flows};
use crate::runtime::http::redirect::ClientReturn;
use crate::runtime::i18n::{self, Strings};
use crate::runtime::store::{self, Kind, StoreError};
use crate::runtime::{AppState, Tenant};

/// The query of a page shown for a pending request.
#[derive(Deserialize)]
pub(super) struct RequestQuery {
    pub request: Option<String>,
}

/// A pending authorization request with what its pages need: the tenant, the client's user
/// flow and the page language.
pub(super) struct PendingRequest {
    pub tenant: Tenant,
    pub id: String,
    pub request: AuthorizationRequest,
    pub client_name: String,
    pub flow: UserFlowSpec,
    pub language: &'static str,
    pub strings: Strings,
    pub brand: branding::BrandView,
    /// The tenant's Branding, for attribute labels translated in its `strings`.
    pub branding: BrandingDocument,
}

impl PendingRequest {
    /// A string of the page language.
    pub fn text(&self, key: &str) -> String {
        self.strings.get(key).cloned().unwrap_or_default()
    }
}

/// The client's IP address, when the listener recorded it.
pub(super) struct ClientIp(pub Option<std::net::IpAddr>);

impl axum::extract::FromRequestParts<Arc<AppState>> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        // Without --ip-lockout the address is not used at all.
        Ok(ClientIp(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .filter(|_| state.settings.ip_lockout)
                .map(|info| info.0.ip()),
        ))
    }
}

/// What the flows use of the runtime.
pub(super) fn hosted(state: &AppState) -> Hosted<'_> {
    Hosted {
        store: &state.store,
        metrics: &state.metrics,
        passcode_key: &state.keys.passcode_key,
        passcode_lifetime_seconds: state.settings.passcode_lifetime_seconds,
        passcode_resend_seconds: state.settings.passcode_resend_seconds,
    }
}

/// The throttles of this browser at the pending request's tenant.
pub(super) fn throttles<'a>(
    state: &'a AppState,
    pending: &'a PendingRequest,
    ip: &ClientIp,
) -> Throttles<'a> {
    Throttles {
        store: &state.store,
        tenant: &pending.tenant,
        ip: ip.0,
    }
}

/// The error page of a link whose pending request is gone or never was.
fn expired_link(state: &AppState, tenant: &Tenant, headers: &HeaderMap) -> PageError {
    PageError::shown(
        ErrorPage {
            tenant: Some(tenant),
            headers: Some(headers),
            status: StatusCode::BAD_REQUEST,
            code: "invalid_request",
            message_key: "error_link_expired",
        }
        .render(state),
    )
}

/// Loads the pending request `request_id` of the tenant at `subdomain`.
///
/// # Errors
/// The page of an unknown tenant, an expired link, a client in no flow, or a failure.
pub(super) async fn pending_request(
    state: &AppState,
    subdomain: &str,
    request_id: Option<&str>,
    headers: &HeaderMap,
) -> Result<PendingRequest, PageError> {
    let Some(tenant) = state
        .tenant(subdomain)
        .await
        .or_server_error(state, headers)?
    else {
        return Err(PageError::shown(
            ErrorPage {
                tenant: None,
                headers: Some(headers),
                status: StatusCode::NOT_FOUND,
                code: "invalid_request",
                message_key: "error_tenant_unknown",
            }
            .render(state),
        ));
    };
    let Some(id) = request_id.filter(|id| !id.is_empty() && id.len() <= 64) else {
        return Err(expired_link(state, &tenant, headers));
    };
    let stored = state
        .store
        .authorization_request(&tenant.id, id, store::now())
        .await
        .or_server_error(state, headers)?;
    let Some(request) = stored
        .and_then(|parameters| serde_json::from_str::<AuthorizationRequest>(&parameters).ok())
    else {
        return Err(expired_link(state, &tenant, headers));
    };
    let loaded = load_parts(state, tenant, id, request, headers).await;
    loaded.or_server_error(state, headers)?
}

/// The client's name, its flow, and the page language and branding of a pending request.
async fn load_parts(
    state: &AppState,
    tenant: Tenant,
    id: &str,
    request: AuthorizationRequest,
    headers: &HeaderMap,
) -> Result<Result<PendingRequest, PageError>, StoreError> {
    let client_name = client_display_name(state, &tenant, &request.client_id).await?;
    // The flow may have changed since /authorize; a client removed from every flow can no
    // longer sign in.
    let language = request_language(&tenant, Some(headers), request.ui_locales.as_deref());
    let Some((_, flow)) =
        flows::flow_for_client(&state.store, &tenant.id, &request.client_id).await?
    else {
        let way_back = ClientReturn::of_request(state, &tenant, &request, language).way_back(&[
            ("error", "unauthorized_client"),
            ("error_description", NO_USER_FLOW),
        ]);
        return Ok(Err(PageError::shown(no_user_flow_page(
            state,
            &tenant,
            Some(headers),
            request.ui_locales.as_deref(),
            &way_back,
        ))));
    };
    let mut strings = i18n::built_in_strings(language);
    let document = tenant_branding(state, &tenant).await?;
    branding::apply_strings(&mut strings, &document, language);
    let brand = branding::view(&branding::content_for(&document, language));
    let client_name = client_name.unwrap_or_else(|| {
        strings
            .get("client_fallback_name")
            .cloned()
            .unwrap_or_default()
    });
    Ok(Ok(PendingRequest {
        tenant,
        id: id.to_string(),
        request,
        client_name,
        flow,
        language,
        strings,
        brand,
        branding: document,
    }))
}

/// The client's `displayName`, when its stored spec has one.
async fn client_display_name(
    state: &AppState,
    tenant: &Tenant,
    client_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(state
        .store
        .document(Kind::Client, &tenant.id, client_id)
        .await?
        .and_then(|document| {
            serde_json::from_str::<serde_json::Value>(&document.spec)
                .ok()
                .and_then(|spec| spec["displayName"].as_str().map(str::to_string))
        }))
}

/// The tenant's stored branding (empty when it has none or it no longer parses).
pub(super) async fn tenant_branding(
    state: &AppState,
    tenant: &Tenant,
) -> Result<BrandingDocument, StoreError> {
    Ok(state
        .store
        .document(Kind::Branding, &tenant.id, &tenant.id)
        .await?
        .and_then(|document| match serde_json::from_str(&document.spec) {
            Ok(parsed) => Some(parsed),
            Err(error) => {
                tracing::warn!(tenant = %tenant.subdomain, error = %error, "stored branding does not parse; using the default look");
                None
            }
        })
        .unwrap_or_default())
}

/// Whether the sign-up page is offered to a customer of `tenant` reading `language`: the
/// tenant's Branding may hide self-service sign-up (`prompt=create` then opens sign-in).
///
/// # Errors
/// Storage failure.
pub async fn sign_up_offered(
    state: &AppState,
    tenant: &Tenant,
    language: &str,
) -> Result<bool, StoreError> {
    let document = tenant_branding(state, tenant).await?;
    Ok(!branding::view(&branding::content_for(&document, language)).hide_sign_up)
}

/// Form fields as submitted, in order (repeated names kept, as multi-select checkboxes send).
pub(super) struct SubmittedForm(pub Vec<(String, String)>);

impl SubmittedForm {
    /// The first value of field `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

impl std::fmt::Debug for SubmittedForm {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("SubmittedForm(..)")
    }
}

/// Loads the pending request of a submitted form and checks its CSRF token.
///
/// # Errors
/// The page of a pending request that cannot be loaded, or of a forged form.
pub(super) async fn submitted_request(
    state: &AppState,
    subdomain: &str,
    headers: &HeaderMap,
    form: &SubmittedForm,
) -> Result<PendingRequest, PageError> {
    let pending = pending_request(state, subdomain, form.get("request"), headers).await?;
    if csrf_valid(
        state,
        headers,
        &pending.id,
        form.get("csrf_token").unwrap_or_default(),
    ) {
        Ok(pending)
    } else {
        Err(csrf_failure(state, headers))
    }
}
