//! Writing what the operator observed: status by server-side apply (only when it changed),
//! and Events.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use kube::core::error_boundary::InvalidObject;
use kube::runtime::controller::Action;

use super::context::Context;
use super::reconcile::{Error, Reconciled, ReportedStatus, kind_label};
use super::{FIELD_MANAGER, conditions, metrics};
use crate::backend::Backend;

/// The current time as a Kubernetes timestamp.
pub fn now() -> Time {
    Time(jiff::Timestamp::now())
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

/// Writes `status` to the object's status subresource by server-side apply, unless it equals
/// the current status (so a resync with nothing to change writes nothing).
///
/// # Errors
/// Fails when the API server refuses the patch.
pub async fn write_status<K, S>(
    client: &Client,
    object: &K,
    current: Option<&S>,
    status: &S,
) -> Result<(), Error>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    S: serde::Serialize + PartialEq,
{
    if current == Some(status) {
        return Ok(());
    }
    let name = object.meta().name.clone().unwrap_or_default();
    let namespace = object.meta().namespace.clone().unwrap_or_default();
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    Api::<K>::namespaced(client.clone(), &namespace)
        .patch_status(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
        .map_err(Error::kube(format!(
            "write status of {} {namespace}/{name}",
            K::kind(&())
        )))?;
    Ok(())
}

/// Publishes a Normal Event on an object; failures are logged, never fatal.
pub async fn publish<B: Backend, K: kube::Resource<DynamicType = ()>>(
    context: &Context<B>,
    object: &K,
    reason: &str,
    note: &str,
) {
    let event = kube::runtime::events::Event {
        type_: kube::runtime::events::EventType::Normal,
        reason: reason.into(),
        note: Some(note.into()),
        action: "Reconcile".into(),
        secondary: None,
    };
    if reason == "DriftCorrected" {
        let kind = kind_label::<K>();
        context
            .metrics
            .drift_corrections
            .get_or_create(&metrics::KindLabels { kind })
            .inc();
    }
    if let Err(error) = context
        .recorder
        .publish(&event, &object.object_ref(&()))
        .await
    {
        tracing::warn!(error = %error, "failed to publish an event");
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
