//! The embedded identity runtime: an OpenID Connect provider, hosted pages and an admin API.
//!
//! One process serves every tenant: OpenID Connect endpoints and hosted pages on the public
//! listener, the declarative admin API on the admin listener.
//!
//! ```text
//!  browsers, apps ──▶ public listener ── http::oidc (discovery, authorize, token, userinfo,
//!                                     │               logout)
//!                                     └─ http::pages (sign-in, sign-up, passcode, reset)
//!  operator ───────▶ admin listener ──── http::admin (tenants, clients, user flows, branding,
//!                                     │                 SMTP, keys)
//!                                     └─ /healthz /readyz /metrics
//!                         both ──▶ domain ──▶ store (SQLite | PostgreSQL), tokens (keyring), crypto
//! ```
//!
//! [`config`] holds the flags, [`state`] the shared [`AppState`] built from them, and
//! [`server`] binds the listeners, mounts the routers and stops on a signal.
//!
//! Every public `POST` body goes through [`http::form`], which bounds its size and parameter count
//! before any handler (or authentication) runs.

pub mod config;
pub mod crypto;
pub mod domain;
pub mod email;
pub mod http;
pub mod i18n;
pub mod metrics;
pub mod server;
pub mod state;
pub mod store;
pub mod tokens;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use config::{LogFormat, RuntimeConfig};
pub use server::serve;
pub use state::{AppState, Tenant, build_state};
use store::StoreError;

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
