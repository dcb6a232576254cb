//! The generic reconcile every kind goes through: decoding, the finalizer, metrics, the error
//! policy, and the one status write of what the kind's `apply` decided.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use kube::ResourceExt;
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};

use super::context::Context;
use super::status::report_invalid;
use super::{FINALIZER, metrics, references};
use crate::backend::{Backend, BackendError};

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
pub(super) fn kind_label<K: kube::Resource<DynamicType = ()>>() -> &'static str {
    match K::kind(&()).as_ref() {
        "CustomerTenant" => "CustomerTenant",
        "AppRegistration" => "AppRegistration",
        "UserFlow" => "UserFlow",
        "Branding" => "Branding",
        _ => "Other",
    }
}

/// The error policy of every controller: logs the failure, counts it and requeues (see
/// [`on_error`]).
pub fn error_policy<K, B>(
    object: Arc<K>,
    error: &kube::runtime::finalizer::Error<Error>,
    context: Arc<Context<B>>,
) -> kube::runtime::controller::Action
where
    K: kube::Resource<DynamicType = ()>,
    B: Backend,
{
    let kind = kind_label::<K>();
    let meta = object.meta();
    tracing::warn!(kind, name = ?meta.name, namespace = ?meta.namespace, error = %error, "reconcile failed");
    on_error(&context.metrics, kind, error)
}

/// Counts a failed reconcile and decides when to retry: soon for transient errors, later for
/// errors that need a spec change (a spec change wakes the controller anyway).
pub fn on_error(
    metrics: &metrics::Metrics,
    kind: &'static str,
    error: &kube::runtime::finalizer::Error<Error>,
) -> kube::runtime::controller::Action {
    use kube::runtime::finalizer::Error as FinalizerError;
    let inner = match error {
        FinalizerError::ApplyFailed(inner) | FinalizerError::CleanupFailed(inner) => Some(inner),
        _ => None,
    };
    let label = inner.map_or("kube", Error::metric_label);
    metrics
        .reconcile_errors
        .get_or_create(&metrics::ErrorLabels { kind, error: label })
        .inc();
    let transient = inner.is_none_or(Error::is_transient);
    kube::runtime::controller::Action::requeue(if transient {
        Duration::from_secs(5)
    } else {
        Duration::from_secs(300)
    })
}

/// A kind the operator reconciles. The generic [`reconcile`] handles decoding, the finalizer
/// and metrics; each kind brings only its apply and cleanup steps.
pub trait Reconciled:
    kube::Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + serde::de::DeserializeOwned
    + serde::Serialize
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    /// Brings the backend, the Secrets and the status in line with the spec.
    fn apply<B: Backend>(
        &self,
        context: &Context<B>,
    ) -> impl Future<Output = Result<Action, Error>> + Send;

    /// Removes what the object put in the backend; runs once before the finalizer goes.
    fn cleanup<B: Backend>(
        &self,
        context: &Context<B>,
    ) -> impl Future<Output = Result<Action, Error>> + Send;
}

/// A kind that refers to a `CustomerTenant` and is re-reconciled when that tenant changes.
pub trait TenantScoped: Reconciled {
    /// The object's `spec.tenantRef`.
    fn tenant_ref(&self) -> &crate::api::TenantRef;

    /// The namespace and name of the tenant the object refers to.
    fn tenant_key(&self) -> (String, String) {
        references::tenant_key(&self.namespace().unwrap_or_default(), self.tenant_ref())
    }
}

/// Implements [`Reconciled`] for a kind by its module's `apply` and `cleanup` functions, and
/// with `tenant_scoped` also [`TenantScoped`] by its `spec.tenant_ref`.
macro_rules! reconciled {
    ($kind:ty) => {
        impl super::Reconciled for $kind {
            async fn apply<B: crate::backend::Backend>(
                &self,
                context: &super::Context<B>,
            ) -> Result<kube::runtime::controller::Action, super::Error> {
                apply(self, context).await
            }

            async fn cleanup<B: crate::backend::Backend>(
                &self,
                context: &super::Context<B>,
            ) -> Result<kube::runtime::controller::Action, super::Error> {
                cleanup(self, context).await
            }
        }
    };
    ($kind:ty, tenant_scoped) => {
        super::reconciled!($kind);

        impl super::TenantScoped for $kind {
            fn tenant_ref(&self) -> &crate::api::TenantRef {
                &self.spec.tenant_ref
            }
        }
    };
}
pub(crate) use reconciled;

/// The error type of the generic reconciler.
pub type ReconcileError = kube::runtime::finalizer::Error<Error>;

/// Reconciles one object of any kind: an object the operator cannot decode is reported on
/// itself (so one bad object never stops its controller), anything else goes through the
/// `ciam.dev/cleanup` finalizer to the kind's apply or cleanup.
pub async fn reconcile<K: Reconciled, B: Backend>(
    guard: Arc<DeserializeGuard<K>>,
    context: Arc<Context<B>>,
) -> Result<Action, ReconcileError> {
    let _timer = metrics::reconcile_started(&context.metrics, kind_label::<K>());
    let object = match &guard.0 {
        Ok(object) => Arc::new(object.clone()),
        Err(invalid) => {
            return report_invalid::<K, B>(invalid, &context)
                .await
                .map_err(kube::runtime::finalizer::Error::ApplyFailed);
        }
    };
    let api = Api::<K>::namespaced(
        context.client.clone(),
        &object.namespace().unwrap_or_default(),
    );
    let result = finalizer(&api, FINALIZER, object, |event| async {
        match event {
            FinalizerEvent::Apply(object) => object.apply(&context).await,
            FinalizerEvent::Cleanup(object) => object.cleanup(&context).await,
        }
    })
    .await;
    match result {
        // The object went away between cleanup and the removal of the finalizer (another
        // finalizer holder was faster, or the namespace is being deleted): nothing is left to do.
        Err(kube::runtime::finalizer::Error::RemoveFinalizer(kube::Error::Api(status)))
            if status.code == 404 =>
        {
            Ok(Action::await_change())
        }
        other => other,
    }
}
