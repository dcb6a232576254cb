//! The generic reconcile every kind goes through: decoding, the finalizer, metrics, the error
//! policy, and the one status write of what the kind's `apply` decided.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::core::error_boundary::InvalidObject;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::conditions::{self, reasons};
use super::context::Context;
use super::error::{Error, kind_label};
use super::status::{now, write_status};
use super::{FIELD_MANAGER, FINALIZER, metrics, references};
use crate::backend::{Backend, BackendError};

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

/// How an object stands after its apply: its `Ready` condition.
#[derive(Debug)]
pub enum Ready {
    /// `Ready=True`, reason `Reconciled`, with this message.
    True(&'static str),
    /// `Ready=False` with this reason and message.
    False(&'static str, String),
    /// A backend call failed: `Ready=False`, `BackendUnavailable` when retrying may help,
    /// otherwise `BackendRejected`, with the error's message; the reconcile then fails with the
    /// error, so the error policy decides when to retry.
    BackendFailed(BackendError),
}

/// What a kind's apply observed and decided: the status fields to report, the `Ready`
/// condition, and when to look again.
#[derive(Debug)]
pub struct Decision<S> {
    /// The status to report; `observedGeneration` and the `Ready` condition are filled in by
    /// [`conclude`].
    pub status: S,
    /// The `Ready` condition.
    pub ready: Ready,
    /// When to reconcile again (unused with [`Ready::BackendFailed`]).
    pub action: Action,
}

impl<S> Decision<S> {
    /// The object is in line with its spec: `Ready=True` with `message`, then `action`.
    pub fn ready(status: S, message: &'static str, action: Action) -> Self {
        Self {
            status,
            ready: Ready::True(message),
            action,
        }
    }

    /// A backend call failed (see [`Ready::BackendFailed`]).
    pub fn backend_failed(status: S, error: BackendError) -> Self {
        Self {
            status,
            ready: Ready::BackendFailed(error),
            action: Action::await_change(),
        }
    }

    /// The object cannot go on: `Ready=False` with `reason` and `message`, then `action`.
    pub fn not_ready(status: S, (reason, message): (&'static str, String), action: Action) -> Self {
        Self {
            status,
            ready: Ready::False(reason, message),
            action,
        }
    }
}

/// The status of a reconciled kind: it carries conditions and the generation they describe.
pub trait ReportedStatus:
    serde::Serialize + PartialEq + Clone + Default + std::fmt::Debug + Send + Sync + 'static
{
    /// The status conditions.
    fn conditions(&self) -> &[Condition];

    /// Replaces the conditions and the generation they describe.
    fn set_conditions(&mut self, conditions: Vec<Condition>, generation: Option<i64>);
}

/// The `Ready` condition of `ready` at `generation`, and what the reconcile returns: `action`,
/// or the backend's error.
pub fn ready_condition(
    ready: Ready,
    generation: Option<i64>,
    action: Action,
) -> (Condition, Result<Action, Error>) {
    match ready {
        Ready::True(message) => (
            conditions::ready(true, reasons::RECONCILED, message, generation, now()),
            Ok(action),
        ),
        Ready::False(reason, message) => (
            conditions::ready(false, reason, message, generation, now()),
            Ok(action),
        ),
        Ready::BackendFailed(error) => {
            let reason = if error.is_transient() {
                reasons::BACKEND_UNAVAILABLE
            } else {
                reasons::BACKEND_REJECTED
            };
            (
                conditions::ready(false, reason, error.to_string(), generation, now()),
                Err(Error::Backend(error)),
            )
        }
    }
}

/// Writes what an apply decided, once for every kind: the status with `observedGeneration` and
/// the merged `Ready` condition (nothing when unchanged), then returns the decided action or
/// the backend's error.
///
/// # Errors
/// Fails when the status cannot be written, or with the backend's error.
pub async fn conclude<K: Reconciled, B: Backend>(
    object: &K,
    context: &Context<B>,
    decision: Decision<K::Status>,
) -> Result<Action, Error> {
    let Decision {
        mut status,
        ready,
        action,
    } = decision;
    let generation = object.meta().generation;
    let (condition, result) = ready_condition(ready, generation, action);
    let merged = conditions::merge(status.conditions(), condition);
    status.set_conditions(merged, generation);
    write_status(&context.client, object, object.current_status(), &status).await?;
    result
}

/// A kind the operator reconciles. The generic [`reconcile`] handles decoding, the finalizer
/// metrics and the status write; each kind brings only its apply and cleanup steps.
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
    /// The kind's status.
    type Status: ReportedStatus;

    /// The status the object carries now.
    fn current_status(&self) -> Option<&Self::Status>;

    /// Brings the backend and the Secrets in line with the spec and says what it observed and
    /// decided; the generic [`reconcile`] writes that status (see [`conclude`]).
    fn apply<B: Backend>(
        &self,
        context: &Context<B>,
    ) -> impl Future<Output = Result<Decision<Self::Status>, Error>> + Send;

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
    ($kind:ty, $status:ty) => {
        impl super::Reconciled for $kind {
            type Status = $status;

            fn current_status(&self) -> Option<&$status> {
                self.status.as_ref()
            }

            async fn apply<B: crate::backend::Backend>(
                &self,
                context: &super::Context<B>,
            ) -> Result<super::Decision<$status>, super::Error> {
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
    ($kind:ty, $status:ty, tenant_scoped) => {
        super::reconciled!($kind, $status);

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
/// `ciam.dev/cleanup` finalizer to the kind's apply (whose decision [`conclude`] writes) or
/// cleanup.
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
            FinalizerEvent::Apply(object) => {
                let decision = object.apply(&context).await?;
                conclude(&*object, &context, decision).await
            }
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

/// Puts `Ready=False, InvalidSpec` (and `Stalled`) on an object whose stored form the
/// operator cannot decode, with the decoder's message, and a Warning Event. Writes nothing
/// when the condition already says so.
pub(super) async fn report_invalid<K: Reconciled, B: Backend>(
    invalid: &InvalidObject,
    context: &Context<B>,
) -> Result<Action, Error> {
    let name = invalid.metadata.name.clone().unwrap_or_default();
    let namespace = invalid.metadata.namespace.clone().unwrap_or_default();
    let kind = K::kind(&());
    tracing::warn!(%kind, %namespace, %name, error = %invalid.error, "cannot decode the object");
    let message = format!(
        "the operator cannot read this object: {}; correct that field (kubectl edit {} {name} -n {namespace})",
        invalid.error,
        kind.to_lowercase()
    );
    let api = Api::<kube::api::DynamicObject>::namespaced_with(
        context.client.clone(),
        &namespace,
        &kube::api::ApiResource::erase::<K>(&()),
    );
    let current = api
        .get_opt(&name)
        .await
        .map_err(Error::kube(format!("read {kind} {namespace}/{name}")))?;
    let Some(current) = current else {
        return Ok(Action::await_change());
    };
    let generation = invalid.metadata.generation;
    let Some(status) = invalid_status(&current.data, &message, generation) else {
        return Ok(Action::await_change());
    };
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": kind,
        "status": status,
    });
    api.patch_status(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(Error::kube(format!(
        "write status of {kind} {namespace}/{name}"
    )))?;
    let event = kube::runtime::events::Event {
        type_: kube::runtime::events::EventType::Warning,
        reason: conditions::reasons::INVALID_SPEC.into(),
        note: Some(message),
        action: "Reconcile".into(),
        secondary: None,
    };
    let reference = k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some(K::api_version(&()).into_owned()),
        kind: Some(kind.into_owned()),
        name: Some(name),
        namespace: Some(namespace),
        uid: invalid.metadata.uid.clone(),
        ..Default::default()
    };
    if let Err(error) = context.recorder.publish(&event, &reference).await {
        tracing::warn!(error = %error, "failed to publish an event");
    }
    Ok(Action::await_change())
}

/// The whole current status of an undecodable object with `Ready=False, InvalidSpec` merged
/// in, or `None` when its conditions already say so.
///
/// Server-side apply of the whole current status with the new conditions, as the same field
/// manager as every other status write: a later apply that drops `Stalled` then really
/// removes it.
fn invalid_status(
    current: &serde_json::Value,
    message: &str,
    generation: Option<i64>,
) -> Option<serde_json::Value> {
    let existing: Vec<Condition> = current
        .pointer("/status/conditions")
        .cloned()
        .and_then(|value| serde_json::from_value(value).ok())
        .unwrap_or_default();
    let merged = conditions::merge(
        &existing,
        conditions::ready(
            false,
            conditions::reasons::INVALID_SPEC,
            message.to_string(),
            generation,
            now(),
        ),
    );
    if merged == existing {
        return None;
    }
    let mut status = current
        .get("status")
        .cloned()
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| serde_json::json!({}));
    status["observedGeneration"] = serde_json::json!(generation);
    status["conditions"] = serde_json::json!(merged);
    Some(status)
}

impl<B: Backend> Context<B> {
    /// Every decodable object of a kind in the watched namespaces that refers to the tenant
    /// `key` (namespace, name).
    ///
    /// # Errors
    /// Fails when the API server cannot be read.
    pub async fn list_for_tenant<K: TenantScoped>(
        &self,
        key: &(String, String),
    ) -> Result<Vec<K>, Error> {
        let mut objects = self.list::<K>().await?;
        objects.retain(|object| object.tenant_key() == *key);
        Ok(objects)
    }
}

/// Implements [`ReportedStatus`] for status types with `conditions` and `observed_generation`.
macro_rules! reported_status {
    ($($status:ty),*) => {$(
        impl ReportedStatus for $status {
            fn conditions(&self) -> &[Condition] {
                &self.conditions
            }

            fn set_conditions(&mut self, conditions: Vec<Condition>, generation: Option<i64>) {
                self.conditions = conditions;
                self.observed_generation = generation;
            }
        }
    )*};
}

reported_status!(
    crate::api::CustomerTenantStatus,
    crate::api::AppRegistrationStatus,
    crate::api::UserFlowStatus,
    crate::api::BrandingStatus
);

#[cfg(test)]
mod tests {
    use super::*;

    fn unavailable() -> BackendError {
        BackendError::Unavailable {
            operation: "apply tenant contoso".into(),
            detail: "timed out".into(),
        }
    }

    #[test]
    fn an_unreachable_backend_reads_backend_unavailable_and_is_retried_soon() {
        let (condition, result) = ready_condition(
            Ready::BackendFailed(unavailable()),
            Some(3),
            Action::await_change(),
        );
        assert_eq!(
            (condition.status.as_str(), condition.reason.as_str()),
            ("False", reasons::BACKEND_UNAVAILABLE)
        );
        assert_eq!(
            condition.message,
            "failed to apply tenant contoso: the identity backend is unavailable: timed out"
        );
        assert_eq!(condition.observed_generation, Some(3));
        let error = result.expect_err("the reconcile fails with the backend's error");
        assert!(error.is_transient());
    }

    #[test]
    fn a_refused_state_reads_backend_rejected_and_waits_for_a_spec_change() {
        let rejected = BackendError::Rejected {
            operation: "apply client c-1".into(),
            detail: "redirectUris[0]: must be https".into(),
        };
        let (condition, result) =
            ready_condition(Ready::BackendFailed(rejected), None, Action::await_change());
        assert_eq!(condition.reason, reasons::BACKEND_REJECTED);
        let error = result.expect_err("the reconcile fails with the backend's error");
        assert!(!error.is_transient());
        assert_eq!(error.metric_label(), "rejected");
    }

    #[test]
    fn ready_and_not_ready_keep_the_decided_action() {
        let resync = Action::requeue(Duration::from_secs(300));
        let (condition, result) = ready_condition(
            Ready::True("the tenant is serving"),
            Some(1),
            resync.clone(),
        );
        assert_eq!(
            (condition.status.as_str(), condition.reason.as_str()),
            ("True", reasons::RECONCILED)
        );
        assert_eq!(result.unwrap(), resync);
        let (condition, result) = ready_condition(
            Ready::False(reasons::TENANT_NOT_READY, "not yet".into()),
            Some(1),
            Action::await_change(),
        );
        assert_eq!(condition.reason, reasons::TENANT_NOT_READY);
        assert_eq!(result.unwrap(), Action::await_change());
    }

    #[test]
    fn transient_errors_requeue_in_seconds_and_rejections_in_minutes() {
        let metrics = metrics::Metrics::default();
        let transient = kube::runtime::finalizer::Error::ApplyFailed(Error::Backend(unavailable()));
        let rejected =
            kube::runtime::finalizer::Error::ApplyFailed(Error::Backend(BackendError::Rejected {
                operation: "apply".into(),
                detail: "no".into(),
            }));
        assert_eq!(
            on_error(&metrics, "CustomerTenant", &transient),
            Action::requeue(Duration::from_secs(5))
        );
        assert_eq!(
            on_error(&metrics, "CustomerTenant", &rejected),
            Action::requeue(Duration::from_secs(300))
        );
    }
}
