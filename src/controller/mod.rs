//! The operator: one kube-runtime controller per kind, reconciling resources into an identity
//! backend.
//!
//! Each reconcile follows the same pipeline: resolve references → build the desired state
//! (pure, in [`desired`]) → observe the backend and apply only the difference → write the
//! credentials Secret → write status (only when it changed).
//!
//! A kind's `apply` does the steps up to the Secret and returns a [`Decision`] (the status
//! fields it observed, `Ready`, when to look again); [`conclude`] writes that status once for
//! every kind, mapping backend failures to `BackendUnavailable` or `BackendRejected`.
//!
//! Layout: `config` (the flags) and `start` (the process), `context` (shared state
//! and listings), `reconcile` (the generic reconcile and error policy), `status` (status and
//! Events), `watches` (controllers and secondary watches), then one module per kind.

pub mod app_registration;
pub mod branding;
pub mod conditions;
mod config;
mod context;
pub mod customer_tenant;
pub mod desired;
mod error;
pub mod leader;
pub mod metrics;
pub mod ownership;
mod reconcile;
pub mod references;
mod start;
mod status;
pub mod user_flow;
mod watches;

pub use config::ControllerConfig;
pub use context::{Context, Scope};
pub use error::Error;
pub(crate) use reconcile::reconciled;
pub use reconcile::{
    Decision, Ready, ReconcileError, Reconciled, ReportedStatus, TenantScoped, conclude,
    error_policy, on_error, ready_condition, reconcile,
};
pub use start::{Settings, StartError, run, start};
pub use status::{now, publish, write_status};
pub use watches::{
    KindController, on_metadata_change, on_tenant_change, referring, run_controllers,
};

/// Field manager of every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "ciam-operator";

/// Finalizer that removes backend objects before a resource goes away.
pub const FINALIZER: &str = "ciam.dev/cleanup";

/// Label put on every Secret the operator writes.
pub const MANAGED_BY_LABEL: (&str, &str) = ("app.kubernetes.io/managed-by", "ciam-operator");
