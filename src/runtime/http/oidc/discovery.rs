//! Serves OpenID Connect discovery (the provider metadata) and the tenant's signing keys.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::runtime::domain::scopes::OIDC_SCOPES;
use crate::runtime::{AppState, i18n};

use super::{OAuthError, known_tenant, unknown_tenant_text};

/// `GET /{subdomain}/v2.0/.well-known/openid-configuration` (at the issuer) and
/// `GET /{subdomain}/.well-known/openid-configuration` (at the authority): one document.
pub(super) async fn discovery(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
) -> Result<Response, OAuthError> {
    let Some(tenant) = known_tenant(&state, &subdomain).await? else {
        return Ok(unknown_tenant_text());
    };
    let base = format!("{}/{}", state.settings.public_url, tenant.subdomain);
    let document = serde_json::json!({
        "issuer": state.issuer(&tenant.subdomain),
        "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{base}/oauth2/v2.0/token"),
        "userinfo_endpoint": format!("{base}/openid/v2.0/userinfo"),
        "end_session_endpoint": format!("{base}/oauth2/v2.0/logout"),
        "jwks_uri": format!("{base}/discovery/v2.0/keys"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": OIDC_SCOPES,
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "nbf", "auth_time", "nonce", "tid", "oid", "ver",
            "sid", "email", "name", "preferred_username"
        ],
        "prompt_values_supported": ["none", "login", "consent", "select_account", "create"],
        "ui_locales_supported": ui_locales_supported(tenant.spec.supported_locales.as_deref()),
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "tenant_region_scope": tenant.spec.country_code,
    });
    Ok(axum::Json(document).into_response())
}

/// The page languages a tenant offers: the built-in languages (one per `locales/*.json`),
/// narrowed to the tenant's `supportedLocales` when it lists any, matched by primary subtag
/// as the pages match them. English, the pages' fallback, when nothing is left.
pub fn ui_locales_supported(tenant_supported: Option<&[String]>) -> Vec<&'static str> {
    let offered: Vec<&'static str> = i18n::BUILT_IN_LANGUAGES
        .into_iter()
        .filter(|language| {
            tenant_supported.is_none_or(|supported| {
                supported.iter().any(|tag| {
                    tag.split(['-', '_'])
                        .next()
                        .is_some_and(|primary| primary.eq_ignore_ascii_case(language))
                })
            })
        })
        .collect();
    if offered.is_empty() {
        vec![i18n::BUILT_IN_LANGUAGES[0]]
    } else {
        offered
    }
}

/// `GET /{subdomain}/discovery/v2.0/keys`.
pub(super) async fn jwks(
    State(state): State<Arc<AppState>>,
    Path(subdomain): Path<String>,
) -> Result<Response, OAuthError> {
    let Some(tenant) = known_tenant(&state, &subdomain).await? else {
        return Ok(unknown_tenant_text());
    };
    let keys = state.keys.keyring.jwks(&state.store, &tenant.id).await?;
    let mut response = axum::Json(keys).into_response();
    // Short caching: a newly published next key must reach relying parties before use.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_offers_every_language_with_a_locale_file() {
        let directory =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/runtime/locales");
        let mut files: Vec<String> = std::fs::read_dir(&directory)
            .expect("read the locales directory")
            .filter_map(|entry| {
                let name = entry.ok()?.file_name().into_string().ok()?;
                name.strip_suffix(".json").map(str::to_string)
            })
            .collect();
        files.sort();
        let mut advertised = ui_locales_supported(None);
        advertised.sort_unstable();
        assert_eq!(
            advertised, files,
            "ui_locales_supported and locales/*.json differ"
        );
        let tenant = vec!["fr-CA".to_string(), "es".to_string()];
        assert_eq!(ui_locales_supported(Some(&tenant)), ["fr"]);
        assert_eq!(ui_locales_supported(Some(&["ja".to_string()])), ["en"]);
    }
}
