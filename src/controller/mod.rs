//! The operator: one kube-runtime controller per kind, reconciling resources into an identity
//! backend.
//!
//! Each reconcile follows the same pipeline: resolve references → build the desired state
//! (pure, in [`desired`]) → observe the backend and apply only the difference → write the
//! credentials Secret → write status (only when it changed).

pub mod app_registration;
pub mod branding;
pub mod conditions;
pub mod customer_tenant;
pub mod desired;
pub mod leader;
pub mod metrics;
pub mod ownership;
pub mod references;
pub mod user_flow;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::core::error_boundary::InvalidObject;
use kube::core::{DeserializeGuard, PartialObjectMeta};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use crate::backend::{Backend, BackendError};

/// Field manager of every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "ciam-operator";

/// Finalizer that removes backend objects before a resource goes away.
pub const FINALIZER: &str = "ciam.dev/cleanup";

/// Label put on every Secret the operator writes.
pub const MANAGED_BY_LABEL: (&str, &str) = ("app.kubernetes.io/managed-by", "ciam-operator");

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
fn kind_label<K: kube::Resource<DynamicType = ()>>() -> &'static str {
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

/// The current time as a Kubernetes timestamp.
pub fn now() -> Time {
    Time(jiff::Timestamp::now())
}

/// Settings of the operator process.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Drift re-check interval.
    pub resync: Duration,
    /// The namespaces to watch.
    pub scope: Scope,
    /// Prometheus metrics, shared with the health listener.
    pub metrics: Arc<metrics::Metrics>,
}

/// Runs every controller until the process is stopped.
pub async fn run<B: Backend>(client: Client, backend: B, settings: Settings) {
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: FIELD_MANAGER.into(),
            instance: std::env::var("POD_NAME").ok(),
        },
    );
    let context = Arc::new(Context {
        client: client.clone(),
        backend,
        recorder,
        resync: settings.resync,
        scope: settings.scope,
        metrics: settings.metrics,
    });
    futures::future::join4(
        customer_tenant::controller(context.clone()),
        app_registration::controller(context.clone()),
        user_flow::controller(context.clone()),
        branding::controller(context.clone()),
    )
    .await;
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

/// Puts `Ready=False, InvalidSpec` (and `Stalled`) on an object whose stored form the
/// operator cannot decode, with the decoder's message, and a Warning Event. Writes nothing
/// when the condition already says so.
async fn report_invalid<K: Reconciled, B: Backend>(
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
    let existing: Vec<Condition> = current
        .data
        .pointer("/status/conditions")
        .cloned()
        .and_then(|value| serde_json::from_value(value).ok())
        .unwrap_or_default();
    let generation = invalid.metadata.generation;
    let merged = conditions::merge(
        &existing,
        conditions::ready(
            false,
            conditions::reasons::INVALID_SPEC,
            message.clone(),
            generation,
            now(),
        ),
    );
    if merged == existing {
        return Ok(Action::await_change());
    }
    // Server-side apply of the whole current status with the new conditions, as the same
    // field manager as every other status write: a later apply that drops `Stalled` then
    // really removes it.
    let mut status = current
        .data
        .get("status")
        .cloned()
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| serde_json::json!({}));
    status["observedGeneration"] = serde_json::json!(generation);
    status["conditions"] = serde_json::json!(merged);
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

/// Command-line settings of `ciam-operator controller`.
#[derive(Clone, Debug, clap::Args)]
pub struct ControllerConfig {
    /// Base URL of the embedded runtime's admin API.
    #[arg(
        long,
        env = "CIAM_BACKEND_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    pub backend_url: String,

    /// File holding the admin API bearer token.
    #[arg(long, env = "CIAM_BACKEND_TOKEN_FILE")]
    pub backend_token_file: std::path::PathBuf,

    /// Seconds between drift re-checks of a Ready object.
    #[arg(long, env = "CIAM_RESYNC_SECONDS", default_value_t = 300)]
    pub resync_seconds: u64,

    /// Watch only these namespaces (comma-separated; for namespaced RBAC); every namespace
    /// when unset.
    #[arg(long, env = "CIAM_WATCH_NAMESPACE", value_delimiter = ',')]
    pub watch_namespace: Vec<String>,

    /// Namespace of the leader-election Lease; leader election is off when unset (one replica).
    #[arg(long, env = "CIAM_LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,

    /// This replica's identity in the Lease (the pod name).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,

    /// Address of the `/healthz`, `/readyz` and `/metrics` listener.
    #[arg(long, env = "CIAM_METRICS_ADDR", default_value = "127.0.0.1:8090")]
    pub metrics_addr: std::net::SocketAddr,

    /// Log lines as JSON objects instead of text.
    #[arg(long, env = "CIAM_LOG_JSON")]
    pub log_json: bool,

    /// Timeout of one backend request, in seconds.
    #[arg(long, env = "CIAM_BACKEND_TIMEOUT_SECONDS", default_value_t = 10)]
    pub backend_timeout_seconds: u64,
}

/// Errors that stop the operator from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The token file could not be read.
    #[error("failed to read the backend token from {path}: {source}")]
    Token {
        /// Its path.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No Kubernetes configuration was found.
    #[error("failed to configure the Kubernetes client: {0}")]
    Kube(#[from] kube::Error),
    /// The HTTP client could not be built.
    #[error("failed to build the backend HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// The async runtime could not start.
    #[error("failed to start the async runtime: {0}")]
    AsyncRuntime(#[source] std::io::Error),
    /// The health and metrics listener could not bind.
    #[error("failed to listen on {address}: {source}")]
    Listen {
        /// The address.
        address: std::net::SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Entry point of `ciam-operator controller`.
///
/// # Errors
/// Returns what prevented the operator from starting; reconcile errors are reported on the
/// objects instead.
pub fn start(config: ControllerConfig) -> Result<(), StartError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn"));
    let _ = if config.log_json {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .try_init()
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).try_init()
    };
    let token = std::fs::read_to_string(&config.backend_token_file)
        .map_err(|source| StartError::Token {
            path: config.backend_token_file.clone(),
            source,
        })?
        .trim()
        .to_string();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(StartError::AsyncRuntime)?;
    runtime.block_on(async {
        let metrics = Arc::new(metrics::Metrics::default());
        let listener = tokio::net::TcpListener::bind(config.metrics_addr)
            .await
            .map_err(|source| StartError::Listen { address: config.metrics_addr, source })?;
        let router = metrics::router(metrics.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::error!(error = %error, "the health and metrics listener stopped");
            }
        });
        let client = Client::try_default().await?;
        let backend = crate::backend::embedded::EmbeddedBackend::new(
            &config.backend_url,
            token,
            Duration::from_secs(config.backend_timeout_seconds),
        )?
        .with_observer(metrics.clone());
        tracing::info!(backend = %config.backend_url, metrics = %config.metrics_addr, "operator starting");
        metrics.ready.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(namespace) = &config.leader_election_namespace {
            let identity = config.identity.clone().unwrap_or_else(|| {
                format!("ciam-operator-{}-{}", std::process::id(), uuid::Uuid::new_v4())
            });
            leader::acquire_and_hold(
                client.clone(),
                leader::LeaseSettings {
                    namespace: namespace.clone(),
                    name: "ciam-operator-leader".into(),
                    identity,
                    duration: Duration::from_secs(15),
                    renew: Duration::from_secs(5),
                },
            )
            .await;
        }
        metrics.leader.set(1);
        run(
            client,
            backend,
            Settings {
                resync: Duration::from_secs(config.resync_seconds),
                scope: Scope::from_namespaces(&config.watch_namespace),
                metrics,
            },
        )
        .await;
        Ok(())
    })
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
