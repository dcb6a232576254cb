//! Settings of `ciam-operator runtime`: the command-line flags and how they are checked.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::RuntimeError;
use super::crypto::SigningAlgorithm;

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
    #[arg(long, env = "CIAM_AUTHORIZATION_CODE_LIFETIME_SECONDS", default_value_t = super::domain::authorize::CODE_LIFETIME_SECONDS, value_parser = clap::value_parser!(i64).range(1..=600))]
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

    /// How often, in milliseconds, the configuration held in memory (tenants, clients, user
    /// flows, branding, SMTP settings, signing keys) is checked against the database's
    /// configuration version. A write through another replica is visible within this
    /// interval plus one query; writes through this process are visible at once.
    #[arg(long, env = "CIAM_CONFIG_REFRESH_INTERVAL_MS", default_value_t = 250, value_parser = clap::value_parser!(u64).range(10..=1000))]
    pub config_refresh_interval_ms: u64,

    /// Log format.
    #[arg(long, env = "CIAM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// The algorithm named by `--signing-algorithm`.
pub(super) fn parse_signing_algorithm(name: &str) -> Result<SigningAlgorithm, RuntimeError> {
    SigningAlgorithm::parse(name).ok_or_else(|| RuntimeError::SigningAlgorithm(name.to_string()))
}

/// The public URL without trailing slashes, refused unless it is an http(s) URL without query
/// or fragment.
pub(super) fn normalize_public_url(url: &str) -> Result<String, RuntimeError> {
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
pub(super) fn url_path(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    after_scheme
        .find('/')
        .map(|index| after_scheme[index..].trim_end_matches('/').to_string())
        .unwrap_or_default()
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
