//! Process start-up of the operator: logging, the backend client, the health and metrics
//! listener, leader election, then every controller until the process stops.

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use kube::runtime::events::{Recorder, Reporter};

use super::config::ControllerConfig;
use super::context::{Context, Scope};
use super::{
    FIELD_MANAGER, app_registration, branding, customer_tenant, leader, metrics, user_flow,
};
use crate::backend::Backend;

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
    init_logging(config.log_json);
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
    runtime.block_on(operate(config, token))
}

/// Logs as text or JSON lines, `info` unless `RUST_LOG` says otherwise.
fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn"));
    let _ = if json {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .try_init()
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).try_init()
    };
}

/// Serves health and metrics, connects to Kubernetes and the backend, waits for leadership
/// when elected, then runs every controller.
async fn operate(config: ControllerConfig, token: String) -> Result<(), StartError> {
    let metrics = Arc::new(metrics::Metrics::default());
    serve_health(config.metrics_addr, metrics.clone()).await?;
    let client = Client::try_default().await?;
    let backend = crate::backend::embedded::EmbeddedBackend::new(
        &config.backend_url,
        token,
        Duration::from_secs(config.backend_timeout_seconds),
    )?
    .with_observer(metrics.clone());
    tracing::info!(backend = %config.backend_url, metrics = %config.metrics_addr, "operator starting");
    metrics
        .ready
        .store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(namespace) = &config.leader_election_namespace {
        let identity = config.identity.clone().unwrap_or_else(|| {
            format!(
                "ciam-operator-{}-{}",
                std::process::id(),
                uuid::Uuid::new_v4()
            )
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
    let settings = Settings {
        resync: Duration::from_secs(config.resync_seconds),
        scope: Scope::from_namespaces(&config.watch_namespace),
        metrics,
    };
    run(client, backend, settings).await;
    Ok(())
}

/// Binds the `/healthz`, `/readyz` and `/metrics` listener and serves it in the background.
async fn serve_health(
    address: std::net::SocketAddr,
    metrics: Arc<metrics::Metrics>,
) -> Result<(), StartError> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| StartError::Listen { address, source })?;
    let router = metrics::router(metrics);
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(error = %error, "the health and metrics listener stopped");
        }
    });
    Ok(())
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
