//! The runtime's HTTP surfaces: thin handlers that extract a request, call the domain and
//! render the answer.

pub mod pages;
