//! The error of a reconcile, and the kind label its metrics carry.

use crate::backend::BackendError;

/// Errors of a reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error("failed to {operation}: {source}")]
    Kube {
        /// What was attempted.
        operation: String,
        /// The client error.
        source: kube::Error,
    },
    /// A backend call failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// Deletion waits for other objects.
    #[error("deletion waits for {0}")]
    DependentsExist(String),
    /// The object refers to something missing or not allowed; waits for a change.
    #[error("{0}")]
    Waiting(String),
}

impl Error {
    /// Shorthand for a failed Kubernetes call.
    pub fn kube(operation: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let operation = operation.into();
        move |source| Self::Kube { operation, source }
    }

    /// Whether retrying with backoff may succeed without a spec change.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Kube { .. } | Self::DependentsExist(_) | Self::Waiting(_) => true,
            Self::Backend(error) => error.is_transient(),
        }
    }

    /// Short label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Kube { .. } => "kube",
            Self::Backend(error) => error.metric_label(),
            Self::DependentsExist(_) => "dependents_exist",
            Self::Waiting(_) => "waiting",
        }
    }
}

/// The kind of `K` as a static metric label.
pub fn kind_label<K: kube::Resource<DynamicType = ()>>() -> &'static str {
    match K::kind(&()).as_ref() {
        "CustomerTenant" => "CustomerTenant",
        "AppRegistration" => "AppRegistration",
        "UserFlow" => "UserFlow",
        "Branding" => "Branding",
        _ => "Other",
    }
}
