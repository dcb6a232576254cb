//! Tenants and their SMTP settings: `PUT /admin/v1/tenants/{subdomain}` and `…/smtp`.

use serde::{Deserialize, Serialize};

use crate::api::customer_tenant::{CustomAttribute, IdentityProviderType, Lockout, PasswordPolicy};

use super::*;

/// A customer tenant (`PUT /admin/v1/tenants/{subdomain}`), mirroring `CustomerTenantSpec`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantSpec {
    /// Optional on create: the tenant ID (UUID) to use instead of a generated one. Immutable;
    /// not part of the stored spec (it is returned as `tenantId` beside it).
    #[serde(default, skip_serializing)]
    pub tenant_id: Option<String>,

    /// Optional: must equal the subdomain in the path when given.
    #[serde(default, skip_serializing)]
    pub subdomain: Option<String>,

    /// Human-readable name of the tenant.
    pub display_name: String,

    /// ISO 3166-1 alpha-2 country code of the data location.
    pub country_code: String,

    /// Language of hosted pages when the browser asks for none that is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_locale: Option<String>,

    /// Languages the hosted pages offer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supported_locales: Option<Vec<String>>,

    /// Tenant-wide custom user attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_attributes: Option<Vec<CustomAttribute>>,

    /// External identity providers (their client secrets arrive in a later API version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_providers: Option<Vec<IdentityProviderSpec>>,

    /// Sender of one-time passcodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailSpec>,

    /// Password rules of local accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_policy: Option<PasswordPolicy>,

    /// Lockout after failed sign-in attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lockout: Option<Lockout>,

    /// Algorithm of signing keys generated from now on (`ES256` by default, or `RS256`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_algorithm: Option<SigningAlgorithm>,
}

/// An external identity provider of a tenant, as the runtime receives it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentityProviderSpec {
    /// Name user flows use in `signIn.methods`.
    pub name: String,
    /// `google`, `facebook` or `oidc`.
    #[serde(rename = "type")]
    pub provider_type: IdentityProviderType,
    /// Label of the sign-in button.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// OAuth client ID registered with the provider.
    pub client_id: String,
    /// Issuer of a generic OpenID Connect provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Scopes requested from the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
}

/// Email sender settings of a tenant.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailSpec {
    /// Sender address.
    pub from_address: String,
    /// Sender name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_name: Option<String>,
}

/// How the runtime connects to the tenant's SMTP server.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain SMTP (only for a relay on the same host or network).
    None,
    /// Plain connection upgraded with `STARTTLS` (port 587); required, not opportunistic.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// A tenant's SMTP connection (`PUT /admin/v1/tenants/{subdomain}/smtp`), from the
/// CustomerTenant's `email.smtpSecretRef` Secret. The password is write-only: it is stored
/// sealed with the key-encryption key and returned as `passwordHash` (`sha256:` + hex), which
/// a later `PUT` may send instead of the password to keep it.
#[derive(Serialize, Deserialize, Clone, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SmtpSpec {
    /// Server host name or IP address.
    pub host: String,
    /// Server port (587 for STARTTLS, 465 for TLS, 25 for plain).
    pub port: u16,
    /// Transport security (`starttls` by default).
    #[serde(default)]
    pub tls: SmtpTls,
    /// User name for SMTP authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password for SMTP authentication; accepted, never returned.
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
    /// `sha256:` + hex SHA-256 of the stored password (returned; may be sent back to keep it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
}

impl std::fmt::Debug for SmtpSpec {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SmtpSpec")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

/// SMTP settings as stored: the spec (without the password) and the sealed password.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StoredSmtp {
    /// The spec as returned by `GET`.
    pub spec: SmtpSpec,
    /// The password sealed with AES-256-GCM under the key-encryption key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_password: Option<String>,
}

/// Checks an SMTP spec; an empty list means it is valid.
pub fn validate_smtp(spec: &SmtpSpec) -> Vec<FieldError> {
    let mut errors = Vec::new();
    check_length(&mut errors, "host", &spec.host, 1, 253);
    if spec.host.chars().any(|c| c.is_whitespace() || c == '/') {
        errors.push(FieldError::new("host", "must be a host name or IP address"));
    }
    if spec.port == 0 {
        errors.push(FieldError::new("port", "must be 1 to 65535"));
    }
    if let Some(username) = &spec.username {
        check_length(&mut errors, "username", username, 1, 256);
    }
    if let Some(password) = &spec.password {
        check_length(&mut errors, "password", password, 1, 1024);
        if spec.password_hash.is_some() {
            errors.push(FieldError::new(
                "passwordHash",
                "send either password or passwordHash, not both",
            ));
        }
    }
    if let Some(hash) = &spec.password_hash
        && !super::client::is_client_secret_hash(hash)
    {
        errors.push(FieldError::new(
            "passwordHash",
            "must be sha256: followed by 64 lowercase hex digits",
        ));
    }
    if spec.username.is_none() && (spec.password.is_some() || spec.password_hash.is_some()) {
        errors.push(FieldError::new(
            "username",
            "is required when a password is given",
        ));
    }
    errors
}

/// Refuses hidden and bidirectional characters in the tenant's names shown to customers: its
/// display name, its identity providers' button labels and its email sender name.
fn check_tenant_names(errors: &mut Vec<FieldError>, spec: &TenantSpec) {
    check_plain_text(errors, "displayName", &spec.display_name);
    for (index, provider) in spec.identity_providers.iter().flatten().enumerate() {
        if let Some(name) = &provider.display_name {
            check_plain_text(
                errors,
                &format!("identityProviders[{index}].displayName"),
                name,
            );
        }
    }
    if let Some(from_name) = spec
        .email
        .as_ref()
        .and_then(|email| email.from_name.as_ref())
    {
        check_plain_text(errors, "email.fromName", from_name);
    }
}

/// Checks a tenant spec; an empty list means it is valid.
pub fn validate_tenant(spec: &TenantSpec, subdomain: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(given) = &spec.subdomain
        && given != subdomain
    {
        errors.push(FieldError::new(
            "subdomain",
            format!("must equal the subdomain in the path ({subdomain})"),
        ));
    }
    if let Some(tenant_id) = &spec.tenant_id
        && !is_valid_uuid(tenant_id)
    {
        errors.push(FieldError::new("tenantId", "must be a UUID"));
    }
    check_length(&mut errors, "displayName", &spec.display_name, 1, 256);
    check_tenant_names(&mut errors, spec);
    if spec.country_code.len() != 2 || !spec.country_code.bytes().all(|b| b.is_ascii_uppercase()) {
        errors.push(FieldError::new(
            "countryCode",
            "must be an ISO 3166-1 alpha-2 code such as US or DE",
        ));
    }
    check_tenant_locales(&mut errors, spec);
    check_tenant_policies(&mut errors, spec);
    errors
}

fn check_tenant_locales(errors: &mut Vec<FieldError>, spec: &TenantSpec) {
    if let Some(locale) = &spec.default_locale
        && !is_bcp47(locale)
    {
        errors.push(FieldError::new(
            "defaultLocale",
            "must be a BCP 47 language tag",
        ));
    }
    if let Some(locales) = &spec.supported_locales {
        for (index, locale) in locales.iter().enumerate() {
            if !is_bcp47(locale) {
                errors.push(FieldError::new(
                    format!("supportedLocales[{index}]"),
                    "must be a BCP 47 language tag",
                ));
            }
        }
        if let Some(default) = &spec.default_locale
            && !locales.contains(default)
        {
            errors.push(FieldError::new(
                "defaultLocale",
                "must be one of supportedLocales",
            ));
        }
    }
}

/// The password policy and the lockout, within the ranges the CRD allows.
fn check_tenant_policies(errors: &mut Vec<FieldError>, spec: &TenantSpec) {
    if let Some(policy) = &spec.password_policy {
        if !(8..=256).contains(&policy.min_length) {
            errors.push(FieldError::new(
                "passwordPolicy.minLength",
                "must be 8 to 256",
            ));
        }
        if !(1..=4).contains(&policy.required_character_classes) {
            errors.push(FieldError::new(
                "passwordPolicy.requiredCharacterClasses",
                "must be 1 to 4",
            ));
        }
    }
    if let Some(lockout) = &spec.lockout {
        if !(1..=100).contains(&lockout.threshold) {
            errors.push(FieldError::new("lockout.threshold", "must be 1 to 100"));
        }
        if !(5..=86_400).contains(&lockout.duration_seconds) {
            errors.push(FieldError::new(
                "lockout.durationSeconds",
                "must be 5 to 86400",
            ));
        }
    }
}

/// Parses a duration such as `1h`, `90m` or `1h30m15s` into seconds.
pub fn parse_duration_seconds(text: &str) -> Option<i64> {
    if text.is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    let mut digits = String::new();
    for character in text.chars() {
        if character.is_ascii_digit() {
            digits.push(character);
            continue;
        }
        let unit = match character {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        let amount: i64 = digits.parse().ok()?;
        digits.clear();
        total = total.checked_add(amount.checked_mul(unit)?)?;
    }
    digits.is_empty().then_some(total)
}

/// JWS algorithm of a tenant's signing keys.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SigningAlgorithm {
    /// ECDSA with P-256 and SHA-256 (the default: small keys, fast signing).
    #[default]
    #[serde(rename = "ES256")]
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 and a 2048-bit key, for relying parties without ECDSA.
    #[serde(rename = "RS256")]
    Rs256,
}

impl SigningAlgorithm {
    /// The JWS `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::Es256 => "ES256",
            SigningAlgorithm::Rs256 => "RS256",
        }
    }

    /// Parses a JWS `alg` name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "ES256" => Some(SigningAlgorithm::Es256),
            "RS256" => Some(SigningAlgorithm::Rs256),
            _ => None,
        }
    }
}

impl std::fmt::Display for SigningAlgorithm {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}
