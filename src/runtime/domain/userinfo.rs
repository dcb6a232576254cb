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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::domain::client_auth::AuthenticatedClient;
    use crate::runtime::domain::grants::authorization_code::{self, CodeExchange};
    use crate::runtime::domain::oidc_fixture::{Fixture, REDIRECT_URI, now};

    async fn access_token(fixture: &Fixture, app: &AuthenticatedClient, scope: &str) -> String {
        let code = fixture.code(app, scope, None, now()).await;
        let exchange = CodeExchange {
            code: Some(&code),
            redirect_uri: Some(REDIRECT_URI),
            code_verifier: None,
        };
        authorization_code::exchange(&fixture.provider(), app, &exchange, now())
            .await
            .expect("tokens")
            .access_token
    }

    #[tokio::test]
    async fn the_granted_scopes_decide_which_claims_are_released() {
        let fixture = Fixture::new().await;
        let app = fixture.app(Some("secret")).await;
        let token = access_token(&fixture, &app, "openid email").await;
        let released = claims(&fixture.provider(), &token).await.expect("claims");
        let subject = fixture.access_claims(&token).await.sub;
        let user = fixture.store.user(&fixture.tenant.id, &subject).await;
        let user = user.expect("read the user").expect("the user");
        assert_eq!(released["sub"], user.id.as_str());
        assert_eq!(released["email"], user.email.as_str());
        assert_eq!(released["tid"], fixture.tenant.id.as_str());
        assert!(released.get("name").is_none());
        let token = access_token(&fixture, &app, "openid profile").await;
        let released = claims(&fixture.provider(), &token).await.expect("claims");
        assert_eq!(released["name"], "Ada");
        assert!(released.get("email").is_none());
    }

    #[tokio::test]
    async fn a_token_without_openid_or_of_a_revoked_grant_reads_nothing() {
        let fixture = Fixture::new().await;
        let app = fixture.app(Some("secret")).await;
        let token = access_token(&fixture, &app, "email").await;
        assert!(matches!(
            claims(&fixture.provider(), &token).await,
            Err(UserinfoError::InsufficientScope)
        ));
        let token = access_token(&fixture, &app, "openid").await;
        let grant_id = fixture.access_claims(&token).await.grant_id.expect("grant");
        fixture.store.revoke_grant(&grant_id).await.expect("revoke");
        assert!(matches!(
            claims(&fixture.provider(), &token).await,
            Err(UserinfoError::InvalidToken(reason)) if reason == "the token has been revoked"
        ));
        assert!(matches!(
            claims(&fixture.provider(), "not-a-jwt").await,
            Err(UserinfoError::InvalidToken(_))
        ));
    }
}
