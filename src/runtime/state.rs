//! The state every request handler shares ([`AppState`]) and how it is built from the flags
//! and the mounted secrets.

use std::path::PathBuf;
use std::sync::Arc;

use super::crypto::{self, KeyEncryptionKey, SigningAlgorithm};
use super::http::pages;
use super::store::{Store, StoreError};
use super::tokens::Keyring;
use super::{RuntimeConfig, RuntimeError, config, metrics};
use crate::contract::TenantSpec;

/// A tenant as request handlers need it.
#[derive(Clone, Debug)]
pub struct Tenant {
    /// Tenant ID (UUID), the `tid` claim.
    pub id: String,
    /// Subdomain (URL path segment).
    pub subdomain: String,
    /// The stored spec, parsed once and shared with the configuration held in memory.
    pub spec: Arc<TenantSpec>,
}

/// Everything handlers share, grouped by what it is: the database, the keys, the settings
/// from the flags, the page templates and the metrics.
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Signing keys and the server's own secrets.
    pub keys: ServerKeys,
    /// What the flags set.
    pub settings: Settings,
    /// Hosted page templates.
    pub templates: pages::Templates,
    /// Metrics.
    pub metrics: Arc<metrics::Metrics>,
}

/// The runtime's keys: tenants' signing keys and the secrets derived from the key-encryption
/// key. Never logged (no `Debug`).
pub struct ServerKeys {
    /// Signing keys.
    pub keyring: Keyring,
    /// The key-encryption key (seals signing keys and SMTP passwords).
    pub kek: Arc<KeyEncryptionKey>,
    /// Key of CSRF tokens, derived from the key-encryption key.
    pub csrf_key: [u8; 32],
    /// Key of passcode digests, derived from the key-encryption key.
    pub passcode_key: [u8; 32],
    /// Digest of the admin token (the token itself is not kept).
    admin_token_digest: [u8; 32],
}

/// Settings from the flags, checked at start-up.
#[derive(Clone, Debug)]
pub struct Settings {
    /// External base URL without a trailing slash.
    pub public_url: String,
    /// Path part of the public URL (empty, or for example `/identity`), which cookie paths
    /// must include when an ingress serves the runtime under a prefix.
    pub public_path: String,
    /// Whether cookies carry `Secure` (the public URL is https).
    pub secure_cookies: bool,
    /// Algorithm of new signing keys unless a tenant says otherwise.
    pub default_signing_algorithm: SigningAlgorithm,
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
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Whether `presented` is the admin token (constant-time comparison of digests).
    pub fn admin_token_matches(&self, presented: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(crypto::sha256(presented).ct_eq(&self.keys.admin_token_digest))
    }

    /// Authority URL of a tenant: `{publicUrl}/{subdomain}/`.
    pub fn authority(&self, subdomain: &str) -> String {
        format!("{}/{subdomain}/", self.settings.public_url)
    }

    /// External path of a tenant's pages and endpoints, with a trailing slash (cookie path).
    pub fn tenant_path(&self, subdomain: &str) -> String {
        format!("{}/{subdomain}/", self.settings.public_path)
    }

    /// Issuer of a tenant: `{publicUrl}/{subdomain}/v2.0`.
    pub fn issuer(&self, subdomain: &str) -> String {
        format!("{}/{subdomain}/v2.0", self.settings.public_url)
    }

    /// Loads a tenant by subdomain.
    ///
    /// # Errors
    /// Storage failure or a stored spec that no longer parses.
    pub async fn tenant(&self, subdomain: &str) -> Result<Option<Tenant>, StoreError> {
        Ok(self
            .store
            .tenant_config(subdomain)
            .await?
            .map(|tenant| Tenant {
                id: tenant.document.tenant_id.clone(),
                subdomain: tenant.document.key.clone(),
                spec: tenant.spec.clone(),
            }))
    }
}

/// Builds the shared state: reads the mounted secrets, opens and migrates the database.
///
/// # Errors
/// Unreadable or weak secrets, a bad public URL or an unreachable database.
pub async fn build_state(config: &RuntimeConfig) -> Result<Arc<AppState>, RuntimeError> {
    let public_url = config::normalize_public_url(&config.public_url)?;
    let default_signing_algorithm = config::parse_signing_algorithm(&config.signing_algorithm)?;
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
        keys: ServerKeys {
            keyring,
            kek,
            csrf_key,
            passcode_key,
            admin_token_digest: crypto::sha256(admin_token.as_bytes()),
        },
        settings: Settings {
            secure_cookies: public_url.starts_with("https://"),
            public_path: config::url_path(&public_url),
            public_url,
            default_signing_algorithm,
            passcode_lifetime_seconds: config.passcode_lifetime_seconds,
            authorization_code_lifetime_seconds: config.authorization_code_lifetime_seconds,
            passcode_resend_seconds: config.passcode_resend_seconds,
            ip_lockout: config.ip_lockout,
        },
        templates: pages::Templates::new(),
        metrics: Arc::new(metrics::Metrics::new()),
    }))
}

fn read_secret_file(what: &'static str, path: &PathBuf) -> Result<Vec<u8>, RuntimeError> {
    std::fs::read(path).map_err(|source| RuntimeError::ReadFile {
        what,
        path: path.clone(),
        source,
    })
}
