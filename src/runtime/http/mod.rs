//! Thin HTTP handlers: each extracts a request, calls the domain and renders the result.

pub mod oidc;
