//! The refresh-token grant (RFC 6749 §6): each refresh token works once and is replaced by a
//! new one (rotation); a replayed refresh token revokes its whole token family (the grant).

use crate::runtime::crypto;
use crate::runtime::domain::client_auth::AuthenticatedClient;
use crate::runtime::store::{GrantRecord, Redemption};

use super::{GrantError, IssuedTokens, Provider, check_grant, issue_user_tokens};

/// Exchanges a refresh token for new tokens at `now` (Unix seconds).
///
/// # Errors
/// A [`GrantError`]; a replayed refresh token also revokes its token family.
pub async fn exchange(
    provider: &Provider<'_>,
    client: &AuthenticatedClient,
    refresh_token: Option<&str>,
    now: i64,
) -> Result<IssuedTokens, GrantError> {
    let presented = refresh_token.ok_or(GrantError::InvalidRequest("refresh_token is missing"))?;
    let (record, grant_revoked_at) = match provider
        .store
        .redeem_refresh_token(&crypto::token_digest(presented))
        .await?
    {
        Redemption::Unknown => {
            return Err(GrantError::InvalidGrant("the refresh token is not valid"));
        }
        Redemption::Replayed(record) => {
            provider.store.revoke_grant(&record.grant_id).await?;
            tracing::warn!(tenant = %provider.tenant.subdomain, client_id = %client.id, "refresh token reuse: token family revoked");
            return Err(GrantError::InvalidGrant(
                "the refresh token was already used; its token family is revoked",
            ));
        }
        Redemption::Redeemed {
            record,
            grant_revoked_at,
        } => (record, grant_revoked_at),
    };
    let grant = provider
        .store
        .grant(&record.grant_id)
        .await?
        .ok_or(GrantError::InvalidGrant("the refresh token is not valid"))?;
    // Revoked or not as it stood when this request spent the refresh token: a parallel replay that
    // revokes the grant afterwards revokes the tokens issued here instead of leaving no winner.
    let grant = GrantRecord {
        revoked_at: grant_revoked_at,
        ..grant
    };
    check_grant(
        &grant,
        provider,
        client,
        "the refresh token was issued to another client",
        "the refresh token has been revoked",
    )?;
    if record.expires_at <= now {
        return Err(GrantError::InvalidGrant("the refresh token has expired"));
    }
    issue_user_tokens(provider, client, &grant, None, now).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::domain::grants::authorization_code::{self, CodeExchange};
    use crate::runtime::domain::oidc_fixture::{Fixture, REDIRECT_URI, now};
    use crate::runtime::tokens::REFRESH_TOKEN_LIFETIME_SECONDS;

    /// Signs in through a code and returns the first refresh token.
    async fn first_refresh_token(fixture: &Fixture, client: &AuthenticatedClient) -> String {
        let code = fixture
            .code(client, "openid offline_access", None, now())
            .await;
        let request = CodeExchange {
            code: Some(&code),
            redirect_uri: Some(REDIRECT_URI),
            code_verifier: None,
        };
        authorization_code::exchange(&fixture.provider(), client, &request, now())
            .await
            .expect("tokens")
            .refresh_token
            .expect("a refresh token")
    }

    fn refused_with(result: Result<IssuedTokens, GrantError>) -> String {
        match result {
            Err(GrantError::InvalidGrant(reason)) => reason.to_string(),
            other => panic!("expected invalid_grant, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn each_refresh_replaces_the_refresh_token() {
        let fixture = Fixture::new().await;
        let app = fixture.app(Some("secret")).await;
        let provider = fixture.provider();
        let first = first_refresh_token(&fixture, &app).await;
        let second = exchange(&provider, &app, Some(&first), now())
            .await
            .expect("refreshed");
        let rotated = second.refresh_token.expect("a new refresh token");
        assert_ne!(rotated, first);
        assert!(second.id_token.is_some());
        let third = exchange(&provider, &app, Some(&rotated), now()).await;
        assert!(third.is_ok(), "{third:?}");
    }

    #[tokio::test]
    async fn a_replayed_refresh_token_revokes_its_whole_family() {
        let fixture = Fixture::new().await;
        let app = fixture.app(Some("secret")).await;
        let provider = fixture.provider();
        let first = first_refresh_token(&fixture, &app).await;
        let second = exchange(&provider, &app, Some(&first), now())
            .await
            .expect("refreshed");
        assert_eq!(
            refused_with(exchange(&provider, &app, Some(&first), now()).await),
            "the refresh token was already used; its token family is revoked"
        );
        assert!(fixture.revoked(&second.access_token).await);
        let rotated = second.refresh_token.expect("a new refresh token");
        assert_eq!(
            refused_with(exchange(&provider, &app, Some(&rotated), now()).await),
            "the refresh token has been revoked"
        );
    }

    #[tokio::test]
    async fn a_refresh_token_expires_after_its_lifetime() {
        let fixture = Fixture::new().await;
        let app = fixture.app(Some("secret")).await;
        let first = first_refresh_token(&fixture, &app).await;
        let later = now() + REFRESH_TOKEN_LIFETIME_SECONDS + 1;
        let result = exchange(&fixture.provider(), &app, Some(&first), later).await;
        assert_eq!(refused_with(result), "the refresh token has expired");
    }

    #[tokio::test]
    async fn a_refresh_token_of_another_client_or_none_at_all_is_refused() {
        let fixture = Fixture::new().await;
        let app = fixture.app(Some("secret")).await;
        let other = fixture.app(Some("other secret")).await;
        let first = first_refresh_token(&fixture, &app).await;
        assert_eq!(
            refused_with(exchange(&fixture.provider(), &other, Some(&first), now()).await),
            "the refresh token was issued to another client"
        );
        assert!(matches!(
            exchange(&fixture.provider(), &app, None, now()).await,
            Err(GrantError::InvalidRequest("refresh_token is missing"))
        ));
        assert_eq!(
            refused_with(exchange(&fixture.provider(), &app, Some("nope"), now()).await),
            "the refresh token is not valid"
        );
    }
}
