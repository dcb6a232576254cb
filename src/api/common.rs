//! Types shared by several resources: references, deletion policy and status conditions.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Pattern of a Kubernetes object name (DNS subdomain, RFC 1123).
pub const DNS_SUBDOMAIN_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// Pattern of a namespace name or other DNS label (RFC 1123).
pub const DNS_LABEL_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// Pattern of a BCP 47 language tag such as `en`, `fr-CA` or `zh-Hant-TW`.
pub const BCP47_PATTERN: &str = r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$";

/// The same BCP 47 pattern for use inside CEL string literals (backslash-free on purpose).
pub const BCP47_CEL_PATTERN: &str = "^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$";

/// Pattern of a data key in a Secret or ConfigMap.
pub const DATA_KEY_PATTERN: &str = r"^[-._a-zA-Z0-9]+$";

/// Characters refused in names and labels shown to customers: C0 and C1 control characters,
/// and the zero-width and bidirectional formatting characters (U+061C, U+180E,
/// U+200B–U+200F, U+202A–U+202E, U+2060–U+2064, U+2066–U+2069, U+FEFF). They make text read
/// differently from what a reviewer sees in YAML (an app named "Contoso" followed by a
/// right-to-left override, a consent label with hidden words), so a name on a sign-in page
/// or in an email could pass for another team's. The runtime's admin API refuses the same set
/// (`runtime::model::is_refused_in_plain_text`).
///
/// The class is written with RE2 escapes, for CEL's `matches()`; the backslashes are doubled
/// because CEL string literals read escapes too.
pub const REFUSED_CHARACTERS_CEL_CLASS: &str = r"[\x{0}-\x{1F}\x{7F}-\x{9F}\x{61C}\x{180E}\x{200B}-\x{200F}\x{202A}-\x{202E}\x{2060}-\x{2064}\x{2066}-\x{2069}\x{FEFF}]";

/// The message of the rule [`plain_text_rule`] adds: which characters are refused.
pub const PLAIN_TEXT_MESSAGE: &str = "must not contain control characters (U+0000-U+001F, U+007F-U+009F) or invisible or bidirectional formatting characters (U+061C, U+180E, U+200B-U+200F, U+202A-U+202E, U+2060-U+2064, U+2066-U+2069, U+FEFF)";

/// The CEL rule that the string `self` contains none of [`REFUSED_CHARACTERS_CEL_CLASS`].
pub fn plain_text_rule() -> String {
    format!("!self.matches('{REFUSED_CHARACTERS_CEL_CLASS}')")
}

/// A reference to the `CustomerTenant` an object belongs to.
///
/// A reference into another namespace is honoured only when that tenant's
/// `spec.allowedNamespaces` selects the referring object's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantRef {
    /// Name of the CustomerTenant.
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN_PATTERN))]
    pub name: String,

    /// Namespace of the CustomerTenant; defaults to the referring object's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = DNS_LABEL_PATTERN))]
    pub namespace: Option<String>,
}

/// A key of a Secret in the same namespace as the referring object.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN_PATTERN))]
    pub name: String,

    /// Key within the Secret's data.
    #[schemars(length(min = 1, max = 253), regex(pattern = DATA_KEY_PATTERN))]
    pub key: String,
}

/// A key of a ConfigMap in the same namespace as the referring object.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapKeyRef {
    /// Name of the ConfigMap.
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN_PATTERN))]
    pub name: String,

    /// Key within the ConfigMap's `data` or `binaryData`.
    #[schemars(length(min = 1, max = 253), regex(pattern = DATA_KEY_PATTERN))]
    pub key: String,
}

/// What happens to the object in the identity runtime when the resource is deleted.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum DeletionPolicy {
    /// Remove the object from the identity runtime (the default).
    #[default]
    Delete,
    /// Keep the object in the identity runtime; only the Kubernetes resource goes away.
    Retain,
}
