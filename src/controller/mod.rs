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
pub mod references;
pub mod user_flow;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Recorder, Reporter};

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
    /// The one namespace to watch, or every namespace when `None`.
    pub watch_namespace: Option<String>,
    /// Prometheus metrics.
    pub metrics: Arc<metrics::Metrics>,
}

impl<B: Backend> Context<B> {
    /// An API over the watched namespaces for a namespaced kind.
    pub fn watched<K>(&self) -> Api<K>
    where
        K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        match &self.watch_namespace {
            Some(namespace) => Api::namespaced(self.client.clone(), namespace),
            None => Api::all(self.client.clone()),
        }
    }
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
    /// The one namespace to watch, or every namespace when `None`.
    pub watch_namespace: Option<String>,
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
        watch_namespace: settings.watch_namespace,
        metrics: settings.metrics,
    });
    let tenants = customer_tenant::controller(context.clone());
    let apps = app_registration::controller(context.clone());
    let flows = user_flow::controller(context.clone());
    let brandings = branding::controller(context.clone());
    futures::future::join4(
        tenants.for_each(|_| async {}),
        apps.for_each(|_| async {}),
        flows.for_each(|_| async {}),
        brandings.for_each(|_| async {}),
    )
    .await;
}

/// Command-line settings of `ciam-operator controller`.
#[derive(Clone, Debug, clap::Args)]
pub struct ControllerConfig {
    /// Base URL of the embedded runtime's admin API.
    #[arg(
        long,
        env = "CIAM_BACKEND_URL",
        default_value = "http://127.0.0.1:9091"
    )]
    pub backend_url: String,

    /// File holding the admin API bearer token.
    #[arg(long, env = "CIAM_BACKEND_TOKEN_FILE")]
    pub backend_token_file: std::path::PathBuf,

    /// Seconds between drift re-checks of a Ready object.
    #[arg(long, env = "CIAM_RESYNC_SECONDS", default_value_t = 300)]
    pub resync_seconds: u64,

    /// Watch only this namespace (with namespaced RBAC); every namespace when unset.
    #[arg(long, env = "CIAM_WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,

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
        .with_metrics(metrics.clone());
        tracing::info!(backend = %config.backend_url, metrics = %config.metrics_addr, "operator starting");
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
        metrics.ready.store(true, std::sync::atomic::Ordering::Relaxed);
        run(
            client,
            backend,
            Settings {
                resync: Duration::from_secs(config.resync_seconds),
                watch_namespace: config.watch_namespace.clone(),
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
