//! The runtime's rules without HTTP: what a request means and what follows from it.
//!
//! Functions here take the current time as `now` where time matters and return domain
//! outcomes or typed errors; the HTTP layer turns them into pages, redirects and JSON.

pub mod hosted;
pub mod passcodes;
pub mod passwords;
pub mod reset;
pub mod sessions;
pub mod sign_in;
pub mod sign_up;
pub mod throttles;
pub mod verify;

#[cfg(test)]
mod fixture;
