//! The client-credentials grant (RFC 6749 §4.4): a confidential app gets an access token for
//! one API with the `.default` scope, carrying the API's scopes the app is permitted.

use std::collections::BTreeMap;

use crate::runtime::domain::client_auth::AuthenticatedClient;
use crate::runtime::domain::scopes::resolve_access;
use crate::runtime::tokens;

use super::{GrantError, IssuedTokens, Provider};

/// Issues an app-only access token for `scope` (exactly one `api://<app>/.default`) at `now`
/// (Unix seconds).
///
/// # Errors
/// `unauthorized_client` for a public client; `invalid_scope` for anything but one API's
/// `.default`, or an API the client is not permitted; a signing or storage failure.
pub async fn exchange(
    provider: &Provider<'_>,
    client: &AuthenticatedClient,
    scope: &str,
    now: i64,
) -> Result<IssuedTokens, GrantError> {
    if !client.spec.app_type.is_confidential() {
        return Err(GrantError::UnauthorizedClient(
            "public clients cannot use client credentials",
        ));
    }
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    if scopes.len() != 1 || !scopes[0].ends_with("/.default") {
        return Err(GrantError::InvalidScope(
            "client credentials need exactly one scope of the form api://<app>/.default".into(),
        ));
    }
    let access = resolve_access(
        provider.store,
        provider.tenant,
        &client.id,
        &client.spec,
        &scopes,
    )
    .await?
    .ok_or_else(|| GrantError::InvalidScope("an API scope is required".into()))?;
    let lifetime = client.spec.access_token_lifetime_seconds();
    let claims = tokens::access_token_claims(&tokens::AccessTokenInput {
        issuer: provider.issuer,
        tenant_id: &provider.tenant.id,
        client_id: &client.id,
        audience: &access.resource_client_id,
        user_id: None,
        permissions: &access.scopes,
        auth_time: None,
        grant_id: None,
        lifetime_seconds: lifetime,
        now,
        flow_claims: &BTreeMap::new(),
    });
    Ok(IssuedTokens {
        access_token: provider.sign(&claims, "at+jwt").await?,
        expires_in: lifetime,
        scope: scope.to_string(),
        id_token: None,
        refresh_token: None,
        client_info: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::AppType;
    use crate::runtime::domain::oidc_fixture::{Fixture, client_spec, now, permission};

    /// A daemon permitted `scopes` of `api`.
    async fn daemon(
        fixture: &Fixture,
        api: &AuthenticatedClient,
        scopes: &[&str],
    ) -> AuthenticatedClient {
        let mut spec = client_spec(AppType::Daemon);
        spec.api_permissions.push(permission(&api.id, scopes));
        fixture.register(spec).await
    }

    #[tokio::test]
    async fn a_daemon_gets_the_permitted_scopes_of_the_api_as_roles() {
        let fixture = Fixture::new().await;
        let api = fixture
            .api("api://orders", &["orders.read", "orders.write"])
            .await;
        let caller = daemon(&fixture, &api, &["orders.read"]).await;
        let tokens = exchange(&fixture.provider(), &caller, "api://orders/.default", now())
            .await
            .expect("tokens");
        assert_eq!(tokens.scope, "api://orders/.default");
        assert_eq!(tokens.refresh_token, None);
        let claims = fixture.access_claims(&tokens.access_token).await;
        assert_eq!(claims.aud, api.id);
        assert_eq!(claims.roles, Some(vec!["orders.read".to_string()]));
        let by_client_id = format!("api://{}/.default", api.id);
        let again = exchange(&fixture.provider(), &caller, &by_client_id, now()).await;
        assert!(again.is_ok(), "{again:?}");
    }

    #[tokio::test]
    async fn only_one_apis_default_scope_is_accepted() {
        let fixture = Fixture::new().await;
        let api = fixture.api("api://orders", &["orders.read"]).await;
        let caller = daemon(&fixture, &api, &["orders.read"]).await;
        for scope in [
            "api://orders/orders.read",
            "",
            "api://orders/.default api://billing/.default",
            "api://unknown/.default",
        ] {
            let result = exchange(&fixture.provider(), &caller, scope, now()).await;
            assert!(
                matches!(result, Err(GrantError::InvalidScope(_))),
                "{scope}: {result:?}"
            );
        }
    }

    #[tokio::test]
    async fn an_api_the_client_has_no_permission_for_is_refused() {
        let fixture = Fixture::new().await;
        let api = fixture.api("api://orders", &["orders.read"]).await;
        let caller = fixture.register(client_spec(AppType::Daemon)).await;
        let result = exchange(&fixture.provider(), &caller, "api://orders/.default", now()).await;
        assert!(
            matches!(result, Err(GrantError::InvalidScope(reason)) if reason.contains("apiPermissions"))
        );
        drop(api);
    }

    #[tokio::test]
    async fn public_clients_cannot_use_client_credentials() {
        let fixture = Fixture::new().await;
        let spa = fixture.app(None).await;
        let result = exchange(&fixture.provider(), &spa, "api://orders/.default", now()).await;
        assert!(matches!(result, Err(GrantError::UnauthorizedClient(_))));
    }
}
