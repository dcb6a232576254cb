//! Validates an RP-initiated logout request (OpenID Connect RP-Initiated Logout 1.0): the
//! `id_token_hint`, the `client_id`, and the `post_logout_redirect_uri` they make attributable.

use serde::Deserialize;

use crate::runtime::store::StoreError;
use crate::runtime::tokens::{IdTokenClaims, TokenError};

use super::client_auth::load_client;
use super::grants::Provider;

/// Parameters of RP-initiated logout.
#[derive(Deserialize, Debug, Default)]
pub struct LogoutQuery {
    /// An ID token the runtime issued, naming the app.
    pub id_token_hint: Option<String>,
    /// Where to send the browser after signing out.
    pub post_logout_redirect_uri: Option<String>,
    /// `state` to echo on that redirect.
    pub state: Option<String>,
    /// The app.
    pub client_id: Option<String>,
}

/// A logout request whose parameters hold together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidLogout {
    /// Whether a valid `id_token_hint` identified the app (then no confirmation is asked).
    pub hinted: bool,
    /// The registered `post_logout_redirect_uri`, if one was asked for.
    pub redirect: Option<String>,
}

/// Why a logout request is refused (shown on a page).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LogoutRefusal {
    /// The hint is not an ID token of this tenant.
    #[error("the id_token_hint is not valid")]
    HintInvalid,
    /// The hint and `client_id` name different apps.
    #[error("the id_token_hint and client_id disagree")]
    HintMismatch,
    /// Nothing says whose redirect it is.
    #[error("post_logout_redirect_uri needs id_token_hint or client_id")]
    RedirectNeedsClient,
    /// The app did not register the redirect.
    #[error("post_logout_redirect_uri is not registered")]
    RedirectUnregistered,
}

impl LogoutRefusal {
    /// The message key of the page that refuses the request.
    pub fn message_key(self) -> &'static str {
        match self {
            LogoutRefusal::HintInvalid => "error_logout_hint_invalid",
            LogoutRefusal::HintMismatch => "error_logout_hint_mismatch",
            LogoutRefusal::RedirectNeedsClient => "error_logout_redirect_needs_client",
            LogoutRefusal::RedirectUnregistered => "error_logout_redirect_unregistered",
        }
    }
}

/// Why a logout request was not validated.
#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    /// The request is refused.
    #[error(transparent)]
    Refused(LogoutRefusal),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Keys could not be read.
    #[error(transparent)]
    Token(TokenError),
}

/// Checks the hint, the client and the redirect of a logout request.
///
/// # Errors
/// [`LogoutError::Refused`] for a hint of another tenant, a hint and `client_id` that
/// disagree, a redirect not registered or not attributable to any app; storage or key failure.
pub async fn validate(
    provider: &Provider<'_>,
    query: &LogoutQuery,
) -> Result<ValidLogout, LogoutError> {
    let refused = LogoutError::Refused;
    let hinted_client = match query.id_token_hint.as_deref() {
        Some(hint) => match provider
            .keyring
            .verify::<IdTokenClaims>(
                provider.store,
                &provider.tenant.id,
                provider.issuer,
                hint,
                false,
            )
            .await
        {
            Ok(claims) => Some(claims.aud),
            Err(TokenError::Invalid(_)) => return Err(refused(LogoutRefusal::HintInvalid)),
            Err(other) => return Err(LogoutError::Token(other)),
        },
        None => None,
    };
    if let (Some(hinted), Some(given)) = (&hinted_client, &query.client_id)
        && hinted != given
    {
        return Err(refused(LogoutRefusal::HintMismatch));
    }
    let hinted = hinted_client.is_some();
    let Some(uri) = query.post_logout_redirect_uri.as_deref() else {
        return Ok(ValidLogout {
            hinted,
            redirect: None,
        });
    };
    // Without a hint or client_id nothing says whose redirect it is, so it is refused
    // rather than followed (an open redirect after a sign-out page).
    let Some(client_id) = hinted_client.as_deref().or(query.client_id.as_deref()) else {
        return Err(refused(LogoutRefusal::RedirectNeedsClient));
    };
    match load_client(provider.store, &provider.tenant.id, client_id).await? {
        Some(client) if client.has_post_logout_redirect_uri(uri) => Ok(ValidLogout {
            hinted,
            redirect: Some(uri.to_string()),
        }),
        Some(_) => Err(refused(LogoutRefusal::RedirectUnregistered)),
        None => Err(refused(LogoutRefusal::RedirectNeedsClient)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::AppType;
    use crate::runtime::domain::client_auth::AuthenticatedClient;
    use crate::runtime::domain::grants::authorization_code::{self, CodeExchange};
    use crate::runtime::domain::oidc_fixture::{Fixture, REDIRECT_URI, client_spec, now};

    const SIGNED_OUT: &str = "https://app.example.com/signed-out";

    async fn id_token(fixture: &Fixture, client: &AuthenticatedClient) -> String {
        let code = fixture.code(client, "openid", None, now()).await;
        let exchange = CodeExchange {
            code: Some(&code),
            redirect_uri: Some(REDIRECT_URI),
            code_verifier: None,
        };
        authorization_code::exchange(&fixture.provider(), client, &exchange, now())
            .await
            .expect("tokens")
            .id_token
            .expect("an ID token")
    }

    async fn refusal(fixture: &Fixture, query: &LogoutQuery) -> LogoutRefusal {
        match validate(&fixture.provider(), query).await {
            Err(LogoutError::Refused(refusal)) => refusal,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_redirect_is_followed_only_when_the_named_app_registered_it() {
        let fixture = Fixture::new().await;
        let mut spec = client_spec(AppType::Web);
        spec.post_logout_redirect_uris.push(SIGNED_OUT.into());
        let app = fixture.register(spec).await;
        let asked = LogoutQuery {
            post_logout_redirect_uri: Some(SIGNED_OUT.into()),
            client_id: Some(app.id.clone()),
            ..LogoutQuery::default()
        };
        let valid = validate(&fixture.provider(), &asked).await.expect("valid");
        assert_eq!(
            valid,
            ValidLogout {
                hinted: false,
                redirect: Some(SIGNED_OUT.into()),
            }
        );
        let anonymous = LogoutQuery {
            client_id: None,
            ..asked
        };
        assert_eq!(
            refusal(&fixture, &anonymous).await,
            LogoutRefusal::RedirectNeedsClient
        );
        let elsewhere = LogoutQuery {
            post_logout_redirect_uri: Some("https://evil.example.com/".into()),
            client_id: Some(app.id.clone()),
            ..LogoutQuery::default()
        };
        assert_eq!(
            refusal(&fixture, &elsewhere).await,
            LogoutRefusal::RedirectUnregistered
        );
    }

    #[tokio::test]
    async fn an_id_token_hint_names_the_app_and_must_agree_with_client_id() {
        let fixture = Fixture::new().await;
        let app = fixture.app(Some("secret")).await;
        let hint = id_token(&fixture, &app).await;
        let hinted = LogoutQuery {
            id_token_hint: Some(hint.clone()),
            ..LogoutQuery::default()
        };
        let valid = validate(&fixture.provider(), &hinted).await.expect("valid");
        assert!(valid.hinted);
        let disagreeing = LogoutQuery {
            client_id: Some("another-app".into()),
            ..hinted
        };
        assert_eq!(
            refusal(&fixture, &disagreeing).await,
            LogoutRefusal::HintMismatch
        );
        let forged = LogoutQuery {
            id_token_hint: Some("not-a-jwt".into()),
            ..LogoutQuery::default()
        };
        assert_eq!(refusal(&fixture, &forged).await, LogoutRefusal::HintInvalid);
    }
}
