//! The admin API's contract: the desired-state objects the operator sends and the runtime
//! stores, shaped like the CRD specs, with their validation.
//!
//! Each object is sent whole with `PUT` and read back with `GET` for drift checks. Nested
//! types that mean the same thing in Kubernetes and in the runtime are the CRD's own types;
//! references to other Kubernetes objects (secrets, ConfigMaps, app names) are replaced by
//! what they resolve to (secret hashes, client IDs).
//!
//! A leaf of the crate's layers: the runtime, the backend and the controller import it; it
//! imports none of them (`tests/architecture.rs` checks).

pub mod branding;
pub mod certificate;
pub mod client;
pub mod image_content;
pub mod owner;
pub mod tenant;
pub mod user_flow;

pub use branding::*;
pub use client::*;
pub use tenant::*;
pub use user_flow::*;

use serde::Serialize;

use crate::api::common::PLAIN_TEXT_MESSAGE;

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

#[cfg(test)]
mod tests;
