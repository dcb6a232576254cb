//! Writing what the operator observed: status by server-side apply (only when it changed),
//! and Events.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};

use super::context::Context;
use super::error::{Error, kind_label};
use super::{FIELD_MANAGER, metrics};
use crate::backend::Backend;

/// The current time as a Kubernetes timestamp.
pub fn now() -> Time {
    Time(jiff::Timestamp::now())
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
