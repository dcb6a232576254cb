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
