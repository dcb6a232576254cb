//! The runtime's rules, apart from HTTP: what may be written, issued or shown, decided from
//! stored records and the request's values (no axum, no HTTP types).

pub mod admin;
