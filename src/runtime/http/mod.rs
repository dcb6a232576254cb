//! The runtime's HTTP surfaces: thin handlers that extract a request, call the domain and
//! render its answer, with one error type per surface.

pub mod admin;
pub mod form;
pub mod oidc;
pub mod pages;
pub mod redirect;
