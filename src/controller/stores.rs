//! What the controllers read from their watches' stores instead of a GET or LIST per
//! reconcile: the `CustomerTenant`s each kind's controllers read, from the stores of the very
//! watches that wake them on a tenant change, and each kind's own objects (for counts).
//!
//! Freshness: a tenant event reaches a store before it wakes the referring objects (the
//! reflector applies each event, then passes it on), so the reconcile that follows a tenant
//! change always reads that change. A reconcile never reads a store before its first full
//! list is in.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Mutex;

use kube::Client;
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::runtime::reflector::{ObjectRef, Store};

use super::error::Error;
use crate::api::CustomerTenant;

/// One store per watched namespace (or one cluster-wide), per kind that refers to tenants.
#[derive(Default)]
pub struct TenantStores {
    stores: Mutex<HashMap<&'static str, Vec<Store<DeserializeGuard<CustomerTenant>>>>>,
}

impl std::fmt::Debug for TenantStores {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TenantStores")
            .finish_non_exhaustive()
    }
}

impl TenantStores {
    /// Adds the store of one tenant watch of `kind`'s controllers.
    pub fn register(&self, kind: &'static str, store: Store<DeserializeGuard<CustomerTenant>>) {
        self.lock().entry(kind).or_default().push(store);
    }

    /// The tenant `namespace/name` as `kind`'s controllers see it; read from the API server
    /// when that kind has no tenant watch (a controller wired without one).
    ///
    /// # Errors
    /// Fails when the API server cannot be read, or the stored tenant cannot be decoded.
    pub async fn get(
        &self,
        kind: &'static str,
        client: &Client,
        namespace: &str,
        name: &str,
    ) -> Result<Option<CustomerTenant>, Error> {
        let stores = self.lock().get(kind).cloned().unwrap_or_default();
        if stores.is_empty() {
            return Api::<CustomerTenant>::namespaced(client.clone(), namespace)
                .get_opt(name)
                .await
                .map_err(Error::kube(format!(
                    "read CustomerTenant {namespace}/{name}"
                )));
        }
        let key = ObjectRef::new(name).within(namespace);
        for store in stores {
            if store.wait_until_ready().await.is_err() {
                return Err(Error::Waiting("the CustomerTenant watch stopped".into()));
            }
            if let Some(found) = store.get(&key) {
                return match &found.0 {
                    Ok(tenant) => Ok(Some(tenant.clone())),
                    Err(invalid) => Err(Error::Waiting(format!(
                        "CustomerTenant {namespace}/{name} cannot be read: {}",
                        invalid.error
                    ))),
                };
            }
        }
        Ok(None)
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<
        '_,
        HashMap<&'static str, Vec<Store<DeserializeGuard<CustomerTenant>>>>,
    > {
        self.stores
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The stores of each kind's own controllers (one per watched namespace, or one).
#[derive(Default)]
pub struct KindStores {
    stores: Mutex<HashMap<&'static str, Vec<Box<dyn Any + Send + Sync>>>>,
}

impl std::fmt::Debug for KindStores {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("KindStores").finish_non_exhaustive()
    }
}

impl KindStores {
    /// Adds the store of one controller of `kind`.
    pub fn register<K>(&self, kind: &'static str, store: Store<DeserializeGuard<K>>)
    where
        K: kube::Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
    {
        self.lock().entry(kind).or_default().push(Box::new(store));
    }

    /// How many decodable objects of `kind` the stores hold that `counted` selects, once every
    /// store has its first full list; `None` when no controller of `kind` runs.
    pub async fn count<K>(&self, kind: &'static str, counted: impl Fn(&K) -> bool) -> Option<usize>
    where
        K: kube::Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
    {
        let mut total = 0;
        for store in self.ready::<K>(kind).await? {
            total += store
                .state()
                .iter()
                .filter(|guard| guard.0.as_ref().is_ok_and(&counted))
                .count();
        }
        Some(total)
    }

    /// The decodable objects of `kind` the stores hold that `selected` picks (see
    /// [`KindStores::count`]); `None` when no controller of `kind` runs.
    pub async fn select<K>(
        &self,
        kind: &'static str,
        selected: impl Fn(&K) -> bool,
    ) -> Option<Vec<K>>
    where
        K: kube::Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
    {
        let mut objects = Vec::new();
        for store in self.ready::<K>(kind).await? {
            objects.extend(
                store
                    .state()
                    .iter()
                    .filter_map(|guard| guard.0.as_ref().ok().filter(|object| selected(object)))
                    .cloned(),
            );
        }
        Some(objects)
    }

    /// The stores of `kind`, each with its first full list in.
    async fn ready<K>(&self, kind: &'static str) -> Option<Vec<Store<DeserializeGuard<K>>>>
    where
        K: kube::Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
    {
        let stores: Vec<Store<DeserializeGuard<K>>> = self
            .lock()
            .get(kind)?
            .iter()
            .filter_map(|store| store.downcast_ref::<Store<DeserializeGuard<K>>>().cloned())
            .collect();
        if stores.is_empty() {
            return None;
        }
        for store in &stores {
            store.wait_until_ready().await.ok()?;
        }
        Some(stores)
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<&'static str, Vec<Box<dyn Any + Send + Sync>>>> {
        self.stores
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
