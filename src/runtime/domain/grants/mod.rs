//! The token endpoint's grants, one file each, and the tokens they issue.
//!
//! ```text
//!  code ──redeem once──▶ grant ──▶ access + ID + refresh token
//!                          ▲            │ refresh (rotates; a replay revokes the grant)
//!                          └────────────┘
//! ```

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;

use std::collections::BTreeMap;

use crate::runtime::domain::flows;
use crate::runtime::store::{GrantRecord, Store, StoreError, UserRecord};
use crate::runtime::tokens::{self, Keyring, TokenError};
use crate::runtime::{Tenant, crypto};

use super::client_auth::AuthenticatedClient;
use super::scopes::{OIDC_SCOPES, ResourceAccess, ScopeError, resolve_access};

/// One tenant's OpenID provider as the grants see it: its database, keys, and issuer.
#[derive(Clone, Copy, Debug)]
pub struct Provider<'a> {
    /// The database.
    pub store: &'a Store,
    /// Signing keys.
    pub keyring: &'a Keyring,
    /// The tenant.
    pub tenant: &'a Tenant,
    /// The tenant's issuer URL.
    pub issuer: &'a str,
}

/// Why a grant issues no tokens; each maps to one OAuth error code (RFC 6749 §5.2).
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// A required parameter is missing (`invalid_request`).
    #[error("{0}")]
    InvalidRequest(&'static str),
    /// The code or refresh token cannot be used (`invalid_grant`).
    #[error("{0}")]
    InvalidGrant(&'static str),
    /// The scopes cannot be granted (`invalid_scope`).
    #[error("{0}")]
    InvalidScope(String),
    /// The client may not use this grant (`unauthorized_client`).
    #[error("{0}")]
    UnauthorizedClient(&'static str),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Signing failed.
    #[error(transparent)]
    Token(#[from] TokenError),
}

impl GrantError {
    /// The OAuth error code, or `server_error` for a failure of the server.
    pub fn code(&self) -> &'static str {
        match self {
            GrantError::InvalidRequest(_) => "invalid_request",
            GrantError::InvalidGrant(_) => "invalid_grant",
            GrantError::InvalidScope(_) => "invalid_scope",
            GrantError::UnauthorizedClient(_) => "unauthorized_client",
            GrantError::Store(_) | GrantError::Token(_) => "server_error",
        }
    }
}

impl From<ScopeError> for GrantError {
    fn from(error: ScopeError) -> Self {
        match error {
            ScopeError::Invalid(reason) => GrantError::InvalidScope(reason),
            ScopeError::Store(error) => GrantError::Store(error),
        }
    }
}

/// The tokens a successful grant sends back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedTokens {
    /// The access token (a JWT of type `at+jwt`).
    pub access_token: String,
    /// Its lifetime in seconds.
    pub expires_in: i64,
    /// The granted scope, space-separated.
    pub scope: String,
    /// The ID token, when `openid` was granted.
    pub id_token: Option<String>,
    /// A new refresh token, when `offline_access` was granted.
    pub refresh_token: Option<String>,
    /// The account the user tokens are for (none for app-only tokens); the token endpoint
    /// returns it as `client_info` when the request asks with `client_info=1`.
    pub client_info: Option<ClientInfo>,
}

/// The account of user tokens as Entra's `client_info` carries it (MSAL builds its cached
/// account's `homeAccountId` as `<uid>.<utid>` from it): the user's `oid` and the tenant's
/// `tid`, exactly as the tokens carry them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ClientInfo {
    /// The user's object ID (the tokens' `oid`).
    pub uid: String,
    /// The tenant ID (the tokens' `tid`).
    pub utid: String,
}

impl ClientInfo {
    /// The `client_info` value: base64url, without padding, of the JSON
    /// `{"uid":"…","utid":"…"}`.
    pub fn encode(&self) -> String {
        use base64::Engine;
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }
}

/// Issues the access token, and the ID and refresh tokens the grant's scopes call for, at
/// `now` (Unix seconds).
async fn issue_user_tokens(
    provider: &Provider<'_>,
    client: &AuthenticatedClient,
    grant: &GrantRecord,
    nonce: Option<&str>,
    now: i64,
) -> Result<IssuedTokens, GrantError> {
    let scopes: Vec<&str> = grant.scope.split_whitespace().collect();
    let access = resolve_access(
        provider.store,
        provider.tenant,
        &client.id,
        &client.spec,
        &scopes,
    )
    .await?;
    let user = provider
        .store
        .user(&provider.tenant.id, &grant.user_id)
        .await?
        .ok_or(GrantError::InvalidGrant("the user no longer exists"))?;
    let flow_claims = flow_claims(provider, client, &user).await?;
    let (audience, permissions) = audience_and_permissions(client, &scopes, access);
    let lifetime = client.spec.access_token_lifetime_seconds();
    let access_claims = tokens::access_token_claims(&tokens::AccessTokenInput {
        issuer: provider.issuer,
        tenant_id: &provider.tenant.id,
        client_id: &client.id,
        audience: &audience,
        user_id: Some(&user.id),
        permissions: &permissions,
        auth_time: Some(grant.auth_time),
        grant_id: Some(&grant.id),
        lifetime_seconds: lifetime,
        now,
        flow_claims: &flow_claims,
    });
    let access_token = provider.sign(&access_claims, "at+jwt").await?;
    let session = UserSession {
        user: &user,
        grant,
        nonce,
        flow_claims: &flow_claims,
    };
    let id_token = if scopes.contains(&"openid") {
        Some(id_token(provider, client, &session, &scopes, now).await?)
    } else {
        None
    };
    let refresh_token = if scopes.contains(&"offline_access") {
        Some(new_refresh_token(provider.store, &grant.id, now).await?)
    } else {
        None
    };
    Ok(IssuedTokens {
        access_token,
        expires_in: lifetime,
        scope: grant.scope.clone(),
        id_token,
        refresh_token,
        client_info: Some(ClientInfo {
            uid: user.id.clone(),
            utid: provider.tenant.id.clone(),
        }),
    })
}

/// The claims the client's user flow adds to the user's tokens.
async fn flow_claims(
    provider: &Provider<'_>,
    client: &AuthenticatedClient,
    user: &UserRecord,
) -> Result<BTreeMap<String, serde_json::Value>, StoreError> {
    let flow = flows::flow_for_client(provider.store, &provider.tenant.id, &client.id).await?;
    Ok(flows::token_claims(
        flow.as_ref().map(|(_, flow)| flow),
        &user.email,
        user.display_name.as_deref(),
        &user.attributes,
    ))
}

/// The access token's audience and `scp`: the API and its granted scopes, or else the client
/// itself and the OpenID Connect scopes (without `offline_access`).
fn audience_and_permissions(
    client: &AuthenticatedClient,
    scopes: &[&str],
    access: Option<ResourceAccess>,
) -> (String, Vec<String>) {
    match access {
        Some(access) => (access.resource_client_id, access.scopes),
        None => (
            client.id.clone(),
            scopes
                .iter()
                .filter(|scope| OIDC_SCOPES.contains(scope) && **scope != "offline_access")
                .map(|scope| scope.to_string())
                .collect(),
        ),
    }
}

impl Provider<'_> {
    /// Signs `claims` with the tenant's current key; `token_type` is the JWT `typ`.
    async fn sign<T: serde::Serialize>(
        &self,
        claims: &T,
        token_type: &str,
    ) -> Result<String, TokenError> {
        self.keyring
            .sign(self.store, &self.tenant.id, claims, token_type)
            .await
    }
}

/// The user side of a grant that an ID token describes.
struct UserSession<'a> {
    user: &'a UserRecord,
    grant: &'a GrantRecord,
    nonce: Option<&'a str>,
    flow_claims: &'a BTreeMap<String, serde_json::Value>,
}

async fn id_token(
    provider: &Provider<'_>,
    client: &AuthenticatedClient,
    session: &UserSession<'_>,
    scopes: &[&str],
    now: i64,
) -> Result<String, TokenError> {
    let id_claims = tokens::id_token_claims(&tokens::IdTokenInput {
        issuer: provider.issuer,
        tenant_id: &provider.tenant.id,
        client_id: &client.id,
        user_id: &session.user.id,
        email: &session.user.email,
        display_name: session.user.display_name.as_deref(),
        scopes,
        nonce: session.nonce,
        auth_time: session.grant.auth_time,
        session_id: session.grant.session_id.as_deref(),
        now,
        flow_claims: session.flow_claims,
    });
    provider.sign(&id_claims, "JWT").await
}

/// Stores and returns a new refresh token of the grant (its token family).
async fn new_refresh_token(store: &Store, grant_id: &str, now: i64) -> Result<String, StoreError> {
    let refresh = crypto::random_token(32);
    store
        .create_refresh_token(
            grant_id,
            &crypto::token_digest(&refresh),
            now + tokens::REFRESH_TOKEN_LIFETIME_SECONDS,
        )
        .await?;
    Ok(refresh)
}

/// Checks that a redeemed code's or refresh token's grant belongs to this client and tenant
/// and is not revoked.
fn check_grant(
    grant: &GrantRecord,
    provider: &Provider<'_>,
    client: &AuthenticatedClient,
    another_client: &'static str,
    revoked: &'static str,
) -> Result<(), GrantError> {
    if grant.client_id != client.id || grant.tenant_id != provider.tenant.id {
        return Err(GrantError::InvalidGrant(another_client));
    }
    if grant.revoked_at.is_some() {
        return Err(GrantError::InvalidGrant(revoked));
    }
    Ok(())
}
