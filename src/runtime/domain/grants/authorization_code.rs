//! The authorization-code grant (RFC 6749 §4.1.3): redeems a code once, checks its client,
//! redirect URI and PKCE verifier, and issues the user's tokens. A replayed code revokes
//! everything issued from it.

use crate::api::AppType;
use crate::runtime::crypto;
use crate::runtime::store::Redemption;

use super::{GrantError, IssuedTokens, Provider, check_grant, issue_user_tokens};
use crate::runtime::domain::client_auth::AuthenticatedClient;

/// The parameters of an authorization-code token request.
#[derive(Clone, Copy, Debug, Default)]
pub struct CodeExchange<'a> {
    /// `code`.
    pub code: Option<&'a str>,
    /// `redirect_uri`, which must repeat the authorization request's.
    pub redirect_uri: Option<&'a str>,
    /// `code_verifier` (PKCE).
    pub code_verifier: Option<&'a str>,
}

/// Exchanges an authorization code for tokens at `now` (Unix seconds).
///
/// # Errors
/// A [`GrantError`]; a replayed code also revokes the grant it came from.
pub async fn exchange(
    provider: &Provider<'_>,
    client: &AuthenticatedClient,
    request: &CodeExchange<'_>,
    now: i64,
) -> Result<IssuedTokens, GrantError> {
    if client.spec.app_type == AppType::Daemon {
        return Err(GrantError::UnauthorizedClient(
            "daemon apps use client credentials only",
        ));
    }
    let code = request
        .code
        .ok_or(GrantError::InvalidRequest("code is missing"))?;
    let record = match provider
        .store
        .redeem_code(&crypto::token_digest(code))
        .await?
    {
        Redemption::Unknown => {
            return Err(GrantError::InvalidGrant(
                "the authorization code is not valid",
            ));
        }
        Redemption::Replayed(record) => {
            // RFC 6749 §4.1.2: a reused code revokes what was issued from it.
            provider.store.revoke_grant(&record.grant_id).await?;
            tracing::warn!(tenant = %provider.tenant.subdomain, client_id = %client.id, "authorization code reuse: grant revoked");
            return Err(GrantError::InvalidGrant(
                "the authorization code was already used; tokens issued from it are revoked",
            ));
        }
        Redemption::Redeemed(record) => record,
    };
    let grant = provider
        .store
        .grant(&record.grant_id)
        .await?
        .ok_or(GrantError::InvalidGrant(
            "the authorization code is not valid",
        ))?;
    check_grant(
        &grant,
        provider,
        client,
        "the authorization code was issued to another client",
        "the authorization has been revoked",
    )?;
    if record.expires_at <= now {
        return Err(GrantError::InvalidGrant(
            "the authorization code has expired",
        ));
    }
    if request.redirect_uri != Some(record.redirect_uri.as_str()) {
        return Err(GrantError::InvalidGrant(
            "redirect_uri does not match the one of the authorization request",
        ));
    }
    check_pkce(record.code_challenge.as_deref(), request.code_verifier)?;
    issue_user_tokens(provider, client, &grant, record.nonce.as_deref(), now).await
}

/// Checks the PKCE verifier against the authorization request's S256 challenge (RFC 7636 §4.6).
///
/// # Errors
/// `invalid_grant` for a verifier that does not match, one that is missing while a challenge
/// was sent, or one sent without a challenge.
pub fn check_pkce(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), GrantError> {
    match (challenge, verifier) {
        (Some(challenge), Some(verifier)) if crypto::pkce_s256_matches(verifier, challenge) => {
            Ok(())
        }
        (Some(_), Some(_)) => Err(GrantError::InvalidGrant(
            "the code_verifier does not match the code_challenge",
        )),
        (Some(_), None) => Err(GrantError::InvalidGrant("code_verifier is required")),
        (None, Some(_)) => Err(GrantError::InvalidGrant(
            "code_verifier was sent but the authorization request had no code_challenge",
        )),
        (None, None) => Ok(()),
    }
}
