//! `CustomerTenant`: the directory where one set of customer accounts lives (step 1 of the
//! CIAM planning guide).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{
    BCP47_PATTERN, DeletionPolicy, SecretKeyRef, no_bidi_or_zero_width_rule,
    no_hidden_characters_rule,
};

/// Desired state of a customer tenant.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "ciam.dev",
    version = "v1alpha1",
    kind = "CustomerTenant",
    namespaced,
    status = "CustomerTenantStatus",
    shortname = "ctenant",
    category = "ciam",
    doc = "A customer tenant: the directory where customer accounts live, with its sign-in \
           options, email sender, password policy and lockout settings.",
    printcolumn(name = "Subdomain", type_ = "string", json_path = ".spec.subdomain"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].reason"#
    ),
    printcolumn(
        name = "Tenant ID",
        type_ = "string",
        json_path = ".status.tenantId",
        priority = 1
    ),
    printcolumn(
        name = "Issuer",
        type_ = "string",
        json_path = ".status.issuer",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.customAttributes) || self.customAttributes.all(a, self.customAttributes.exists_one(b, b.name == a.name))").message("customAttributes names must be unique"))]
#[x_kube(validation = Rule::new("!has(self.identityProviders) || self.identityProviders.all(p, self.identityProviders.exists_one(q, q.name == p.name))").message("identityProviders names must be unique"))]
#[x_kube(validation = Rule::new("!has(self.supportedLocales) || !has(self.defaultLocale) || self.defaultLocale in self.supportedLocales").message("defaultLocale must be one of supportedLocales"))]
pub struct CustomerTenantSpec {
    /// Human-readable name of the tenant, shown on hosted pages and in emails.
    #[schemars(length(min = 1, max = 256))]
    #[x_kube(validation = no_hidden_characters_rule(), validation = no_bidi_or_zero_width_rule())]
    pub display_name: String,

    /// DNS label naming the tenant in URLs: the path of its authority
    /// (`{publicUrl}/{subdomain}/`) and its host prefix. Cannot be changed after creation.
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    #[x_kube(validation = Rule::new("self == oldSelf").message("subdomain is immutable"))]
    pub subdomain: String,

    /// ISO 3166-1 alpha-2 country code of the data location (for example `US`, `DE`).
    /// Cannot be changed after creation.
    #[schemars(length(equal = 2), regex(pattern = r"^[A-Z]{2}$"))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("countryCode is immutable"))]
    pub country_code: String,

    /// Language of hosted pages when the user's browser asks for none that is supported,
    /// as a BCP 47 tag (for example `en`, `fr-CA`). Defaults to `en`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 35), regex(pattern = BCP47_PATTERN))]
    pub default_locale: Option<String>,

    /// Languages the hosted pages offer, as BCP 47 tags. Defaults to all built-in languages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50), inner(length(min = 2, max = 35), regex(pattern = BCP47_PATTERN)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub supported_locales: Option<Vec<String>>,

    /// Which namespaces may hold AppRegistrations, UserFlows and Branding that reference this
    /// tenant. Defaults to this tenant's namespace only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_namespaces: Option<AllowedNamespaces>,

    /// Tenant-wide custom user attributes that user flows may collect and put in tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub custom_attributes: Option<Vec<CustomAttribute>>,

    /// Sign-in options besides local accounts; each is enabled per user flow by name in
    /// `signIn.methods`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 20))]
    pub identity_providers: Option<Vec<IdentityProvider>>,

    /// Sender of one-time passcodes and notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailSettings>,

    /// Rules a local account's password must satisfy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_policy: Option<PasswordPolicy>,

    /// Account lockout after repeated failed sign-in attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lockout: Option<Lockout>,

    /// Whether the tenant and its customer accounts are removed from the identity runtime
    /// when this resource is deleted (`Delete`, the default) or kept (`Retain`).
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// Selects the namespaces whose objects may reference a tenant (shaped like Gateway API's
/// `allowedRoutes.namespaces`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.from == 'Selector' ? has(self.selector) : !has(self.selector)").message("selector is required when from is Selector and not allowed otherwise"))]
pub struct AllowedNamespaces {
    /// `Same` (only the tenant's namespace, the default), `All`, or `Selector`.
    #[serde(default)]
    pub from: NamespacesFrom,

    /// Label selector over namespaces; used when `from` is `Selector`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

/// Where references to a tenant may come from.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum NamespacesFrom {
    /// Only the tenant's own namespace.
    #[default]
    Same,
    /// Every namespace.
    All,
    /// Namespaces whose labels match `selector`.
    Selector,
}

/// A tenant-wide custom user attribute.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomAttribute {
    /// Attribute name, as used by user flows and token claims (letters and digits, starting
    /// with a letter).
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z][A-Za-z0-9]*$"))]
    #[x_kube(validation = Rule::new("!(self in ['email', 'displayName', 'givenName', 'surname', 'city', 'country', 'postalCode', 'state', 'streetAddress', 'jobTitle', 'password'])").message("custom attribute name must not shadow a built-in attribute"))]
    pub name: String,

    /// Type of the attribute's value.
    pub data_type: AttributeDataType,

    /// What the attribute means, for administrators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub description: Option<String>,
}

/// Value type of a custom attribute.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AttributeDataType {
    /// Free text.
    String,
    /// True or false.
    Boolean,
    /// Whole number.
    Int,
}

/// An external identity provider customers can sign in with.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.type != 'oidc' || has(self.issuer)").message("issuer is required for an oidc identity provider"))]
pub struct IdentityProvider {
    /// Name user flows use in `signIn.methods` to enable this provider.
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    #[x_kube(validation = Rule::new("!(self in ['emailpassword', 'emailotp'])").message("identity provider name must not be a built-in sign-in method"))]
    pub name: String,

    /// Kind of provider: `google`, `facebook` or a generic OpenID Connect `oidc` provider.
    #[serde(rename = "type")]
    pub provider_type: IdentityProviderType,

    /// Label of the sign-in button; defaults to the provider's usual name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = no_hidden_characters_rule(), validation = no_bidi_or_zero_width_rule())]
    pub display_name: Option<String>,

    /// OAuth client ID registered with the provider.
    #[schemars(length(min = 1, max = 512))]
    pub client_id: String,

    /// Secret (in the tenant's namespace) holding the OAuth client secret.
    pub client_secret_ref: SecretKeyRef,

    /// Issuer URL of a generic OpenID Connect provider (https); its discovery document is read
    /// from `{issuer}/.well-known/openid-configuration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[x_kube(validation = Rule::new("isURL(self) && self.startsWith('https://')").message("issuer must be an https URL"))]
    pub issuer: Option<String>,

    /// Scopes to request from the provider; defaults to `openid profile email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 20),
        inner(
            length(min = 1, max = 128),
            regex(pattern = r"^[\x21\x23-\x5B\x5D-\x7E]+$")
        )
    )]
    pub scopes: Option<Vec<String>>,
}

/// Kind of external identity provider.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum IdentityProviderType {
    /// Google accounts.
    Google,
    /// Facebook accounts.
    Facebook,
    /// Any OpenID Connect provider.
    Oidc,
}

/// How the tenant sends email.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmailSettings {
    /// Sender address of passcode and notification emails.
    #[schemars(
        length(min = 3, max = 254),
        regex(pattern = r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    )]
    pub from_address: String,

    /// Sender name shown by mail clients; defaults to the tenant's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    #[x_kube(validation = no_hidden_characters_rule(), validation = no_bidi_or_zero_width_rule())]
    pub from_name: Option<String>,

    /// Secret (in the tenant's namespace) with the SMTP connection: keys `host`, `port`,
    /// and optionally `username`, `password` and `tls` (`starttls`, `tls` or `none`).
    pub smtp_secret_ref: SmtpSecretRef,
}

/// Reference to a Secret holding SMTP connection settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SmtpSecretRef {
    /// Name of the Secret.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub name: String,
}

/// Password rules for local accounts.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordPolicy {
    /// Minimum number of characters (8 to 256, default 8).
    #[serde(default = "default_min_length")]
    #[schemars(range(min = 8, max = 256))]
    pub min_length: i32,

    /// How many of the four character classes (lower case, upper case, digit, symbol) a
    /// password must contain (1 to 4, default 3).
    #[serde(default = "default_character_classes")]
    #[schemars(range(min = 1, max = 4))]
    pub required_character_classes: i32,
}

fn default_min_length() -> i32 {
    8
}

fn default_character_classes() -> i32 {
    3
}

/// Lockout after failed sign-in attempts (Entra's smart lockout defaults: 10 attempts, 60 s).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Lockout {
    /// Failed attempts before the account is locked (1 to 100, default 10).
    #[serde(default = "default_lockout_threshold")]
    #[schemars(range(min = 1, max = 100))]
    pub threshold: i32,

    /// How long the account stays locked, in seconds (5 to 86400, default 60).
    #[serde(default = "default_lockout_duration")]
    #[schemars(range(min = 5, max = 86400))]
    pub duration_seconds: i32,
}

fn default_lockout_threshold() -> i32 {
    10
}

fn default_lockout_duration() -> i32 {
    60
}

/// Observed state of a customer tenant.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerTenantStatus {
    /// The `metadata.generation` that the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Current state, with a top-level `Ready` condition and PascalCase reasons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// Identifier of the tenant in the identity runtime (UUID), the `tid` claim of its tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,

    /// Issuer of the tenant's tokens (`{authority}v2.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,

    /// Authority URL apps configure (`{publicUrl}/{subdomain}/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,

    /// OpenID Connect discovery document URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_url: Option<String>,

    /// Number of UserFlows that reference this tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_flow_count: Option<i32>,

    /// Number of AppRegistrations that reference this tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_count: Option<i32>,
}
