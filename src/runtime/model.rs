//! Defines the admin API's objects, shaped like the CRD specs, and validates them.
//!
//! Each object is sent whole with `PUT` and read back with `GET` for drift checks. Nested
//! types that mean the same thing in Kubernetes and in the runtime are the CRD's own types;
//! references to other Kubernetes objects (secrets, ConfigMaps, app names) are replaced by
//! what they resolve to (secret hashes, client IDs).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::app_registration::{AppType, ExposedApi};
use crate::api::branding::{
    BrandingProperties, LocalizedStrings, LoginPageLayoutConfiguration,
    LoginPageTextVisibilitySettings,
};
use crate::api::common::PLAIN_TEXT_MESSAGE;
use crate::api::customer_tenant::{CustomAttribute, IdentityProviderType, Lockout, PasswordPolicy};
use crate::api::user_flow::{Extensions, Mfa, SignIn, TokenClaim, UserAttribute};

use super::crypto::{self, SigningAlgorithm};
use super::image_content;

/// At most this many client secrets are active at once (the current one and, during a
/// rotation overlap, the previous one).
pub const MAX_CLIENT_SECRETS: usize = 2;

/// A tenant has at most this many user flows (as in Entra External ID).
pub const MAX_USER_FLOWS: usize = 10;

/// Shortest access-token lifetime the runtime accepts. The CRD narrows this to 5 minutes;
/// the runtime accepts shorter ones so tests can watch a token expire.
pub const MIN_ACCESS_TOKEN_LIFETIME_SECONDS: i64 = 1;

/// Longest access-token lifetime (24 hours).
pub const MAX_ACCESS_TOKEN_LIFETIME_SECONDS: i64 = 24 * 3600;

/// Default access-token lifetime (1 hour).
pub const DEFAULT_ACCESS_TOKEN_LIFETIME_SECONDS: i64 = 3600;

/// One reason an object was refused, with the field it concerns.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Path of the field, for example `redirectUris[1]`.
    pub field: String,
    /// Why the value was refused.
    pub reason: String,
}

impl FieldError {
    /// A refusal of `field` for `reason`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

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
        && !crypto::is_client_secret_hash(hash)
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

/// A user flow (`PUT /admin/v1/tenants/{subdomain}/userflows/{name}`), mirroring
/// `UserFlowSpec` with `applications` resolved to client IDs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserFlowSpec {
    /// Name of the flow.
    pub display_name: String,
    /// Client IDs of the apps this flow serves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applications: Vec<String>,
    /// How customers sign in.
    pub sign_in: SignIn,
    /// What sign-up collects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Vec<UserAttribute>>,
    /// Attributes added to tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_claims: Option<Vec<TokenClaim>>,
    /// Multifactor authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa: Option<Mfa>,
    /// Custom authentication extensions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Extensions>,
}

/// A tenant's branding (`PUT /admin/v1/tenants/{subdomain}/branding`), mirroring
/// `BrandingSpec` without the tenant reference.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BrandingSpec {
    /// Branding for every language without its own localization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<BrandingProperties>,
    /// Overrides per BCP 47 language tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub localizations: Option<BTreeMap<String, BrandingProperties>>,
    /// Text overrides per language: Entra's keys (`SignIn_Title`), the runtime's own keys
    /// (`locales/en.json`) or attribute labels (`Attribute_<name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strings: Option<BTreeMap<String, LocalizedStrings>>,
}

/// Largest decoded size of each branding image, in bytes (Entra's limits).
pub const IMAGE_LIMITS: [(&str, usize); 6] = [
    ("backgroundImage", 300 * 1024),
    ("bannerLogo", 50 * 1024),
    ("headerLogo", 10 * 1024),
    ("squareLogo", 50 * 1024),
    ("squareLogoDark", 50 * 1024),
    ("favicon", 5 * 1024),
];

/// Largest custom style sheet, in bytes.
pub const MAX_CUSTOM_CSS_BYTES: usize = 25 * 1024;

/// A branding image as the runtime receives it: the content itself, because the runtime
/// cannot read ConfigMaps.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(untagged)]
pub enum BrandingImage {
    /// A `data:image/…;base64,…` URI (inline content, from a ConfigMap) or an `https://` URL.
    Inline(String),
    /// The CRD's `{"url": "https://…"}` form, accepted as well.
    Url {
        /// The https URL.
        url: String,
    },
}

impl BrandingImage {
    /// The URI to put in `src`.
    pub fn source(&self) -> &str {
        match self {
            BrandingImage::Inline(source) | BrandingImage::Url { url: source } => source,
        }
    }
}

/// Branding of the hosted pages for one language (`organizationalBranding`'s fields), with
/// content in place of ConfigMap references: images as `data:` URIs or https URLs and the
/// custom style sheet as text.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BrandingContent {
    /// Page background colour, `#rgb` or `#rrggbb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background_color: Option<String>,
    /// Header background colour, `#rgb` or `#rrggbb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_background_color: Option<String>,
    /// Full-page background image (≤ 300 KB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background_image: Option<BrandingImage>,
    /// Logo on the sign-in box (≤ 50 KB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub banner_logo: Option<BrandingImage>,
    /// Logo in the page header (≤ 10 KB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_logo: Option<BrandingImage>,
    /// Square logo, light theme (≤ 50 KB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub square_logo: Option<BrandingImage>,
    /// Square logo, dark theme (≤ 50 KB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub square_logo_dark: Option<BrandingImage>,
    /// Browser tab icon (≤ 5 KB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub favicon: Option<BrandingImage>,
    /// Style sheet text (≤ 25 KB), sanitised before use.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "customCSS")]
    pub custom_css: Option<String>,
    /// Text under the sign-in form; `[text](https://…)`, `**bold**`, `*italic*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_page_text: Option<String>,
    /// Placeholder of the email box on the sign-in page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_hint_text: Option<String>,
    /// Text of the footer's privacy link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_privacy_and_cookies_text: Option<String>,
    /// Target of the footer's privacy link (https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_privacy_and_cookies_url: Option<String>,
    /// Text of the footer's terms link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_terms_of_use_text: Option<String>,
    /// Target of the footer's terms link (https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_terms_of_use_url: Option<String>,
    /// Text of the forgot-password link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_forgot_my_password_text: Option<String>,
    /// Where the forgot-password link leads instead of the built-in reset (https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_account_reset_credentials_url: Option<String>,
    /// Parts of the sign-in page to hide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_page_text_visibility_settings: Option<LoginPageTextVisibilitySettings>,
    /// Page layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_page_layout_configuration: Option<LoginPageLayoutConfiguration>,
}

impl BrandingContent {
    /// `self` with every field that `overrides` sets replaced (a localization over the
    /// default).
    pub fn overlaid(&self, overrides: &BrandingContent) -> BrandingContent {
        macro_rules! pick {
            ($($field:ident),*) => {
                BrandingContent { $($field: overrides.$field.clone().or_else(|| self.$field.clone()),)* }
            };
        }
        pick!(
            background_color,
            header_background_color,
            background_image,
            banner_logo,
            header_logo,
            square_logo,
            square_logo_dark,
            favicon,
            custom_css,
            sign_in_page_text,
            username_hint_text,
            custom_privacy_and_cookies_text,
            custom_privacy_and_cookies_url,
            custom_terms_of_use_text,
            custom_terms_of_use_url,
            custom_forgot_my_password_text,
            custom_account_reset_credentials_url,
            login_page_text_visibility_settings,
            login_page_layout_configuration
        )
    }

    fn images(&self) -> [(&'static str, Option<&BrandingImage>); 6] {
        [
            ("backgroundImage", self.background_image.as_ref()),
            ("bannerLogo", self.banner_logo.as_ref()),
            ("headerLogo", self.header_logo.as_ref()),
            ("squareLogo", self.square_logo.as_ref()),
            ("squareLogoDark", self.square_logo_dark.as_ref()),
            ("favicon", self.favicon.as_ref()),
        ]
    }
}

/// The branding the admin API accepts (`PUT /admin/v1/tenants/{subdomain}/branding`):
/// `BrandingSpec` with ConfigMap content inlined (see [`BrandingContent`]).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BrandingDocument {
    /// Branding for every language without its own localization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<BrandingContent>,
    /// Overrides per BCP 47 language tag, laid field by field over `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub localizations: Option<BTreeMap<String, BrandingContent>>,
    /// Text overrides per language and page string key (the keys of the runtime's
    /// `locales/en.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strings: Option<BTreeMap<String, LocalizedStrings>>,
}

fn is_hex_colour(value: &str) -> bool {
    let digits = value.strip_prefix('#').unwrap_or_default();
    matches!(digits.len(), 3 | 6) && digits.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// Whether `url` is an https URL safe to place in an attribute or a CSS `url()`.
pub fn is_safe_https_url(url: &str) -> bool {
    url.len() <= 2048
        && url.len() > "https://".len()
        && url.starts_with("https://")
        && !url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "\"'()<>\\`".contains(c))
}

/// Media types a branding `data:` URI may declare.
const IMAGE_MEDIA_TYPES: [&str; 7] = [
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/svg+xml",
    "image/x-icon",
    "image/vnd.microsoft.icon",
];

/// Checks an image: an https URL, or a base64 `data:image/…` URI within `limit` bytes whose
/// content is the image its media type names (recognised as the operator recognises
/// ConfigMap content, by [`image_content::recognise`]: magic bytes, or a checked SVG).
fn check_image(source: &str, limit: usize) -> Result<(), String> {
    let Some(rest) = source.strip_prefix("data:") else {
        return if is_safe_https_url(source) {
            Ok(())
        } else {
            Err("must be an https URL or a data:image/…;base64 URI".into())
        };
    };
    let Some((media, data)) = rest.split_once(";base64,") else {
        return Err("a data URI must be data:image/<type>;base64,<content>".into());
    };
    if !IMAGE_MEDIA_TYPES.contains(&media) {
        return Err(format!(
            "media type must be one of {}",
            IMAGE_MEDIA_TYPES.join(", ")
        ));
    }
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| "the data URI's content is not valid base64".to_string())?;
    if decoded.len() > limit {
        return Err(format!(
            "must be at most {} KB, found {} bytes",
            limit / 1024,
            decoded.len()
        ));
    }
    let format = image_content::recognise(&decoded).map_err(|error| error.to_string())?;
    if !format.is_named_by(media) {
        return Err(format!(
            "the content is {}, not the {media} the data URI names",
            format.media_type()
        ));
    }
    Ok(())
}

/// Branding texts shown as names or labels (link texts, the username hint), which refuse
/// the characters [`is_refused_in_plain_text`] names, with their longest length. The sign-in
/// page text is prose and only has a length.
fn branding_label_texts(content: &BrandingContent) -> [(&'static str, &Option<String>, usize); 4] {
    [
        ("usernameHintText", &content.username_hint_text, 64),
        (
            "customPrivacyAndCookiesText",
            &content.custom_privacy_and_cookies_text,
            256,
        ),
        (
            "customTermsOfUseText",
            &content.custom_terms_of_use_text,
            256,
        ),
        (
            "customForgotMyPasswordText",
            &content.custom_forgot_my_password_text,
            256,
        ),
    ]
}

fn check_branding_texts(errors: &mut Vec<FieldError>, prefix: &str, content: &BrandingContent) {
    if let Some(text) = &content.sign_in_page_text
        && text.chars().count() > 1024
    {
        errors.push(FieldError::new(
            format!("{prefix}.signInPageText"),
            "must be at most 1024 characters",
        ));
    }
    for (field, text, max) in branding_label_texts(content) {
        let Some(text) = text else { continue };
        let path = format!("{prefix}.{field}");
        if text.chars().count() > max {
            errors.push(FieldError::new(
                &path,
                format!("must be at most {max} characters"),
            ));
        }
        check_plain_text(errors, &path, text);
    }
}

fn check_branding_content(errors: &mut Vec<FieldError>, prefix: &str, content: &BrandingContent) {
    for (field, colour) in [
        ("backgroundColor", &content.background_color),
        ("headerBackgroundColor", &content.header_background_color),
    ] {
        if let Some(colour) = colour
            && !is_hex_colour(colour)
        {
            errors.push(FieldError::new(
                format!("{prefix}.{field}"),
                "must be #rgb or #rrggbb",
            ));
        }
    }
    for (field, image) in content.images() {
        let limit = IMAGE_LIMITS
            .iter()
            .find(|(name, _)| *name == field)
            .map_or(0, |(_, limit)| *limit);
        if let Some(image) = image
            && let Err(reason) = check_image(image.source(), limit)
        {
            errors.push(FieldError::new(format!("{prefix}.{field}"), reason));
        }
    }
    if let Some(css) = &content.custom_css
        && css.len() > MAX_CUSTOM_CSS_BYTES
    {
        errors.push(FieldError::new(
            format!("{prefix}.customCSS"),
            format!("must be at most 25 KB, found {} bytes", css.len()),
        ));
    }
    check_branding_texts(errors, prefix, content);
    for (field, url) in [
        (
            "customPrivacyAndCookiesUrl",
            &content.custom_privacy_and_cookies_url,
        ),
        ("customTermsOfUseUrl", &content.custom_terms_of_use_url),
        (
            "customAccountResetCredentialsUrl",
            &content.custom_account_reset_credentials_url,
        ),
    ] {
        if let Some(url) = url
            && !is_safe_https_url(url)
        {
            errors.push(FieldError::new(
                format!("{prefix}.{field}"),
                "must be an https URL",
            ));
        }
    }
}

/// Whether `key` of a Branding's `strings` names text the runtime shows: Entra's key or the
/// runtime's own (see `branding::string_override_key`), or an attribute label
/// `Attribute_<attributeName>`.
fn is_known_string_key(key: &str) -> bool {
    super::branding::string_override_key(key).is_some()
        || key.strip_prefix("Attribute_").is_some_and(|name| {
            name.chars()
                .next()
                .is_some_and(|first| first.is_ascii_alphabetic())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

const UNKNOWN_STRING_KEY: &str = "is not a text of the hosted pages: use one of Entra's keys (such as SignIn_Title or Attribute_City), a key of the runtime's locale files, or Attribute_<attributeName>";

/// Checks a branding document; an empty list means it is valid.
pub fn validate_branding_document(spec: &BrandingDocument) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(default) = &spec.default {
        check_branding_content(&mut errors, "default", default);
    }
    for (language, content) in spec.localizations.iter().flatten() {
        if !is_bcp47(language) {
            errors.push(FieldError::new(
                format!("localizations.{language}"),
                "keys must be BCP 47 language tags such as en, fr or de-CH",
            ));
        }
        check_branding_content(&mut errors, &format!("localizations.{language}"), content);
    }
    for (language, texts) in spec.strings.iter().flatten() {
        if !is_bcp47(language) {
            errors.push(FieldError::new(
                format!("strings.{language}"),
                "keys must be BCP 47 language tags such as en, fr or de-CH",
            ));
        }
        for (key, text) in texts {
            if !is_known_string_key(key) {
                errors.push(FieldError::new(
                    format!("strings.{language}.{key}"),
                    UNKNOWN_STRING_KEY,
                ));
            }
            if text.chars().count() > 1024 {
                errors.push(FieldError::new(
                    format!("strings.{language}.{key}"),
                    "must be at most 1024 characters",
                ));
            }
        }
    }
    errors
}

fn is_dns_label(value: &str) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || *byte == b'-')
        && bytes.first() != Some(&b'-')
        && bytes.last() != Some(&b'-')
}

/// Whether `value` is a DNS label (RFC 1123), as tenant subdomains are.
pub fn is_valid_subdomain(value: &str) -> bool {
    is_dns_label(value)
}

/// Whether `value` is a Kubernetes-style object name (DNS subdomain), as user flow names are.
pub fn is_valid_object_name(value: &str) -> bool {
    value.len() <= 253 && value.split('.').all(is_dns_label)
}

/// Whether `value` is a UUID in its canonical hyphenated form.
pub fn is_valid_uuid(value: &str) -> bool {
    value.len() == 36 && uuid::Uuid::try_parse(value).is_ok()
}

fn is_bcp47(value: &str) -> bool {
    let mut parts = value.split('-');
    let primary_ok = parts.next().is_some_and(|primary| {
        (2..=3).contains(&primary.len()) && primary.bytes().all(|byte| byte.is_ascii_alphabetic())
    });
    primary_ok
        && parts.all(|part| {
            (2..=8).contains(&part.len()) && part.bytes().all(|byte| byte.is_ascii_alphanumeric())
        })
        && value.len() <= 35
}

/// Whether `character` is refused in names and labels shown to customers: a C0 or C1 control
/// character, or a zero-width or bidirectional formatting character. Such characters make
/// text read differently from what a reviewer sees (a right-to-left override turns a name
/// around, a zero-width space splits a word a filter looks for), so a name could pass for
/// another's. The CRDs refuse the same set (`api::common::no_hidden_characters_rule` and
/// `no_bidi_or_zero_width_rule`); like them, this includes U+2065, the unassigned code point
/// between the invisible operators and the isolates.
pub fn is_refused_in_plain_text(character: char) -> bool {
    // `char::is_control` is Unicode's Cc category: exactly U+0000–U+001F and U+007F–U+009F.
    character.is_control()
        || matches!(
            character,
            '\u{061C}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// Refuses `field` when `value` holds a character [`is_refused_in_plain_text`] names.
fn check_plain_text(errors: &mut Vec<FieldError>, field: &str, value: &str) {
    if value.chars().any(is_refused_in_plain_text) {
        errors.push(FieldError::new(field, PLAIN_TEXT_MESSAGE));
    }
}

fn check_length(errors: &mut Vec<FieldError>, field: &str, value: &str, min: usize, max: usize) {
    let length = value.chars().count();
    if length < min || length > max {
        errors.push(FieldError::new(
            field,
            format!("must be {min} to {max} characters long, found {length}"),
        ));
    }
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
    if confidential && spec.client_secrets.is_empty() {
        errors.push(FieldError::new(
            "clientSecrets",
            "web and daemon apps need at least one client secret",
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
            (Some(hash), None) if crypto::is_client_secret_hash(hash) => {}
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
            secret.hash = Some(crypto::client_secret_hash(&value));
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

    /// Whether a presented client secret matches an active (unexpired) secret hash.
    pub fn secret_matches(&self, presented: &str, now: jiff::Timestamp) -> bool {
        // Check every secret, so timing does not reveal which one matched.
        self.client_secrets.iter().fold(false, |matched, secret| {
            let active = secret.expires_at.is_none_or(|expiry| expiry > now);
            let equal = secret
                .hash
                .as_deref()
                .is_some_and(|hash| crypto::client_secret_matches(presented, hash));
            matched | (active & equal)
        })
    }
}

/// What the runtime says of a user-flow field it stores but cannot honour yet.
pub const NOT_SUPPORTED_YET: &str = "is not supported by this runtime yet";

/// Fields of a user flow that this runtime cannot honour yet, as (path, what it asks for):
/// sign-in through an identity provider and custom authentication extensions. A flow that
/// uses them is refused rather than served without them, so nobody believes a sign-in option
/// or a safeguard is on when it is not.
pub fn unsupported_user_flow_fields(spec: &UserFlowSpec) -> Vec<(String, String)> {
    let local = [
        super::flows::METHOD_EMAIL_PASSWORD,
        super::flows::METHOD_EMAIL_OTP,
    ];
    let mut fields: Vec<(String, String)> = spec
        .sign_in
        .methods
        .iter()
        .enumerate()
        .filter(|(_, method)| !local.contains(&method.as_str()))
        .map(|(index, method)| {
            (
                format!("signIn.methods[{index}]"),
                format!("sign-in with identity provider {method}"),
            )
        })
        .collect();
    if let Some(extensions) = &spec.extensions {
        for (event, extension) in [
            ("onTokenIssuanceStart", &extensions.on_token_issuance_start),
            (
                "onAttributeCollectionStart",
                &extensions.on_attribute_collection_start,
            ),
            (
                "onAttributeCollectionSubmit",
                &extensions.on_attribute_collection_submit,
            ),
            ("onOtpSend", &extensions.on_otp_send),
        ] {
            if extension.is_some() {
                fields.push((
                    format!("extensions.{event}"),
                    format!("the {event} custom authentication extension"),
                ));
            }
        }
    }
    fields
}

/// Refuses hidden and bidirectional characters in the flow's name and in the labels sign-up
/// shows: attribute labels (a consent checkbox's among them) and option labels.
fn check_flow_labels(errors: &mut Vec<FieldError>, spec: &UserFlowSpec) {
    check_plain_text(errors, "displayName", &spec.display_name);
    for (index, attribute) in spec.attributes.iter().flatten().enumerate() {
        if let Some(label) = &attribute.label {
            check_plain_text(errors, &format!("attributes[{index}].label"), label);
        }
        for (option_index, option) in attribute.options.iter().flatten().enumerate() {
            check_plain_text(
                errors,
                &format!("attributes[{index}].options[{option_index}].label"),
                &option.label,
            );
        }
    }
}

/// Checks a user flow spec; an empty list means it is valid.
pub fn validate_user_flow(spec: &UserFlowSpec) -> Vec<FieldError> {
    let mut errors: Vec<FieldError> = unsupported_user_flow_fields(spec)
        .into_iter()
        .map(|(field, what)| FieldError::new(field, format!("{what} {NOT_SUPPORTED_YET}")))
        .collect();
    check_length(&mut errors, "displayName", &spec.display_name, 1, 256);
    check_flow_labels(&mut errors, spec);
    for (index, application) in spec.applications.iter().enumerate() {
        if !is_valid_uuid(application) {
            errors.push(FieldError::new(
                format!("applications[{index}]"),
                "must be a client ID (UUID)",
            ));
        }
        if spec.applications[..index].contains(application) {
            errors.push(FieldError::new(
                format!("applications[{index}]"),
                "duplicates an earlier entry",
            ));
        }
    }
    if spec.sign_in.methods.is_empty() || spec.sign_in.methods.len() > 10 {
        errors.push(FieldError::new(
            "signIn.methods",
            "must list 1 to 10 methods",
        ));
    }
    for (index, attribute) in spec.attributes.iter().flatten().enumerate() {
        if let Some(pattern) = &attribute.validation_reg_ex
            && regex::Regex::new(pattern).is_err()
        {
            errors.push(FieldError::new(
                format!("attributes[{index}].validationRegEx"),
                "must be a valid regular expression (RE2 syntax)",
            ));
        }
    }
    for (index, claim) in spec.token_claims.iter().flatten().enumerate() {
        if super::flows::RESERVED_CLAIMS.contains(&claim.claim_name.as_str()) {
            errors.push(FieldError::new(
                format!("tokenClaims[{index}].claimName"),
                "must not be a reserved token claim",
            ));
        }
    }
    errors
}

/// Checks a branding spec; an empty list means it is valid.
pub fn validate_branding(spec: &BrandingSpec) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (field, keys) in [
        (
            "localizations",
            spec.localizations
                .iter()
                .flat_map(|map| map.keys())
                .collect::<Vec<_>>(),
        ),
        (
            "strings",
            spec.strings
                .iter()
                .flat_map(|map| map.keys())
                .collect::<Vec<_>>(),
        ),
    ] {
        for key in keys {
            if !is_bcp47(key) {
                errors.push(FieldError::new(
                    format!("{field}.{key}"),
                    "keys must be BCP 47 language tags such as en, fr or de-CH",
                ));
            }
        }
    }
    if let Some(strings) = &spec.strings {
        for (language, texts) in strings {
            for (key, text) in texts {
                if !is_known_string_key(key) {
                    errors.push(FieldError::new(
                        format!("strings.{language}.{key}"),
                        UNKNOWN_STRING_KEY,
                    ));
                }
                if text.chars().count() > 1024 {
                    errors.push(FieldError::new(
                        format!("strings.{language}.{key}"),
                        "must be at most 1024 characters",
                    ));
                }
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branding_strings_must_name_a_text_of_the_pages() {
        let document: BrandingDocument = serde_json::from_value(serde_json::json!({
            "strings": { "fr": {
                "SignIn_Title": "Connexion",
                "sign_in_button": "Se connecter",
                "Attribute_loyaltyNumber": "Numéro de fidélité",
                "SignIn_Titel": "typo"
            } }
        }))
        .expect("shape");
        let errors = validate_branding_document(&document);
        let fields: Vec<&str> = errors.iter().map(|error| error.field.as_str()).collect();
        assert_eq!(fields, ["strings.fr.SignIn_Titel"], "{errors:?}");
    }

    #[test]
    fn identity_providers_and_extensions_are_refused_by_name() {
        let flow: UserFlowSpec = serde_json::from_value(serde_json::json!({
            "displayName": "Social",
            "signIn": { "methods": ["emailPassword", "google"] },
            "extensions": { "onOtpSend": {
                "targetUrl": "https://otp.example/send", "resourceId": "api://otp"
            } }
        }))
        .expect("shape");
        let errors = validate_user_flow(&flow);
        let fields: Vec<&str> = errors.iter().map(|error| error.field.as_str()).collect();
        assert_eq!(fields, ["signIn.methods[1]", "extensions.onOtpSend"]);
        assert!(
            errors[0]
                .reason
                .contains("identity provider google is not supported")
        );
    }

    fn web_client(redirect_uris: &[&str]) -> ClientSpec {
        ClientSpec {
            display_name: "Web".into(),
            app_type: AppType::Web,
            redirect_uris: redirect_uris.iter().map(|uri| uri.to_string()).collect(),
            post_logout_redirect_uris: vec![],
            exposed_api: None,
            api_permissions: vec![],
            access_token_lifetime: None,
            client_secrets: vec![ClientSecretSpec {
                hash: None,
                value: Some("x".repeat(43)),
                expires_at: None,
            }],
        }
    }

    #[test]
    fn redirect_uris_match_exactly() {
        let client = web_client(&["https://app.example.com/callback"]);
        assert!(client.has_redirect_uri("https://app.example.com/callback"));
        assert!(!client.has_redirect_uri("https://app.example.com/callback/"));
        assert!(!client.has_redirect_uri("https://APP.example.com/callback"));
        assert!(!client.has_redirect_uri("https://app.example.com/callback?x=1"));
    }

    #[test]
    fn redirect_uri_rules_follow_the_app_type() {
        assert!(validate_client(&web_client(&["http://127.0.0.1:3000/cb"])).is_empty());
        assert!(validate_client(&web_client(&["https://app.example.com/cb"])).is_empty());
        let errors = validate_client(&web_client(&["http://app.example.com/cb"]));
        assert_eq!(errors[0].field, "redirectUris[0]");
        assert!(!validate_client(&web_client(&["com.example.app:/cb"])).is_empty());
        assert!(!validate_client(&web_client(&["https://a.example.com/cb#x"])).is_empty());
        let mut native = web_client(&["com.example.app:/cb"]);
        native.app_type = AppType::Native;
        native.client_secrets.clear();
        assert!(validate_client(&native).is_empty());
    }

    #[test]
    fn client_secrets_are_hashed_and_checked_with_expiry() {
        let client = normalize_client(web_client(&[]));
        assert!(client.client_secrets[0].value.is_none());
        let now = jiff::Timestamp::now();
        assert!(client.secret_matches(&"x".repeat(43), now));
        assert!(!client.secret_matches("wrong", now));
        let mut expired = client.clone();
        expired.client_secrets[0].expires_at = Some(now - jiff::SignedDuration::from_secs(1));
        assert!(!expired.secret_matches(&"x".repeat(43), now));
    }

    #[test]
    fn durations_parse_like_the_crd() {
        assert_eq!(parse_duration_seconds("1h30m"), Some(5400));
        assert_eq!(parse_duration_seconds("90s"), Some(90));
        assert_eq!(parse_duration_seconds("1d"), None);
        assert_eq!(parse_duration_seconds("10"), None);
    }

    fn fields(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|error| error.field).collect()
    }

    #[test]
    fn tenant_names_refuse_hidden_and_bidirectional_characters() {
        let spec: TenantSpec = serde_json::from_value(serde_json::json!({
            "displayName": "Contoso \u{202E}nigol", "countryCode": "US",
            "identityProviders": [
                { "name": "google", "type": "google", "displayName": "Google", "clientId": "a" },
                { "name": "corp", "type": "google", "displayName": "Co\u{200B}rp", "clientId": "b" }
            ],
            "email": { "fromAddress": "no-reply@contoso.example", "fromName": "Contoso\r\nBcc: x@y.example" }
        }))
        .expect("shape");
        let errors = validate_tenant(&spec, "contoso");
        assert!(
            errors
                .iter()
                .all(|error| error.reason.contains("U+202A-U+202E"))
        );
        assert_eq!(
            fields(errors),
            [
                "displayName",
                "identityProviders[1].displayName",
                "email.fromName"
            ]
        );
    }

    #[test]
    fn client_names_refuse_hidden_and_bidirectional_characters() {
        let mut client = web_client(&[]);
        client.display_name = "Payroll\u{2066}".into();
        client.exposed_api = Some(
            serde_json::from_value(serde_json::json!({ "scopes": [
                { "value": "orders.read", "adminConsentDisplayName": "Read orders" },
                { "value": "orders.write", "userConsentDisplayName": "Write\u{FEFF} orders" }
            ] }))
            .expect("shape"),
        );
        assert_eq!(
            fields(validate_client(&client)),
            ["displayName", "exposedApi.scopes[1].userConsentDisplayName"]
        );
    }

    #[test]
    fn flow_labels_refuse_hidden_and_bidirectional_characters() {
        let flow: UserFlowSpec = serde_json::from_value(serde_json::json!({
            "displayName": "Sign up\u{061C}",
            "signIn": { "methods": ["emailPassword"] },
            "attributes": [
                { "name": "termsAccepted", "inputType": "boolean", "required": true,
                  "label": "I agree to the [terms](https://contoso.example/terms)\u{202D} and more" },
                { "name": "country", "inputType": "dropdown", "options": [
                    { "label": "France", "value": "FR" },
                    { "label": "Germany\u{180E}", "value": "DE" }
                ] }
            ]
        }))
        .expect("shape");
        assert_eq!(
            fields(validate_user_flow(&flow)),
            [
                "displayName",
                "attributes[0].label",
                "attributes[1].options[1].label"
            ]
        );
    }

    #[test]
    fn branding_labels_refuse_hidden_characters_and_prose_keeps_them() {
        let document: BrandingDocument = serde_json::from_value(serde_json::json!({
            // A right-to-left mark is how Hebrew or Arabic prose places punctuation.
            "default": { "signInPageText": "\u{05E9}\u{05DC}\u{05D5}\u{05DD}\u{200F}!" },
            "localizations": { "fr": { "customTermsOfUseText": "Conditions\u{2060} d'utilisation" } }
        }))
        .expect("shape");
        assert_eq!(
            fields(validate_branding_document(&document)),
            ["localizations.fr.customTermsOfUseText"]
        );
    }

    fn inline(media_type: &str, bytes: &[u8]) -> String {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
        format!("data:{media_type};base64,{encoded}")
    }

    #[test]
    fn inline_branding_images_are_checked_by_their_content() {
        let logo = include_bytes!("../../tests/images/logo.svg");
        let png = include_bytes!("../../tests/images/pixel.png");
        let ico = include_bytes!("../../tests/images/pixel.ico");
        let script = include_bytes!("../../tests/images/script.svg");
        let page = include_bytes!("../../tests/images/page-with-svg.html");
        let document: BrandingDocument = serde_json::from_value(serde_json::json!({
            "default": {
                "bannerLogo": inline("image/svg+xml", logo),
                "headerLogo": inline("image/svg+xml", script),
                "squareLogo": inline("image/svg+xml", page),
                "squareLogoDark": inline("image/svg+xml", png),
                "favicon": inline("image/vnd.microsoft.icon", ico),
                "backgroundImage": inline("image/png", png)
            }
        }))
        .expect("shape");
        let errors = validate_branding_document(&document);
        let found: Vec<(&str, &str)> = errors
            .iter()
            .map(|error| (error.field.as_str(), error.reason.as_str()))
            .collect();
        assert_eq!(found.len(), 3, "{errors:?}");
        assert_eq!(found[0], ("default.headerLogo", "SVG contains a script"));
        assert_eq!(found[1].0, "default.squareLogo");
        assert_eq!(
            found[2],
            (
                "default.squareLogoDark",
                "the content is image/png, not the image/svg+xml the data URI names"
            )
        );
    }

    #[test]
    fn tenant_validation_names_the_field() {
        let spec: TenantSpec = serde_json::from_value(serde_json::json!({
            "displayName": "", "countryCode": "usa"
        }))
        .expect("shape");
        let fields: Vec<_> = validate_tenant(&spec, "contoso")
            .into_iter()
            .map(|error| error.field)
            .collect();
        assert_eq!(fields, ["displayName", "countryCode"]);
    }
}
