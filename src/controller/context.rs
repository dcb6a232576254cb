//! The controllers' shared state: the client, the backend, the watched namespaces, and
//! listing helpers that skip objects the operator cannot decode.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use kube::Client;
use kube::api::{Api, ListParams};
use kube::core::DeserializeGuard;
use kube::runtime::events::Recorder;

use super::error::Error;
use super::metrics;
use crate::backend::Backend;

/// Shared state of the controllers.
pub struct Context<B: Backend> {
    /// Kubernetes client.
    pub client: Client,
    /// The identity backend.
    pub backend: B,
    /// Publishes Events on the reconciled objects.
    pub recorder: Recorder,
    /// How often a Ready object is re-checked against the backend for drift.
    pub resync: Duration,
    /// The namespaces the operator watches.
    pub scope: Scope,
    /// Prometheus metrics.
    pub metrics: Arc<metrics::Metrics>,
}

/// The namespaces the operator watches: every namespace (cluster-wide RBAC) or a list of them
/// (namespaced RBAC: a Role in each, nothing cluster-wide).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every namespace.
    Cluster,
    /// Only these namespaces.
    Namespaces(Vec<String>),
}

impl Scope {
    /// The scope of `--watch-namespace`: cluster-wide when no namespace is given.
    pub fn from_namespaces(namespaces: &[String]) -> Self {
        let mut namespaces: Vec<String> = namespaces
            .iter()
            .map(|namespace| namespace.trim().to_string())
            .filter(|namespace| !namespace.is_empty())
            .collect();
        namespaces.sort();
        namespaces.dedup();
        if namespaces.is_empty() {
            Self::Cluster
        } else {
            Self::Namespaces(namespaces)
        }
    }

    /// Whether objects in `namespace` are watched.
    pub fn contains(&self, namespace: &str) -> bool {
        match self {
            Self::Cluster => true,
            Self::Namespaces(namespaces) => namespaces.iter().any(|watched| watched == namespace),
        }
    }
}

impl<B: Backend> Context<B> {
    /// One API per watched namespace (or one over all namespaces) for a namespaced kind.
    pub fn apis<K>(&self) -> Vec<Api<K>>
    where
        K: kube::Resource<DynamicType = (), Scope = NamespaceResourceScope>,
    {
        match &self.scope {
            Scope::Cluster => vec![Api::all(self.client.clone())],
            Scope::Namespaces(namespaces) => namespaces
                .iter()
                .map(|namespace| Api::namespaced(self.client.clone(), namespace))
                .collect(),
        }
    }

    /// Every object of a kind in the watched namespaces. An object the operator cannot decode
    /// (reported on the object itself by its controller) is left out instead of failing the list.
    ///
    /// # Errors
    /// Fails when the API server cannot be read.
    pub async fn list<K>(&self) -> Result<Vec<K>, Error>
    where
        K: kube::Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let mut objects = Vec::new();
        for api in self.apis::<DeserializeGuard<K>>() {
            objects.extend(decodable(api).await?);
        }
        Ok(objects)
    }

    /// Every decodable object of a kind in one namespace (see [`Context::list`]).
    ///
    /// # Errors
    /// Fails when the API server cannot be read.
    pub async fn list_in<K>(&self, namespace: &str) -> Result<Vec<K>, Error>
    where
        K: kube::Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        decodable(Api::<DeserializeGuard<K>>::namespaced(
            self.client.clone(),
            namespace,
        ))
        .await
    }
}

async fn decodable<K>(api: Api<DeserializeGuard<K>>) -> Result<Vec<K>, Error>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(Error::kube(format!("list {}s", K::kind(&()))))?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|guard| guard.0.ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::Scope;

    #[test]
    fn watch_namespaces_make_a_scope() {
        assert_eq!(Scope::from_namespaces(&[]), Scope::Cluster);
        assert_eq!(Scope::from_namespaces(&[" ".into()]), Scope::Cluster);
        let scope = Scope::from_namespaces(&["b".into(), "a".into(), "b".into()]);
        assert_eq!(scope, Scope::Namespaces(vec!["a".into(), "b".into()]));
        assert!(scope.contains("a") && !scope.contains("c"));
        assert!(Scope::Cluster.contains("anything"));
    }
}
