//! The old path of the OpenID Connect items the hosted pages use, kept only until `pages`
//! imports them from `http::oidc` and `domain::authorize`; it holds no code of its own.

pub use super::domain::authorize::{AuthorizationRequest, CODE_LIFETIME_SECONDS};
pub use super::http::oidc::OAuthError;
pub use super::http::oidc::authorize::{complete_authorization, redirect_location};
