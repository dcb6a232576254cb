//! Clients (app registrations): `PUT /admin/v1/tenants/{subdomain}/clients/{clientId}`.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::api::app_registration::{AppType, AssertionReuse, ExposedApi};

use super::certificate::{
    CertificateSpec, MAX_CERTIFICATE_PEM_BYTES, MAX_CLIENT_CERTIFICATES, ParsedCertificate,
    parse_certificate,
};

use super::*;

/// At most this many client secrets are active at once (the current one and, during a
/// rotation overlap, the previous one).
pub const MAX_CLIENT_SECRETS: usize = 2;

/// Shortest access-token lifetime the runtime accepts. The CRD narrows this to 5 minutes;
/// the runtime accepts shorter ones so tests can watch a token expire.
pub const MIN_ACCESS_TOKEN_LIFETIME_SECONDS: i64 = 1;

/// Longest access-token lifetime (24 hours).
pub const MAX_ACCESS_TOKEN_LIFETIME_SECONDS: i64 = 24 * 3600;

/// Default access-token lifetime (1 hour).
pub const DEFAULT_ACCESS_TOKEN_LIFETIME_SECONDS: i64 = 3600;

/// An app registration (`PUT /admin/v1/tenants/{subdomain}/clients/{clientId}`), mirroring
/// `AppRegistrationSpec`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientSpec {
    /// Name shown to customers.
    pub display_name: String,

    /// `web`, `spa`, `native` or `daemon`.
    #[serde(rename = "type")]
    pub app_type: AppType,

    /// Exact redirect URIs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_uris: Vec<String>,

    /// Exact post-logout redirect URIs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_logout_redirect_uris: Vec<String>,

    /// The API this app exposes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_api: Option<ExposedApi>,

    /// Scopes of other apps' APIs this app may request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_permissions: Vec<ApiPermissionSpec>,

    /// Access-token lifetime such as `1h` or `90m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_lifetime: Option<String>,

    /// Up to two active client secrets, as hashes (a plain `value` is accepted and hashed
    /// before storage; it is never stored or returned).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_secrets: Vec<ClientSecretSpec>,

    /// Public certificates whose keys may sign `private_key_jwt` client assertions (web and
    /// daemon apps only; at most four, so a new one can be added before an old one goes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<CertificateSpec>,

    /// Whether a client assertion may be presented again until it expires (`Refuse`, the
    /// default, accepts each `jti` once).
    #[serde(default, skip_serializing_if = "AssertionReuse::is_refuse")]
    pub assertion_reuse: AssertionReuse,
}

/// Permission to request scopes of another app's API, by that app's client ID
/// (Graph's `requiredResourceAccess.resourceAppId`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiPermissionSpec {
    /// Client ID of the app exposing the API.
    pub resource_app_id: String,
    /// Scope values of that API this app may request.
    pub scopes: Vec<String>,
}

/// A client secret: its hash and optional expiry.
#[derive(Serialize, Deserialize, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientSecretSpec {
    /// `sha256:` followed by the lowercase hex SHA-256 of the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// The secret itself (at least 32 characters); hashed on arrival, never stored.
    #[serde(default, skip_serializing)]
    pub value: Option<String>,
    /// When the secret stops working (RFC 3339); none means it does not expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<jiff::Timestamp>,
}

impl std::fmt::Debug for ClientSecretSpec {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ClientSecretSpec")
            .field("hash", &self.hash)
            .field("value", &self.value.as_ref().map(|_| "[redacted]"))
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Where a URI may be used as a redirect target.
fn check_redirect_uri(uri: &str, app_type: AppType) -> Result<(), String> {
    if uri.contains('#') || uri.contains('*') {
        return Err("must not contain a fragment (#) or a wildcard (*)".into());
    }
    if uri
        .chars()
        .any(|character| character.is_whitespace() || character.is_control())
    {
        return Err("must not contain whitespace".into());
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return Err("must be an absolute URI".into());
    };
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase())
        && scheme.bytes().all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || matches!(byte, b'+' | b'.' | b'-')
        });
    if !scheme_ok {
        return Err("must start with a lowercase scheme".into());
    }
    match scheme {
        "https" | "http" => {
            let Some(after_slashes) = rest.strip_prefix("//") else {
                return Err("must be an absolute URI with a host".into());
            };
            let authority = after_slashes.split(['/', '?']).next().unwrap_or_default();
            if authority.is_empty() || authority.contains('@') {
                return Err("must have a host and no user information".into());
            }
            let host = if authority.starts_with('[') {
                authority
                    .split(']')
                    .next()
                    .map(|h| format!("{h}]"))
                    .unwrap_or_default()
            } else {
                authority.split(':').next().unwrap_or_default().to_string()
            };
            if scheme == "http" && !matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]") {
                return Err(
                    "must use https (http is allowed only on localhost or 127.0.0.1)".into(),
                );
            }
            Ok(())
        }
        "javascript" | "data" | "file" | "vbscript" => {
            Err(format!("must not use the {scheme} scheme"))
        }
        _ if app_type == AppType::Native => {
            if rest.is_empty() {
                Err("must have a path after the custom scheme".into())
            } else {
                Ok(())
            }
        }
        _ => Err("custom schemes are allowed only for native apps".into()),
    }
}

/// Refuses hidden and bidirectional characters in the app's names: its display name and the
/// display names of the scopes it exposes.
fn check_client_names(errors: &mut Vec<FieldError>, spec: &ClientSpec) {
    check_plain_text(errors, "displayName", &spec.display_name);
    let scopes = spec
        .exposed_api
        .iter()
        .flat_map(|api| api.scopes.iter().flatten());
    for (index, scope) in scopes.enumerate() {
        for (field, name) in [
            ("adminConsentDisplayName", &scope.admin_consent_display_name),
            ("userConsentDisplayName", &scope.user_consent_display_name),
        ] {
            if let Some(name) = name {
                check_plain_text(errors, &format!("exposedApi.scopes[{index}].{field}"), name);
            }
        }
    }
}

/// Checks a client spec; an empty list means it is valid. `value` secrets are checked for
/// length here and hashed by [`normalize_client`].
pub fn validate_client(spec: &ClientSpec) -> Vec<FieldError> {
    let mut errors = Vec::new();
    check_length(&mut errors, "displayName", &spec.display_name, 1, 256);
    check_client_names(&mut errors, spec);
    check_client_redirect_uris(&mut errors, spec);
    check_exposed_api(&mut errors, spec);
    check_api_permissions(&mut errors, spec);
    check_access_token_lifetime(&mut errors, spec);
    check_client_secrets(&mut errors, spec);
    check_client_certificates(&mut errors, spec);
    errors
}

/// Redirect and post-logout redirect URIs: none for daemons, the app type's rules otherwise.
fn check_client_redirect_uris(errors: &mut Vec<FieldError>, spec: &ClientSpec) {
    if spec.app_type == AppType::Daemon {
        if !spec.redirect_uris.is_empty() {
            errors.push(FieldError::new(
                "redirectUris",
                "daemon apps use client credentials only and cannot have redirect URIs",
            ));
        }
        if !spec.post_logout_redirect_uris.is_empty() {
            errors.push(FieldError::new(
                "postLogoutRedirectUris",
                "daemon apps cannot have post-logout redirect URIs",
            ));
        }
    }
    for (field, uris) in [
        ("redirectUris", &spec.redirect_uris),
        ("postLogoutRedirectUris", &spec.post_logout_redirect_uris),
    ] {
        if uris.len() > 100 {
            errors.push(FieldError::new(field, "must have at most 100 entries"));
        }
        for (index, uri) in uris.iter().enumerate() {
            let path = format!("{field}[{index}]");
            if uri.is_empty() || uri.len() > 2048 {
                errors.push(FieldError::new(&path, "must be 1 to 2048 characters long"));
            } else if let Err(reason) = check_redirect_uri(uri, spec.app_type) {
                errors.push(FieldError::new(&path, reason));
            }
            if uris[..index].contains(uri) {
                errors.push(FieldError::new(&path, "duplicates an earlier entry"));
            }
        }
    }
}

fn check_exposed_api(errors: &mut Vec<FieldError>, spec: &ClientSpec) {
    if let Some(api) = &spec.exposed_api {
        if let Some(uri) = &api.identifier_uri
            && (!(uri.starts_with("api://") || uri.starts_with("https://"))
                || uri.ends_with('/')
                || uri.len() < 7
                || uri.len() > 1024)
        {
            errors.push(FieldError::new(
                "exposedApi.identifierUri",
                "must start with api:// or https://, must not end with / and must be at most 1024 characters",
            ));
        }
        for (index, scope) in api.scopes.iter().flatten().enumerate() {
            if !is_scope_value(&scope.value) {
                errors.push(FieldError::new(
                    format!("exposedApi.scopes[{index}].value"),
                    "must be 1 to 120 characters: letters, digits and . _ : - (not first)",
                ));
            }
        }
    }
}

fn check_api_permissions(errors: &mut Vec<FieldError>, spec: &ClientSpec) {
    for (index, permission) in spec.api_permissions.iter().enumerate() {
        if !is_valid_uuid(&permission.resource_app_id) {
            errors.push(FieldError::new(
                format!("apiPermissions[{index}].resourceAppId"),
                "must be the client ID (UUID) of the app exposing the API",
            ));
        }
        if permission.scopes.is_empty() {
            errors.push(FieldError::new(
                format!("apiPermissions[{index}].scopes"),
                "must list at least one scope",
            ));
        }
        for (scope_index, scope) in permission.scopes.iter().enumerate() {
            if !is_scope_value(scope) {
                errors.push(FieldError::new(
                    format!("apiPermissions[{index}].scopes[{scope_index}]"),
                    "must be a scope value such as orders.read",
                ));
            }
        }
    }
}

fn check_access_token_lifetime(errors: &mut Vec<FieldError>, spec: &ClientSpec) {
    if let Some(lifetime) = &spec.access_token_lifetime {
        match parse_duration_seconds(lifetime) {
            Some(seconds)
                if (MIN_ACCESS_TOKEN_LIFETIME_SECONDS..=MAX_ACCESS_TOKEN_LIFETIME_SECONDS)
                    .contains(&seconds) => {}
            Some(_) => errors.push(FieldError::new(
                "accessTokenLifetime",
                "must be between 1s and 24h",
            )),
            None => errors.push(FieldError::new(
                "accessTokenLifetime",
                "must be a duration such as 1h, 90m or 1h30m",
            )),
        }
    }
}

/// Public clients have no secret, confidential ones one or two, each a hash or a value.
fn check_client_secrets(errors: &mut Vec<FieldError>, spec: &ClientSpec) {
    let confidential = spec.app_type.is_confidential();
    if !confidential && !spec.client_secrets.is_empty() {
        errors.push(FieldError::new(
            "clientSecrets",
            "spa and native apps are public clients and cannot have client secrets",
        ));
    }
    if confidential && spec.client_secrets.is_empty() && spec.certificates.is_empty() {
        errors.push(FieldError::new(
            "clientSecrets",
            "web and daemon apps need at least one client secret or certificate",
        ));
    }
    if spec.client_secrets.len() > MAX_CLIENT_SECRETS {
        errors.push(FieldError::new(
            "clientSecrets",
            format!("must have at most {MAX_CLIENT_SECRETS} entries (current and previous)"),
        ));
    }
    for (index, secret) in spec.client_secrets.iter().enumerate() {
        let path = format!("clientSecrets[{index}]");
        match (&secret.hash, &secret.value) {
            (Some(hash), None) if is_client_secret_hash(hash) => {}
            (Some(_), None) => errors.push(FieldError::new(
                format!("{path}.hash"),
                "must be sha256: followed by 64 lowercase hex digits",
            )),
            (None, Some(value)) if value.len() >= 32 && value.len() <= 512 => {}
            (None, Some(_)) => errors.push(FieldError::new(
                format!("{path}.value"),
                "must be 32 to 512 characters (a high-entropy random secret)",
            )),
            _ => errors.push(FieldError::new(
                path,
                "must have exactly one of hash or value",
            )),
        }
    }
}

/// Certificates: confidential clients only, at most [`MAX_CLIENT_CERTIFICATES`], each a PEM
/// certificate within [`MAX_CERTIFICATE_PEM_BYTES`] with an RSA (2048 bits or more) or P-256
/// key. An expired certificate is accepted here and simply never verifies an assertion.
fn check_client_certificates(errors: &mut Vec<FieldError>, spec: &ClientSpec) {
    if !spec.app_type.is_confidential() && !spec.certificates.is_empty() {
        errors.push(FieldError::new(
            "certificates",
            "spa and native apps are public clients and cannot have certificates",
        ));
    }
    if spec.certificates.len() > MAX_CLIENT_CERTIFICATES {
        errors.push(FieldError::new(
            "certificates",
            format!("must have at most {MAX_CLIENT_CERTIFICATES} entries"),
        ));
    }
    for (index, certificate) in spec.certificates.iter().enumerate() {
        if let Err(error) = parse_certificate(&certificate.pem) {
            errors.push(FieldError::new(
                format!("certificates[{index}].pem"),
                format!("the certificate {error}"),
            ));
        }
        if spec.certificates[..index].contains(certificate) {
            errors.push(FieldError::new(
                format!("certificates[{index}]"),
                "duplicates an earlier entry",
            ));
        }
    }
}

fn is_scope_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    (1..=120).contains(&bytes.len())
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b':' | b'-'))
}

/// Replaces plain secret values by their hashes, so only hashes are stored and returned.
pub fn normalize_client(mut spec: ClientSpec) -> ClientSpec {
    for secret in &mut spec.client_secrets {
        if let Some(value) = secret.value.take() {
            secret.hash = Some(client_secret_hash(&value));
        }
    }
    spec
}

impl ClientSpec {
    /// Access-token lifetime in seconds, defaulting to one hour.
    pub fn access_token_lifetime_seconds(&self) -> i64 {
        self.access_token_lifetime
            .as_deref()
            .and_then(parse_duration_seconds)
            .unwrap_or(DEFAULT_ACCESS_TOKEN_LIFETIME_SECONDS)
    }

    /// Identifier URI of the exposed API, if set.
    pub fn identifier_uri(&self) -> Option<&str> {
        self.exposed_api
            .as_ref()
            .and_then(|api| api.identifier_uri.as_deref())
    }

    /// Scope values this app's API exposes.
    pub fn exposed_scopes(&self) -> impl Iterator<Item = &str> {
        self.exposed_api
            .iter()
            .flat_map(|api| api.scopes.iter().flatten())
            .map(|scope| scope.value.as_str())
    }

    /// Whether `uri` is one of the registered redirect URIs (exact, case-sensitive string
    /// comparison: no normalisation, no trailing-slash leniency, no wildcards).
    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|registered| registered == uri)
    }

    /// Whether `uri` is one of the registered post-logout redirect URIs (exact match).
    pub fn has_post_logout_redirect_uri(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris
            .iter()
            .any(|registered| registered == uri)
    }

    /// The client's certificates that parse (a stored client's always do: they were
    /// validated when it was written).
    pub fn parsed_certificates(&self) -> Vec<ParsedCertificate> {
        self.certificates
            .iter()
            .filter(|certificate| certificate.pem.len() <= MAX_CERTIFICATE_PEM_BYTES)
            .filter_map(|certificate| parse_certificate(&certificate.pem).ok())
            .collect()
    }

    /// Whether a presented client secret matches an active (unexpired) secret hash.
    pub fn secret_matches(&self, presented: &str, now: jiff::Timestamp) -> bool {
        // Check every secret, so timing does not reveal which one matched.
        self.client_secrets.iter().fold(false, |matched, secret| {
            let active = secret.expires_at.is_none_or(|expiry| expiry > now);
            let equal = secret
                .hash
                .as_deref()
                .is_some_and(|hash| client_secret_matches(presented, hash));
            matched | (active & equal)
        })
    }
}

/// Prefix of a client secret hash as the admin API carries it.
pub const SECRET_HASH_PREFIX: &str = "sha256:";

/// The stored form of a client secret: `sha256:` followed by the lowercase hex SHA-256 of
/// the secret. A fast hash suffices because client secrets are 256-bit random values, not
/// passwords; it also lets the operator compute the hash itself and never send the secret.
pub fn client_secret_hash(secret: &str) -> String {
    format!(
        "{SECRET_HASH_PREFIX}{}",
        Sha256::digest(secret.as_bytes())
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect::<String>()
    )
}

/// Whether `hash` is a well-formed client secret hash.
pub fn is_client_secret_hash(hash: &str) -> bool {
    hash.strip_prefix(SECRET_HASH_PREFIX).is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
    })
}

/// Compares a presented client secret with a stored hash in constant time.
pub fn client_secret_matches(presented: &str, stored_hash: &str) -> bool {
    let computed = client_secret_hash(presented);
    computed.len() == stored_hash.len()
        && bool::from(computed.as_bytes().ct_eq(stored_hash.as_bytes()))
}
