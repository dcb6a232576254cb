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
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};

use super::conditions::{self, reasons};
use super::desired::desired_client;
use super::ownership::{SecretState, describe_for, owner_of, read_secret};
use super::references::{TenantResolution, holds_place, precedence, resolve_tenant};
use super::{
    Context, Error, FIELD_MANAGER, MANAGED_BY_LABEL, TenantScoped, now, on_tenant_change, publish,
    run_controllers, write_status,
};
use crate::api::{
    AppRegistration, AppRegistrationStatus, CustomerTenant, DeletionPolicy, UserFlow,
};
use crate::backend::{Backend, BackendError};
use crate::contract::owner::{Claim, Owner};
use crate::contract::{ApiPermissionSpec, ClientSecretSpec};
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
    let every =
        rotation.and_then(|rotation| crate::contract::parse_duration_seconds(&rotation.every));
    let overlap =
        rotation.and_then(|rotation| crate::contract::parse_duration_seconds(&rotation.overlap));

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

/// Marks the app not Ready with `reason` and `message`, writes the status and returns
/// `action`: the end of a reconcile that cannot go on.
async fn stop<B: Backend>(
    app: &AppRegistration,
    context: &Context<B>,
    mut status: AppRegistrationStatus,
    (reason, message): (&str, String),
    action: Action,
) -> Result<Action, Error> {
    status.conditions = conditions::merge(
        &status.conditions,
        conditions::ready(false, reason, message, app.metadata.generation, now()),
    );
    write_status(&context.client, app, app.status.as_ref(), &status).await?;
    Ok(action)
}

async fn apply<B: Backend>(app: &AppRegistration, context: &Context<B>) -> Result<Action, Error> {
    let namespace = app.namespace().unwrap_or_default();
    let mut status = app.status.clone().unwrap_or_default();
    status.observed_generation = app.metadata.generation;
    let retry = Action::requeue(Duration::from_secs(30));

    let (tenant, subdomain) = match resolve_tenant(
        &context.client,
        &context.scope,
        &namespace,
        &app.spec.tenant_ref,
    )
    .await?
    {
        TenantResolution::Ready { tenant, subdomain } => (tenant, subdomain),
        TenantResolution::NotUsable { reason, message } => {
            return stop(app, context, status, (reason, message), retry).await;
        }
    };
    let name = secret_name(app);
    let uid = app.uid().unwrap_or_default();
    let existing = match read_secret(&context.client, &namespace, &name, &uid).await? {
        SecretState::Absent => None,
        SecretState::Owned(secret) => Some(*secret),
        SecretState::Foreign => {
            return stop(app, context, status, secret_conflict(app, &name), retry).await;
        }
    };
    let brought_secret = match read_brought_secret(app, context).await? {
        Ok(brought) => brought,
        Err(message) => {
            let problem = (reasons::SECRET_INVALID, message);
            return stop(app, context, status, problem, retry).await;
        }
    };
    let credentials = plan_credentials(
        app,
        existing.as_ref(),
        brought_secret,
        jiff::Timestamp::now(),
    );
    let tenant_key = app.tenant_key();
    // Taking a client ID from the Secret (nothing in status yet): make sure no other app has
    // it. A freshly generated one needs no check (and no LIST of the tenant's apps).
    let adopting = status.client_id.as_deref() != Some(credentials.client_id.as_str())
        && secret_string(existing.as_ref(), keys::CLIENT_ID).as_deref()
            == Some(credentials.client_id.as_str());
    if adopting
        && let Some(claimant) = claimant_of(
            app,
            &subdomain,
            &credentials.client_id,
            &tenant_key,
            context,
        )
        .await?
    {
        status.client_id = None;
        let problem = client_id_in_use(&credentials.client_id, &claimant, &namespace);
        return stop(app, context, status, problem, Action::await_change()).await;
    }
    let tenant_status = tenant.status.clone().unwrap_or_default();
    let written = SecretWrite {
        name: &name,
        tenant: &tenant_status,
        existing: existing.as_ref(),
    };
    let outcome = register(
        app,
        context,
        &subdomain,
        &tenant_key,
        &credentials,
        &written,
    )
    .await?;
    report(
        app,
        context,
        status,
        &name,
        &credentials,
        existing.as_ref(),
        outcome,
    )
    .await
}

/// What a reconcile did in the runtime: whether it corrected a client that differed, and the
/// `apiPermissions` targets still without a client ID.
struct Registration {
    corrected: bool,
    pending: Vec<String>,
}

/// Writes the Secret, then the runtime client; see the module docs for the order.
async fn register<B: Backend>(
    app: &AppRegistration,
    context: &Context<B>,
    subdomain: &str,
    tenant_key: &(String, String),
    credentials: &Credentials,
    written: &SecretWrite<'_>,
) -> Result<Result<Registration, BackendError>, Error> {
    let claim = Claim::by(owner_of(app));
    let (permissions, pending) = resolve_permissions(app, tenant_key, context).await?;
    // 1. The Secret first: whatever the runtime will accept is already in the app's hands.
    //    A rotation stages the new secret beside the old one and lets the runtime accept both
    //    before the app sees the new one, so no running instance is ever refused.
    if let Some(old_secret) = &credentials.replacing {
        let staging = Credentials {
            client_id: credentials.client_id.clone(),
            secret: Some(old_secret.clone()),
            accepted: credentials.accepted.clone(),
            annotations: written
                .existing
                .map(|secret| secret.annotations().clone())
                .unwrap_or_default(),
            expires_at: None,
            replacing: None,
        };
        write_secret(
            app,
            context,
            written,
            &staging,
            credentials.secret.as_deref(),
        )
        .await?;
        let both = desired_client(&app.spec, credentials.accepted.clone(), permissions.clone());
        if let Err(error) = context
            .backend
            .apply_client(subdomain, &credentials.client_id, &both, &claim)
            .await
        {
            return Ok(Err(error));
        }
    }
    write_secret(app, context, written, credentials, None).await?;

    // 2. Then the runtime.
    let desired = desired_client(&app.spec, credentials.accepted.clone(), permissions);
    let outcome = async {
        let observed = context
            .backend
            .observe_client(subdomain, &credentials.client_id)
            .await?;
        let ours = observed
            .as_ref()
            .is_some_and(|observed| observed.owner.as_ref() == claim.owner.as_ref());
        // A client stored before owners were recorded is claimed by the next owned write:
        // only by the app that reported it first.
        if observed
            .as_ref()
            .is_some_and(|observed| observed.owner.is_none())
            && let Some(claimant) =
                earlier_claimant(app, &credentials.client_id, tenant_key, context)
                    .await
                    .map_err(|error| BackendError::Unavailable {
                        operation: "list the tenant's AppRegistrations".into(),
                        detail: error.to_string(),
                    })?
        {
            return Err(BackendError::OwnedByAnother {
                operation: format!("claim client {}", credentials.client_id),
                owner: Box::new(owner_of(&claimant)),
            });
        }
        let same = observed
            .as_ref()
            .is_some_and(|observed| observed.spec == desired);
        if !(ours && same) {
            context
                .backend
                .apply_client(subdomain, &credentials.client_id, &desired, &claim)
                .await?;
        }
        Ok::<_, BackendError>(Registration {
            corrected: !same,
            pending,
        })
    }
    .await;
    Ok(outcome)
}

/// Step 3, the status: Ready, waiting for permissions, or why the runtime refused.
async fn report<B: Backend>(
    app: &AppRegistration,
    context: &Context<B>,
    mut status: AppRegistrationStatus,
    name: &str,
    credentials: &Credentials,
    existing: Option<&Secret>,
    outcome: Result<Registration, BackendError>,
) -> Result<Action, Error> {
    let generation = app.metadata.generation;
    // A difference while the object was Ready at this generation, with no new secret to
    // publish, was made behind the operator's back.
    let was_ready = app.status.as_ref().is_some_and(|status| {
        status.observed_generation == generation
            && conditions::find_ready(&status.conditions)
                .is_some_and(|ready| ready.status == "True")
    });
    let secret_unchanged = existing.is_some_and(|secret| {
        secret_string(Some(secret), keys::CLIENT_SECRET) == credentials.secret
    });
    if matches!(&outcome, Ok(registration) if registration.corrected)
        && was_ready
        && secret_unchanged
    {
        publish(
            context,
            app,
            "DriftCorrected",
            "the runtime's client differed from the AppRegistration and was restored",
        )
        .await;
    }
    status.user_flow = serving_flow(app, context).await?;
    status.secret_name = Some(name.to_string());
    status.secret_expires_at = credentials.expires_at.map(Time);
    // The client ID goes to status once the runtime took it as this app's; a refusal keeps
    // what status said before (a client ID the operator issued to this very app stays).
    if !matches!(outcome, Err(BackendError::OwnedByAnother { .. })) {
        status.client_id = Some(credentials.client_id.clone());
    }
    let (condition, result) = match outcome {
        Ok(registration) if !registration.pending.is_empty() => {
            let message = format!(
                "the client is registered; waiting for apiPermissions targets to get a client ID: {}",
                registration.pending.join(", ")
            );
            (
                conditions::ready(
                    false,
                    reasons::API_PERMISSION_PENDING,
                    message,
                    generation,
                    now(),
                ),
                Ok(Action::requeue(Duration::from_secs(2))),
            )
        }
        Ok(_) => (
            conditions::ready(
                true,
                reasons::RECONCILED,
                "the client is registered and its credentials are in the Secret",
                generation,
                now(),
            ),
            Ok(Action::requeue(next_resync(
                context.resync,
                credentials.expires_at,
            ))),
        ),
        Err(BackendError::OwnedByAnother { owner, .. }) => {
            let namespace = app.namespace().unwrap_or_default();
            let (reason, message) = client_id_in_use(&credentials.client_id, &owner, &namespace);
            (
                conditions::ready(false, reason, message, generation, now()),
                Ok(Action::await_change()),
            )
        }
        Err(error) => {
            let reason = if error.is_transient() {
                reasons::BACKEND_UNAVAILABLE
            } else {
                reasons::BACKEND_REJECTED
            };
            (
                conditions::ready(false, reason, error.to_string(), generation, now()),
                Err(Error::Backend(error)),
            )
        }
    };
    status.conditions = conditions::merge(&status.conditions, condition);
    write_status(&context.client, app, app.status.as_ref(), &status).await?;
    result
}

/// The resync interval, shortened to wake up when the secret is due for rotation.
fn next_resync(resync: Duration, expires_at: Option<jiff::Timestamp>) -> Duration {
    let Some(expires) = expires_at else {
        return resync;
    };
    let until =
        u64::try_from(expires.as_second() - jiff::Timestamp::now().as_second()).unwrap_or(0);
    resync.min(Duration::from_secs(until.max(1)))
}

/// `SecretConflict`: the Secret the app would write is someone else's.
fn secret_conflict(app: &AppRegistration, name: &str) -> (&'static str, String) {
    let brought = app
        .spec
        .credentials
        .as_ref()
        .and_then(|credentials| credentials.existing_secret_ref.as_ref())
        .is_some_and(|reference| reference.name == name);
    let message = if brought {
        format!(
            "credentials.secretName {name} is the existingSecretRef Secret; the operator never writes a Secret it did not create: choose another secretName"
        )
    } else {
        format!(
            "Secret {name} already exists and was not created by the operator for this AppRegistration; it is left untouched: choose another credentials.secretName or delete that Secret"
        )
    };
    (reasons::SECRET_CONFLICT, message)
}

/// `ClientIdInUse`: another AppRegistration holds the client ID; named only to its namespace.
fn client_id_in_use(client_id: &str, claimant: &Owner, namespace: &str) -> (&'static str, String) {
    (
        reasons::CLIENT_ID_IN_USE,
        format!(
            "client ID {client_id} is already registered by {}; delete this app's credentials Secret so that the operator issues a new client ID",
            describe_for(claimant, namespace)
        ),
    )
}

/// Who else holds `client_id`, if anyone: the runtime's recorded owner when it has one (one
/// GET; also what a reconcile that saw its own Secret before its own status finds: itself),
/// otherwise the app that reported the ID first (a LIST, for clients stored before owners
/// were recorded or missing from the runtime).
async fn claimant_of<B: Backend>(
    app: &AppRegistration,
    subdomain: &str,
    client_id: &str,
    tenant_key: &(String, String),
    context: &Context<B>,
) -> Result<Option<Owner>, Error> {
    let me = owner_of(app);
    let recorded = context
        .backend
        .observe_client(subdomain, client_id)
        .await?
        .and_then(|observed| observed.owner);
    match recorded {
        Some(owner) if owner.uid == me.uid => Ok(None),
        Some(owner) => Ok(Some(owner)),
        None => Ok(earlier_claimant(app, client_id, tenant_key, context)
            .await?
            .map(|claimant| owner_of(&claimant))),
    }
}

/// The other AppRegistration of the same tenant that reported `client_id` first, if any: the
/// client ID is its, whatever a Secret says. Status is written only by the operator, so a
/// client ID in status is one the operator issued; among two apps reporting the same one, the
/// older app had it first (a thief needs to see it before copying it).
async fn earlier_claimant<B: Backend>(
    app: &AppRegistration,
    client_id: &str,
    tenant_key: &(String, String),
    context: &Context<B>,
) -> Result<Option<AppRegistration>, Error> {
    let apps = context
        .list_for_tenant::<AppRegistration>(tenant_key)
        .await?;
    let mine = precedence(app, false);
    Ok(apps.into_iter().find(|other| {
        other.uid() != app.uid()
            && other
                .status
                .as_ref()
                .and_then(|status| status.client_id.as_deref())
                == Some(client_id)
            && (app
                .status
                .as_ref()
                .and_then(|status| status.client_id.as_deref())
                != Some(client_id)
                || precedence(other, false) < mine)
    }))
}

/// The secret of `credentials.existingSecretRef`, `Ok(None)` without one, or `Err` with the
/// message for `SecretInvalid`. The referenced Secret is only ever read.
async fn read_brought_secret<B: Backend>(
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
    Ok(
        match secret_string(user_secret.as_ref(), &key).filter(|value| value.len() >= 32) {
            Some(value) => Ok(Some(value)),
            None => Err(format!(
                "credentials.existingSecretRef: Secret {} must exist with key {key} holding at least 32 characters",
                reference.name
            )),
        },
    )
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
            holds_place(
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
///
/// A target resolves only when it is an app of the same CustomerTenant in a namespace the
/// operator watches; anything else reads exactly like an app that does not exist (pending),
/// so a reference tells a team nothing about other tenants' or namespaces' apps.
async fn resolve_permissions<B: Backend>(
    app: &AppRegistration,
    tenant_key: &(String, String),
    context: &Context<B>,
) -> Result<(Vec<ApiPermissionSpec>, Vec<String>), Error> {
    let mut resolved = Vec::new();
    let mut pending = Vec::new();
    for permission in app.spec.api_permissions.iter().flatten() {
        let namespace = permission
            .app_namespace
            .clone()
            .unwrap_or_else(|| app.namespace().unwrap_or_default());
        let target = if context.scope.contains(&namespace) {
            Api::<AppRegistration>::namespaced(context.client.clone(), &namespace)
                .get_opt(&permission.app_name)
                .await
                .map_err(Error::kube(format!(
                    "read AppRegistration {namespace}/{}",
                    permission.app_name
                )))?
        } else {
            None
        };
        let client_id = target
            .filter(|target| target.tenant_key() == *tenant_key)
            .and_then(|target| target.status)
            .and_then(|status| status.client_id);
        match client_id {
            Some(client_id) => resolved.push(ApiPermissionSpec {
                resource_app_id: client_id,
                scopes: permission.scopes.clone(),
            }),
            None => pending.push(format!("{namespace}/{}", permission.app_name)),
        }
    }
    Ok((resolved, pending))
}

/// Where the credentials Secret goes and what is known of it.
struct SecretWrite<'a> {
    name: &'a str,
    tenant: &'a crate::api::CustomerTenantStatus,
    /// The Secret as read at the start of the reconcile, owned by this app; `None` if absent.
    existing: Option<&'a Secret>,
}

/// Whether an annotation or label key is the operator's own, out of `secretTemplate`'s reach:
/// under `ciam.dev/` or a subdomain of it, or the managed-by label (as admission rules say).
fn is_reserved_key(key: &str) -> bool {
    let prefix = key.split_once('/').map_or("", |(prefix, _)| prefix);
    prefix == "ciam.dev" || prefix.ends_with(".ciam.dev") || key == MANAGED_BY_LABEL.0
}

/// The template's labels or annotations without the operator's reserved keys (admission
/// refuses them too; this is the second line of defence).
fn template_entries(entries: Option<&BTreeMap<String, String>>) -> BTreeMap<String, String> {
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

/// Writes the credentials Secret: created when absent (so a Secret someone else creates in the
/// meantime is never adopted), otherwise applied with its UID as a precondition (so a Secret
/// replaced in the meantime is never overwritten).
async fn write_secret<B: Backend>(
    app: &AppRegistration,
    context: &Context<B>,
    written: &SecretWrite<'_>,
    credentials: &Credentials,
    next_secret: Option<&str>,
) -> Result<(), Error> {
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
        return Ok(());
    }
    let owner = app
        .controller_owner_ref(&())
        .ok_or_else(|| Error::Waiting("the AppRegistration has no uid yet".into()))?;
    let secret = Secret {
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
    };
    let secrets =
        Api::<Secret>::namespaced(context.client.clone(), &app.namespace().unwrap_or_default());
    let operation = format!("write Secret {}", written.name);
    if written.existing.is_none() {
        return match secrets.create(&PostParams::default(), &secret).await {
            Ok(_) => Ok(()),
            // Created by this reconcile's staging write a moment ago: apply over it below.
            Err(kube::Error::Api(response)) if response.code == 409 => {
                let current = read_secret(
                    &context.client,
                    &app.namespace().unwrap_or_default(),
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

/// Removes the runtime client this app registered, unless `Retain`. Only a client ID the
/// operator reported in status is considered, and the runtime deletes it only for its owner:
/// an app never removes another app's client.
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
        let claim = Claim::by(owner_of(app));
        match context
            .backend
            .delete_client(&tenant.spec.subdomain, &client_id, &claim)
            .await
        {
            Ok(()) => {}
            Err(BackendError::OwnedByAnother { .. }) => {
                tracing::warn!(
                    app = %app.name_any(),
                    namespace = ?app.namespace(),
                    client_id = %client_id,
                    "not deleting a runtime client that another object owns"
                );
            }
            Err(error) => return Err(error.into()),
        }
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
