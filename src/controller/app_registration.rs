//! Reconciles an `AppRegistration` into a runtime client and writes its credentials Secret.
//!
//! Crash safety: the client ID and secret are written to the Secret before the runtime learns
//! the secret's hash, and are read back from the Secret on every reconcile, so a crash at any
//! point leaves either the old working credentials or the new ones, never none.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};

use super::conditions::{self, reasons};
use super::desired::desired_client;
use super::references::{TenantResolution, is_serving, precedence, resolve_tenant};
use super::{
    Context, Error, FIELD_MANAGER, MANAGED_BY_LABEL, now, on_tenant_change, publish,
    run_controllers, write_status,
};
use crate::api::{AppRegistration, CustomerTenant, DeletionPolicy, UserFlow};
use crate::backend::Backend;
use crate::runtime::crypto::{client_secret_hash, random_token};
use crate::runtime::model::{ApiPermissionSpec, ClientSecretSpec};

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

/// The controllers of `AppRegistration`s: also woken by their tenant and their Secret.
pub fn controller<B: Backend>(context: Arc<Context<B>>) -> BoxFuture<'static, ()> {
    run_controllers::<AppRegistration, B>(context, |controller, context| {
        let secrets = context.apis::<Secret>();
        let controller = secrets.into_iter().fold(controller, |controller, api| {
            controller.owns(
                api,
                watcher::Config::default()
                    .labels(&format!("{}={}", MANAGED_BY_LABEL.0, MANAGED_BY_LABEL.1)),
            )
        });
        on_tenant_change(controller, context)
    })
}

super::reconciled!(AppRegistration, tenant_scoped);

/// The credentials an app holds after this reconcile.
struct Credentials {
    client_id: String,
    /// The current client secret, for confidential apps.
    secret: Option<String>,
    /// Hashes and expiries the runtime must accept.
    accepted: Vec<ClientSecretSpec>,
    /// Annotations to keep on the Secret.
    annotations: BTreeMap<String, String>,
    /// When the current secret is due for rotation.
    expires_at: Option<jiff::Timestamp>,
    /// During a rotation, the secret being replaced: the new one is staged next to it and the
    /// runtime accepts both before the app sees the new one.
    replacing: Option<String>,
}

fn secret_string(secret: Option<&Secret>, key: &str) -> Option<String> {
    secret
        .and_then(|secret| secret.data.as_ref())
        .and_then(|data| data.get(key))
        .and_then(|value| String::from_utf8(value.0.clone()).ok())
        .filter(|value| !value.is_empty())
}

/// Decides the client ID and secrets from what already exists, generating only what is
/// missing and rotating when due. Pure apart from the random generator and the clock.
fn plan_credentials(
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
    let mut annotations = BTreeMap::new();
    if !app.spec.app_type.is_confidential() {
        return Credentials {
            client_id,
            secret: None,
            accepted: Vec::new(),
            annotations,
            expires_at: None,
            replacing: None,
        };
    }
    if let Some(brought) = brought_secret {
        let accepted = vec![ClientSecretSpec {
            hash: Some(client_secret_hash(&brought)),
            value: None,
            expires_at: None,
        }];
        return Credentials {
            client_id,
            secret: Some(brought),
            accepted,
            annotations,
            expires_at: None,
            replacing: None,
        };
    }
    let existing_annotations = existing
        .map(|secret| secret.annotations().clone())
        .unwrap_or_default();
    let issued_at = existing_annotations
        .get(annotations::ISSUED_AT)
        .and_then(|value| value.parse::<jiff::Timestamp>().ok());
    let current = secret_string(existing, keys::CLIENT_SECRET);
    let rotation = app
        .spec
        .credentials
        .as_ref()
        .and_then(|credentials| credentials.rotation.as_ref());
    let every = rotation
        .and_then(|rotation| crate::runtime::model::parse_duration_seconds(&rotation.every));
    let overlap = rotation
        .and_then(|rotation| crate::runtime::model::parse_duration_seconds(&rotation.overlap));

    let mut previous: Option<(String, jiff::Timestamp)> = existing_annotations
        .get(annotations::PREVIOUS_HASH)
        .zip(existing_annotations.get(annotations::PREVIOUS_EXPIRES_AT))
        .and_then(|(hash, expires)| Some((hash.clone(), expires.parse::<jiff::Timestamp>().ok()?)))
        .filter(|(_, expires)| *expires > now);

    // A staged secret means a rotation was interrupted: finish it with that secret.
    let staged = secret_string(existing, keys::NEXT_CLIENT_SECRET);
    let mut replacing = None;
    let (secret, issued_at) = match (current, staged, issued_at, every) {
        (Some(current), Some(staged), _, _) => {
            let expires =
                jiff::Timestamp::from_second(now.as_second() + overlap.unwrap_or(0)).unwrap_or(now);
            previous = Some((client_secret_hash(&current), expires));
            replacing = Some(current);
            (staged, now)
        }
        (Some(current), None, Some(issued), Some(every))
            if now.as_second() - issued.as_second() >= every =>
        {
            let expires =
                jiff::Timestamp::from_second(now.as_second() + overlap.unwrap_or(0)).unwrap_or(now);
            previous = Some((client_secret_hash(&current), expires));
            replacing = Some(current);
            (random_token(32), now)
        }
        (Some(current), _, issued, _) => (current, issued.unwrap_or(now)),
        (None, _, _, _) => (random_token(32), now),
    };
    annotations.insert(annotations::ISSUED_AT.into(), issued_at.to_string());
    let mut accepted = vec![ClientSecretSpec {
        hash: Some(client_secret_hash(&secret)),
        value: None,
        expires_at: None,
    }];
    if let Some((hash, expires)) = previous {
        annotations.insert(annotations::PREVIOUS_HASH.into(), hash.clone());
        annotations.insert(annotations::PREVIOUS_EXPIRES_AT.into(), expires.to_string());
        accepted.push(ClientSecretSpec {
            hash: Some(hash),
            value: None,
            expires_at: Some(expires),
        });
    }
    let expires_at =
        every.and_then(|every| jiff::Timestamp::from_second(issued_at.as_second() + every).ok());
    Credentials {
        client_id,
        secret: Some(secret),
        accepted,
        annotations,
        expires_at,
        replacing,
    }
}

fn secret_name(app: &AppRegistration) -> String {
    app.spec
        .credentials
        .as_ref()
        .and_then(|credentials| credentials.secret_name.clone())
        .unwrap_or_else(|| format!("{}-credentials", app.name_any()))
}

async fn apply<B: Backend>(app: &AppRegistration, context: &Context<B>) -> Result<Action, Error> {
    let namespace = app.namespace().unwrap_or_default();
    let generation = app.metadata.generation;
    let mut status = app.status.clone().unwrap_or_default();
    status.observed_generation = generation;

    let (tenant, subdomain) = match resolve_tenant(
        &context.client,
        &context.scope,
        &app.namespace().unwrap_or_default(),
        &app.spec.tenant_ref,
    )
    .await?
    {
        TenantResolution::Ready { tenant, subdomain } => (tenant, subdomain),
        TenantResolution::NotUsable { reason, message } => {
            status.conditions = conditions::merge(
                &status.conditions,
                conditions::ready(false, reason, message.clone(), generation, now()),
            );
            write_status(&context.client, app, app.status.as_ref(), &status).await?;
            return Ok(Action::requeue(Duration::from_secs(30)));
        }
    };
    let tenant_status = tenant.status.clone().unwrap_or_default();

    let secrets = Api::<Secret>::namespaced(context.client.clone(), &namespace);
    let name = secret_name(app);
    let existing = secrets
        .get_opt(&name)
        .await
        .map_err(Error::kube(format!("read Secret {namespace}/{name}")))?;

    let brought_secret = match app
        .spec
        .credentials
        .as_ref()
        .and_then(|c| c.existing_secret_ref.as_ref())
    {
        None => None,
        Some(reference) => {
            let key = reference
                .key
                .clone()
                .unwrap_or_else(|| keys::CLIENT_SECRET.into());
            let user_secret =
                secrets
                    .get_opt(&reference.name)
                    .await
                    .map_err(Error::kube(format!(
                        "read Secret {namespace}/{}",
                        reference.name
                    )))?;
            match secret_string(user_secret.as_ref(), &key).filter(|value| value.len() >= 32) {
                Some(value) => Some(value),
                None => {
                    let message = format!(
                        "credentials.existingSecretRef: Secret {} must exist with key {key} holding at least 32 characters",
                        reference.name
                    );
                    status.conditions = conditions::merge(
                        &status.conditions,
                        conditions::ready(
                            false,
                            reasons::SECRET_INVALID,
                            message,
                            generation,
                            now(),
                        ),
                    );
                    write_status(&context.client, app, app.status.as_ref(), &status).await?;
                    return Ok(Action::requeue(Duration::from_secs(30)));
                }
            }
        }
    };

    let credentials = plan_credentials(
        app,
        existing.as_ref(),
        brought_secret,
        jiff::Timestamp::now(),
    );

    // 1. The Secret first: whatever the runtime will accept is already in the app's hands.
    //    A rotation stages the new secret beside the old one and lets the runtime accept both
    //    before the app sees the new one, so no running instance is ever refused.
    if let Some(old_secret) = &credentials.replacing {
        let staging = Credentials {
            client_id: credentials.client_id.clone(),
            secret: Some(old_secret.clone()),
            accepted: credentials.accepted.clone(),
            annotations: existing
                .as_ref()
                .map(|s| s.annotations().clone())
                .unwrap_or_default(),
            expires_at: None,
            replacing: None,
        };
        let next = credentials.secret.clone();
        write_secret(
            app,
            context,
            &name,
            &staging,
            next.as_deref(),
            &tenant_status,
            existing.as_ref(),
        )
        .await?;
        let permissions = resolve_permissions(app, context).await?.0;
        let both = desired_client(&app.spec, credentials.accepted.clone(), permissions);
        context
            .backend
            .apply_client(&subdomain, &credentials.client_id, &both)
            .await?;
    }
    write_secret(
        app,
        context,
        &name,
        &credentials,
        None,
        &tenant_status,
        existing.as_ref(),
    )
    .await?;

    // 2. Then the runtime.
    let (permissions, pending) = resolve_permissions(app, context).await?;
    let desired = desired_client(&app.spec, credentials.accepted.clone(), permissions);
    let outcome = async {
        let observed = context
            .backend
            .observe_client(&subdomain, &credentials.client_id)
            .await?;
        let changed = observed.as_ref() != Some(&desired);
        if changed {
            context
                .backend
                .apply_client(&subdomain, &credentials.client_id, &desired)
                .await?;
        }
        Ok::<_, crate::backend::BackendError>(changed)
    }
    .await;
    // A difference while the object was Ready at this generation, with no new secret to
    // publish, was made behind the operator's back.
    let was_ready = app.status.as_ref().is_some_and(|status| {
        status.observed_generation == generation
            && conditions::find_ready(&status.conditions)
                .is_some_and(|ready| ready.status == "True")
    });
    let secret_unchanged = existing.as_ref().is_some_and(|secret| {
        secret_string(Some(secret), keys::CLIENT_SECRET) == credentials.secret
    });
    if matches!(outcome, Ok(true)) && was_ready && secret_unchanged {
        publish(
            context,
            app,
            "DriftCorrected",
            "the runtime's client differed from the AppRegistration and was restored",
        )
        .await;
    }
    let outcome = outcome.map(|_| ());

    // 3. Then the status.
    status.user_flow = serving_flow(app, context).await?;
    status.client_id = Some(credentials.client_id.clone());
    status.secret_name = Some(name);
    status.secret_expires_at = credentials.expires_at.map(Time);
    let result = match outcome {
        Ok(()) if !pending.is_empty() => {
            let message = format!(
                "the client is registered; waiting for apiPermissions targets to get a client ID: {}",
                pending.join(", ")
            );
            status.conditions = conditions::merge(
                &status.conditions,
                conditions::ready(
                    false,
                    reasons::API_PERMISSION_PENDING,
                    message,
                    generation,
                    now(),
                ),
            );
            Ok(Action::requeue(Duration::from_secs(2)))
        }
        Ok(()) => {
            status.conditions = conditions::merge(
                &status.conditions,
                conditions::ready(
                    true,
                    reasons::RECONCILED,
                    "the client is registered and its credentials are in the Secret",
                    generation,
                    now(),
                ),
            );
            let mut requeue = context.resync;
            if let Some(expires) = credentials.expires_at {
                let until = u64::try_from(expires.as_second() - jiff::Timestamp::now().as_second())
                    .unwrap_or(0);
                requeue = requeue.min(Duration::from_secs(until.max(1)));
            }
            Ok(Action::requeue(requeue))
        }
        Err(error) => {
            let reason = if error.is_transient() {
                reasons::BACKEND_UNAVAILABLE
            } else {
                reasons::BACKEND_REJECTED
            };
            status.conditions = conditions::merge(
                &status.conditions,
                conditions::ready(false, reason, error.to_string(), generation, now()),
            );
            Err(Error::Backend(error))
        }
    };
    write_status(&context.client, app, app.status.as_ref(), &status).await?;
    result
}

/// The oldest UserFlow in the app's namespace that lists it.
async fn serving_flow<B: Backend>(
    app: &AppRegistration,
    context: &Context<B>,
) -> Result<Option<String>, Error> {
    let namespace = app.namespace().unwrap_or_default();
    let mut flows: Vec<UserFlow> = context
        .list_in::<UserFlow>(&namespace)
        .await?
        .into_iter()
        .filter(|flow| {
            flow.spec
                .applications
                .iter()
                .flatten()
                .any(|listed| *listed == app.name_any())
        })
        .collect();
    flows.sort_by_key(|flow| {
        precedence(
            flow,
            is_serving(
                flow.status
                    .as_ref()
                    .map(|status| status.conditions.as_slice()),
            ),
        )
    });
    Ok(flows.first().map(ResourceExt::name_any))
}

/// Resolves `apiPermissions` to the client IDs of the apps exposing them; returns the
/// resolved ones and the names of those without a client ID yet.
async fn resolve_permissions<B: Backend>(
    app: &AppRegistration,
    context: &Context<B>,
) -> Result<(Vec<ApiPermissionSpec>, Vec<String>), Error> {
    let mut resolved = Vec::new();
    let mut pending = Vec::new();
    for permission in app.spec.api_permissions.iter().flatten() {
        let namespace = permission
            .app_namespace
            .clone()
            .unwrap_or_else(|| app.namespace().unwrap_or_default());
        let target = Api::<AppRegistration>::namespaced(context.client.clone(), &namespace)
            .get_opt(&permission.app_name)
            .await
            .map_err(Error::kube(format!(
                "read AppRegistration {namespace}/{}",
                permission.app_name
            )))?;
        if let Some(client_id) = target
            .and_then(|target| target.status)
            .and_then(|status| status.client_id)
        {
            resolved.push(ApiPermissionSpec {
                resource_app_id: client_id,
                scopes: permission.scopes.clone(),
            });
        } else {
            pending.push(format!("{namespace}/{}", permission.app_name));
        }
    }
    Ok((resolved, pending))
}

async fn write_secret<B: Backend>(
    app: &AppRegistration,
    context: &Context<B>,
    name: &str,
    credentials: &Credentials,
    next_secret: Option<&str>,
    tenant: &crate::api::CustomerTenantStatus,
    existing: Option<&Secret>,
) -> Result<(), Error> {
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

    let template = app
        .spec
        .credentials
        .as_ref()
        .and_then(|c| c.secret_template.as_ref());
    let mut labels = template.and_then(|t| t.labels.clone()).unwrap_or_default();
    labels.insert(MANAGED_BY_LABEL.0.into(), MANAGED_BY_LABEL.1.into());
    let mut annotations = template
        .and_then(|t| t.annotations.clone())
        .unwrap_or_default();
    annotations.extend(credentials.annotations.clone());

    let unchanged = existing.is_some_and(|secret| {
        secret.data.as_ref() == Some(&data)
            && labels
                .iter()
                .all(|(k, v)| secret.labels().get(k) == Some(v))
            && annotations
                .iter()
                .all(|(k, v)| secret.annotations().get(k) == Some(v))
    });
    if unchanged {
        return Ok(());
    }
    let owner = app
        .controller_owner_ref(&())
        .ok_or_else(|| Error::Waiting("the AppRegistration has no uid yet".into()))?;
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        data: Some(data),
        type_: Some("Opaque".into()),
        ..Default::default()
    };
    let mut patch = serde_json::to_value(&secret)
        .map_err(|error| Error::Waiting(format!("failed to encode the Secret: {error}")))?;
    patch["apiVersion"] = "v1".into();
    patch["kind"] = "Secret".into();
    Api::<Secret>::namespaced(context.client.clone(), &app.namespace().unwrap_or_default())
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
        .map_err(Error::kube(format!("write Secret {name}")))?;
    Ok(())
}

async fn cleanup<B: Backend>(app: &AppRegistration, context: &Context<B>) -> Result<Action, Error> {
    if app.spec.deletion_policy == DeletionPolicy::Retain {
        return Ok(Action::await_change());
    }
    let Some(client_id) = app
        .status
        .as_ref()
        .and_then(|status| status.client_id.clone())
    else {
        // Never reached the runtime.
        return Ok(Action::await_change());
    };
    let app_namespace = app.namespace().unwrap_or_default();
    let tenant_namespace = app
        .spec
        .tenant_ref
        .namespace
        .clone()
        .unwrap_or(app_namespace);
    let tenant = Api::<CustomerTenant>::namespaced(context.client.clone(), &tenant_namespace)
        .get_opt(&app.spec.tenant_ref.name)
        .await
        .map_err(Error::kube("read the app's CustomerTenant"))?;
    if let Some(tenant) = tenant {
        context
            .backend
            .delete_client(&tenant.spec.subdomain, &client_id)
            .await?;
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
