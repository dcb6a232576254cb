//! The runtime's protocol and flow rules, free of HTTP: handlers in `http` extract a request,
//! call a function here with the store, keys, settings and the current time it needs, and
//! render the domain result or typed error it returns.

pub mod admin;
pub mod authorize;
pub mod client_auth;
pub mod grants;
pub mod logout;
pub mod scopes;
pub mod userinfo;

#[cfg(test)]
pub(crate) mod oidc_fixture;
