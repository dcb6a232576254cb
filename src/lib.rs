//! ciam-operator: customer identity (CIAM) on Kubernetes, declared as custom resources.
//!
//! `api` holds the resource types; the operator, backends and the embedded identity runtime
//! build on them.

#![forbid(unsafe_code)]

pub mod api;
pub mod backend;
pub mod cli;
pub mod contract;
pub mod controller;
pub mod import_entra;
pub mod runtime;
