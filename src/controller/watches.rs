//! Running one kind's controllers and the secondary watches that wake its objects.

use std::sync::Arc;

use futures::future::BoxFuture;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use futures::{FutureExt, Stream, StreamExt};
use kube::ResourceExt;
use kube::api::Api;
use kube::core::{DeserializeGuard, PartialObjectMeta};
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store, reflector};
use kube::runtime::{WatchStreamExt, watcher};

use super::context::Context;
use super::error::kind_label;
use super::own_writes::{Deletions, OwnWrites, others_changes, slim};
use super::reconcile::{Reconciled, TenantScoped, error_policy, reconcile};
use crate::api::CustomerTenant;
use crate::backend::Backend;

/// A controller of one kind in one watched namespace (or all of them).
pub type KindController<K> = Controller<DeserializeGuard<K>>;

/// Runs the controllers of kind `K`, one per watched namespace (or one cluster-wide), until
/// the process stops. `wire` adds the kind's secondary watches to each.
///
/// Each keeps its objects in a store without their apply bookkeeping, and is woken only by
/// changes the operator did not make itself (see [`super::own_writes`]).
pub fn run_controllers<K, B>(
    context: Arc<Context<B>>,
    wire: impl Fn(KindController<K>, &Arc<Context<B>>) -> KindController<K>,
) -> BoxFuture<'static, ()>
where
    K: Reconciled,
    B: Backend,
{
    let runs: Vec<BoxFuture<'static, ()>> = context
        .apis::<DeserializeGuard<K>>()
        .into_iter()
        .map(|api| {
            let (reader, writer) = reflector::store();
            context.objects.register(kind_label::<K>(), reader.clone());
            let events = reflector(
                writer,
                watcher(api, watcher::Config::default()).modify(slim),
            );
            let trigger = others_changes(events, context.own_writes.clone(), Deletions::Skip);
            let config = controller::Config::default().concurrency(context.concurrency);
            let controller = Controller::for_stream(trigger, reader).with_config(config);
            wire(controller, &context)
                .shutdown_on_signal()
                .run(reconcile::<K, B>, error_policy, context.clone())
                .for_each(|_| async {})
                .boxed()
        })
        .collect();
    futures::future::join_all(runs).map(|_| ()).boxed()
}

/// Wakes every object of the controller's kind that refers to a changed `CustomerTenant`, in
/// any watched namespace: changed in what those objects read (see [`tenant_changes`]). The
/// watch keeps the tenants the kind's reconciles read (see [`super::stores`]).
pub fn on_tenant_change<K, B>(
    controller: KindController<K>,
    context: &Arc<Context<B>>,
) -> KindController<K>
where
    K: TenantScoped,
    B: Backend,
{
    let store = controller.store();
    context
        .apis::<DeserializeGuard<CustomerTenant>>()
        .into_iter()
        .fold(controller, |controller, api| {
            let store = store.clone();
            let (tenants, writer) = reflector::store();
            context.tenants.register(kind_label::<K>(), tenants);
            let events = watcher(api, watcher::Config::default()).modify(slim);
            let changes = tenant_changes(reflector(writer, events));
            controller.watches_stream(changes, move |tenant| {
                let key = (tenant.namespace().unwrap_or_default(), tenant.name_any());
                referring(&store, |object: &K| object.tenant_key() == key)
            })
        })
}

/// The tenants of a watch stream that changed in what the objects referring to them read: the
/// spec (its generation), a deletion, and the status apart from the dependent counts (which
/// change with every app and would otherwise wake every app of the tenant each time). A
/// tenant the operator cannot decode passes on every change.
fn tenant_changes<S>(
    events: S,
) -> impl Stream<Item = Result<DeserializeGuard<CustomerTenant>, watcher::Error>> + Send + 'static
where
    S: Stream<Item = Result<watcher::Event<DeserializeGuard<CustomerTenant>>, watcher::Error>>
        + Send
        + 'static,
{
    let mut seen: HashMap<(Option<String>, String), u64> = HashMap::new();
    events.filter_map(move |event| {
        let passed = match event {
            Ok(watcher::Event::Apply(tenant) | watcher::Event::InitApply(tenant)) => {
                let key = (tenant.namespace(), tenant.name_any());
                let print = tenant_fingerprint(&tenant);
                (seen.insert(key, print) != Some(print)).then_some(Ok(tenant))
            }
            Ok(watcher::Event::Delete(tenant)) => {
                seen.remove(&(tenant.namespace(), tenant.name_any()));
                Some(Ok(tenant))
            }
            Ok(watcher::Event::Init | watcher::Event::InitDone) => None,
            Err(error) => Some(Err(error)),
        };
        std::future::ready(passed)
    })
}

/// What the objects referring to a tenant read of it, hashed (see [`tenant_changes`]).
fn tenant_fingerprint(tenant: &DeserializeGuard<CustomerTenant>) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    match &tenant.0 {
        Ok(decoded) => {
            let mut status = decoded.status.clone().unwrap_or_default();
            status.app_count = None;
            status.user_flow_count = None;
            let read = (
                decoded.metadata.generation,
                decoded.metadata.deletion_timestamp.is_some(),
                status,
            );
            serde_json::to_string(&read)
                .unwrap_or_default()
                .hash(&mut hasher);
        }
        Err(_) => tenant.resource_version().hash(&mut hasher),
    }
    hasher.finish()
}

/// Wakes objects of the controller's kind when an object of kind `Other` in the same
/// namespace changes, watching only metadata (Secret and ConfigMap contents never travel to
/// the operator through this watch). `refers` says whether an object names the changed one.
/// The operator's own writes (a credentials Secret) wake nothing; a deletion always does.
pub fn on_metadata_change<K, Other>(
    controller: KindController<K>,
    writes: &Arc<OwnWrites>,
    apis: Vec<Api<PartialObjectMeta<Other>>>,
    refers: impl Fn(&K, &str) -> bool + Clone + Send + Sync + 'static,
) -> KindController<K>
where
    K: Reconciled,
    Other: kube::Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
{
    let store = controller.store();
    apis.into_iter().fold(controller, |controller, api| {
        let store = store.clone();
        let refers = refers.clone();
        let events = watcher(api, watcher::Config::default());
        let changes = others_changes(events, writes.clone(), Deletions::Wake);
        controller.watches_stream(changes, move |changed| {
            let namespace = changed.namespace();
            let name = changed.name_any();
            referring(&store, |object: &K| {
                object.namespace() == namespace && refers(object, &name)
            })
        })
    })
}

/// The references of the decodable objects in `store` that `matches` selects.
pub fn referring<K: Reconciled>(
    store: &Store<DeserializeGuard<K>>,
    matches: impl Fn(&K) -> bool,
) -> Vec<ObjectRef<DeserializeGuard<K>>> {
    store
        .state()
        .iter()
        .filter(|guard| guard.0.as_ref().is_ok_and(&matches))
        .map(|guard| ObjectRef::from_obj(&**guard))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(
        version: &str,
        generation: i64,
        apps: i32,
        ready: &str,
    ) -> DeserializeGuard<CustomerTenant> {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "ciam.dev/v1alpha1", "kind": "CustomerTenant",
            "metadata": { "name": "contoso", "namespace": "identity", "resourceVersion": version,
                          "generation": generation },
            "spec": { "displayName": "Contoso", "subdomain": "contoso", "countryCode": "US" },
            "status": { "appCount": apps, "conditions": [{
                "type": "Ready", "status": ready, "reason": "Reconciled", "message": "",
                "lastTransitionTime": "2026-12-07T00:00:00Z" }] }
        }))
        .expect("a tenant")
    }

    async fn woken(events: Vec<watcher::Event<DeserializeGuard<CustomerTenant>>>) -> Vec<String> {
        tenant_changes(futures::stream::iter(events.into_iter().map(Ok)))
            .map(|tenant| tenant.unwrap().resource_version().unwrap())
            .collect()
            .await
    }

    #[tokio::test]
    async fn a_tenant_wakes_its_objects_on_what_they_read_not_on_its_counts() {
        let seen = woken(vec![
            watcher::Event::InitApply(tenant("1", 1, 0, "False")),
            watcher::Event::Apply(tenant("2", 1, 0, "True")),
            watcher::Event::Apply(tenant("3", 1, 1000, "True")),
            watcher::Event::Apply(tenant("4", 2, 1000, "True")),
            watcher::Event::Delete(tenant("5", 2, 1000, "True")),
        ])
        .await;
        assert_eq!(
            seen,
            ["1", "2", "4", "5"],
            "only the count change is dropped"
        );
    }
}
