//! The embedded identity runtime: an OpenID Connect provider, hosted pages and an admin API.
//!
//! One process serves every tenant: OpenID Connect endpoints and hosted pages on the public
//! listener, the declarative admin API on the admin listener.
//!
//! ```text
//!  browsers, apps ──▶ public listener ── oidc (discovery, authorize, token, userinfo, logout)
//!                                     └─ pages (sign-in, sign-up)
//!  operator ───────▶ admin listener ──── admin (tenants, clients, user flows, branding, keys)
//!                                     └─ /healthz /readyz /metrics
//!                         both ──▶ store (SQLite | PostgreSQL), tokens (keyring), crypto
//! ```
//!
//! Every public `POST` body goes through [`form`], which bounds its size and parameter count
//! before any handler (or authentication) runs.

pub mod admin;
pub mod branding;
pub mod crypto;
pub mod domain;
pub mod email;
pub mod flows;
pub mod form;
pub mod http;
pub mod i18n;
pub mod metrics;
pub mod oidc;
pub mod pages;
pub mod store;
pub mod token_endpoint;
pub mod tokens;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::contract::TenantSpec;
use crypto::{KeyEncryptionKey, SigningAlgorithm};
use store::{Store, StoreError};
use tokens::Keyring;

/// Errors that stop the runtime from starting or serving.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A mounted secret file could not be read.
    #[error("failed to read {what} from {path}: {source}")]
    ReadFile {
        /// Which file.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The admin token file is empty or too short.
    #[error("the admin token in {0} must be at least 16 characters")]
    WeakAdminToken(PathBuf),
    /// The key-encryption key is unusable.
    #[error("invalid key-encryption key in {path}: {source}")]
    KeyEncryptionKey {
        /// Its path.
        path: PathBuf,
        /// Why.
        source: crypto::CryptoError,
    },
    /// The key-encryption key does not open the signing keys already in the database.
    #[error(
        "failed to open the signing keys stored in the database with the key-encryption key in {path} (was the key file replaced?): {source}"
    )]
    SealedKeys {
        /// Path of the key-encryption key file.
        path: PathBuf,
        /// Which key did not open, or the storage failure.
        source: tokens::TokenError,
    },
    /// The public URL is not an http(s) URL.
    #[error("--public-url must be an http:// or https:// URL without query or fragment, got {0}")]
    PublicUrl(String),
    /// The signing algorithm is unknown.
    #[error("--signing-algorithm must be ES256 or RS256, got {0}")]
    SigningAlgorithm(String),
    /// The database could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A listener could not bind or serve.
    #[error("failed to serve the {listener} listener on {address}: {source}")]
    Serve {
        /// `public` or `admin`.
        listener: &'static str,
        /// The address.
        address: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The async runtime could not start.
    #[error("failed to start the async runtime: {0}")]
    AsyncRuntime(#[source] std::io::Error),
}

/// Log line format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Settings of `ciam-operator runtime`; every flag can also come from the environment.
#[derive(Clone, Debug, clap::Args)]
pub struct RuntimeConfig {
    /// Address of the public listener (OpenID Connect endpoints and hosted pages).
    #[arg(long, env = "CIAM_PUBLIC_ADDR", default_value = "127.0.0.1:8080")]
    pub public_addr: SocketAddr,

    /// Address of the admin listener (admin API, health and metrics); never expose it publicly.
    #[arg(long, env = "CIAM_ADMIN_ADDR", default_value = "127.0.0.1:8081")]
    pub admin_addr: SocketAddr,

    /// External base URL of the public listener; tenant authorities are `{url}/{subdomain}/`.
    #[arg(long, env = "CIAM_PUBLIC_URL")]
    pub public_url: String,

    /// File holding the bearer token the admin API requires (at least 16 characters).
    #[arg(long, env = "CIAM_ADMIN_TOKEN_FILE", value_name = "FILE")]
    pub admin_token_file: PathBuf,

    /// File holding the 32-byte key that encrypts signing keys at rest (raw, hex or base64).
    #[arg(long, env = "CIAM_KEY_ENCRYPTION_KEY_FILE", value_name = "FILE")]
    pub key_encryption_key_file: PathBuf,

    /// Database: `sqlite:///path/runtime.db` (created if missing) or `postgres://…`.
    #[arg(long, env = "CIAM_DATABASE", value_name = "URL")]
    pub database: String,

    /// Lifetime of email one-time passcodes, in seconds.
    #[arg(long, env = "CIAM_PASSCODE_LIFETIME_SECONDS", default_value_t = 600, value_parser = clap::value_parser!(i64).range(5..=3600))]
    pub passcode_lifetime_seconds: i64,

    /// Lifetime of authorization codes, in seconds: a code is redeemed right after the
    /// redirect, so a minute is plenty (RFC 6749 recommends at most ten).
    #[arg(long, env = "CIAM_AUTHORIZATION_CODE_LIFETIME_SECONDS", default_value_t = oidc::CODE_LIFETIME_SECONDS, value_parser = clap::value_parser!(i64).range(1..=600))]
    pub authorization_code_lifetime_seconds: i64,

    /// Seconds before another passcode may be sent for the same challenge (resend cool-down).
    #[arg(long, env = "CIAM_PASSCODE_RESEND_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(i64).range(0..=600))]
    pub passcode_resend_seconds: i64,

    /// Also lock out client IP addresses after ten times the tenant's lockout threshold of
    /// failures. Only useful when the listener sees the real client address (not behind a
    /// proxy, where every customer would share the proxy's address).
    #[arg(long, env = "CIAM_IP_LOCKOUT", default_value_t = false)]
    pub ip_lockout: bool,

    /// Algorithm of new tenants' signing keys unless the tenant says otherwise: ES256 or RS256.
    #[arg(long, env = "CIAM_SIGNING_ALGORITHM", default_value = "ES256")]
    pub signing_algorithm: String,

    /// Log format.
    #[arg(long, env = "CIAM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// A tenant as request handlers need it.
#[derive(Clone, Debug)]
pub struct Tenant {
    /// Tenant ID (UUID), the `tid` claim.
    pub id: String,
    /// Subdomain (URL path segment).
    pub subdomain: String,
    /// The stored spec.
    pub spec: TenantSpec,
}

/// Everything handlers share.
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Signing keys.
    pub keyring: Keyring,
    /// Metrics.
    pub metrics: Arc<metrics::Metrics>,
    /// External base URL without a trailing slash.
    pub public_url: String,
    /// Path part of the public URL (empty, or for example `/identity`), which cookie paths
    /// must include when an ingress serves the runtime under a prefix.
    pub public_path: String,
    /// Digest of the admin token (the token itself is not kept).
    admin_token_digest: [u8; 32],
    /// Key of CSRF tokens, derived from the key-encryption key.
    pub csrf_key: [u8; 32],
    /// Whether cookies carry `Secure` (the public URL is https).
    pub secure_cookies: bool,
    /// Algorithm of new signing keys unless a tenant says otherwise.
    pub default_signing_algorithm: SigningAlgorithm,
    /// Hosted page templates.
    pub pages: pages::Templates,
    /// The key-encryption key (seals SMTP passwords).
    pub kek: Arc<KeyEncryptionKey>,
    /// Key of passcode digests, derived from the key-encryption key.
    pub passcode_key: [u8; 32],
    /// Passcode lifetime in seconds.
    pub passcode_lifetime_seconds: i64,
    /// Authorization code lifetime in seconds.
    pub authorization_code_lifetime_seconds: i64,
    /// Resend cool-down in seconds.
    pub passcode_resend_seconds: i64,
    /// Whether failures also count per client IP address.
    pub ip_lockout: bool,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("AppState")
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Whether `presented` is the admin token (constant-time comparison of digests).
    pub fn admin_token_matches(&self, presented: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(crypto::sha256(presented).ct_eq(&self.admin_token_digest))
    }

    /// Authority URL of a tenant: `{publicUrl}/{subdomain}/`.
    pub fn authority(&self, subdomain: &str) -> String {
        format!("{}/{subdomain}/", self.public_url)
    }

    /// External path of a tenant's pages and endpoints, with a trailing slash (cookie path).
    pub fn tenant_path(&self, subdomain: &str) -> String {
        format!("{}/{subdomain}/", self.public_path)
    }

    /// Issuer of a tenant: `{publicUrl}/{subdomain}/v2.0`.
    pub fn issuer(&self, subdomain: &str) -> String {
        format!("{}/{subdomain}/v2.0", self.public_url)
    }

    /// Loads a tenant by subdomain.
    ///
    /// # Errors
    /// Storage failure or a stored spec that no longer parses.
    pub async fn tenant(&self, subdomain: &str) -> Result<Option<Tenant>, StoreError> {
        let Some(document) = self.store.tenant(subdomain).await? else {
            return Ok(None);
        };
        let spec = serde_json::from_str(&document.spec).map_err(|error| StoreError::Corrupt {
            what: "tenant",
            reason: error.to_string(),
        })?;
        Ok(Some(Tenant {
            id: document.tenant_id,
            subdomain: document.key,
            spec,
        }))
    }
}

fn read_secret_file(what: &'static str, path: &PathBuf) -> Result<Vec<u8>, RuntimeError> {
    std::fs::read(path).map_err(|source| RuntimeError::ReadFile {
        what,
        path: path.clone(),
        source,
    })
}

fn normalize_public_url(url: &str) -> Result<String, RuntimeError> {
    let trimmed = url.trim_end_matches('/');
    let valid = (trimmed.starts_with("http://") || trimmed.starts_with("https://"))
        && !trimmed.contains(['?', '#'])
        && trimmed.len() > "https://".len();
    if valid {
        Ok(trimmed.to_string())
    } else {
        Err(RuntimeError::PublicUrl(url.to_string()))
    }
}

/// The path of an absolute URL without query (`https://host/a/b` → `/a/b`, `https://host` → ``).
fn url_path(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    after_scheme
        .find('/')
        .map(|index| after_scheme[index..].trim_end_matches('/').to_string())
        .unwrap_or_default()
}

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

/// Builds the shared state: reads the mounted secrets, opens and migrates the database.
///
/// # Errors
/// Unreadable or weak secrets, a bad public URL or an unreachable database.
pub async fn build_state(config: &RuntimeConfig) -> Result<Arc<AppState>, RuntimeError> {
    let public_url = normalize_public_url(&config.public_url)?;
    let default_signing_algorithm = SigningAlgorithm::parse(&config.signing_algorithm)
        .ok_or_else(|| RuntimeError::SigningAlgorithm(config.signing_algorithm.clone()))?;
    let admin_token = read_secret_file("the admin token", &config.admin_token_file)?;
    let admin_token = String::from_utf8_lossy(&admin_token).trim().to_string();
    if admin_token.len() < 16 {
        return Err(RuntimeError::WeakAdminToken(
            config.admin_token_file.clone(),
        ));
    }
    let kek_bytes = read_secret_file("the key-encryption key", &config.key_encryption_key_file)?;
    let kek = KeyEncryptionKey::from_file_contents(&kek_bytes).map_err(|source| {
        RuntimeError::KeyEncryptionKey {
            path: config.key_encryption_key_file.clone(),
            source,
        }
    })?;
    let store = Store::connect(&config.database).await?;
    let csrf_key = kek.derive("ciam-runtime/csrf/v1");
    let passcode_key = kek.derive("ciam-runtime/passcode/v1");
    let kek = Arc::new(kek);
    let keyring = Keyring::new(kek.clone());
    let checked =
        keyring
            .check_sealed_keys(&store)
            .await
            .map_err(|source| RuntimeError::SealedKeys {
                path: config.key_encryption_key_file.clone(),
                source,
            })?;
    tracing::debug!(
        keys = checked,
        "stored signing keys open with the key-encryption key"
    );
    Ok(Arc::new(AppState {
        store,
        keyring,
        kek,
        authorization_code_lifetime_seconds: config.authorization_code_lifetime_seconds,
        passcode_key,
        passcode_lifetime_seconds: config.passcode_lifetime_seconds,
        passcode_resend_seconds: config.passcode_resend_seconds,
        ip_lockout: config.ip_lockout,
        metrics: Arc::new(metrics::Metrics::new()),
        secure_cookies: public_url.starts_with("https://"),
        public_path: url_path(&public_url),
        public_url,
        admin_token_digest: crypto::sha256(admin_token.as_bytes()),
        csrf_key,
        default_signing_algorithm,
        pages: pages::Templates::new(),
    }))
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
    let public_listener = tokio::net::TcpListener::bind(config.public_addr)
        .await
        .map_err(|source| RuntimeError::Serve {
            listener: "public",
            address: config.public_addr,
            source,
        })?;
    let admin_listener = tokio::net::TcpListener::bind(config.admin_addr)
        .await
        .map_err(|source| RuntimeError::Serve {
            listener: "admin",
            address: config.admin_addr,
            source,
        })?;
    tracing::info!(
        public = %config.public_addr,
        admin = %config.admin_addr,
        public_url = %state.public_url,
        "identity runtime listening"
    );
    let purge_store = state.store.clone();
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_secs(600));
        loop {
            interval.tick().await;
            if let Err(error) = purge_store.purge_expired().await {
                tracing::warn!(error = %error, "failed to purge expired rows");
            }
        }
    });
    let (stop_sender, stop_receiver) = tokio::sync::watch::channel(false);
    let public = axum::serve(
        public_listener,
        oidc::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown({
        let mut stop = stop_receiver.clone();
        async move {
            let _ = stop.changed().await;
        }
    });
    let admin = axum::serve(admin_listener, admin::router(state.clone())).with_graceful_shutdown({
        let mut stop = stop_receiver;
        async move {
            let _ = stop.changed().await;
        }
    });
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

/// Starts a multi-threaded async runtime and serves until a shutdown signal.
///
/// # Errors
/// See [`serve`].
pub fn run(config: RuntimeConfig) -> Result<(), RuntimeError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(RuntimeError::AsyncRuntime)?
        .block_on(serve(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_are_normalized_and_their_path_kept() {
        assert_eq!(
            normalize_public_url("https://id.example.com/")
                .ok()
                .as_deref(),
            Some("https://id.example.com")
        );
        assert!(normalize_public_url("id.example.com").is_err());
        assert!(normalize_public_url("https://id.example.com/?x").is_err());
        assert_eq!(url_path("https://id.example.com"), "");
        assert_eq!(url_path("https://id.example.com/identity"), "/identity");
    }
}
