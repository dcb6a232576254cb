//! `identity/identityProviders` → `CustomerTenant.spec.identityProviders`, and the sign-in
//! method name a user flow uses for each provider.
//!
//! Built-in providers (email with password, email one-time passcode) are sign-in methods, not
//! tenant entries. Google, Facebook and OpenID Connect providers become tenant entries whose
//! `clientSecretRef` names a Secret the person creates: Graph never exports the secret.

use crate::api::SecretKeyRef;
use crate::api::customer_tenant::{IdentityProvider, IdentityProviderType};
use crate::contract::{METHOD_EMAIL_OTP, METHOD_EMAIL_PASSWORD};

use super::Context;
use super::checks::{is_display_name, is_https_url, is_provider_scope, kubernetes_name, present};
use super::graph::{self, short_type};

/// Key of the client secret in the Secret each provider's `clientSecretRef` names.
const SECRET_KEY: &str = "clientSecret";

/// A tenant has at most this many identity providers (the CRD's limit).
const MAX_PROVIDERS: usize = 20;

/// Registers the providers of an `identity/identityProviders` export with the tenant.
pub(super) fn register_export(context: &mut Context, providers: &[graph::IdentityProvider]) {
    for (index, provider) in providers.iter().enumerate() {
        let path = format!("identity/identityProviders[{index}]");
        if local_method(provider).is_none() {
            register(context, &path, provider);
        }
    }
}

/// `emailPassword` or `emailOtp` for the built-in local-account providers.
pub(super) fn local_method(provider: &graph::IdentityProvider) -> Option<&'static str> {
    if short_type(provider.odata_type.as_deref()) != "builtinidentityprovider" {
        return None;
    }
    let provider_type = provider
        .identity_provider_type
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let id = provider
        .id
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if provider_type == "emailpassword" || id.starts_with("emailpassword") {
        Some(METHOD_EMAIL_PASSWORD)
    } else if provider_type == "emailotp" || id.starts_with("emailotp") {
        Some(METHOD_EMAIL_OTP)
    } else {
        None
    }
}

/// The method name a flow uses for an external provider; registers the provider with the
/// tenant when the export listed it only inside the flow. `None` (with a note) when it has no
/// counterpart.
pub(super) fn method_name(
    context: &mut Context,
    path: &str,
    provider: &graph::IdentityProvider,
) -> Option<String> {
    if let Some(name) = context.provider_names.get(&key(provider)) {
        return Some(name.clone());
    }
    register(context, path, provider)
}

fn key(provider: &graph::IdentityProvider) -> String {
    provider
        .id
        .clone()
        .or_else(|| provider.display_name.clone())
        .unwrap_or_default()
}

fn provider_type(
    context: &mut Context,
    path: &str,
    provider: &graph::IdentityProvider,
) -> Option<IdentityProviderType> {
    let kind = short_type(provider.odata_type.as_deref());
    let named = provider
        .identity_provider_type
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match (kind.as_str(), named.as_str()) {
        ("socialidentityprovider", "google") => Some(IdentityProviderType::Google),
        ("socialidentityprovider", "facebook") => Some(IdentityProviderType::Facebook),
        ("oidcidentityprovider" | "openidconnectidentityprovider", _) => {
            Some(IdentityProviderType::Oidc)
        }
        _ => {
            let what = provider
                .identity_provider_type
                .clone()
                .or_else(|| provider.odata_type.clone())
                .unwrap_or_default();
            let what = what.trim_start_matches("#microsoft.graph.").to_string();
            context.skipped(
                path,
                format!(
                    "sign-in with {what} is not imported (identity providers here are google, \
                     facebook and oidc)"
                ),
            );
            None
        }
    }
}

/// Adds a tenant entry for `provider`; returns the name flows use for it.
fn register(
    context: &mut Context,
    path: &str,
    provider: &graph::IdentityProvider,
) -> Option<String> {
    let provider_type = provider_type(context, path, provider)?;
    if context.providers.len() >= MAX_PROVIDERS {
        context.skipped(
            path,
            format!("not imported: a tenant has at most {MAX_PROVIDERS} identity providers"),
        );
        return None;
    }
    let Some(client_id) = present(&provider.client_id).filter(|id| id.len() <= 512) else {
        context.skipped(
            path,
            "not imported: it has no clientId (1 to 512 characters)",
        );
        return None;
    };
    let issuer = match provider_type {
        IdentityProviderType::Oidc => Some(oidc_issuer(context, path, provider)?),
        _ => None,
    };
    let stem = match provider_type {
        IdentityProviderType::Google => "google".to_string(),
        IdentityProviderType::Facebook => "facebook".to_string(),
        IdentityProviderType::Oidc => {
            kubernetes_name(provider.display_name.as_deref().unwrap_or_default(), "oidc")
        }
    };
    let name = context.provider_name_pool.take(&stem);
    let display_name = present(&provider.display_name)
        .filter(|text| is_display_name(text, 64))
        .map(str::to_string);
    let secret = format!("{}-idp-{name}", context.tenant);
    let namespace = context
        .namespace
        .as_deref()
        .map(|namespace| format!(" -n {namespace}"))
        .unwrap_or_default();
    context.action(
        path,
        format!(
            "create Secret {secret} with key {SECRET_KEY} holding this provider's client secret \
             (exports never contain it): kubectl{namespace} create secret generic {secret} \
             --from-literal={SECRET_KEY}=<client secret>"
        ),
    );
    let scopes = scopes(context, path, provider);
    context.providers.push(IdentityProvider {
        name: name.clone(),
        provider_type,
        display_name,
        client_id: client_id.to_string(),
        client_secret_ref: SecretKeyRef {
            name: secret,
            key: SECRET_KEY.to_string(),
        },
        issuer,
        scopes,
    });
    context.provider_names.insert(key(provider), name.clone());
    Some(name)
}

/// The issuer of an OpenID Connect provider, with notes on what of it has no counterpart.
fn oidc_issuer(
    context: &mut Context,
    path: &str,
    provider: &graph::IdentityProvider,
) -> Option<String> {
    let Some(issuer) = present(&provider.issuer).filter(|issuer| is_https_url(issuer)) else {
        context.skipped(
            path,
            "not imported: an OpenID Connect provider needs an https issuer",
        );
        return None;
    };
    let discovery = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    if let Some(endpoint) = present(&provider.well_known_endpoint)
        && endpoint != discovery
    {
        context.skipped(
            format!("{path}.wellKnownEndpoint"),
            format!("not imported: the discovery document is read from {discovery}"),
        );
    }
    if let Some(response_type) = present(&provider.response_type)
        && response_type != "code"
    {
        context.skipped(
            format!("{path}.responseType"),
            "not imported: the authorization code flow is always used",
        );
    }
    if provider
        .inbound_claim_mapping
        .as_ref()
        .is_some_and(|mapping| !super::is_empty(mapping))
    {
        context.skipped(
            format!("{path}.inboundClaimMapping"),
            "not imported: the provider's standard OpenID Connect claims are used",
        );
    }
    let authentication = provider
        .client_authentication
        .as_ref()
        .and_then(|value| value.get("@odata.type"))
        .and_then(|value| value.as_str());
    if short_type(authentication).contains("privatejwt") {
        context.skipped(
            format!("{path}.clientAuthentication"),
            "not imported: the provider is called with a client secret, not a private key JWT",
        );
    }
    Some(issuer.to_string())
}

/// The provider's space-separated `scope`, as a list of values the CRD accepts.
fn scopes(
    context: &mut Context,
    path: &str,
    provider: &graph::IdentityProvider,
) -> Option<Vec<String>> {
    let text = present(&provider.scope)?;
    let mut scopes = Vec::new();
    for scope in text.split_whitespace() {
        if is_provider_scope(scope) && scopes.len() < 20 {
            scopes.push(scope.to_string());
        } else {
            context.skipped(
                format!("{path}.scope"),
                format!("scope {scope:?} is not imported"),
            );
        }
    }
    (!scopes.is_empty()).then_some(scopes)
}
