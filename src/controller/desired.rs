//! Pure functions from a resource's spec to the backend's desired state; no I/O.

use crate::api::{AppRegistrationSpec, CustomerTenantSpec};
use crate::runtime::model::{
    ApiPermissionSpec, ClientSecretSpec, ClientSpec, EmailSpec, IdentityProviderSpec, TenantSpec,
};

/// The runtime tenant a `CustomerTenant` asks for. `tenant_id` pins the identifier the
/// operator already reported, so a tenant recreated after a runtime data loss keeps its `tid`.
pub fn desired_tenant(spec: &CustomerTenantSpec, tenant_id: Option<&str>) -> TenantSpec {
    TenantSpec {
        tenant_id: tenant_id.map(str::to_string),
        subdomain: None,
        display_name: spec.display_name.clone(),
        country_code: spec.country_code.clone(),
        default_locale: spec.default_locale.clone(),
        supported_locales: spec.supported_locales.clone(),
        custom_attributes: spec.custom_attributes.clone(),
        identity_providers: spec.identity_providers.as_ref().map(|providers| {
            providers
                .iter()
                .map(|provider| IdentityProviderSpec {
                    name: provider.name.clone(),
                    provider_type: provider.provider_type,
                    display_name: provider.display_name.clone(),
                    client_id: provider.client_id.clone(),
                    issuer: provider.issuer.clone(),
                    scopes: provider.scopes.clone(),
                })
                .collect()
        }),
        email: spec.email.as_ref().map(|email| EmailSpec {
            from_address: email.from_address.clone(),
            from_name: email.from_name.clone(),
        }),
        password_policy: spec.password_policy.clone(),
        lockout: spec.lockout.clone(),
        signing_algorithm: None,
    }
}

/// Whether the runtime's stored tenant already matches the desired one (the identifier is
/// not part of the stored spec, so it is left out of the comparison).
pub fn tenant_matches(observed: &TenantSpec, desired: &TenantSpec) -> bool {
    let mut desired = desired.clone();
    desired.tenant_id = None;
    desired.subdomain = None;
    let mut observed = observed.clone();
    observed.tenant_id = None;
    observed.subdomain = None;
    // The runtime fills in its default algorithm; the operator does not choose one.
    observed.signing_algorithm = None;
    observed == desired
}

/// The runtime client an `AppRegistration` asks for, with the hashes of its valid secrets and
/// its API permissions resolved to client IDs.
pub fn desired_client(
    spec: &AppRegistrationSpec,
    client_secrets: Vec<ClientSecretSpec>,
    api_permissions: Vec<ApiPermissionSpec>,
) -> ClientSpec {
    ClientSpec {
        display_name: spec.display_name.clone(),
        app_type: spec.app_type,
        redirect_uris: spec.redirect_uris.clone().unwrap_or_default(),
        post_logout_redirect_uris: spec.post_logout_redirect_uris.clone().unwrap_or_default(),
        exposed_api: spec.exposed_api.clone(),
        api_permissions,
        access_token_lifetime: spec.access_token_lifetime.clone(),
        client_secrets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::AppType;

    fn tenant_spec() -> CustomerTenantSpec {
        serde_json::from_value(serde_json::json!({
            "displayName": "Contoso", "subdomain": "contoso", "countryCode": "US",
            "email": { "fromAddress": "no-reply@contoso.example", "smtpSecretRef": { "name": "smtp" } }
        }))
        .expect("valid spec")
    }

    #[test]
    fn the_desired_tenant_carries_the_spec_and_the_known_id() {
        let desired = desired_tenant(&tenant_spec(), Some("6d1f7a57-0d55-4c39-9a8c-0f3c1b1e2a11"));
        assert_eq!(desired.display_name, "Contoso");
        assert_eq!(desired.country_code, "US");
        assert_eq!(
            desired.tenant_id.as_deref(),
            Some("6d1f7a57-0d55-4c39-9a8c-0f3c1b1e2a11")
        );
        assert_eq!(
            desired.email.expect("email").from_address,
            "no-reply@contoso.example"
        );
    }

    #[test]
    fn a_stored_tenant_matches_regardless_of_id_and_algorithm() {
        let desired = desired_tenant(&tenant_spec(), Some("6d1f7a57-0d55-4c39-9a8c-0f3c1b1e2a11"));
        let mut observed = desired_tenant(&tenant_spec(), None);
        observed.signing_algorithm = Some(crate::runtime::crypto::SigningAlgorithm::Es256);
        assert!(tenant_matches(&observed, &desired));
        observed.display_name = "Changed behind our back".into();
        assert!(!tenant_matches(&observed, &desired));
    }

    #[test]
    fn a_public_client_has_no_secrets_and_keeps_its_redirects() {
        let spec: AppRegistrationSpec = serde_json::from_value(serde_json::json!({
            "tenantRef": { "name": "contoso" }, "displayName": "SPA", "type": "spa",
            "redirectUris": ["https://spa.example/"]
        }))
        .expect("valid spec");
        let client = desired_client(&spec, Vec::new(), Vec::new());
        assert_eq!(client.app_type, AppType::Spa);
        assert_eq!(client.redirect_uris, ["https://spa.example/"]);
        assert!(client.client_secrets.is_empty());
    }
}
