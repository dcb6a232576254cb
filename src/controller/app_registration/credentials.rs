//! Plans an app's client ID and secrets from its Secret: reuse what exists, generate only
//! what is missing, rotate when due, or take the secret of `existingSecretRef`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;

use super::super::{Context, Error};
use crate::api::AppRegistration;
use crate::backend::Backend;
use crate::contract::ClientSecretSpec;
use crate::contract::certificate::CertificateSpec;
use crate::runtime::crypto::{client_secret_hash, random_token};

/// Keys of the credentials Secret, usable with `envFrom`.
pub mod keys {
    /// The app's client ID.
    pub const CLIENT_ID: &str = "CLIENT_ID";
    /// The app's client secret (confidential apps only).
    pub const CLIENT_SECRET: &str = "CLIENT_SECRET";
    /// The tenant's ID.
    pub const TENANT_ID: &str = "TENANT_ID";
    /// The tenant's issuer.
    pub const ISSUER_URL: &str = "ISSUER_URL";
    /// The tenant's authority.
    pub const AUTHORITY: &str = "AUTHORITY";
    /// The tenant's discovery document.
    pub const DISCOVERY_URL: &str = "DISCOVERY_URL";
    /// During a rotation only: the next client secret, staged until the runtime accepts it.
    pub const NEXT_CLIENT_SECRET: &str = "NEXT_CLIENT_SECRET";
}

/// Annotations the operator keeps on the Secret to drive rotation. Hashes of high-entropy
/// secrets, not secrets.
mod annotations {
    pub const ISSUED_AT: &str = "ciam.dev/secret-issued-at";
    pub const PREVIOUS_HASH: &str = "ciam.dev/previous-secret-hash";
    pub const PREVIOUS_EXPIRES_AT: &str = "ciam.dev/previous-secret-expires-at";
}

/// The credentials an app holds after this reconcile.
pub(super) struct Credentials {
    pub client_id: String,
    /// The current client secret, for confidential apps.
    pub secret: Option<String>,
    /// Hashes and expiries the runtime must accept.
    pub accepted: Vec<ClientSecretSpec>,
    /// Annotations to keep on the Secret.
    pub annotations: BTreeMap<String, String>,
    /// When the current secret is due for rotation.
    pub expires_at: Option<jiff::Timestamp>,
    /// During a rotation, the secret being replaced: the new one is staged next to it and the
    /// runtime accepts both before the app sees the new one.
    pub replacing: Option<String>,
    /// The unexpired certificates the runtime accepts client assertions from.
    pub certificates: Vec<CertificateSpec>,
}

impl Credentials {
    /// Credentials with one secret (or none) that the runtime accepts without expiry.
    fn single(client_id: String, secret: Option<String>) -> Self {
        let accepted = secret
            .iter()
            .map(|secret| ClientSecretSpec {
                hash: Some(client_secret_hash(secret)),
                value: None,
                expires_at: None,
            })
            .collect();
        Self {
            client_id,
            secret,
            accepted,
            annotations: BTreeMap::new(),
            expires_at: None,
            replacing: None,
            certificates: Vec::new(),
        }
    }
}

/// The value of `key` in `secret`, when present, UTF-8 and not empty.
pub(super) fn secret_string(secret: Option<&Secret>, key: &str) -> Option<String> {
    secret
        .and_then(|secret| secret.data.as_ref())
        .and_then(|data| data.get(key))
        .and_then(|value| String::from_utf8(value.0.clone()).ok())
        .filter(|value| !value.is_empty())
}

/// Decides the client ID and secrets from what already exists, generating only what is
/// missing and rotating when due. Pure apart from the random generator.
pub(super) fn plan_credentials(
    app: &AppRegistration,
    existing: Option<&Secret>,
    brought_secret: Option<String>,
    now: jiff::Timestamp,
) -> Credentials {
    let client_id = app
        .status
        .as_ref()
        .and_then(|status| status.client_id.clone())
        .or_else(|| secret_string(existing, keys::CLIENT_ID))
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if !app.spec.app_type.is_confidential() {
        return Credentials::single(client_id, None);
    }
    if let Some(brought) = brought_secret {
        return Credentials::single(client_id, Some(brought));
    }
    let rotation = app
        .spec
        .credentials
        .as_ref()
        .and_then(|credentials| credentials.rotation.as_ref());
    let every =
        rotation.and_then(|rotation| crate::contract::parse_duration_seconds(&rotation.every));
    let overlap =
        rotation.and_then(|rotation| crate::contract::parse_duration_seconds(&rotation.overlap));
    let plan = plan_secret(existing, every, overlap, now);
    let mut credentials = Credentials::single(client_id, Some(plan.secret));
    credentials
        .annotations
        .insert(annotations::ISSUED_AT.into(), plan.issued_at.to_string());
    if let Some((hash, expires)) = plan.previous {
        let annotations = &mut credentials.annotations;
        annotations.insert(annotations::PREVIOUS_HASH.into(), hash.clone());
        annotations.insert(annotations::PREVIOUS_EXPIRES_AT.into(), expires.to_string());
        credentials.accepted.push(ClientSecretSpec {
            hash: Some(hash),
            value: None,
            expires_at: Some(expires),
        });
    }
    credentials.expires_at = every
        .and_then(|every| jiff::Timestamp::from_second(plan.issued_at.as_second() + every).ok());
    credentials.replacing = plan.replacing;
    credentials
}

/// The client secret a confidential app holds after this reconcile.
struct SecretPlan {
    secret: String,
    issued_at: jiff::Timestamp,
    /// The hash of the replaced secret and until when the runtime still accepts it.
    previous: Option<(String, jiff::Timestamp)>,
    /// During a rotation, the secret being replaced.
    replacing: Option<String>,
}

/// Keeps the current secret, finishes an interrupted rotation, rotates a due secret or
/// generates the first one.
fn plan_secret(
    existing: Option<&Secret>,
    every: Option<i64>,
    overlap: Option<i64>,
    now: jiff::Timestamp,
) -> SecretPlan {
    let existing_annotations = existing
        .map(|secret| secret.annotations().clone())
        .unwrap_or_default();
    let issued_at = existing_annotations
        .get(annotations::ISSUED_AT)
        .and_then(|value| value.parse::<jiff::Timestamp>().ok());
    let previous = existing_annotations
        .get(annotations::PREVIOUS_HASH)
        .zip(existing_annotations.get(annotations::PREVIOUS_EXPIRES_AT))
        .and_then(|(hash, expires)| Some((hash.clone(), expires.parse::<jiff::Timestamp>().ok()?)))
        .filter(|(_, expires)| *expires > now);
    let current = secret_string(existing, keys::CLIENT_SECRET);
    // A staged secret means a rotation was interrupted: finish it with that secret.
    let staged = secret_string(existing, keys::NEXT_CLIENT_SECRET);
    let rotate = |current: String, next: String| {
        let expires =
            jiff::Timestamp::from_second(now.as_second() + overlap.unwrap_or(0)).unwrap_or(now);
        SecretPlan {
            secret: next,
            issued_at: now,
            previous: Some((client_secret_hash(&current), expires)),
            replacing: Some(current),
        }
    };
    let keep = |secret: String, issued_at: jiff::Timestamp| SecretPlan {
        secret,
        issued_at,
        previous: previous.clone(),
        replacing: None,
    };
    match (current, staged, issued_at, every) {
        (Some(current), Some(staged), _, _) => rotate(current, staged),
        (Some(current), None, Some(issued), Some(every))
            if now.as_second() - issued.as_second() >= every =>
        {
            rotate(current, random_token(32))
        }
        (Some(current), _, issued, _) => keep(current, issued.unwrap_or(now)),
        (None, _, _, _) => keep(random_token(32), now),
    }
}

/// Whether the app brings the Secret `name` as its own client secret (`existingSecretRef`).
pub(super) fn brings_secret(app: &AppRegistration, name: &str) -> bool {
    app.spec
        .credentials
        .as_ref()
        .and_then(|credentials| credentials.existing_secret_ref.as_ref())
        .is_some_and(|reference| reference.name == name)
}

/// The name of the credentials Secret.
pub(super) fn secret_name(app: &AppRegistration) -> String {
    app.spec
        .credentials
        .as_ref()
        .and_then(|credentials| credentials.secret_name.clone())
        .unwrap_or_else(|| format!("{}-credentials", app.name_any()))
}

/// The secret of `credentials.existingSecretRef`, `Ok(None)` without one, or `Err` with the
/// message for `SecretInvalid`. The referenced Secret is only ever read.
pub(super) async fn read_brought_secret<B: Backend>(
    app: &AppRegistration,
    context: &Context<B>,
) -> Result<Result<Option<String>, String>, Error> {
    let Some(reference) = app
        .spec
        .credentials
        .as_ref()
        .and_then(|credentials| credentials.existing_secret_ref.as_ref())
    else {
        return Ok(Ok(None));
    };
    let namespace = app.namespace().unwrap_or_default();
    let key = reference
        .key
        .clone()
        .unwrap_or_else(|| keys::CLIENT_SECRET.into());
    let user_secret = Api::<Secret>::namespaced(context.client.clone(), &namespace)
        .get_opt(&reference.name)
        .await
        .map_err(Error::kube(format!(
            "read Secret {namespace}/{}",
            reference.name
        )))?;
    Ok(brought_secret(user_secret.as_ref(), &key, &reference.name))
}

/// The brought secret under `key` of the referenced Secret `name`, which must hold at least
/// 32 characters, or the message for `SecretInvalid`. Pure.
fn brought_secret(
    user_secret: Option<&Secret>,
    key: &str,
    name: &str,
) -> Result<Option<String>, String> {
    match secret_string(user_secret, key).filter(|value| value.len() >= 32) {
        Some(value) => Ok(Some(value)),
        None => Err(format!(
            "credentials.existingSecretRef: Secret {name} must exist with key {key} holding at least 32 characters"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    fn app(spec: serde_json::Value) -> AppRegistration {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "ciam.dev/v1alpha1", "kind": "AppRegistration",
            "metadata": { "name": "shop", "namespace": "apps", "uid": "u1" },
            "spec": spec
        }))
        .expect("valid app")
    }

    fn secret_with(data: &[(&str, &str)], annotations: &[(&str, &str)]) -> Secret {
        Secret {
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            metadata: kube::api::ObjectMeta {
                annotations: Some(
                    annotations
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn existing_credentials_are_reused() {
        let web = app(
            serde_json::json!({ "tenantRef": {"name": "t"}, "displayName": "Shop", "type": "web" }),
        );
        let secret = secret_with(
            &[
                ("CLIENT_ID", "c-1"),
                ("CLIENT_SECRET", "s".repeat(43).as_str()),
            ],
            &[],
        );
        let plan = plan_credentials(&web, Some(&secret), None, jiff::Timestamp::now());
        assert_eq!(plan.client_id, "c-1");
        assert_eq!(plan.secret.as_deref(), Some("s".repeat(43).as_str()));
        assert_eq!(plan.accepted.len(), 1);
    }

    #[test]
    fn a_due_rotation_keeps_the_previous_secret_for_the_overlap() {
        let web = app(serde_json::json!({
            "tenantRef": {"name": "t"}, "displayName": "Shop", "type": "web",
            "credentials": { "rotation": { "every": "1h", "overlap": "10m" } }
        }));
        let old = "o".repeat(43);
        let secret = secret_with(
            &[("CLIENT_ID", "c-1"), ("CLIENT_SECRET", &old)],
            &[("ciam.dev/secret-issued-at", "2026-01-01T00:00:00Z")],
        );
        let now: jiff::Timestamp = "2026-01-01T01:00:01Z".parse().unwrap();
        let plan = plan_credentials(&web, Some(&secret), None, now);
        assert_ne!(plan.secret.as_deref(), Some(old.as_str()));
        assert_eq!(plan.accepted.len(), 2);
        assert_eq!(
            plan.accepted[1].hash.as_deref(),
            Some(client_secret_hash(&old).as_str())
        );
        assert_eq!(
            plan.accepted[1].expires_at,
            Some("2026-01-01T01:10:01Z".parse().unwrap())
        );
        assert_eq!(
            plan.expires_at,
            Some("2026-01-01T02:00:01Z".parse().unwrap())
        );
    }

    #[test]
    fn an_interrupted_rotation_finishes_with_the_staged_secret() {
        let web = app(serde_json::json!({
            "tenantRef": {"name": "t"}, "displayName": "Shop", "type": "web",
            "credentials": { "rotation": { "every": "1h", "overlap": "10m" } }
        }));
        let (old, staged) = ("o".repeat(43), "n".repeat(43));
        let secret = secret_with(
            &[
                ("CLIENT_ID", "c-1"),
                ("CLIENT_SECRET", &old),
                ("NEXT_CLIENT_SECRET", &staged),
            ],
            &[("ciam.dev/secret-issued-at", "2026-01-01T00:00:00Z")],
        );
        let plan = plan_credentials(
            &web,
            Some(&secret),
            None,
            "2026-01-01T01:00:01Z".parse().unwrap(),
        );
        assert_eq!(plan.secret.as_deref(), Some(staged.as_str()));
        assert_eq!(plan.replacing.as_deref(), Some(old.as_str()));
        assert_eq!(plan.accepted.len(), 2);
    }

    #[test]
    fn public_clients_get_no_secret() {
        let spa = app(
            serde_json::json!({ "tenantRef": {"name": "t"}, "displayName": "SPA", "type": "spa" }),
        );
        let plan = plan_credentials(&spa, None, None, jiff::Timestamp::now());
        assert!(plan.secret.is_none() && plan.accepted.is_empty());
        assert_eq!(plan.client_id.len(), 36);
    }

    #[test]
    fn a_new_confidential_app_gets_a_fresh_secret_and_its_issue_time() {
        let web = app(
            serde_json::json!({ "tenantRef": {"name": "t"}, "displayName": "Shop", "type": "web" }),
        );
        let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let plan = plan_credentials(&web, None, None, now);
        let secret = plan.secret.expect("a confidential app has a secret");
        assert!(secret.len() >= 32);
        assert_eq!(
            plan.accepted[0].hash.as_deref(),
            Some(client_secret_hash(&secret).as_str())
        );
        assert_eq!(
            plan.annotations
                .get("ciam.dev/secret-issued-at")
                .map(String::as_str),
            Some("2026-01-01T00:00:00Z")
        );
        assert!(plan.expires_at.is_none() && plan.replacing.is_none());
    }

    #[test]
    fn a_brought_secret_is_used_as_is_without_rotation_annotations() {
        let web = app(
            serde_json::json!({ "tenantRef": {"name": "t"}, "displayName": "Shop", "type": "web" }),
        );
        let brought = "b".repeat(40);
        let plan = plan_credentials(&web, None, Some(brought.clone()), jiff::Timestamp::now());
        assert_eq!(plan.secret.as_deref(), Some(brought.as_str()));
        assert_eq!(plan.accepted.len(), 1);
        assert!(plan.annotations.is_empty());
    }

    #[test]
    fn a_brought_secret_must_exist_and_hold_32_characters() {
        let long = secret_with(&[("CLIENT_SECRET", &"x".repeat(32))], &[]);
        let short = secret_with(&[("CLIENT_SECRET", "short")], &[]);
        assert_eq!(
            brought_secret(Some(&long), "CLIENT_SECRET", "mine"),
            Ok(Some("x".repeat(32)))
        );
        let message = brought_secret(Some(&short), "CLIENT_SECRET", "mine").unwrap_err();
        assert!(
            message.starts_with("credentials.existingSecretRef: Secret mine"),
            "{message}"
        );
        assert!(brought_secret(None, "CLIENT_SECRET", "mine").is_err());
    }

    #[test]
    fn a_rotation_not_yet_due_keeps_the_secret() {
        let web = app(serde_json::json!({
            "tenantRef": {"name": "t"}, "displayName": "Shop", "type": "web",
            "credentials": { "rotation": { "every": "1h", "overlap": "10m" } }
        }));
        let current = "c".repeat(43);
        let secret = secret_with(
            &[("CLIENT_ID", "c-1"), ("CLIENT_SECRET", &current)],
            &[("ciam.dev/secret-issued-at", "2026-01-01T00:00:00Z")],
        );
        let now: jiff::Timestamp = "2026-01-01T00:30:00Z".parse().unwrap();
        let plan = plan_credentials(&web, Some(&secret), None, now);
        assert_eq!(plan.secret.as_deref(), Some(current.as_str()));
        assert!(plan.replacing.is_none() && plan.accepted.len() == 1);
        assert_eq!(
            plan.expires_at,
            Some("2026-01-01T01:00:00Z".parse().unwrap())
        );
    }
}
