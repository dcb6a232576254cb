//! Condition types, reasons and the rules for updating a condition list.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Condition types. `Reconciling` and `Stalled` follow the kstatus convention that Flux, Argo
/// CD and `kubectl wait`-style tools read: present (and `True`) only while they hold.
pub mod types {
    /// The object is fully reconciled and usable.
    pub const READY: &str = "Ready";
    /// Not Ready yet, and expected to get there without anyone's help (GitOps: InProgress).
    pub const RECONCILING: &str = "Reconciling";
    /// Not Ready, and will not be until someone changes something (GitOps: Failed).
    pub const STALLED: &str = "Stalled";
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
    /// The credentials Secret the spec names exists and was not created by the operator for
    /// this object; it is left untouched.
    pub const SECRET_CONFLICT: &str = "SecretConflict";
    /// The client ID is already registered by another AppRegistration.
    pub const CLIENT_ID_IN_USE: &str = "ClientIdInUse";
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
    /// The stored object does not match the operator's schema (for example written under an
    /// older CRD version); it needs an edit.
    pub const INVALID_SPEC: &str = "InvalidSpec";
}

/// Whether a `Ready=False` reason waits for a person (a spec to fix, a conflict to resolve)
/// rather than for time (a backend to return, a reference to become Ready).
pub fn needs_action(reason: &str) -> bool {
    matches!(
        reason,
        reasons::BACKEND_REJECTED
            | reasons::REF_NOT_PERMITTED
            | reasons::SECRET_INVALID
            | reasons::SECRET_CONFLICT
            | reasons::CLIENT_ID_IN_USE
            | reasons::UNSUPPORTED_BY_BACKEND
            | reasons::APP_ALREADY_IN_FLOW
            | reasons::TOO_MANY_USER_FLOWS
            | reasons::BRANDING_ALREADY_DEFINED
            | reasons::SUBDOMAIN_IN_USE
            | reasons::CONTENT_INVALID
            | reasons::INVALID_SPEC
    )
}

/// Whether a `Ready=False` reason says the object lost a competition for its place (an app's
/// flow, a tenant's Branding, a subdomain, one of ten flows) to an earlier object.
pub fn lost_conflict(reason: &str) -> bool {
    matches!(
        reason,
        reasons::APP_ALREADY_IN_FLOW
            | reasons::TOO_MANY_USER_FLOWS
            | reasons::BRANDING_ALREADY_DEFINED
            | reasons::SUBDOMAIN_IN_USE
    )
}

/// Returns `conditions` with `new` merged in: `lastTransitionTime` moves only when the status
/// flips, so an unchanged condition compares equal and causes no write. Merging `Ready` also
/// sets its kstatus companion: `Reconciling` or `Stalled` while it is False, neither once True.
pub fn merge(conditions: &[Condition], new: Condition) -> Vec<Condition> {
    let mut merged = merge_one(conditions, new.clone());
    if new.type_ == types::READY {
        let companion = match (new.status.as_str(), needs_action(&new.reason)) {
            ("True", _) => None,
            (_, true) => Some(types::STALLED),
            (_, false) => Some(types::RECONCILING),
        };
        merged.retain(|condition| {
            ![types::RECONCILING, types::STALLED].contains(&condition.type_.as_str())
                || Some(condition.type_.as_str()) == companion
        });
        if let Some(companion) = companion {
            merged = merge_one(
                &merged,
                Condition {
                    type_: companion.to_string(),
                    status: "True".to_string(),
                    ..new
                },
            );
        }
    }
    merged
}

fn merge_one(conditions: &[Condition], mut new: Condition) -> Vec<Condition> {
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

    fn types_of(conditions: &[Condition]) -> Vec<(&str, &str)> {
        conditions
            .iter()
            .map(|c| (c.type_.as_str(), c.status.as_str()))
            .collect()
    }

    #[test]
    fn ready_false_brings_reconciling_or_stalled_and_ready_true_clears_both() {
        let waiting = merge(
            &[],
            ready(false, reasons::BACKEND_UNAVAILABLE, "down", Some(1), at(10)),
        );
        assert_eq!(
            types_of(&waiting),
            [("Ready", "False"), ("Reconciling", "True")]
        );
        assert_eq!(waiting[1].reason, reasons::BACKEND_UNAVAILABLE);
        let stuck = merge(
            &waiting,
            ready(false, reasons::TOO_MANY_USER_FLOWS, "ten", Some(2), at(20)),
        );
        assert_eq!(types_of(&stuck), [("Ready", "False"), ("Stalled", "True")]);
        assert_eq!(stuck[1].message, "ten");
        let done = merge(
            &stuck,
            ready(true, reasons::RECONCILED, "ok", Some(3), at(30)),
        );
        assert_eq!(types_of(&done), [("Ready", "True")]);
    }

    #[test]
    fn a_companion_keeps_its_transition_time_while_it_holds() {
        let first = merge(
            &[],
            ready(false, reasons::TENANT_NOT_READY, "wait", Some(1), at(10)),
        );
        let again = merge(
            &first,
            ready(false, reasons::BACKEND_UNAVAILABLE, "down", Some(1), at(20)),
        );
        assert_eq!(again[1].last_transition_time, at(10));
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
