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
    })
}
