//! Condition types, reasons and the rules for updating a condition list.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Condition types.
pub mod types {
    /// The object is fully reconciled and usable.
    pub const READY: &str = "Ready";
}

/// PascalCase reasons of the `Ready` condition.
pub mod reasons {
    /// Everything is applied.
    pub const RECONCILED: &str = "Reconciled";
    /// The operator is working on it.
    pub const RECONCILING: &str = "Reconciling";
    /// The identity backend could not be reached; retried with backoff.
    pub const BACKEND_UNAVAILABLE: &str = "BackendUnavailable";
    /// The backend refused the desired state.
    pub const BACKEND_REJECTED: &str = "BackendRejected";
    /// The referenced tenant does not exist (yet).
    pub const TENANT_NOT_FOUND: &str = "TenantNotFound";
    /// The referenced tenant exists but is not Ready.
    pub const TENANT_NOT_READY: &str = "TenantNotReady";
    /// The tenant does not allow references from this namespace.
    pub const REF_NOT_PERMITTED: &str = "RefNotPermitted";
    /// A Secret the spec names is missing or unusable.
    pub const SECRET_INVALID: &str = "SecretInvalid";
    /// A spec field the backend cannot honour yet.
    pub const UNSUPPORTED_BY_BACKEND: &str = "UnsupportedByBackend";
    /// An `apiPermissions` target has no client ID yet.
    pub const API_PERMISSION_PENDING: &str = "ApiPermissionPending";
    /// An app listed by a flow has no client ID yet.
    pub const APPLICATION_PENDING: &str = "ApplicationPending";
    /// An app is already served by an earlier user flow.
    pub const APP_ALREADY_IN_FLOW: &str = "AppAlreadyInFlow";
    /// The tenant already has the maximum number of user flows.
    pub const TOO_MANY_USER_FLOWS: &str = "TooManyUserFlows";
    /// The tenant already has an earlier Branding.
    pub const BRANDING_ALREADY_DEFINED: &str = "BrandingAlreadyDefined";
    /// Another, older CustomerTenant already uses the subdomain.
    pub const SUBDOMAIN_IN_USE: &str = "SubdomainInUse";
    /// Branding content from a ConfigMap is missing, too large or of the wrong type.
    pub const CONTENT_INVALID: &str = "ContentInvalid";
    /// Deletion waits for dependents.
    pub const DEPENDENTS_EXIST: &str = "DependentsExist";
}

/// Returns `conditions` with `new` merged in: `lastTransitionTime` moves only when the status
/// flips, so an unchanged condition compares equal and causes no write.
pub fn merge(conditions: &[Condition], mut new: Condition) -> Vec<Condition> {
    let mut merged: Vec<Condition> = conditions.to_vec();
    match merged
        .iter_mut()
        .find(|existing| existing.type_ == new.type_)
    {
        Some(existing) => {
            if existing.status == new.status {
                new.last_transition_time = existing.last_transition_time.clone();
            }
            *existing = new;
        }
        None => merged.push(new),
    }
    merged
}

/// A `Ready` condition.
pub fn ready(
    ready: bool,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
    now: Time,
) -> Condition {
    Condition {
        type_: types::READY.to_string(),
        status: if ready { "True" } else { "False" }.to_string(),
        reason: reason.to_string(),
        message: message.into(),
        observed_generation: generation,
        last_transition_time: now,
    }
}

/// The `Ready` condition of a list, if any.
pub fn find_ready(conditions: &[Condition]) -> Option<&Condition> {
    conditions
        .iter()
        .find(|condition| condition.type_ == types::READY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Time {
        Time(jiff::Timestamp::from_second(seconds).expect("valid time"))
    }

    #[test]
    fn transition_time_moves_only_when_the_status_flips() {
        let first = merge(
            &[],
            ready(false, reasons::RECONCILING, "working", Some(1), at(10)),
        );
        let same = merge(
            &first,
            ready(false, reasons::BACKEND_UNAVAILABLE, "down", Some(1), at(20)),
        );
        assert_eq!(same[0].last_transition_time, at(10));
        assert_eq!(same[0].reason, reasons::BACKEND_UNAVAILABLE);
        let flipped = merge(
            &same,
            ready(true, reasons::RECONCILED, "ok", Some(1), at(30)),
        );
        assert_eq!(flipped[0].last_transition_time, at(30));
        assert_eq!(flipped.len(), 1);
    }

    #[test]
    fn an_identical_condition_merges_to_an_equal_list() {
        let first = merge(&[], ready(true, reasons::RECONCILED, "ok", Some(2), at(10)));
        let again = merge(
            &first,
            ready(true, reasons::RECONCILED, "ok", Some(2), at(99)),
        );
        assert_eq!(first, again);
    }
}
