//! The runtime's protocol and flow rules, free of HTTP: handlers in `http` extract a request,
//! call a function here with the store, keys, settings and the current time it needs, and
//! render the domain result or typed error it returns (the HTTP layer turns them into pages,
//! redirects and JSON).

pub mod admin;
pub mod authorize;
pub mod branding;
pub mod client_assertion;
pub mod client_auth;
pub mod flows;
pub mod grants;
pub mod hosted;
pub mod logout;
pub mod passcodes;
pub mod passwords;
pub mod reset;
pub mod scopes;
pub mod sessions;
pub mod sign_in;
pub mod sign_up;
pub mod throttles;
pub mod userinfo;
pub mod verify;

#[cfg(test)]
mod fixture;
#[cfg(test)]
pub(crate) mod oidc_fixture;
