//! Writes an app's credentials Secret: created when absent, applied over its own UID
//! otherwise, with the template's labels and annotations but never the operator's own keys.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};

use super::super::ownership::{SecretState, read_secret};
use super::super::{Context, Error, FIELD_MANAGER, MANAGED_BY_LABEL};
use super::credentials::{Credentials, keys};
use crate::api::AppRegistration;
use crate::backend::Backend;

/// Where the credentials Secret goes and what is known of it.
pub(super) struct SecretWrite<'a> {
    pub name: &'a str,
    pub tenant: &'a crate::api::CustomerTenantStatus,
    /// The Secret as read at the start of the reconcile, owned by this app; `None` if absent.
    pub existing: Option<&'a Secret>,
}

/// Whether an annotation or label key is the operator's own, out of `secretTemplate`'s reach:
/// under `ciam.dev/` or a subdomain of it, or the managed-by label (as admission rules say).
fn is_reserved_key(key: &str) -> bool {
    let prefix = key.split_once('/').map_or("", |(prefix, _)| prefix);
    prefix == "ciam.dev" || prefix.ends_with(".ciam.dev") || key == MANAGED_BY_LABEL.0
}

/// The template's labels or annotations without the operator's reserved keys (admission
/// refuses them too; this is the second line of defence).
pub(super) fn template_entries(
    entries: Option<&BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    entries
        .into_iter()
        .flatten()
        .filter(|(key, _)| !is_reserved_key(key))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// The Secret's data: credentials and the tenant's endpoints.
fn secret_data(
    credentials: &Credentials,
    next_secret: Option<&str>,
    tenant: &crate::api::CustomerTenantStatus,
) -> BTreeMap<String, ByteString> {
    let mut data = BTreeMap::new();
    let mut put = |key: &str, value: Option<&str>| {
        if let Some(value) = value {
            data.insert(key.to_string(), ByteString(value.as_bytes().to_vec()));
        }
    };
    put(keys::CLIENT_ID, Some(&credentials.client_id));
    put(keys::CLIENT_SECRET, credentials.secret.as_deref());
    put(keys::NEXT_CLIENT_SECRET, next_secret);
    put(keys::TENANT_ID, tenant.tenant_id.as_deref());
    put(keys::ISSUER_URL, tenant.issuer.as_deref());
    put(keys::AUTHORITY, tenant.authority.as_deref());
    put(keys::DISCOVERY_URL, tenant.discovery_url.as_deref());
    data
}

/// The Secret to write, or `None` when the existing one already holds all of it.
///
/// # Errors
/// Fails when the app has no UID yet (no owner reference can point at it).
fn desired_secret(
    app: &AppRegistration,
    written: &SecretWrite<'_>,
    credentials: &Credentials,
    next_secret: Option<&str>,
) -> Result<Option<Secret>, Error> {
    let data = secret_data(credentials, next_secret, written.tenant);
    let template = app
        .spec
        .credentials
        .as_ref()
        .and_then(|c| c.secret_template.as_ref());
    let mut labels = template_entries(template.and_then(|t| t.labels.as_ref()));
    labels.insert(MANAGED_BY_LABEL.0.into(), MANAGED_BY_LABEL.1.into());
    let mut annotations = template_entries(template.and_then(|t| t.annotations.as_ref()));
    annotations.extend(credentials.annotations.clone());

    let unchanged = written.existing.is_some_and(|secret| {
        secret.data.as_ref() == Some(&data)
            && labels
                .iter()
                .all(|(k, v)| secret.labels().get(k) == Some(v))
            && annotations
                .iter()
                .all(|(k, v)| secret.annotations().get(k) == Some(v))
    });
    if unchanged {
        return Ok(None);
    }
    let owner = app
        .controller_owner_ref(&())
        .ok_or_else(|| Error::Waiting("the AppRegistration has no uid yet".into()))?;
    Ok(Some(Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(written.name.to_string()),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![owner]),
            uid: written.existing.and_then(|secret| secret.uid()),
            ..Default::default()
        },
        data: Some(data),
        type_: Some("Opaque".into()),
        ..Default::default()
    }))
}

/// Writes the credentials Secret: created when absent (so a Secret someone else creates in the
/// meantime is never adopted), otherwise applied with its UID as a precondition (so a Secret
/// replaced in the meantime is never overwritten).
pub(super) async fn write_secret<B: Backend>(
    app: &AppRegistration,
    context: &Context<B>,
    written: &SecretWrite<'_>,
    credentials: &Credentials,
    next_secret: Option<&str>,
) -> Result<(), Error> {
    let Some(secret) = desired_secret(app, written, credentials, next_secret)? else {
        return Ok(());
    };
    let namespace = app.namespace().unwrap_or_default();
    let secrets = Api::<Secret>::namespaced(context.client.clone(), &namespace);
    let operation = format!("write Secret {}", written.name);
    if written.existing.is_none() {
        return match secrets.create(&PostParams::default(), &secret).await {
            Ok(_) => Ok(()),
            // Created by this reconcile's staging write a moment ago: apply over it below.
            Err(kube::Error::Api(response)) if response.code == 409 => {
                let current = read_secret(
                    &context.client,
                    &namespace,
                    written.name,
                    &app.uid().unwrap_or_default(),
                )
                .await?;
                let SecretState::Owned(current) = current else {
                    return Err(Error::Waiting(format!(
                        "Secret {} appeared while the operator was creating it; retrying",
                        written.name
                    )));
                };
                let again = SecretWrite {
                    existing: Some(&current),
                    ..*written
                };
                Box::pin(write_secret(app, context, &again, credentials, next_secret)).await
            }
            Err(error) => Err(Error::kube(operation)(error)),
        };
    }
    let mut patch = serde_json::to_value(&secret)
        .map_err(|error| Error::Waiting(format!("failed to encode the Secret: {error}")))?;
    patch["apiVersion"] = "v1".into();
    patch["kind"] = "Secret".into();
    secrets
        .patch(
            written.name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
        .map_err(Error::kube(operation))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_cannot_reach_the_operators_own_keys() {
        let template: BTreeMap<String, String> = [
            ("ciam.dev/previous-secret-hash", "planted"),
            ("ciam.dev/secret-issued-at", "2099-01-01T00:00:00Z"),
            ("app.kubernetes.io/managed-by", "someone-else"),
            ("rotation.ciam.dev/state", "planted"),
            ("notciam.dev/owner", "a team's own"),
            ("team", "payments"),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
        let kept = template_entries(Some(&template));
        assert_eq!(
            kept.keys().collect::<Vec<_>>(),
            ["notciam.dev/owner", "team"]
        );
    }
}
