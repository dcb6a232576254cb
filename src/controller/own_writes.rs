//! The operator's own writes, so that their watch events do not wake the objects again.
//!
//! Every write the operator makes (a finalizer, a status, a credentials Secret) returns the
//! object's new `resourceVersion`; it is recorded here, and a watch event carrying exactly
//! that version is the operator's own echo: the reconcile that made it already decided from
//! that state. Any other change (a spec edit, a Secret edited or deleted by someone else, a
//! re-list that finds a newer object) carries another version and still wakes the object.
//!
//! The filters keep every event in the controllers' stores (the reflector sees the stream
//! before the filter); only the trigger is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::{Stream, StreamExt};
use kube::ResourceExt;
use kube::runtime::watcher;

/// Kind, namespace and name of a written object.
type Key = (String, String, String);

/// The `resourceVersion` of the operator's last write of each object.
#[derive(Debug, Default)]
pub struct OwnWrites {
    versions: Mutex<HashMap<Key, String>>,
}

fn key<K: kube::Resource<DynamicType = ()>>(object: &K) -> Key {
    (
        K::kind(&()).into_owned(),
        object.namespace().unwrap_or_default(),
        object.name_any(),
    )
}

impl OwnWrites {
    /// Records the object as the operator just wrote it (the API server's answer).
    pub fn record<K: kube::Resource<DynamicType = ()>>(&self, written: &K) {
        let Some(version) = written.resource_version() else {
            return;
        };
        self.lock().insert(key(written), version);
    }

    /// Whether `seen` is exactly the version the operator last wrote.
    pub fn is_own<K: kube::Resource<DynamicType = ()>>(&self, seen: &K) -> bool {
        let Some(version) = seen.meta().resource_version.as_deref() else {
            return false;
        };
        self.lock()
            .get(&key(seen))
            .is_some_and(|written| written == version)
    }

    /// Forgets an object that went away.
    pub fn forget<K: kube::Resource<DynamicType = ()>>(&self, gone: &K) {
        self.lock().remove(&key(gone));
    }

    /// How many objects are remembered.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, String>> {
        self.versions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Whether deletions pass a trigger filter: a controller's own kind needs no reconcile for an
/// object that is gone (its finalizer already ran), a watched Secret or ConfigMap that went
/// away must wake the objects that use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deletions {
    /// Deleted objects wake.
    Wake,
    /// Deleted objects are only forgotten.
    Skip,
}

/// The objects of a watch stream that changed by someone else's hand: the operator's own
/// echoes are dropped (see the module docs), and so are deletions with [`Deletions::Skip`].
pub fn others_changes<K, S>(
    events: S,
    writes: Arc<OwnWrites>,
    deletions: Deletions,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: kube::Resource<DynamicType = ()> + Send + 'static,
    S: Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
{
    events.filter_map(move |event| {
        let passed = match event {
            Ok(watcher::Event::Apply(object) | watcher::Event::InitApply(object)) => {
                (!writes.is_own(&object)).then_some(Ok(object))
            }
            Ok(watcher::Event::Delete(object)) => {
                writes.forget(&object);
                (deletions == Deletions::Wake).then_some(Ok(object))
            }
            Ok(watcher::Event::Init | watcher::Event::InitDone) => None,
            Err(error) => Some(Err(error)),
        };
        std::future::ready(passed)
    })
}

/// Drops what the operator never reads from an object before it is kept in a store: the
/// server-side apply bookkeeping (`managedFields`) and kubectl's copy of the last applied
/// object, which together are most of a small object's size.
pub fn slim<K: kube::Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
        if annotations.is_empty() {
            meta.annotations = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Secret;

    fn secret(name: &str, version: &str) -> Secret {
        serde_json::from_value(serde_json::json!({
            "metadata": { "name": name, "namespace": "apps", "resourceVersion": version,
                          "managedFields": [{ "manager": "kubectl" }],
                          "annotations": { "kubectl.kubernetes.io/last-applied-configuration": "{}" } }
        }))
        .unwrap()
    }

    async fn passed(events: Vec<watcher::Event<Secret>>, writes: Arc<OwnWrites>) -> Vec<String> {
        let stream = futures::stream::iter(events.into_iter().map(Ok));
        others_changes(stream, writes, Deletions::Wake)
            .map(|object| {
                let object = object.unwrap();
                format!(
                    "{}@{}",
                    object.name_any(),
                    object.resource_version().unwrap()
                )
            })
            .collect()
            .await
    }

    #[tokio::test]
    async fn only_the_echo_of_the_operators_own_write_is_dropped() {
        let writes = Arc::new(OwnWrites::default());
        writes.record(&secret("app-credentials", "7"));
        let seen = passed(
            vec![
                watcher::Event::Apply(secret("app-credentials", "7")),
                watcher::Event::Apply(secret("app-credentials", "8")),
                watcher::Event::Apply(secret("other", "7")),
                watcher::Event::Delete(secret("app-credentials", "9")),
            ],
            writes.clone(),
        )
        .await;
        assert_eq!(seen, ["app-credentials@8", "other@7", "app-credentials@9"]);
        assert!(writes.is_empty(), "a deleted object is forgotten");
    }

    #[tokio::test]
    async fn a_deletion_wakes_even_at_the_version_the_operator_wrote() {
        let writes = Arc::new(OwnWrites::default());
        writes.record(&secret("app-credentials", "7"));
        let seen = passed(
            vec![watcher::Event::Delete(secret("app-credentials", "7"))],
            writes,
        )
        .await;
        assert_eq!(seen, ["app-credentials@7"]);
    }

    #[test]
    fn slim_objects_keep_no_apply_bookkeeping() {
        let mut object = secret("a", "1");
        slim(&mut object);
        assert!(object.metadata.managed_fields.is_none());
        assert!(object.metadata.annotations.is_none());
    }
}
