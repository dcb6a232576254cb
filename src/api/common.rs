//! Types shared by several resources: references, deletion policy and status conditions.

use kube::KubeSchema;
use kube::core::Rule;
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

/// Characters refused in names and labels shown to customers, by the two rules below: C0
/// and C1 control characters, and the zero-width and bidirectional formatting characters
/// (U+061C, U+180E, U+200B–U+200F, U+202A–U+202E, U+2060–U+2069, U+FEFF). They make text
/// read differently from what a reviewer sees in YAML (an app name followed by a right-to-left
/// override, a consent label with hidden words), so a name on a sign-in page or in an email
/// could pass for another's. The runtime's admin API refuses the same set
/// (`contract::is_refused_in_plain_text`).
///
/// The set is split in two RE2 classes, one per rule, written with CEL escapes (`\x00`,
/// `\u200b`) that CEL turns into the characters before RE2 sees the pattern. Both choices keep
/// the patterns short: the API server estimates a `matches()` as string length × pattern
/// length × the number of values it may run on, and option labels (50 attributes × 500
/// options × 256 characters) fit its per-rule budget only with patterns of about a dozen
/// characters. U+2065, an unassigned code point between the two invisible-operator ranges,
/// is refused with them.
const HIDDEN_CHARACTERS_CEL_CLASS: &str = r"[\x00-\x1f\x7f-\x9f\u061c\u180e\ufeff]";

/// The other half of the set: zero-width characters, directional marks, embeddings,
/// overrides and isolates, and invisible operators.
const BIDI_AND_ZERO_WIDTH_CEL_CLASS: &str = r"[\u200b-\u200f\u202a-\u202e\u2060-\u2069]";

/// The message of both rules, so that either refusal lists every refused character.
pub const PLAIN_TEXT_MESSAGE: &str = "must not contain control characters (U+0000-U+001F, U+007F-U+009F) or invisible or bidirectional formatting characters (U+061C, U+180E, U+200B-U+200F, U+202A-U+202E, U+2060-U+2069, U+FEFF)";

fn refused_class_rule(class: &str) -> Rule {
    Rule::new(format!("!self.matches('{class}')")).message(PLAIN_TEXT_MESSAGE)
}

/// The CEL rule that the string `self` holds no control character, U+061C, U+180E or U+FEFF.
pub fn no_hidden_characters_rule() -> Rule {
    refused_class_rule(HIDDEN_CHARACTERS_CEL_CLASS)
}

/// The CEL rule that the string `self` holds no zero-width or bidirectional formatting
/// character (U+200B–U+200F, U+202A–U+202E, U+2060–U+2069).
pub fn no_bidi_or_zero_width_rule() -> Rule {
    refused_class_rule(BIDI_AND_ZERO_WIDTH_CEL_CLASS)
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
