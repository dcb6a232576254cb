//! The UserInfo claims of a user access token (OpenID Connect Core §5.3): which user, and
//! which of their claims the granted scopes release.

use crate::runtime::store::StoreError;
use crate::runtime::tokens::{AccessTokenClaims, TokenError};

use super::grants::Provider;

/// Why no claims are released.
#[derive(Debug, thiserror::Error)]
pub enum UserinfoError {
    /// The token is not (or no longer) valid (`invalid_token`, 401).
    #[error("{0}")]
    InvalidToken(String),
    /// The token's grant lacks the `openid` scope (`insufficient_scope`, 403).
    #[error("the token was not issued with the openid scope")]
    InsufficientScope,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Keys could not be read.
    #[error(transparent)]
    Token(TokenError),
}

impl From<TokenError> for UserinfoError {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::Invalid(reason) => UserinfoError::InvalidToken(reason),
            other => UserinfoError::Token(other),
        }
    }
}

/// The claims `token` (a bearer access token) may read: `sub`, `oid` and `tid`, `email` with
/// the `email` scope, `preferred_username` and `name` with `profile`.
///
/// # Errors
/// See [`UserinfoError`].
pub async fn claims(
    provider: &Provider<'_>,
    token: &str,
) -> Result<serde_json::Value, UserinfoError> {
    let tenant = provider.tenant;
    let claims: AccessTokenClaims = provider
        .keyring
        .verify(provider.store, &tenant.id, provider.issuer, token, true)
        .await?;
    let invalid = |reason: &str| UserinfoError::InvalidToken(reason.to_string());
    let Some(grant_id) = claims.grant_id.as_deref() else {
        return Err(invalid("the token is not a user access token"));
    };
    let scopes: Vec<&str> = claims
        .scp
        .as_deref()
        .unwrap_or_default()
        .split(' ')
        .collect();
    let grant = provider.store.grant(grant_id).await?;
    let Some(grant) = grant.filter(|grant| grant.revoked_at.is_none()) else {
        return Err(invalid("the token has been revoked"));
    };
    let granted: Vec<&str> = grant.scope.split_whitespace().collect();
    if !granted.contains(&"openid") {
        return Err(UserinfoError::InsufficientScope);
    }
    let Some(user) = provider.store.user(&tenant.id, &claims.sub).await? else {
        return Err(invalid("the user no longer exists"));
    };
    let mut body = serde_json::json!({
        "sub": user.id,
        "oid": user.id,
        "tid": tenant.id,
    });
    if granted.contains(&"email") || scopes.contains(&"email") {
        body["email"] = serde_json::Value::String(user.email.clone());
    }
    if granted.contains(&"profile") {
        body["preferred_username"] = serde_json::Value::String(user.email.clone());
        if let Some(name) = &user.display_name {
            body["name"] = serde_json::Value::String(name.clone());
        }
    }
    Ok(body)
}
