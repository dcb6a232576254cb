//! Running one kind's controllers and the secondary watches that wake its objects.

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use kube::ResourceExt;
use kube::api::Api;
use kube::core::{DeserializeGuard, PartialObjectMeta};
use kube::runtime::controller::Controller;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;

use super::context::Context;
use super::reconcile::{Reconciled, TenantScoped, error_policy, reconcile};
use crate::backend::Backend;

/// A controller of one kind in one watched namespace (or all of them).
pub type KindController<K> = Controller<DeserializeGuard<K>>;

/// Runs the controllers of kind `K`, one per watched namespace (or one cluster-wide), until
/// the process stops. `wire` adds the kind's secondary watches to each.
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
            wire(Controller::new(api, watcher::Config::default()), &context)
                .shutdown_on_signal()
                .run(reconcile::<K, B>, error_policy, context.clone())
                .for_each(|_| async {})
                .boxed()
        })
        .collect();
    futures::future::join_all(runs).map(|_| ()).boxed()
}

/// Wakes every object of the controller's kind that refers to a changed `CustomerTenant`, in
/// any watched namespace.
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
        .apis::<DeserializeGuard<crate::api::CustomerTenant>>()
        .into_iter()
        .fold(controller, |controller, api| {
            let store = store.clone();
            controller.watches(api, watcher::Config::default(), move |tenant| {
                let key = (tenant.namespace().unwrap_or_default(), tenant.name_any());
                referring(&store, |object: &K| object.tenant_key() == key)
            })
        })
}

/// Wakes objects of the controller's kind when an object of kind `Other` in the same
/// namespace changes, watching only metadata (Secret and ConfigMap contents never travel to
/// the operator through this watch). `refers` says whether an object names the changed one.
pub fn on_metadata_change<K, Other>(
    controller: KindController<K>,
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
        controller.watches(api, watcher::Config::default(), move |changed| {
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
