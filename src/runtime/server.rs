//! Serves the runtime: binds both listeners, mounts their routers, runs the background purge
//! and stops gracefully on SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::time::Duration;

use super::store::Store;
use super::{LogFormat, RuntimeConfig, RuntimeError, build_state, http};

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second initialisation (tests) is harmless, so its error is ignored.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// Serves both listeners until SIGINT or SIGTERM.
///
/// # Errors
/// A failure to start (see [`build_state`]) or to bind a listener.
pub async fn serve(config: RuntimeConfig) -> Result<(), RuntimeError> {
    init_logging(config.log_format);
    let state = build_state(&config).await?;
    let public_listener = bind("public", config.public_addr).await?;
    let admin_listener = bind("admin", config.admin_addr).await?;
    tracing::info!(
        public = %config.public_addr,
        admin = %config.admin_addr,
        public_url = %state.settings.public_url,
        "identity runtime listening"
    );
    spawn_purge(state.store.clone());
    state
        .store
        .spawn_config_refresh(Duration::from_millis(config.config_refresh_interval_ms));
    let (stop_sender, stop_receiver) = tokio::sync::watch::channel(false);
    let public = axum::serve(
        public_listener,
        http::oidc::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stopped(stop_receiver.clone()));
    let admin = axum::serve(admin_listener, http::admin::router(state.clone()))
        .with_graceful_shutdown(stopped(stop_receiver));
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop_sender.send(true);
    });
    let (public_result, admin_result) = tokio::join!(public, admin);
    public_result.map_err(|source| RuntimeError::Serve {
        listener: "public",
        address: config.public_addr,
        source,
    })?;
    admin_result.map_err(|source| RuntimeError::Serve {
        listener: "admin",
        address: config.admin_addr,
        source,
    })
}

async fn bind(
    listener: &'static str,
    address: SocketAddr,
) -> Result<tokio::net::TcpListener, RuntimeError> {
    tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| RuntimeError::Serve {
            listener,
            address,
            source,
        })
}

/// Deletes expired rows (codes, sessions, passcodes, …) every ten minutes.
fn spawn_purge(store: Store) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_secs(600));
        loop {
            interval.tick().await;
            if let Err(error) = store.purge_expired().await {
                tracing::warn!(error = %error, "failed to purge expired rows");
            }
        }
    });
}

/// Resolves when the stop signal is sent (a listener's graceful shutdown).
async fn stopped(mut stop: tokio::sync::watch::Receiver<bool>) {
    let _ = stop.changed().await;
}
