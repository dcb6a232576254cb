//! The seam between the operator and an identity runtime: complete desired state in,
//! idempotent applies, observations for drift checks.
//!
//! Every `apply_*` takes the whole object and may be repeated; every `delete_*` succeeds when
//! the object is already gone; every `observe_*` returns `None` for an absent object.
//!
//! Every write carries a [`Claim`]: the Kubernetes object it is made for. The backend records
//! the owner of what it creates and refuses ([`BackendError::OwnedByAnother`]) a write or a
//! deletion by anyone else, so ownership holds at both ends (see `runtime::owner`).

pub mod embedded;
#[cfg(test)]
pub mod fake;

use std::future::Future;

use crate::contract::owner::{Claim, Owner};
use crate::contract::{BrandingDocument, ClientSpec, SmtpSpec, TenantSpec, UserFlowSpec};

/// An object as the backend reports it: the stored desired state and who owns it.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct Observed<T> {
    /// The stored desired state.
    pub spec: T,
    /// The Kubernetes object recorded as its owner; `None` when none was recorded.
    #[serde(default)]
    pub owner: Option<Owner>,
}

/// A tenant as the backend reports it.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedTenant {
    /// Identifier of the tenant (UUID), the `tid` claim.
    pub tenant_id: String,
    /// Authority URL apps configure.
    pub authority: String,
    /// Issuer of the tenant's tokens.
    pub issuer: String,
    /// OpenID Connect discovery document URL.
    pub discovery_url: String,
    /// The stored desired state.
    pub spec: TenantSpec,
    /// The Kubernetes object recorded as its owner.
    #[serde(default)]
    pub owner: Option<Owner>,
}

/// Errors of a backend call.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The backend could not be reached or failed on its side; retrying may succeed.
    #[error("failed to {operation}: the identity backend is unavailable: {detail}")]
    Unavailable {
        /// What was attempted, for example `apply client 1f2e…`.
        operation: String,
        /// Why, without any secret.
        detail: String,
    },
    /// The backend refused the desired state; retrying the same state will not help.
    #[error("failed to {operation}: the identity backend rejected it: {detail}")]
    Rejected {
        /// What was attempted.
        operation: String,
        /// The backend's explanation (field and reason).
        detail: String,
    },
    /// The object belongs to another Kubernetes object (its recorded owner), which alone may
    /// change or delete it.
    #[error("failed to {operation}: it belongs to another object")]
    OwnedByAnother {
        /// What was attempted.
        operation: String,
        /// The recorded owner. Whether to show it, and to whom, is the caller's decision: it
        /// may name another team's namespace.
        owner: Box<Owner>,
    },
    /// The object the call needs (usually the tenant) does not exist in the backend.
    #[error("failed to {operation}: {detail}")]
    NotFound {
        /// What was attempted.
        operation: String,
        /// What is missing.
        detail: String,
    },
}

impl BackendError {
    /// Whether retrying with backoff may succeed without a spec change.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::NotFound { .. })
    }

    /// Short label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Unavailable { .. } => "unavailable",
            Self::Rejected { .. } => "rejected",
            Self::OwnedByAnother { .. } => "owned_by_another",
            Self::NotFound { .. } => "not_found",
        }
    }
}

/// An identity runtime the operator reconciles into.
pub trait Backend: Send + Sync + 'static {
    /// Creates or replaces the tenant `subdomain`, keeping `tenant_id` when given on creation.
    fn apply_tenant(
        &self,
        subdomain: &str,
        tenant: &TenantSpec,
        claim: &Claim,
    ) -> impl Future<Output = Result<ObservedTenant, BackendError>> + Send;

    /// Reads the tenant back.
    fn observe_tenant(
        &self,
        subdomain: &str,
    ) -> impl Future<Output = Result<Option<ObservedTenant>, BackendError>> + Send;

    /// Removes the tenant and everything in it.
    fn delete_tenant(
        &self,
        subdomain: &str,
        claim: &Claim,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Creates or replaces a client.
    fn apply_client(
        &self,
        subdomain: &str,
        client_id: &str,
        client: &ClientSpec,
        claim: &Claim,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Reads a client back (secret hashes only).
    fn observe_client(
        &self,
        subdomain: &str,
        client_id: &str,
    ) -> impl Future<Output = Result<Option<Observed<ClientSpec>>, BackendError>> + Send;

    /// Removes a client.
    fn delete_client(
        &self,
        subdomain: &str,
        client_id: &str,
        claim: &Claim,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Fields of `flow` this backend cannot honour yet, as (path, what it asks for); the
    /// operator reports them (`UnsupportedByBackend`) instead of applying the flow.
    fn unsupported_user_flow_fields(&self, flow: &UserFlowSpec) -> Vec<(String, String)>;

    /// Creates or replaces a user flow.
    fn apply_user_flow(
        &self,
        subdomain: &str,
        name: &str,
        flow: &UserFlowSpec,
        claim: &Claim,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Reads a user flow back.
    fn observe_user_flow(
        &self,
        subdomain: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<Observed<UserFlowSpec>>, BackendError>> + Send;

    /// Removes a user flow.
    fn delete_user_flow(
        &self,
        subdomain: &str,
        name: &str,
        claim: &Claim,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Creates or replaces the tenant's branding, with content in place of ConfigMap refs.
    fn apply_branding(
        &self,
        subdomain: &str,
        branding: &BrandingDocument,
        claim: &Claim,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Reads the tenant's branding back.
    fn observe_branding(
        &self,
        subdomain: &str,
    ) -> impl Future<Output = Result<Option<Observed<BrandingDocument>>, BackendError>> + Send;

    /// Creates or replaces the tenant's SMTP connection; `password` is write-only.
    fn apply_smtp(
        &self,
        subdomain: &str,
        smtp: &SmtpSpec,
        password: Option<&str>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Reads the SMTP connection back (with `passwordHash`, never the password).
    fn observe_smtp(
        &self,
        subdomain: &str,
    ) -> impl Future<Output = Result<Option<SmtpSpec>, BackendError>> + Send;

    /// Removes the tenant's SMTP connection.
    fn delete_smtp(&self, subdomain: &str)
    -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Removes the tenant's branding.
    fn delete_branding(
        &self,
        subdomain: &str,
        claim: &Claim,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
}

/// Sees every call a backend makes, so the operator can record its latency without the backend
/// knowing about the operator's metrics.
pub trait CallObserver: Send + Sync {
    /// A call of `operation` (`apply`, `observe` or `delete`) on `object` (`tenant`, `client`,
    /// `userflow` or `branding`) took `elapsed`, whatever its outcome.
    fn call_finished(
        &self,
        operation: &'static str,
        object: &'static str,
        elapsed: std::time::Duration,
    );
}
