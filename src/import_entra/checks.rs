//! The CRDs' admission rules the import checks before it writes a value, and Kubernetes names
//! made from Graph display names.
//!
//! The API server is the judge; these checks only keep the import from writing YAML that it
//! would refuse, so a value the CRD does not accept is reported instead of breaking the apply.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;

use crate::api::common::{BCP47_PATTERN, DNS_LABEL_PATTERN};
use crate::contract::is_refused_in_plain_text;

static BCP47: LazyLock<Regex> = LazyLock::new(|| Regex::new(BCP47_PATTERN).expect("pattern"));
static DNS_LABEL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(DNS_LABEL_PATTERN).expect("pattern"));
static HTTPS_URL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^https://[^/?#@:\s][^/?#@\s]*([/?][^\s]*)?$").expect("pattern"));
static LOOPBACK_URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^http://(localhost|127[.]0[.]0[.]1)(:[0-9]{1,5})?([/?].*)?$").expect("pattern")
});
static CUSTOM_SCHEME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z][a-z0-9+.-]*:.").expect("pattern"));
static BROWSER_SCHEME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(https?|javascript|data|file|vbscript):").expect("pattern"));
static COLOUR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$").expect("pattern"));
static ATTRIBUTE_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z][A-Za-z0-9]*$").expect("pattern"));
static SCOPE_VALUE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$").expect("pattern"));
static IDP_SCOPE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[\x21\x23-\x5B\x5D-\x7E]+$").expect("pattern"));

/// Longest generated object name before a uniqueness suffix, so `<name>-credentials` and a
/// `-99` suffix still fit a DNS label.
const NAME_STEM_LENGTH: usize = 40;

/// Text shown to customers: within `max` characters and free of the hidden characters the
/// CRDs refuse.
pub fn is_plain_text(value: &str, max: usize) -> bool {
    value.chars().count() <= max && !value.chars().any(is_refused_in_plain_text)
}

/// Plain text that is also non-empty, as display names must be.
pub fn is_display_name(value: &str, max: usize) -> bool {
    !value.is_empty() && is_plain_text(value, max)
}

/// An https URL with a host, as the CRDs' `isURL(self) && startsWith('https://')` accept.
pub fn is_https_url(value: &str) -> bool {
    value.len() <= 2048 && HTTPS_URL.is_match(value)
}

/// A redirect URI an AppRegistration of this kind accepts (`native` also takes custom
/// schemes such as `com.example.app:/callback`).
pub fn is_redirect_uri(value: &str, native: bool) -> bool {
    let web = is_https_url(value) || LOOPBACK_URL.is_match(value);
    let custom = native && CUSTOM_SCHEME.is_match(value) && !BROWSER_SCHEME.is_match(value);
    !value.is_empty()
        && value.len() <= 2048
        && !value.contains('#')
        && !value.contains('*')
        && (web || custom)
}

/// `#rgb` or `#rrggbb`.
pub fn is_colour(value: &str) -> bool {
    COLOUR.is_match(value)
}

/// A BCP 47 language tag such as `fr` or `de-CH`.
pub fn is_language_tag(value: &str) -> bool {
    value.len() <= 35 && BCP47.is_match(value)
}

/// A DNS label (tenant subdomains, identity provider names).
pub fn is_dns_label(value: &str) -> bool {
    value.len() <= 63 && DNS_LABEL.is_match(value)
}

/// A user attribute name (letters and digits, starting with a letter).
pub fn is_attribute_name(value: &str) -> bool {
    value.len() <= 64 && ATTRIBUTE_NAME.is_match(value)
}

/// A scope value as it appears in the `scp` claim.
pub fn is_scope_value(value: &str) -> bool {
    value.len() <= 120 && SCOPE_VALUE.is_match(value)
}

/// A scope requested from an external identity provider.
pub fn is_provider_scope(value: &str) -> bool {
    value.len() <= 128 && IDP_SCOPE.is_match(value)
}

/// A lowercase DNS label made from `text`: letters and digits kept, everything else a
/// single `-`; `fallback` when nothing is left.
pub fn kubernetes_name(text: &str, fallback: &str) -> String {
    let mut name = String::new();
    for character in text.chars() {
        if character.is_ascii_alphanumeric() {
            name.push(character.to_ascii_lowercase());
        } else if !name.ends_with('-') && !name.is_empty() {
            name.push('-');
        }
    }
    let name: String = name.chars().take(NAME_STEM_LENGTH).collect();
    let name = name.trim_matches('-');
    if name.is_empty() {
        fallback.to_string()
    } else {
        name.to_string()
    }
}

/// Hands out names unique within one kind: the second `shop` becomes `shop-2`.
#[derive(Debug, Default)]
pub struct UniqueNames {
    used: BTreeSet<String>,
}

impl UniqueNames {
    /// Names that are taken from the start (reserved words).
    pub fn reserving(names: &[&str]) -> Self {
        Self {
            used: names.iter().map(|name| name.to_string()).collect(),
        }
    }

    /// `stem`, or `stem-N` with the smallest N that is still free.
    pub fn take(&mut self, stem: &str) -> String {
        let mut candidate = stem.to_string();
        let mut counter = 2;
        while self.used.contains(&candidate) {
            candidate = format!("{stem}-{counter}");
            counter += 1;
        }
        self.used.insert(candidate.clone());
        candidate
    }
}

/// `text` trimmed, or `None` when Graph wrote nothing (null, empty or blank).
pub fn present(text: &Option<String>) -> Option<&str> {
    text.as_deref()
        .map(str::trim)
        .filter(|value| !value.is_empty())
}
