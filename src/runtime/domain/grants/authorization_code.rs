//! The authorization-code grant (RFC 6749 §4.1.3): redeems a code once, checks its client,
//! redirect URI and PKCE verifier, and issues the user's tokens. A replayed code revokes
//! everything issued from it.

use crate::api::AppType;
use crate::runtime::crypto;
use crate::runtime::store::{GrantRecord, Redemption};

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
    let (record, grant_revoked_at) = match provider
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
        Redemption::Redeemed {
            record,
            grant_revoked_at,
        } => (record, grant_revoked_at),
    };
    let grant = provider
        .store
        .grant(&record.grant_id)
        .await?
        .ok_or(GrantError::InvalidGrant(
            "the authorization code is not valid",
        ))?;
    // Revoked or not as it stood when this request spent the code: a parallel replay that
    // revokes the grant afterwards revokes the tokens issued here instead of leaving no winner.
    let grant = GrantRecord {
        revoked_at: grant_revoked_at,
        ..grant
    };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::domain::grants::refresh_token;
    use crate::runtime::domain::oidc_fixture::{
        CHALLENGE, Fixture, REDIRECT_URI, VERIFIER, client_spec, now,
    };

    fn exchange_of<'a>(code: &'a str, verifier: Option<&'a str>) -> CodeExchange<'a> {
        CodeExchange {
            code: Some(code),
            redirect_uri: Some(REDIRECT_URI),
            code_verifier: verifier,
        }
    }

    fn refused_with(result: Result<IssuedTokens, GrantError>) -> String {
        match result {
            Err(GrantError::InvalidGrant(reason)) => reason.to_string(),
            other => panic!("expected invalid_grant, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_code_buys_access_id_and_refresh_tokens_for_its_user() {
        let fixture = Fixture::new().await;
        let app = fixture.app(Some("secret")).await;
        let now = now();
        let code = fixture
            .code(&app, "openid profile offline_access", None, now)
            .await;
        let tokens = exchange(&fixture.provider(), &app, &exchange_of(&code, None), now)
            .await
            .expect("tokens");
        assert_eq!(tokens.scope, "openid profile offline_access");
        assert!(tokens.id_token.is_some());
        assert!(tokens.refresh_token.is_some());
        let claims = fixture.access_claims(&tokens.access_token).await;
        assert_eq!(claims.aud, app.id);
        assert_eq!(claims.scp.as_deref(), Some("openid profile"));
    }

    #[tokio::test]
    async fn user_tokens_name_their_account_as_client_info_with_the_tokens_oid_and_tid() {
        let fixture = Fixture::new().await;
        let app = fixture.app(Some("secret")).await;
        let code = fixture.code(&app, "openid", None, now()).await;
        let tokens = exchange(&fixture.provider(), &app, &exchange_of(&code, None), now())
            .await
            .expect("tokens");
        let claims = fixture.access_claims(&tokens.access_token).await;
        let client_info = tokens
            .client_info
            .expect("a user's tokens name the account");
        assert_eq!(
            (client_info.uid.as_str(), client_info.utid.as_str()),
            (claims.oid.as_str(), claims.tid.as_str())
        );
        use base64::Engine;
        let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(client_info.encode())
            .expect("base64url without padding");
        let json: serde_json::Value = serde_json::from_slice(&decoded).expect("JSON");
        assert_eq!(
            json,
            serde_json::json!({"uid": claims.oid, "utid": claims.tid})
        );
    }

    #[tokio::test]
    async fn without_offline_access_or_openid_only_an_access_token_is_issued() {
        let fixture = Fixture::new().await;
        let app = fixture.app(Some("secret")).await;
        let code = fixture.code(&app, "profile", None, now()).await;
        let tokens = exchange(&fixture.provider(), &app, &exchange_of(&code, None), now())
            .await
            .expect("tokens");
        assert_eq!(tokens.id_token, None);
        assert_eq!(tokens.refresh_token, None);
    }

    #[tokio::test]
    async fn a_replayed_code_is_refused_and_revokes_the_tokens_issued_from_it() {
        let fixture = Fixture::new().await;
        let app = fixture.app(Some("secret")).await;
        let provider = fixture.provider();
        let code = fixture
            .code(&app, "openid offline_access", None, now())
            .await;
        let first = exchange(&provider, &app, &exchange_of(&code, None), now())
            .await
            .expect("first exchange");
        assert!(!fixture.revoked(&first.access_token).await);

        let replay = exchange(&provider, &app, &exchange_of(&code, None), now()).await;
        assert_eq!(
            refused_with(replay),
            "the authorization code was already used; tokens issued from it are revoked"
        );
        assert!(fixture.revoked(&first.access_token).await);
        let refresh =
            refresh_token::exchange(&provider, &app, first.refresh_token.as_deref(), now());
        assert_eq!(
            refused_with(refresh.await),
            "the refresh token has been revoked"
        );
    }

    #[tokio::test]
    async fn an_unknown_code_is_refused() {
        let fixture = Fixture::new().await;
        let app = fixture.app(Some("secret")).await;
        let result = exchange(&fixture.provider(), &app, &exchange_of("nope", None), now()).await;
        assert_eq!(refused_with(result), "the authorization code is not valid");
    }

    #[tokio::test]
    async fn a_code_with_another_redirect_uri_is_refused() {
        let fixture = Fixture::new().await;
        let app = fixture.app(Some("secret")).await;
        let code = fixture.code(&app, "openid", None, now()).await;
        let request = CodeExchange {
            redirect_uri: Some("https://app.example.com/other"),
            ..exchange_of(&code, None)
        };
        assert_eq!(
            refused_with(exchange(&fixture.provider(), &app, &request, now()).await),
            "redirect_uri does not match the one of the authorization request"
        );
    }

    #[tokio::test]
    async fn a_code_issued_to_another_client_is_refused() {
        let fixture = Fixture::new().await;
        let app = fixture.app(Some("secret")).await;
        let other = fixture.app(Some("other secret")).await;
        let code = fixture.code(&app, "openid", None, now()).await;
        let result = exchange(
            &fixture.provider(),
            &other,
            &exchange_of(&code, None),
            now(),
        )
        .await;
        assert_eq!(
            refused_with(result),
            "the authorization code was issued to another client"
        );
    }

    #[tokio::test]
    async fn a_code_expires_after_its_lifetime() {
        let fixture = Fixture::new().await;
        let app = fixture.app(Some("secret")).await;
        let issued_at = now();
        let code = fixture.code(&app, "openid", None, issued_at).await;
        let later = issued_at + crate::runtime::domain::authorize::CODE_LIFETIME_SECONDS;
        let result = exchange(&fixture.provider(), &app, &exchange_of(&code, None), later).await;
        assert_eq!(refused_with(result), "the authorization code has expired");
    }

    #[tokio::test]
    async fn a_public_client_redeems_its_code_only_with_the_matching_pkce_verifier() {
        let fixture = Fixture::new().await;
        let spa = fixture.app(None).await;
        let provider = fixture.provider();
        let missing = fixture.code(&spa, "openid", Some(CHALLENGE), now()).await;
        assert_eq!(
            refused_with(exchange(&provider, &spa, &exchange_of(&missing, None), now()).await),
            "code_verifier is required"
        );
        let wrong = fixture.code(&spa, "openid", Some(CHALLENGE), now()).await;
        let wrong_verifier = "x".repeat(43);
        let wrong_exchange = exchange_of(&wrong, Some(&wrong_verifier));
        let result = exchange(&provider, &spa, &wrong_exchange, now());
        assert_eq!(
            refused_with(result.await),
            "the code_verifier does not match the code_challenge"
        );
        let right = fixture.code(&spa, "openid", Some(CHALLENGE), now()).await;
        let tokens = exchange(&provider, &spa, &exchange_of(&right, Some(VERIFIER)), now()).await;
        assert!(tokens.is_ok(), "{tokens:?}");
    }

    #[test]
    fn a_verifier_without_a_challenge_is_refused() {
        assert!(matches!(
            check_pkce(None, Some(VERIFIER)),
            Err(GrantError::InvalidGrant(
                "code_verifier was sent but the authorization request had no code_challenge"
            ))
        ));
        assert!(check_pkce(None, None).is_ok());
        assert!(check_pkce(Some(CHALLENGE), Some(VERIFIER)).is_ok());
    }

    #[tokio::test]
    async fn daemon_apps_may_not_redeem_codes() {
        let fixture = Fixture::new().await;
        let daemon = fixture.register(client_spec(AppType::Daemon)).await;
        let result = exchange(&fixture.provider(), &daemon, &exchange_of("x", None), now()).await;
        assert!(matches!(result, Err(GrantError::UnauthorizedClient(_))));
    }
}
