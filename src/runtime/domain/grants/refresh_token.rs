//! The refresh-token grant (RFC 6749 §6): each refresh token works once and is replaced by a
//! new one (rotation); a replayed refresh token revokes its whole token family (the grant).

use crate::runtime::crypto;
use crate::runtime::domain::client_auth::AuthenticatedClient;
use crate::runtime::store::Redemption;

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
    let record = match provider
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
        Redemption::Redeemed(record) => record,
    };
    let grant = provider
        .store
        .grant(&record.grant_id)
        .await?
        .ok_or(GrantError::InvalidGrant("the refresh token is not valid"))?;
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
