//! Decides what a scope request grants: OpenID Connect scopes, and the API scopes
//! (`api://…/orders.read`) of one resource app that the client is permitted.

use std::sync::Arc;

use crate::contract::{self as model, ClientSpec};
use crate::runtime::Tenant;
use crate::runtime::store::{Store, StoreError};

/// OpenID Connect scopes the runtime understands.
pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// Why a scope request cannot be granted.
#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    /// The scopes are malformed, name an unknown API or are not permitted (`invalid_scope`).
    #[error("{0}")]
    Invalid(String),
    /// Storage failed, or a stored client no longer parses.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The API part of a scope request: which resource and which of its scopes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceAccess {
    /// Client ID of the resource app (the token audience).
    pub resource_client_id: String,
    /// Granted scope values (without the resource prefix).
    pub scopes: Vec<String>,
}

/// Splits API scopes (`api://…/orders.read`) into one resource identifier and scope values.
/// Returns `None` when there are no API scopes.
///
/// # Errors
/// An `invalid_scope` description when scopes name several resources or are malformed.
pub fn split_api_scopes(scopes: &[&str]) -> Result<Option<(String, Vec<String>)>, String> {
    let mut resource: Option<String> = None;
    let mut values = Vec::new();
    for scope in scopes.iter().filter(|scope| !OIDC_SCOPES.contains(scope)) {
        let Some((prefix, value)) = scope.rsplit_once('/') else {
            return Err(format!(
                "scope {scope} is not an OpenID Connect scope or an API scope such as api://<app>/<scope>"
            ));
        };
        if value.is_empty() || !(prefix.starts_with("api://") || prefix.starts_with("https://")) {
            return Err(format!("scope {scope} is not a valid API scope"));
        }
        match &resource {
            Some(existing) if existing != prefix => {
                return Err("scopes for more than one API cannot be requested at once".into());
            }
            _ => resource = Some(prefix.to_string()),
        }
        values.push(value.to_string());
    }
    Ok(resource.map(|resource| (resource, values)))
}

/// Decides which scopes of `resource` the `client` gets. `.default` means every permitted
/// scope; otherwise each requested scope must be exposed by the resource and permitted to
/// the client (an app may always use its own API).
///
/// # Errors
/// An `invalid_scope` description.
pub fn grant_api_scopes(
    client_id: &str,
    client: &ClientSpec,
    resource_client_id: &str,
    resource: &ClientSpec,
    requested: &[String],
) -> Result<Vec<String>, String> {
    let own_api = client_id == resource_client_id;
    let permitted: Vec<&str> = client
        .api_permissions
        .iter()
        .filter(|permission| permission.resource_app_id == resource_client_id)
        .flat_map(|permission| permission.scopes.iter().map(String::as_str))
        .collect();
    let has_permission_entry = client
        .api_permissions
        .iter()
        .any(|permission| permission.resource_app_id == resource_client_id);
    if !own_api && !has_permission_entry {
        return Err("the client has no permission for this API (apiPermissions)".into());
    }
    let exposed: Vec<&str> = resource.exposed_scopes().collect();
    let allowed = |scope: &str| exposed.contains(&scope) && (own_api || permitted.contains(&scope));
    if requested.iter().any(|scope| scope == ".default") {
        if requested.len() > 1 {
            return Err(".default cannot be combined with other scopes of the same API".into());
        }
        return Ok(exposed
            .iter()
            .filter(|scope| allowed(scope))
            .map(|scope| scope.to_string())
            .collect());
    }
    for scope in requested {
        if !exposed.contains(&scope.as_str()) {
            return Err(format!("the API does not expose the scope {scope}"));
        }
        if !allowed(scope) {
            return Err(format!("the client is not permitted the scope {scope}"));
        }
    }
    Ok(requested.to_vec())
}

/// Finds the resource app an API scope prefix names: `api://{clientId}` or an identifier URI.
async fn resolve_resource(
    store: &Store,
    tenant: &Tenant,
    identifier: &str,
) -> Result<Option<(String, Arc<ClientSpec>)>, StoreError> {
    if let Some(id) = identifier.strip_prefix("api://")
        && model::is_valid_uuid(id)
        && let Some(spec) = store.client_spec(&tenant.id, id).await?
    {
        return Ok(Some((id.to_string(), spec)));
    }
    let Some(document) = store
        .client_by_identifier_uri(&tenant.id, identifier)
        .await?
    else {
        return Ok(None);
    };
    Ok(store
        .client_spec(&tenant.id, &document.key)
        .await?
        .map(|spec| (document.key, spec)))
}

/// Resolves requested scopes into the API access they grant (if any API scope was asked).
///
/// # Errors
/// [`ScopeError::Invalid`] for scopes that cannot be granted; storage failure.
pub async fn resolve_access(
    store: &Store,
    tenant: &Tenant,
    client_id: &str,
    client: &ClientSpec,
    scopes: &[&str],
) -> Result<Option<ResourceAccess>, ScopeError> {
    let Some((identifier, values)) = split_api_scopes(scopes).map_err(ScopeError::Invalid)? else {
        return Ok(None);
    };
    let (resource_client_id, resource) = resolve_resource(store, tenant, &identifier)
        .await?
        .ok_or_else(|| ScopeError::Invalid(format!("no API {identifier} in this tenant")))?;
    let granted = grant_api_scopes(client_id, client, &resource_client_id, &resource, &values)
        .map_err(ScopeError::Invalid)?;
    Ok(Some(ResourceAccess {
        resource_client_id,
        scopes: granted,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::AppType;
    use crate::api::app_registration::{ApiScope, ExposedApi};
    use crate::contract::ApiPermissionSpec;

    fn client(app_type: AppType) -> ClientSpec {
        ClientSpec {
            display_name: "App".into(),
            app_type,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            exposed_api: None,
            api_permissions: vec![],
            access_token_lifetime: None,
            client_secrets: vec![],
            certificates: vec![],
            assertion_reuse: Default::default(),
        }
    }

    fn api(scopes: &[&str]) -> ClientSpec {
        let mut spec = client(AppType::Web);
        spec.exposed_api = Some(ExposedApi {
            identifier_uri: Some("api://orders".into()),
            scopes: Some(
                scopes
                    .iter()
                    .map(|value| ApiScope {
                        value: value.to_string(),
                        admin_consent_display_name: None,
                        admin_consent_description: None,
                        user_consent_display_name: None,
                        user_consent_description: None,
                    })
                    .collect(),
            ),
        });
        spec
    }

    #[test]
    fn api_scopes_must_name_one_resource() {
        assert_eq!(split_api_scopes(&["openid", "email"]), Ok(None));
        assert_eq!(
            split_api_scopes(&["openid", "api://orders/orders.read"]),
            Ok(Some(("api://orders".into(), vec!["orders.read".into()])))
        );
        assert!(split_api_scopes(&["api://a/x", "api://b/y"]).is_err());
        assert!(split_api_scopes(&["orders.read"]).is_err());
    }

    #[test]
    fn api_scopes_need_a_permission_unless_the_api_is_the_clients_own() {
        let resource = api(&["orders.read", "orders.write"]);
        let mut caller = client(AppType::Daemon);
        let requested = vec![".default".to_string()];
        assert!(grant_api_scopes("caller", &caller, "api-id", &resource, &requested).is_err());
        caller.api_permissions.push(ApiPermissionSpec {
            resource_app_id: "api-id".into(),
            scopes: vec!["orders.read".into()],
        });
        assert_eq!(
            grant_api_scopes("caller", &caller, "api-id", &resource, &requested),
            Ok(vec!["orders.read".to_string()])
        );
        assert!(
            grant_api_scopes(
                "caller",
                &caller,
                "api-id",
                &resource,
                &["orders.write".into()]
            )
            .is_err()
        );
        assert_eq!(
            grant_api_scopes("api-id", &resource, "api-id", &resource, &requested)
                .map(|scopes| scopes.len()),
            Ok(2)
        );
    }

    #[tokio::test]
    async fn api_scopes_resolve_by_identifier_uri_or_client_id() {
        use crate::runtime::domain::oidc_fixture::{Fixture, client_spec, permission};
        let fixture = Fixture::new().await;
        let api = fixture.api("api://orders", &["orders.read"]).await;
        let mut spec = client_spec(AppType::Web);
        spec.api_permissions
            .push(permission(&api.id, &["orders.read"]));
        let caller = fixture.register(spec).await;
        let by_client_id = format!("api://{}/orders.read", api.id);
        for scope in ["api://orders/orders.read", by_client_id.as_str()] {
            let access = resolve_access(
                &fixture.store,
                &fixture.tenant,
                &caller.id,
                &caller.spec,
                &["openid", scope],
            )
            .await
            .expect("resolved");
            assert_eq!(
                access,
                Some(ResourceAccess {
                    resource_client_id: api.id.clone(),
                    scopes: vec!["orders.read".into()],
                })
            );
        }
        let oidc_only = resolve_access(
            &fixture.store,
            &fixture.tenant,
            &caller.id,
            &caller.spec,
            &["openid", "email"],
        );
        assert_eq!(oidc_only.await.expect("resolved"), None);
        let unknown = resolve_access(
            &fixture.store,
            &fixture.tenant,
            &caller.id,
            &caller.spec,
            &["api://billing/invoices.read"],
        );
        assert!(matches!(
            unknown.await,
            Err(ScopeError::Invalid(reason)) if reason == "no API api://billing in this tenant"
        ));
    }
}
